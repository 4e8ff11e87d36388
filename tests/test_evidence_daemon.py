"""Evidence end to end with real parts: the daemon on a shared clip, a private mosquitto, the reference consumer.

Nothing pictured leaves the box until `get-evidence` asks: every byte published, the logs and the databases are
scanned for JPEG/PNG signatures (raw and base64) with evidence off, and with it on until the request. Then a
clip is fetched through a broker restart in the middle of the transfer and its hash matches the one the device
published; every fetch is an `evidence_sent` record; and bad requests (unknown, traversal, huge, a flood) are
refused while the agent goes on.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
import threading

import httpx
import pytest

from edge_agent.config.mqtt import MqttConfig
from edge_agent.events import Alert
from edge_agent.events.evidence_messages import EvidenceKept, EvidenceSent
from edge_agent.platform import PlatformConsumer, PlatformStore
from edge_agent.platform.evidence_fetch import FetchRequest, fetch_evidence
from edge_agent.web.passwords import write_hash
from tests.support.assets import WHOLE_PICTURE, entrance_camera
from tests.support.broker import Recorder
from tests.support.daemon import ROOT, Daemon, Watcher, base_config
from tests.support.image_scan import pictures_in, pictures_in_files
from tests.support.wait import wait_for
from tests.support.web import PASSWORD
from tests.support.web_daemon import page_url
from tests.test_daemon_video import models_dir  # noqa: F401 - the fixture

BASE = "edge/site-1/dev-1"


def _config(tmp_path, port, models, rule_evidence: dict | None, **sections):
    rule = {"name": "anyone", "type": "intrusion", "camera": "entrance", "zone": "room", "min_dwell": 0.2}
    if rule_evidence is not None:
        rule["evidence"] = rule_evidence
    return base_config(
        tmp_path / "state",
        port,
        detector={"models_dir": str(models), "threads": 1},
        cameras=[entrance_camera(zones={"room": {"points": WHOLE_PICTURE}})],
        rules=[rule],
        **sections,
    )


def _stored_files(state) -> list:
    return [path for path in state.rglob("*") if path.is_file() and "evidence" not in path.parts]


def _wire(recorder: Recorder) -> bytes:
    return b"\n".join(topic.encode() + b" " + payload for topic, payload, *_ in recorder.snapshot())


def test_no_picture_leaves_the_box_with_evidence_off(tmp_path, mosquitto, models_dir):  # noqa: F811
    recorder = Recorder(mosquitto.port, "#", client_id="scan-off").start()
    daemon = Daemon(tmp_path / "agent", _config(tmp_path, mosquitto.port, models_dir, None)).start()
    try:
        wait_for(lambda: recorder.payloads("/alerts/intrusion"), timeout=60, message="an intrusion alert")
    finally:
        daemon.stop()
        recorder.stop()
    assert pictures_in(_wire(recorder)) == []
    assert pictures_in_files([daemon.log_path, *_stored_files(tmp_path / "state")]) == {}
    evidence = tmp_path / "state" / "evidence"
    assert not evidence.exists() or list(evidence.iterdir()) == []


@pytest.fixture
def agent(tmp_path, mosquitto, models_dir):  # noqa: F811
    """The daemon keeping a snapshot and a 2 + 2 s clip per intrusion, the consumer storing, a recorder listening."""
    store = PlatformStore(tmp_path / "platform.db")
    consumer = PlatformConsumer(MqttConfig(host="127.0.0.1", port=mosquitto.port), store).start()
    assert consumer.subscribed.wait(10)
    recorder = Recorder(mosquitto.port, "#", client_id="scan-on").start()
    evidence = {"snapshot": True, "clip": {"before": 2, "after": 2}}
    settings = {"chunk_kb": 16, "fetches_per_minute": 12, "clip_fps": 5}
    web = {"enabled": True, "port": 0}
    config = _config(tmp_path, mosquitto.port, models_dir, evidence, evidence=settings, web=web)
    config["rules"][0]["cooldown"] = 600  # one episode: one snapshot and one clip
    write_hash(tmp_path / "state" / "web" / "password", PASSWORD)
    daemon = Daemon(tmp_path / "agent", config).start()
    watcher = Watcher(mosquitto.port)
    try:
        yield daemon, watcher, recorder, store
    finally:
        watcher.close()
        daemon.stop()
        recorder.stop()
        consumer.stop()
        store.close()


def test_evidence_is_kept_on_the_box_and_sent_only_on_request(tmp_path, mosquitto, agent):
    daemon, watcher, recorder, store = agent
    alert = Alert.model_validate(wait_for(lambda: watcher.payloads("alerts/intrusion"), timeout=60)[0])
    snapshot = alert.details.evidence
    assert snapshot is not None and snapshot.kind == "snapshot" and snapshot.bytes > 1000
    kept_file = tmp_path / "state" / "evidence" / f"{alert.event_id}.jpg"
    wait_for(kept_file.exists, message="the snapshot on disk (the writer thread writes it)")
    assert hashlib.sha256(kept_file.read_bytes()).hexdigest() == snapshot.sha256
    assert stat.S_IMODE(kept_file.stat().st_mode) == 0o600
    clip = EvidenceKept.model_validate(wait_for(lambda: watcher.payloads("evidence_kept"), timeout=30)[0])
    assert clip.alert_event_id == alert.event_id and clip.frames >= 8 and clip.duration_s >= 2
    wait_for(lambda: store.evidence_sha256(alert.event_id, "clip") == clip.sha256, message="the consumer's copy")

    # kept, described, and still not one picture byte on the wire, in the logs or in the databases (the platform's too)
    assert pictures_in(_wire(recorder)) == []
    platform_db = [tmp_path / f"platform.db{suffix}" for suffix in ("", "-wal")]
    assert pictures_in_files([daemon.log_path, *_stored_files(tmp_path / "state"), *platform_db]) == {}

    # the clip, through a broker restart in the middle of the transfer
    mqtt = MqttConfig(host="127.0.0.1", port=mosquitto.port)
    expected = store.evidence_sha256(alert.event_id, "clip")
    request = FetchRequest(BASE, alert.event_id, "clip", expected, requested_by="operator-7", quiet_s=2.0)
    asked = 0
    for _ in range(3):  # the restart must land mid-transfer: on loopback a transfer may beat it; again then
        data, requests, count, before_restart = _fetch_through_restart(mosquitto, mqtt, request, recorder)
        asked += requests
        assert hashlib.sha256(data).hexdigest() == clip.sha256 == expected and len(data) == clip.bytes
        print(f"clip: {count} parts, {before_restart} seen before the restart, {requests} request(s)")
        if before_restart < count:
            break
    assert count >= 10 and before_restart < count, "the restart came in the middle of a transfer"

    # the snapshot through the reference consumer's command, checked against the alert's hash
    watcher.wait_ready()
    out = tmp_path / "snapshot.jpg"
    command = [sys.executable, "-m", "edge_agent", "platform", "evidence", alert.event_id, "--out", str(out)]
    command += ["--db", str(tmp_path / "platform.db"), "--port", str(mosquitto.port), "--by", "operator-7"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, capture_output=True, text=True, timeout=90, env=env)
    assert done.returncode == 0, done.stderr
    assert hashlib.sha256(out.read_bytes()).hexdigest() == snapshot.sha256

    # asked for: now pictures are on the wire (the scan above would have seen them), each fetch recorded
    assert "jpeg-base64" in pictures_in(_wire(recorder))
    sent = wait_for(lambda: (records := _sent_records(tmp_path)) and len(records) >= asked + 1 and records)
    assert {(r.kind, r.requested_by, r.via) for r in sent if r.outcome == "sent"} == {
        ("clip", "operator-7", "get-evidence"),
        ("snapshot", "operator-7", "get-evidence"),
    }
    assert all(r.alert_event_id == alert.event_id and r.bytes > 0 for r in sent if r.outcome == "sent")
    _on_the_page(daemon, alert.event_id, snapshot.sha256, tmp_path)
    _attacks(watcher, alert.event_id)
    refused = [record for record in _sent_records(tmp_path) if record.outcome == "refused"]
    assert len(refused) >= 2 and all(record.bytes == 0 and record.reason for record in refused)


def _fetch_through_restart(mosquitto, mqtt, request: FetchRequest, recorder: Recorder):
    """Fetch, restarting the broker as soon as the first part is seen; (bytes, requests, parts, parts seen first)."""
    topic = f"{BASE}/evidence/{request.event_id}"
    seen = len(recorder.snapshot())

    def parts():
        return [payload for t, payload, *_ in recorder.snapshot()[seen:] if t == topic]

    fetched: dict = {}
    fetcher = threading.Thread(target=lambda: fetched.update(result=fetch_evidence(mqtt, request)))
    fetcher.start()
    first = wait_for(parts, timeout=30, interval=0.001, message="the first part")
    mosquitto.restart()
    before_restart = len({json.loads(payload)["index"] for payload in parts()})
    fetcher.join(60)
    data, requests = fetched["result"]
    return data, requests, json.loads(first[0])["count"], before_restart


def _sent_records(tmp_path) -> list[EvidenceSent]:
    """The `evidence_sent` records as the box stored them (the wire may lose some to the broker restart)."""
    with sqlite3.connect(tmp_path / "state" / "outbox.db") as db:
        rows = db.execute("SELECT payload FROM outbox WHERE topic = ? ORDER BY seq", (f"{BASE}/evidence_sent",))
        return [EvidenceSent.model_validate_json(payload) for (payload,) in rows]


def _on_the_page(daemon: Daemon, event_id: str, sha256: str, tmp_path) -> None:
    """The technician's page shows the kept snapshot to a logged-in technician only, and records it."""
    url = page_url(daemon)
    with httpx.Client(base_url=url, timeout=30) as anonymous:
        assert anonymous.get(f"/api/evidence/{event_id}").status_code == 401
    with httpx.Client(base_url=url, timeout=30) as page:
        assert page.post("/api/login", json={"password": PASSWORD}).status_code == 200
        listed = {entry["event_id"]: entry for entry in page.get("/api/alerts").json()["alerts"]}
        assert listed[event_id]["evidence"] == "snapshot"
        shown = page.get(f"/api/evidence/{event_id}", params={"kind": "snapshot"})
        assert shown.status_code == 200 and shown.headers["content-type"] == "image/jpeg"
        assert hashlib.sha256(shown.content).hexdigest() == sha256 == shown.headers["x-evidence-sha256"]
        assert page.get("/api/evidence/..%2F..%2Fconfig.yaml").status_code in (400, 404)
        assert page.get(f"/api/evidence/{event_id}", params={"kind": "../x"}).status_code == 400
        assert page.get(f"/api/evidence/{event_id[:-4]}abcd").status_code == 404
    shown_records = [r for r in _sent_records(tmp_path) if r.via == "web" and r.outcome == "sent"]
    assert [(r.kind, r.requested_by) for r in shown_records] == [("snapshot", "technician")]


