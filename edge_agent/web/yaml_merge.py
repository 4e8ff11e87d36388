"""Change a few nodes of a YAML config and keep every other byte: comments, key order, quoting, `on:` keys.

The page's Apply writes the config file back. Re-dumping the parsed data loses comments and, worse, PyYAML
(YAML 1.1) reads an action's `on:` key as `true` and dumps it as `true:`, which the config refuses. ruamel.yaml
round-trips the text in YAML 1.2 (`on` stays a key), and the merge below touches only the nodes whose value
differs. ruamel reformats a little of what it re-dumps (an indent it guessed differently, spacing inside a flow
list), so only the lines that the edit itself changed are spliced into the original text; everything else is the
original's own bytes. `${VAR}` references are plain strings here: nothing is expanded.
"""

from __future__ import annotations

import difflib
import io

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarbool import ScalarBoolean
from ruamel.yaml.scalarstring import SingleQuotedScalarString

from edge_agent.config.yaml_source import BoundedLoader, LimitExceeded, oversize_issue

_PYYAML_RESOLVER = yaml.resolver.Resolver()
_TEXT = yaml.resolver.BaseResolver.DEFAULT_SCALAR_TAG


class YamlTrouble(ValueError):
    """The text cannot be round-tripped (syntax error, over a parsing limit)."""


def load(text: str):
    """The document as ruamel's round-trip tree, after the same limits the config loader applies."""
    _within_limits(text)
    try:
        return _yaml(2, 2, 0).load(text)
    except YAMLError as exc:
        raise YamlTrouble(f"YAML the page cannot edit: {_described(exc)}") from None


