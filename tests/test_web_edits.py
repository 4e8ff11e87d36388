"""The technician page's Validate and Apply against the real daemon (a subprocess), over real HTTP and a real broker.

The config is hand-written YAML, as a person keeps it: comments, a quoted value, `${VAR}` references, actions with
`on:` triggers (docs/actions.md). Apply must edit only the nodes the page changed (an unchanged Apply leaves the file
byte-identical); the diff lists only the changed keys and never a secret; a `persist: false` remote change is never
written to the file by a later Apply.
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path

import httpx
import pytest
import yaml

from edge_agent.web.passwords import write_hash
from tests.support.daemon import Daemon, Watcher
from tests.support.wait import wait_for
from tests.test_access_common import write_site_key

PASSWORD = "correct horse battery"
MQTT_PASSWORD = "mqtt-pass-7c1e0b2d"
BEARER = "s3cr3t-4f9a1c7e-bearer"
CARD = "8804417215"

CONFIG = """\
# the lift lobby box: edited by hand and by the technician's page
device:
  id: dev-1
  site: site-1
  state_dir: {state}

mqtt:
  host: 127.0.0.1
  port: {port}
  username: ${{EDGE_TEST_MQTT_USER:-lobby}}     # from the environment, never expanded into the file
  password: {mqtt_password}
  reconnect: {{min_delay: 0.2, max_delay: 1}}

telemetry:
  interval: 30

supervisor:
  start_grace: 0.5

web:
  enabled: true
  port: 0

cameras:
  - id: entrance
    url: rtsp://192.0.2.10:554/stream1          # not opened: switched off below
    enabled: false
    zones:
      door:                                     # the doorway, floor level
        points: [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5], [0.1, 0.5]]
      lift:
        points: [[0.6, 0.6], [0.9, 0.6], [0.9, 0.9], [0.6, 0.9]]
    lines:
      entry:
        points: [[0.1, 0.8], [0.9, 0.8]]
        in_side: [0.5, 0.95]

rules:
  - name: after-hours
    type: intrusion
    camera: entrance
    zone: door
    severity: "major"                           # quoted on purpose

access:
  site_key_file: {site_key}
  welfare:
    - name: resident-7
      card_numbers: ["{card}"]
      max_silence_hours: 24

actions:
  - name: lobby-speaker
    kind: http
    on:
      - {{rule: after-hours, phases: [start]}}
    url: http://127.0.0.1:9/api/play
    headers:
      Authorization: Bearer {bearer}
    body: {{clip: warning, zone: "{{zone}}"}}
"""


@pytest.fixture
def box(tmp_path, mosquitto):
    """The daemon on the hand-written config, its page's address, a logged-in client and a watcher."""
    state = tmp_path / "state"
    write_hash(state / "web" / "password", PASSWORD)
    text = CONFIG.format(
        state=state,
        port=mosquitto.port,
        mqtt_password=MQTT_PASSWORD,
        site_key=write_site_key(tmp_path),
        card=CARD,
        bearer=BEARER,
    )
    daemon = Daemon(tmp_path / "agent", text, args=("--log-level", "debug"))
    watcher = Watcher(mosquitto.port)
    daemon.start()
    try:
        watcher.wait_ready()
        client = httpx.Client(base_url=page_url(daemon), timeout=60)
        reply = client.post("/api/login", json={"user": "technician", "password": PASSWORD})
        assert reply.status_code == 200, reply.text
        client.headers["X-CSRF-Token"] = reply.json()["csrf"]
        yield Box(daemon, watcher, client, state, text)
    finally:
        code = daemon.stop()
        watcher.close()
        assert code == 0, daemon.log()[-3000:]


