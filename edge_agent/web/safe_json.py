"""JSON from the network, parsed under limits before anything else sees it.

Python's json accepts what no page sends and later code chokes on: nesting deep enough to exhaust
the recursion limit (pydantic, YAML and copying all recurse: a 900-deep edit was a 500 with a
RecursionError), integers of thousands of digits (costly to convert, and they would reach the
config), NaN and Infinity, and escaped control characters or lone surrogates in strings (a lone
surrogate cannot even be encoded back to UTF-8). Each is refused with a message naming it.
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate

MAX_DEPTH = 32  # an edit is cameras[i].zones.z.points[j][k]: 7 levels
MAX_INT_DIGITS = 30  # coordinates, seconds and counts; far beyond any of them
MAX_FLOAT_CHARACTERS = 64
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)  # linear: its two alternatives never both match
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
# C0 and C1 controls but tab, line feed and carriage return (free text may have lines); lone surrogates
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# json.loads refuses raw C0 controls in strings, and valid UTF-8 holds no surrogate: a bad string needs a
# \u escape or a raw DEL/C1 character, so a body with neither is not walked
_MAYBE_BAD_TEXT = re.compile(r"\\u|[\x7f-\x9f]")


class BadJson(ValueError):
    """The body is not JSON the page takes; the message says why (and where, for strings)."""


def parse(raw: bytes) -> object:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadJson(f"the body is not UTF-8 (bad byte at offset {exc.start})") from None
    depth = nesting(text)
    if depth > MAX_DEPTH:
        raise BadJson(f"the JSON is nested {depth} levels deep; at most {MAX_DEPTH} are taken")
    try:
        value = json.loads(text, parse_int=_integer, parse_float=_float, parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise BadJson(f"not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:  # cannot get past nesting(); kept so that no parse can ever end in a traceback
        raise BadJson(f"the JSON is nested too deep; at most {MAX_DEPTH} levels are taken") from None
    if _MAYBE_BAD_TEXT.search(text):
        check_strings(value)
    return value


def nesting(text: str) -> int:
    """The deepest bracket nesting outside strings, counted without recursion (a malformed tail may count low,
    but json.loads stops at the first error, before any such tail)."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def check_strings(value: object) -> None:
    """Every string and key is text: no control character (but tab and line breaks), no lone surrogate."""
    pending: list[tuple[object, str]] = [(value, "body")]
    while pending:
        item, path = pending.pop()
        if isinstance(item, dict):
            for key, inner in item.items():
                _check_text(key, f"{path}: the key {_shown(key)}")
                pending.append((inner, f"{path}.{_shown(key)}"))
        elif isinstance(item, list):
            pending.extend((inner, f"{path}[{index}]") for index, inner in enumerate(item))
        elif isinstance(item, str):
            _check_text(item, path)


def _check_text(text: str, where: str) -> None:
    if control := _CONTROL.search(text):
        raise BadJson(f"{where}: control character U+{ord(control.group()):04X} in a string")
    if surrogate := _SURROGATE.search(text):
        raise BadJson(f"{where}: a lone surrogate U+{ord(surrogate.group()):04X} is not text")


def _shown(key: str) -> str:
    """A key as an error message may show it: printable, short."""
    return key if key.isidentifier() and len(key) <= 40 else ascii(key[:40])


def _integer(literal: str) -> int:
    digits = len(literal.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise BadJson(f"a number of {digits} digits; at most {MAX_INT_DIGITS} digits are taken")
    return int(literal)


def _float(literal: str) -> float:
    if len(literal) > MAX_FLOAT_CHARACTERS:
        raise BadJson(f"a number written with {len(literal)} characters; at most {MAX_FLOAT_CHARACTERS}")
    value = float(literal)
    if not math.isfinite(value):
        raise BadJson(f"the number {literal} is out of range")
    return value


def _constant(name: str) -> None:
    raise BadJson(f"{name} is not a number JSON allows")