def plain(value):
    """ruamel's tree as plain JSON-able data (its str/int/float/bool subclasses carry formatting, not meaning)."""
    if isinstance(value, dict):
        return {_plain_key(key): plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if value is None:
        return None
    if isinstance(value, (bool, ScalarBoolean)):  # ScalarBoolean is an int subclass: tested before int
        return bool(value)
    for kind in (str, int, float):
        if isinstance(value, kind):
            return kind(value)
    return str(value)  # a timestamp and the like: the page shows it as text


def same(old, new) -> bool:
    """Equal as the config would read them: 1 and 1.0 are the same number (JSON may drop the .0), true is not 1."""
    if isinstance(old, dict) and isinstance(new, dict):
        return old.keys() == new.keys() and all(same(old[key], new[key]) for key in old)
    if isinstance(old, list) and isinstance(new, list):
        return len(old) == len(new) and all(same(a, b) for a, b in zip(old, new))
    if isinstance(old, (dict, list)) or isinstance(new, (dict, list)):
        return False
    if isinstance(old, bool) or isinstance(new, bool):
        return type(old) is type(new) and old == new
    if isinstance(old, (int, float)) and isinstance(new, (int, float)):
        return old == new
    return type(old) is type(new) and old == new


def update_mapping(target: CommentedMap, new: dict, path: tuple, changes: list) -> None:
    """Make `target` hold `new`: removed and added keys recorded in `changes`; a new key goes where `new` has it."""
    for key in [key for key in target if key not in new]:
        changes.append(((*path, key), plain(target[key]), None))
        del target[key]
    position = 0
    for key, value in new.items():
        if key in target:
            updated = _updated(target[key], value, (*path, key), changes)
            if updated is not target[key]:
                target[key] = updated
            position = list(target).index(key) + 1
        else:
            target.insert(position, key, fresh(value))
            changes.append(((*path, key), None, value))
            position += 1


def update_sequence(target: CommentedSeq, new: list, path: tuple, changes: list) -> None:
    for index, value in enumerate(new[: len(target)]):
        updated = _updated(target[index], value, (*path, index), changes)
        if updated is not target[index]:
            target[index] = updated
    for index in range(len(target) - 1, len(new) - 1, -1):
        changes.append(((*path, index), plain(target[index]), None))
        del target[index]
    for index in range(len(target), len(new)):
        target.append(fresh(new[index]))
        changes.append(((*path, index), None, new[index]))


def _updated(old, new, path: tuple, changes: list):
    """`old` itself (changed in place, or equal) or the node to put in its place."""
    if isinstance(old, CommentedMap) and isinstance(new, dict):
        update_mapping(old, new, path, changes)
        return old
    if isinstance(old, CommentedSeq) and isinstance(new, list) and not _is_point(new):
        update_sequence(old, new, path, changes)
        return old
    before = plain(old)
    if same(before, new):
        return old
    changes.append((path, before, new))
    if isinstance(old, CommentedSeq) and isinstance(new, list):  # a point, a list of classes: the style kept
        del old[len(new) :]
        for index, value in enumerate(new):
            if index == len(old):
                old.append(fresh(value))
            elif not same(plain(old[index]), value):
                old[index] = fresh(value)
        return old
    return fresh(new)


def _is_point(value: list) -> bool:
    return all(not isinstance(item, (dict, list)) for item in value)


def fresh(value):
    """A new node as people write them: points and short lists on one line, the rest in blocks."""
    if isinstance(value, dict):
        node = CommentedMap()
        for key, item in value.items():
            node[key] = fresh(item)
        return node
    if isinstance(value, list):
        node = CommentedSeq(fresh(item) for item in value)
        if all(not isinstance(item, (dict, list)) or isinstance(item, list) and _is_point(item) for item in value):
            node.fa.set_flow_style()
        return node
    if isinstance(value, str) and _read_as(value) != _TEXT:
        return SingleQuotedScalarString(value)  # "yes", "on", "12": the config's YAML 1.1 parser would not read text
    return value


def _read_as(text: str) -> str:
    """The tag the config's own parser (PyYAML, YAML 1.1) gives this text written plain."""
    return _PYYAML_RESOLVER.resolve(yaml.ScalarNode, text, (True, False))


def dump(document, pristine, original: str) -> str:
    """`document` as text: `original` (whose tree, untouched, is `pristine`) with only the lines the merge changed
    differing from it."""
    mapping, sequence, offset = _indentation(original)
    unchanged = _dump(pristine, mapping, sequence, offset)
    changed = _dump(document, mapping, sequence, offset)
    spliced = _spliced(original, unchanged, changed)
    if spliced is not None and _same_data(spliced, changed):
        return spliced
    return changed  # the edit overlapped lines ruamel re-formats: the whole file in ruamel's layout, still correct


def _dump(document, mapping: int, sequence: int, offset: int) -> str:
    out = io.StringIO()
    _yaml(mapping, sequence, offset).dump(document, out)
    return out.getvalue()


def _yaml(mapping: int, sequence: int, offset: int) -> YAML:
    handler = YAML()  # round-trip, YAML 1.2
    handler.preserve_quotes = True
    handler.width = 1 << 16  # never fold a long line the original has on one
    handler.indent(mapping=mapping, sequence=sequence, offset=offset)
    return handler


def _indentation(text: str) -> tuple[int, int, int]:
    """(mapping indent, sequence indent, dash offset) as the file writes them: `- id:` under `cameras:` indented 2
    (the installer's template) or 0 (PyYAML's dump); ruamel cannot tell, so it is read off the first of each."""
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    mapping = offset = None
    for above, line in zip(lines, lines[1:]):
        if not above.rstrip().endswith(":"):
            continue
        step = _indent(line) - _indent(above) - (2 if above.lstrip().startswith("- ") else 0)
        if line.lstrip().startswith("- ") and offset is None and step >= 0:
            offset = step
        elif not line.lstrip().startswith("- ") and mapping is None and step > 0:
            mapping = step
    mapping = mapping or 2
    offset = 2 if offset is None else offset
    return mapping, offset + 2, offset


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _spliced(original: str, unchanged: str, changed: str) -> str | None:
    """`original` with each hunk of unchanged→changed applied where those lines are the original's own; None
    when a hunk falls on lines ruamel re-formats (they have no counterpart in the original)."""
    a, b, c = original.splitlines(True), unchanged.splitlines(True), changed.splitlines(True)
    in_original = {}
    for block in difflib.SequenceMatcher(None, b, a, autojunk=False).get_matching_blocks():
        in_original.update({block.a + k: block.b + k for k in range(block.size)})
    out, cursor = [], 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, b, c, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        if i1 < i2:  # lines replaced or removed: they must be the original's own, in one run
            where = [in_original.get(i) for i in range(i1, i2)]
            if None in where or where[-1] - where[0] != i2 - i1 - 1:
                return None
            start, end = where[0], where[-1] + 1
        elif i1 in in_original:  # lines inserted before a line the original has
            start = end = in_original[i1]
        elif i1 == 0 or i1 - 1 in in_original:  # ... or after one
            start = end = in_original[i1 - 1] + 1 if i1 else 0
        else:
            return None
        # ruamel keeps the blank lines and comments that end a removed item with that item; they separate it from
        # what follows, which stays, so they stay too
        while end > start and _separator(a[end - 1]) and not (j2 > j1 and c[j2 - 1] == a[end - 1]):
            end -= 1
        if start < cursor:
            return None
        out += a[cursor:start] + c[j1:j2]
        cursor = end
    return "".join(out + a[cursor:])


def _separator(line: str) -> bool:
    return not line.strip() or line.lstrip().startswith("#")


def _same_data(one: str, other: str) -> bool:
    """Both texts read alike by the config's own parser (PyYAML; its C loader when built, for speed: both texts
    come from a document that passed the loader's limits)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(one, Loader=loader) == yaml.load(other, Loader=loader)
    except yaml.YAMLError:
        return False


def _within_limits(text: str) -> None:
    """The config loader's size, nesting and node limits (an alias bomb is refused before ruamel expands it)."""
    oversize = oversize_issue(text)
    if oversize is not None:
        raise YamlTrouble(oversize.message)
    loader = BoundedLoader(text)
    try:
        loader.get_single_node()
    except LimitExceeded as exc:
        raise YamlTrouble(f"line {exc.line}: {exc.message}") from None
    except yaml.YAMLError as exc:
        raise YamlTrouble(f"YAML syntax error: {_described(exc)}") from None
    finally:
        loader.dispose()


def _described(exc: Exception) -> str:
    """What is wrong and on which line, without the snippet of the file both parsers quote (it may be a secret's)."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f"line {mark.line + 1}: " if mark is not None else ""
    return where + str(getattr(exc, "problem", None) or type(exc).__name__)


def _plain_key(key):
    return key if type(key) in (str, int) else plain(key)
