"""The daemon as a subprocess with an HTTP push door controller and no camera (an access-only box).

Signed posts from a "controller" → door rules → outbox → a real mosquitto → a subscriber; the
raw card number must not appear in any payload, the log or the outbox file; telemetry and
status show the adapter online with its counters (and an event for an unconfigured door in
system.agent); SIGHUP rebuilds the adapter (the port is
released and bound again); a reload whose adapter cannot bind is applied with that adapter offline
(the reason in telemetry, an adapter_offline alert) and the adapter comes online by retry once the
port is free; SIGTERM stops cleanly.
"""

from __future__ import annotations

import http.client
import json
import signal
import socket
import time

import pytest

from edge_agent.sources.access.signing import sign
from tests.support.broker import free_port
from tests.support.daemon import Daemon, Watcher, base_config
from tests.support.wait import wait_for
from tests.test_access_common import write_site_key

SECRET = b"controller push secret, from a file"
CARD = "4010099"
CARD_PADDED = "0004010099"


@pytest.fixture
def watcher(mosquitto):
    watcher = Watcher(mosquitto.port)
    yield watcher
    watcher.close()


def access_section(tmp_path, port: int, denials: int = 3) -> dict:
    (tmp_path / "push.secret").write_bytes(SECRET + b"\n")
    return {
        "site_key_file": str(write_site_key(tmp_path)),
        "adapters": [
            {
                "type": "http_push",
                "id": "lobby-ctrl",
                "port": port,
                "default_door": "main-gate",
                "auth": {"hmac_secret_file": str(tmp_path / "push.secret"), "replay_window": 60},
            }
        ],
        "doors": [{"id": "main-gate"}],
        "denials": {"count": denials, "window": 60},
        "retry_min_delay": 0.1,
        "retry_max_delay": 0.5,  # an adapter that cannot start is retried soon
    }


