"""The response loop with real parts: the real daemon on a shared clip, a real mosquitto, the reference consumer
and a real local HTTP server standing in for the siren. An intrusion starts the siren; the consumer's
`platform dispose … acknowledged` reaches the box over the broker and the siren's stop runs; the disposition comes
back to the consumer; a repeat, an out-of-order state and an unknown event are refused and change nothing."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

from edge_agent.cli.platform_response import open_response
from edge_agent.clock import parse_utc
from edge_agent.config.mqtt import MqttConfig
from edge_agent.platform import PlatformConsumer, PlatformStore
from edge_agent.platform.consumer import ConsumerOptions
from tests.support.assets import WHOLE_PICTURE, entrance_camera
from tests.support.daemon import ROOT, Daemon, Watcher, base_config
from tests.support.wait import wait_for
from tests.test_daemon_actions import models_dir  # noqa: F401  (a fixture)


def siren_config(state_dir, port: int, models, target_url: str, **rule_settings) -> dict:
    rule = {"name": "night", "type": "intrusion", "camera": "entrance", "zone": "room", "min_dwell": 0.2}
    return base_config(
        state_dir,
        port,
        detector={"models_dir": str(models), "threads": 1},
        cameras=[entrance_camera(zones={"room": {"points": WHOLE_PICTURE}})],
        rules=[{**rule, "severity": "major", **rule_settings}],
        actions=[
            {"name": "siren", "kind": "http", "url": f"{target_url}/ok/siren-on", "on": [{"rule": "night"}]},
            {
                "name": "siren-stop",
                "kind": "http",
                "url": f"{target_url}/ok/siren-off/{{disposition}}",
                "on": [{"rule": "night", "dispositions": ["acknowledged"]}],
            },
        ],
    )


def platform(db: str, *args: str) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "edge_agent", "platform", *args, "--db", db],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, done.stdout + done.stderr


def test_dispose_from_the_consumer_stops_the_siren_and_comes_back(tmp_path, models_dir, mosquitto, target):  # noqa: F811
    db = str(tmp_path / "platform.db")
    store = PlatformStore(db)
    consumer = PlatformConsumer(
        MqttConfig(host="127.0.0.1", port=mosquitto.port), store, ConsumerOptions(), response=open_response(db)
    ).start()
    watcher = Watcher(mosquitto.port)
    daemon = Daemon(tmp_path / "agent", siren_config(tmp_path / "state", mosquitto.port, models_dir, target.url))
    daemon.start()
    try:
        wait_for(consumer.subscribed.is_set, message="the consumer's subscriptions")
        wait_for(lambda: target.of_kind("ok"), timeout=90, message="the siren started by the intrusion")
        start = wait_for(lambda: _first_start(db), timeout=30, message="the intrusion at the platform")
        code, pending = platform(db, "pending", "--json")
        assert code == 0 and start in [json.loads(line)["event_id"] for line in pending.splitlines()]

        code, out = platform(
            db, "dispose", start, "acknowledged", "--by", "ana", "--note", "guard sent", "--port", str(mosquitto.port)
        )
        assert code == 0, out
        reply = json.loads(out)
        assert reply["ok"] and reply["result"]["disposition"]["state"] == "acknowledged"
        wait_for(lambda: _paths(target, "siren-off"), message="the siren's stop")
        assert _paths(target, "siren-off") == ["/ok/siren-off/acknowledged"]
        stored = wait_for(lambda: open_response(db).states().get(start), message="the disposition at the platform")
        assert list(stored) == ["acknowledged"]

        before = len(watcher.payloads("dispositions"))
        again = watcher.command("dispose", {"event_id": start, "state": "acknowledged", "by": "bob"})
        assert not again["ok"] and "already acknowledged (by ana" in again["error"]
        assert again["result"]["outcome"] == "duplicate"
        assert watcher.command("dispose", {"event_id": start, "state": "resolved", "by": "ana"})["ok"]
        late = watcher.command("dispose", {"event_id": start, "state": "dispatched", "by": "bob"})
        assert not late["ok"] and "already resolved" in late["error"] and late["result"]["outcome"] == "out_of_order"
        unknown = watcher.command(
            "dispose", {"event_id": "0190aaaa-0000-7000-8000-000000000000", "state": "acknowledged", "by": "bob"}
        )
        assert not unknown["ok"] and unknown["result"]["outcome"] == "unknown_event"
        wait_for(lambda: len(watcher.payloads("dispositions")) == before + 1, message="the resolved disposition")
        assert _paths(target, "siren-off") == ["/ok/siren-off/acknowledged"]  # refusals ran nothing
        wait_for(
            lambda: "resolved" in (open_response(db).states().get(start) or {}), message="resolved at the platform"
        )
        code, pending = platform(db, "pending", "--json")
        assert start not in pending
        code, figures = platform(db, "response", "--json")
        row = next(json.loads(line) for line in figures.splitlines() if json.loads(line)["rule"] == "night")
        assert row["acknowledged"] >= 1 and row["resolved"] == 1 and row["ack_p50_s"] > 0
    finally:
        code = daemon.stop()
        consumer.stop()
        watcher.close()
    assert code == 0, daemon.log()[-3000:]


def _first_start(db: str) -> str | None:
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT event_id FROM alerts WHERE type = 'intrusion' AND phase = 'start' ORDER BY created_at"
        ).fetchall()
    return rows[0][0] if rows else None


def _paths(target, name: str) -> list[str]:
    return [request.path.split("?")[0] for request in target.of_kind("ok") if f"/{name}" in request.path]


def test_a_snooze_outlives_a_reload_and_a_restart_and_reports_what_it_hid(
    tmp_path,
    models_dir,  # noqa: F811
    mosquitto,
    target,
):
    config = siren_config(tmp_path / "state", mosquitto.port, models_dir, target.url, cooldown=0, clear_after=0.2)
    watcher = Watcher(mosquitto.port)
    daemon = Daemon(tmp_path / "agent", config).start()
    try:
        watcher.wait_ready()
        wait_for(lambda: watcher.payloads("alerts/intrusion"), timeout=90, message="an intrusion before the snooze")
        args = {"rule": "night", "minutes": 0.5, "reason": "bakery delivery", "by": "li"}
        reply = watcher.command("snooze", args)
        assert reply["ok"], reply
        until = reply["result"]["snoozed"]["until"]
        refused = watcher.command("snooze", {**args, "rule": "nobody"})
        assert not refused["ok"] and "unknown target 'rule:nobody'" in refused["error"]

        config["telemetry"] = {"interval": 20}  # any change: a reload
        status = daemon.reload_file(config, watcher)
        assert status["response"]["snoozed"]["rule:night"]["until"] == until
        assert daemon.stop() == 0
        daemon.start()
        status = wait_for(lambda: watcher.command("status")["result"], timeout=40, message="the restarted agent")
        snoozed = status["response"]["snoozed"]["rule:night"]
        assert snoozed["until"] == until and snoozed["reason"] == "bakery delivery" and snoozed["by"] == "remote:li"

        report = wait_for(lambda: watcher.payloads("alerts/rule.snoozed_report"), timeout=60, message="the report")
        extra = report[0]["details"]["extra"]
        assert extra["until"] == until and extra["ended_by"] == "expired" and extra["reason"] == "bakery delivery"
        assert parse_utc(report[0]["created_at"]) >= parse_utc(until)  # not before its time
        assert extra["suppressed"] >= 1 and extra["suppressed"] == sum(extra["suppressed_types"].values())
        snoozed_from = parse_utc(reply["at"])
        hidden = [
            alert
            for alert in watcher.payloads("alerts/intrusion")
            if alert["phase"] == "start" and snoozed_from < parse_utc(alert["created_at"]) < parse_utc(until)
        ]
        assert hidden == []  # what the snooze covered never went out
        wait_for(
            lambda: [a for a in watcher.payloads("alerts/intrusion") if parse_utc(a["created_at"]) > parse_utc(until)],
            timeout=60,
            message="the rule alerting again after the snooze",
        )
        assert "rule:night" not in watcher.command("status")["result"]["response"]["snoozed"]
        audit = [line for line in daemon.log().splitlines() if "response control: snooze rule:night" in line]
        assert len(audit) == 1
    finally:
        code = daemon.stop()
        watcher.close()
    assert code == 0, daemon.log()[-3000:]
