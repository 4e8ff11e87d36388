"""The page's language: English or Simplified Chinese, chosen by the browser's Accept-Language or the technician.

The words live in JSON catalogues (static/i18n/en.json, zh-CN.json; tests/test_web_i18n.py fails on a key missing
from either, or a word of the page left outside them). `/i18n.js` hands the page its catalogue as a script that
runs before the page's own (so `t(key, english)` in static/common.js has it from the first line): the language of
the `edge_agent_lang` cookie (the page's switch sets it) when it names one, else the best of Accept-Language,
else English. Public like the page's HTML: the login needs its words; a catalogue holds no secret.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from edge_agent.web.responses import SECURITY_HEADERS

CATALOGUES = Path(__file__).resolve().parent / "static" / "i18n"
LANGUAGES = ("en", "zh-CN")
DEFAULT = "en"
COOKIE = "edge_agent_lang"
MAX_RANGES = 20  # Accept-Language entries looked at; a browser sends a handful


@functools.cache
def catalogue(language: str) -> dict[str, str]:
    return json.loads((CATALOGUES / f"{language}.json").read_text(encoding="utf-8"))


def language_of(tag: str) -> str | None:
    """One of LANGUAGES for a language tag (`zh`, `zh-Hans-CN`, `en-GB` ...), or None."""
    primary = tag.strip().lower().split("-")[0]
    return {"zh": "zh-CN", "en": "en"}.get(primary)


def negotiate(accept_language: str | None) -> str:
    """The best of LANGUAGES for an Accept-Language header (RFC 9110 quality values); English when none fits."""
    best, best_q = DEFAULT, 0.0
    for entry in (accept_language or "").split(",")[:MAX_RANGES]:
        tag, _, params = entry.partition(";")
        quality = 1.0
        name, _, value = params.strip().partition("=")
        if name.strip() == "q":
            try:
                quality = float(value)
            except ValueError:
                continue
        language = language_of(tag)
        if language is not None and 0 < quality <= 1 and quality > best_q:
            best, best_q = language, quality
    return best


def chosen(request: Request) -> str:
    asked = request.cookies.get(COOKIE)
    return asked if asked in LANGUAGES else negotiate(request.headers.get("accept-language"))


async def catalogue_script(request: Request) -> Response:
    language = chosen(request)
    data = {"lang": language, "languages": list(LANGUAGES), "messages": catalogue(language)}
    # ASCII-only JSON: nothing from the request is in it, only the chosen name of LANGUAGES and the catalogue
    body = f"window.EA_I18N = {json.dumps(data, ensure_ascii=True)};\n"
    headers = {**SECURITY_HEADERS, "Vary": "Accept-Language, Cookie"}
    return Response(body, media_type="text/javascript", headers=headers)
