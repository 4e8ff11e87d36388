"""The page's two languages: every word of index.html and static/*.js is in both catalogues; the right one is served.

The catalogues are JSON (edge_agent/web/static/i18n/en.json, zh-CN.json). Checked here without a browser:
- both hold the same keys, none empty, and the {placeholders} of a key are the same in both;
- every text node of index.html sits in an element with `data-i18n` (or under `translate="no"`: the product's
  name, ids, numbers), and its key's English is the text written there;
- every `t("key", "English")` in the scripts names a key of both catalogues, with that English in en.json;
- the words the scripts pick at run time (`EA.word(group, value)`: phases, severities, delivery states, levels,
  action outcomes and triggers) are in both for every value the agent can send;
- `/i18n.js` serves the language of the cookie, else of Accept-Language, and nothing of the request.
The browser test (tests/test_web_i18n_browser.py) reads the rendered zh-CN page for English left over.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import get_args

import pytest

from edge_agent.events.action import OUTCOMES
from edge_agent.events.alert import Severity, Source
from edge_agent.events.alert_types import ALERT_TYPES
from edge_agent.logs import LEVELS
from edge_agent.web.i18n import negotiate

STATIC = Path(__file__).resolve().parents[1] / "edge_agent" / "web" / "static"
LANGUAGES = ("en", "zh-CN")
# t("key", "English", ...): the English may be split over "a" + "b" concatenations
T_CALL = re.compile(r"""\bt\(\s*"([^"]+)"\s*,\s*((?:"(?:[^"\\]|\\.)*"\s*\+?\s*)+)""")
PLACEHOLDER = re.compile(r"\{(\w+)\}")
RUN_TIME_WORDS = {  # EA.word(group, value): every value the agent can send
    "phase": ["start", "end", "instant"],
    "severity": [s.value for s in Severity],
    "state": ["pending", "inflight", "delivered"],
    "level": list(LEVELS),
    "outcome": [*OUTCOMES, "applied", "refused", "reverted", "pending"],
    "trigger": ["alert", "remote", "technician"],
    "alert_type": list(ALERT_TYPES),
    "source_kind": list(get_args(Source.model_fields["kind"].annotation)),  # a new alert type needs its words
    "reason": [  # agent.health's reasons (daemon/health.py, agent.py, delivery.py, supervisor.py)
        *("adapter_offline", "adapter_online", "config_rejected", "config_reverted", "config_rolled_back"),
        *("outbox.corrupt", "state.corrupt", "stage_crashed", "stage_stalled", "stage_gave_up"),
    ],
}


def catalogue(language: str) -> dict[str, str]:
    return json.loads((STATIC / "i18n" / f"{language}.json").read_text(encoding="utf-8"))


class _TextNodes(HTMLParser):
    """Every non-blank text node of a page with its element's data-i18n key (None if it has none) and whether a
    translate="no" element holds it."""

    VOID = {"meta", "link", "input", "br", "img", "hr"}

    def __init__(self):
        super().__init__()
        self.stack: list[dict] = []
        self.found: list[tuple[str, str | None, bool]] = []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append({"tag": tag, **dict(attrs)})

    def handle_endtag(self, tag):
        while self.stack and self.stack.pop()["tag"] != tag:
            pass

    def handle_data(self, data):
        text = " ".join(data.split())
        if not text or (self.stack and self.stack[-1]["tag"] in ("script", "style")):
            return
        untranslatable = any(node.get("translate") == "no" for node in self.stack)
        key = self.stack[-1].get("data-i18n") if self.stack else None
        self.found.append((text, key, untranslatable))


def html_text_nodes() -> list[tuple[str, str | None, bool]]:
    parser = _TextNodes()
    parser.feed((STATIC / "index.html").read_text(encoding="utf-8"))
    return parser.found


def script_calls() -> list[tuple[str, str, str]]:
    """(file, key, English) of every t() call in the page's scripts."""
    calls = []
    for script in sorted(STATIC.glob("*.js")):
        for key, english in T_CALL.findall(script.read_text(encoding="utf-8")):
            parts = re.findall(r'"((?:[^"\\]|\\.)*)"', english)
            calls.append((script.name, key, json.loads('"' + "".join(parts) + '"')))
    return calls


def test_both_catalogues_hold_the_same_keys_none_empty_with_the_same_placeholders():
    english, chinese = catalogue("en"), catalogue("zh-CN")
    assert sorted(set(english) - set(chinese)) == [], "missing in zh-CN.json"
    assert sorted(set(chinese) - set(english)) == [], "missing in en.json"
    assert [key for key in english if not english[key].strip() or not chinese[key].strip()] == []
    differing = [
        key for key in english if set(PLACEHOLDER.findall(english[key])) != set(PLACEHOLDER.findall(chinese[key]))
    ]
    assert differing == []


def test_every_text_node_of_the_page_is_translated_or_marked_as_a_name():
    english = catalogue("en")
    nodes = html_text_nodes()
    assert len(nodes) > 40  # the parser saw the page
    untranslated = [text for text, key, name in nodes if key is None and not name and not text.isdigit()]
    assert untranslated == [], "text without data-i18n in index.html"
    assert [key for _, key, _ in nodes if key is not None and key not in english] == []
    wrong = [(key, text) for text, key, _ in nodes if key is not None and english.get(key) != text]
    assert wrong == [], "en.json differs from the English written in index.html"


def test_every_key_the_scripts_ask_for_is_in_both_catalogues_with_its_english():
    english, chinese = catalogue("en"), catalogue("zh-CN")
    calls = script_calls()
    assert len(calls) > 100 and {name for name, _, _ in calls} >= {"common.js", "overview.js", "logs.js", "edit.js"}
    assert sorted({key for _, key, _ in calls if key not in english or key not in chinese}) == []
    assert [(key, text) for _, key, text in calls if english[key] != text] == []


def test_every_word_picked_at_run_time_is_in_both_catalogues():
    for language in LANGUAGES:
        words = catalogue(language)
        missing = [f"{group}.{value}" for group, values in RUN_TIME_WORDS.items() for value in values]
        assert [key for key in missing if key not in words] == [], language
    english = catalogue("en")  # in English a run-time word reads as the agent sent it (scripts and tests match it)
    as_sent = set(RUN_TIME_WORDS) - {"state"}  # "inflight" reads "in flight"
    assert [k for k in english if k.split(".")[0] in as_sent and english[k] != k.split(".", 1)[1]] == []


def test_no_catalogue_key_is_unused():
    used = {key for _, key, _ in script_calls()} | {key for _, key, _ in html_text_nodes() if key}
    used |= {f"{group}.{value}" for group, values in RUN_TIME_WORDS.items() for value in values}
    assert sorted(set(catalogue("en")) - used) == []


@pytest.mark.parametrize(
    "header, language",
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
        ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        ("zh-Hans-CN", "zh-CN"),
        ("fr-FR,fr;q=0.9,zh;q=0.5,en;q=0.4", "zh-CN"),  # the best of those the page has
        ("de-DE", "en"),
        ("", "en"),
        (None, "en"),
        ("zh;q=0, en;q=0.1", "en"),  # q=0: not acceptable
        ("zh;q=abc", "en"),
        ("zh;q=5", "en"),  # out of range: ignored
        ("x" * 10000, "en"),
        (",".join(["de"] * 30) + ",zh", "en"),  # only the first entries are read
    ],
)
def test_accept_language_picks_the_best_language_the_page_has(header, language):
    assert negotiate(header) == language