def _attacks(watcher: Watcher, event_id: str) -> None:
    """Bad requests are refused by name and recorded; a flood is cut at the rate; the agent answers on."""
    unknown = event_id[:-6] + "abcdef"
    refusals = {
        "unknown": watcher.command("get-evidence", {"event_id": unknown}),
        "traversal": watcher.command("get-evidence", {"event_id": f"../../{event_id}/../../etc/passwd"}),
        "too long": watcher.command("get-evidence", {"event_id": "x" * 10_000}),
        "bad kind": watcher.command("get-evidence", {"event_id": event_id, "kind": "raw"}),
        "huge": watcher.command(
            "get-evidence", raw=b'{"request_id":"h","args":{"event_id":"' + b"a" * 300_000 + b'"}}'
        ),
    }
    assert all(not reply["ok"] for reply in refusals.values())
    assert "no evidence is kept" in refusals["unknown"]["error"]
    assert "is not an alert's event id" in refusals["traversal"]["error"]
    assert "args.event_id" in refusals["too long"]["error"] and "args.kind" in refusals["bad kind"]["error"]
    assert "limit" in refusals["huge"]["error"]
    flood = [watcher.command("get-evidence", {"event_id": event_id}) for _ in range(12)]
    assert any("too many evidence requests" in (reply.get("error") or "") for reply in flood)
    assert watcher.command("ping")["ok"]