class Box:
    def __init__(self, daemon: Daemon, watcher: Watcher, client: httpx.Client, state: Path, text: str):
        self.daemon, self.watcher, self.client, self.state, self.text = daemon, watcher, client, state, text
        self.replies: list[bytes] = []  # every reply body the page gave, for the byte scan

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        reply = self.client.request(method, path, **kwargs)
        self.replies.append(reply.content)
        return reply

    def loaded(self) -> dict:
        reply = self.request("GET", "/api/config")
        assert reply.status_code == 200, reply.text
        return reply.json()

    def file(self) -> str:
        return self.daemon.config_path.read_text()

    def audit(self) -> list[dict]:
        return [json.loads(line) for line in (self.state / "web" / "audit.jsonl").read_text().splitlines()]


def page_url(daemon: Daemon) -> str:
    def found():
        urls = re.findall(r"served on (https?://[^ \"]+/)", daemon.log())
        return urls[-1] if urls else None

    return wait_for(found, timeout=30, message="the page's address in the daemon's log")


def moved_corner(edit: dict, x: float = 0.2, y: float = 0.15) -> dict:
    edit["cameras"][0]["zones"]["door"]["points"][0] = [x, y]
    return edit


def test_an_unchanged_apply_is_byte_identical_and_a_moved_corner_keeps_comments_order_and_on_keys(box):
    """F8: `on:` was re-read as `true`, so every Apply failed with "unknown key 'true'" (and lost the comments)."""
    loaded = box.loaded()
    reply = box.request("POST", "/api/apply", json={"edit": loaded["edit"], "digest": loaded["digest"]})
    assert reply.status_code == 200, reply.text
    assert reply.json()["diff"] == [] and box.file() == box.text

    reply = box.request("POST", "/api/apply", json={"edit": moved_corner(loaded["edit"]), "digest": loaded["digest"]})
    assert reply.status_code == 200, reply.text
    after = box.file()
    changed = [
        line
        for line in difflib.unified_diff(box.text.splitlines(), after.splitlines(), n=0, lineterm="")
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert changed == [
        "-        points: [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5], [0.1, 0.5]]",
        "+        points: [[0.2, 0.15], [0.5, 0.1], [0.5, 0.5], [0.1, 0.5]]",
    ]
    assert "    on:\n      - {rule: after-hours, phases: [start]}" in after and "# quoted on purpose" in after
    assert "${EDGE_TEST_MQTT_USER:-lobby}" in after  # never expanded
    status = box.watcher.command("get-config")
    running = status["result"]["config"]["cameras"][0]["zones"]["door"]["points"][0]
    assert running == [0.2, 0.15]
    assert box.loaded()["edit"]["cameras"][0]["zones"]["door"]["points"][0] == [0.2, 0.15]


def test_the_diff_lists_only_the_changed_keys(box):
    """F4: the diff was the whole file re-dumped."""
    loaded = box.loaded()
    edit = moved_corner(loaded["edit"])
    edit["rules"][0]["zone"] = "lift"
    del edit["cameras"][0]["lines"]["entry"]
    reply = box.request("POST", "/api/validate", json={"edit": edit, "digest": loaded["digest"]})
    assert reply.status_code == 200 and reply.json()["ok"] is True, reply.text
    assert reply.json()["diff"] == [
        {"path": "cameras[0].zones.door.points[0]", "before": [0.1, 0.1], "after": [0.2, 0.15]},
        {
            "path": "cameras[0].lines.entry",
            "before": {"points": [[0.1, 0.8], [0.9, 0.8]], "in_side": [0.5, 0.95]},
            "after": None,
        },
        {"path": "rules[0].zone", "before": "door", "after": "lift"},
    ]


def test_no_secret_reaches_a_reply_the_audit_log_the_daemon_output_or_the_state_dir(box):
    """F4: the diff showed mqtt.password and card numbers, and Apply wrote it into the audit log."""
    loaded = box.loaded()
    assert box.request("POST", "/api/validate", json={"edit": moved_corner(loaded["edit"])}).json()["ok"] is True
    bad = moved_corner(box.loaded()["edit"])
    bad["rules"][0]["zone"] = "nowhere"
    assert box.request("POST", "/api/apply", json={"edit": bad, "digest": loaded["digest"]}).status_code == 422
    reply = box.request("POST", "/api/apply", json={"edit": moved_corner(loaded["edit"]), "digest": loaded["digest"]})
    assert reply.status_code == 200, reply.text
    audit = box.audit()
    assert [entry.get("outcome") for entry in audit if entry["action"] == "apply"] == ["invalid", "applied"]
    box.request("GET", "/api/overview")
    box.request("GET", "/api/actions")
    box.daemon.stop()
    assert CARD in box.file() and BEARER in box.file()  # the file keeps them: it is the box's own
    scanned = {f"reply {n}": body for n, body in enumerate(box.replies)}
    scanned["daemon stdout and stderr"] = box.daemon.log().encode()
    scanned.update({str(path): path.read_bytes() for path in box.state.rglob("*") if path.is_file()})
    assert "audit.jsonl" in " ".join(scanned) and len(scanned) > 6
    for secret in (MQTT_PASSWORD, BEARER, CARD):
        for where, data in scanned.items():
            assert secret.encode() not in data, f"{secret} in {where}"


def test_a_persist_false_change_is_never_written_by_a_later_apply(box):
    """F14: the page edited the running text, so its Apply wrote a `persist: false` change to the file."""
    remote = box.text.replace('severity: "major"', "severity: critical")  # the platform's trial, not to be kept
    # the platform keeps the box's secrets as get-config shows them, never writing them (config/hidden.py)
    for secret, shown in ((MQTT_PASSWORD, '"**********"'), (f"Bearer {BEARER}", '"**********"'), (CARD, "*" * 10)):
        remote = remote.replace(secret, shown)  # quoted in YAML where it stands bare: *name is an alias there
    reply = box.watcher.command("set-config", {"config": remote, "persist": False}, timeout=60)
    assert reply["ok"] is True, reply["error"]
    assert box.file() == box.text

    loaded = box.loaded()
    edit = moved_corner(loaded["edit"])
    refused = box.request("POST", "/api/apply", json={"edit": edit, "digest": loaded["digest"]})
    assert "critical" not in box.file() and box.file() == box.text  # the trial never reaches the file
    assert refused.status_code == 409 and "persist: false" in refused.json()["error"]
    assert loaded["running_differs"] is True  # the page says so before anyone presses Apply
    assert loaded["edit"]["rules"][0]["severity"] == "major"  # it edits the file, not the trial

    confirmed = {"edit": edit, "digest": loaded["digest"], "replace_running": True}
    reply = box.request("POST", "/api/apply", json=confirmed)
    assert reply.status_code == 200, reply.text
    on_disk = yaml.safe_load(box.file())
    assert on_disk["rules"][0]["severity"] == "major" and on_disk["cameras"][0]["zones"]["door"]["points"][0] == [
        0.2,
        0.15,
    ]
    assert box.loaded()["running_differs"] is False
    assert box.watcher.command("get-config")["result"]["config"]["rules"][0]["severity"] == "major"


def test_f3_the_page_never_expands_an_environment_reference_it_is_sent(box):
    """F3 on the page: Validate of `severity: ${HOME}` answered with the daemon's home directory."""
    home = box.daemon.env["HOME"]
    loaded = box.loaded()
    for field, reference in (("severity", "${HOME}"), ("zone", "${HOME}"), ("name", "x${PATH}")):
        edit = json.loads(json.dumps(loaded["edit"]))
        edit["rules"][0][field] = reference
        for route in ("/api/validate", "/api/apply"):
            reply = box.request("POST", route, json={"edit": edit, "digest": loaded["digest"]})
            assert reply.status_code in (200, 422) and reply.json()["ok"] is False, reply.text
            messages = " ".join(error["message"] for error in reply.json()["errors"])
            assert "expanded only in the config file on the device" in messages, messages
            assert home not in reply.text and box.daemon.env["PATH"] not in reply.text
    assert box.file() == box.text  # nothing applied
    assert home not in (box.state / "web" / "audit.jsonl").read_text()