def post(port: int, event: dict, secret: bytes = SECRET) -> tuple[int, dict]:
    body = json.dumps(event).encode()
    stamp = str(int(time.time()))
    headers = {"X-Timestamp": stamp, "X-Signature": sign(secret, stamp, body), "Content-Type": "application/json"}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("POST", "/events", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def adapter_telemetry(watcher: Watcher, condition) -> dict:
    def latest():
        samples = [t["adapters"].get("lobby-ctrl") for t in watcher.payloads("telemetry")]
        return next((s for s in reversed(samples) if s and condition(s)), None)

    return wait_for(latest, timeout=15, message="adapter telemetry")


def test_access_only_daemon_publishes_door_alerts_without_card_numbers(tmp_path, mosquitto, watcher):
    port = free_port()
    config = base_config(
        tmp_path / "state", mosquitto.port, telemetry={"interval": 1}, access=access_section(tmp_path, port)
    )
    daemon = Daemon(tmp_path / "agent", config).start()
    try:
        assert watcher.wait_ready()["ok"]
        status = watcher.command("status")["result"]
        assert status["cameras"] == [] and status["adapter_health"] == {"lobby-ctrl": "online"}
        assert status["stages"]["access"]["status"] == "running"

        assert post(port, {"type": "door.forced", "reader": "r1", "codes": {"seq": 1}})[0] == 200
        for seq in range(3):
            event = {
                "type": "access.denied",
                "reader": "r1",
                "card": CARD_PADDED,
                "reason": "unknown_card",
                "codes": {"seq": 10 + seq},
            }
            assert post(port, event)[0] == 200
        assert post(port, {"type": "door.forced", "codes": {"seq": 99}}, secret=b"wrong secret")[0] == 401
        assert post(port, {"type": "door.opened", "door": "back-gate", "codes": {"seq": 20}})[0] == 200

        forced = wait_for(lambda: watcher.payloads("alerts/door.forced"), timeout=15, message="door.forced alert")
        burst = wait_for(lambda: watcher.payloads("alerts/access.denied_burst"), timeout=15, message="denial burst")
        assert len(forced) == 1 and forced[0]["source"] == {"kind": "door", "id": "main-gate"}
        assert len(burst) == 1 and burst[0]["details"]["count"] == 3
        token = burst[0]["details"]["credential_token"]
        assert len(token) == 64 and token not in (CARD, CARD_PADDED)

        figures = adapter_telemetry(watcher, lambda s: s.get("events", 0) >= 5 and s["rejected_total"] >= 1)
        assert figures["online"] is True and figures["type"] == "http_push" and figures["port"] == port
        assert figures["events"] == 5 and figures["rejected"] == {"bad_signature": 1}
        agent = wait_for(
            lambda: next(
                (
                    t["system"]["agent"]
                    for t in reversed(watcher.payloads("telemetry"))
                    if t["system"]["agent"].get("door_events_unknown_door")
                ),
                None,
            ),
            timeout=15,
            message="door_events_unknown_door in telemetry",
        )
        assert agent["door_events_unknown_door"] == 1 and agent["door_events_unknown_type"] == 0

        reload_rebinds_the_adapter(daemon, config, watcher, port)
        assert daemon.stop() == 0
        wait_for(lambda: watcher.payloads("status")[-1]["state"] == "offline", timeout=5, message="status offline")
    finally:
        if daemon.running():
            daemon.stop()

    for topic, payload, _ in watcher.messages:
        assert CARD.encode() not in payload, topic
    assert CARD not in daemon.log()
    assert CARD.encode() not in (tmp_path / "state" / "outbox.db").read_bytes()
    assert "Traceback" not in daemon.log()


def reload_rebinds_the_adapter(daemon: Daemon, config: dict, watcher: Watcher, port: int) -> None:
    """SIGHUP: the old adapter lets go of its port and the new one listens; a port in use leaves it offline, retried."""
    config["access"]["denials"]["count"] = 5
    daemon.write_config(config)
    daemon.signal(signal.SIGHUP)
    first = wait_for(
        lambda: (
            (watcher.command("status")["result"]["last_reload"] or {}).get("outcome") == "applied"
            and watcher.command("status")["result"]["last_reload"]
        ),
        timeout=20,
        message="reload applied",
    )
    assert post(port, {"type": "door.forced", "reader": "r1", "codes": {"seq": 2}})[0] == 200
    wait_for(lambda: len(watcher.payloads("alerts/door.forced")) == 2, timeout=15, message="door.forced after reload")

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    busy_port = taken.getsockname()[1]
    try:
        busy = json.loads(json.dumps(config))
        busy["access"]["adapters"][0]["port"] = busy_port
        daemon.write_config(busy)
        daemon.signal(signal.SIGHUP)
        second = wait_for(
            lambda: (lambda last: last if last and last != first else None)(
                watcher.command("status")["result"]["last_reload"]
            ),
            timeout=20,
            message="second reload",
        )
        assert second["outcome"] == "applied"
        [offline] = wait_for(lambda: watcher.health("adapter_offline"), timeout=15, message="adapter_offline")
        assert offline["details"]["extra"]["adapter"] == "lobby-ctrl"
        assert f"127.0.0.1:{busy_port}" in offline["details"]["message"]
        assert "Address already in use" in offline["details"]["extra"]["error"]
        figures = adapter_telemetry(watcher, lambda s: s.get("last_error") and s.get("port") != port)
        assert figures["online"] is False and "Address already in use" in figures["last_error"]
        assert figures["start_failures"] >= 1
        status = watcher.command("status")["result"]
        assert status["adapter_health"] == {"lobby-ctrl": "offline"}
        assert status["healthy"] and status["stages"]["access"]["status"] == "running"
        assert watcher.health("config_rolled_back") == []  # the old config is not restored
        with pytest.raises(OSError):
            post(port, {"type": "door.forced", "reader": "r1", "codes": {"seq": 98}})
    finally:
        taken.close()
    wait_for(lambda: watcher.health("adapter_online"), timeout=15, message="adapter_online after the port was freed")
    assert watcher.command("status")["result"]["adapter_health"] == {"lobby-ctrl": "online"}
    assert post(busy_port, {"type": "door.forced", "reader": "r1", "codes": {"seq": 3}})[0] == 200
    wait_for(
        lambda: len(watcher.payloads("alerts/door.forced")) == 3, timeout=15, message="door.forced after the retry"
    )
    assert len(watcher.health("adapter_offline")) == 1
    online = adapter_telemetry(watcher, lambda s: s.get("online") and s.get("port") == busy_port)
    assert online["last_error"] is None
