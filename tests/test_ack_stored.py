"""An access event is acknowledged only once its alerts are in the outbox (issue 11, item 8).

Real parts: an Outbox file, write-locked by another process (past the 5 s busy
timeout) or on a full tmpfs; the HTTP push receiver over real HTTP; the line
stream over a real TCP socket; the OSDP adapter's event path with its retry queue.
"""

from __future__ import annotations

import http.client
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import osdp
import pytest

from edge_agent.access.service import AccessService
from edge_agent.clock import SystemClock
from edge_agent.config.outbox import OutboxConfig
from edge_agent.events import AlertFactory, DoorEvent
from edge_agent.sources.access.base import StoreUnavailable
from edge_agent.store.outbox import Outbox
from tests.support.wait import wait_for
from tests.test_access_common import access_config
from tests.test_access_line_stream import LineServer

STORE_WAIT_S = 60  # the store's busy timeout is 5 s and attempts queue behind each other on the outbox lock

_LOCKER = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
connection.execute("ROLLBACK")
connection.close()
"""


class WriteLock:
    """Another process holding the outbox's SQLite file write-locked until `release()`."""

    def __init__(self, path: Path):
        self.process = subprocess.Popen(
            [sys.executable, "-c", _LOCKER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout.readline().strip() == "locked"

    def release(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.write("release\n")
            self.process.stdin.flush()
            assert self.process.wait(timeout=30) == 0


def rows(path: Path) -> list[dict]:
    """Every stored message, in commit order, read through a connection of our own."""
    connection = sqlite3.connect(path)
    try:
        return [json.loads(payload) for (payload,) in connection.execute("SELECT payload FROM outbox ORDER BY seq")]
    finally:
        connection.close()


def push(port: int, body: dict | list) -> tuple[int, dict, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=STORE_WAIT_S)
    try:
        data = json.dumps(body).encode()
        connection.request("POST", "/events", body=data, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), json.loads(response.read())
    finally:
        connection.close()


def make_service(tmp_path: Path, outbox: Outbox, adapters: list[dict]) -> AccessService:
    access = access_config(tmp_path, doors=[{"id": "main-gate", "held_open_after": 3600}], adapters=adapters)
    clock = SystemClock()
    return AccessService(access, AlertFactory("dev", "site", clock), outbox, clock, tick_interval=60)


HTTP_ADAPTER = {
    "type": "http_push",
    "id": "push",
    "port": 0,
    "default_door": "main-gate",
    "auth": {"allow_unauthenticated": True},
}


@pytest.fixture
def line_server():
    server = LineServer()
    yield server
    server.close()


def test_a_locked_outbox_gets_503_and_queued_lines_are_stored_in_order_after_release(tmp_path, line_server):
    path = tmp_path / "outbox.db"
    outbox = Outbox(path, OutboxConfig())
    line_adapter = {
        "type": "line_stream",
        "id": "wiegand",
        "tcp_host": "127.0.0.1",
        "tcp_port": line_server.port,
        "default_door": "main-gate",
        "reconnect_min_delay": 0.05,
    }
    service = make_service(tmp_path, outbox, [HTTP_ADAPTER, line_adapter])
    service.start()
    lock = None
    try:
        http_push, lines = service.adapters
        wait_for(lambda: lines.online and line_server.clients, message="line stream connected")
        # The controller's own held-open alarm opens an episode; its door.closed (pushed while the
        # store is locked) must end it exactly once, although the rules acted on the first copy.
        assert push(http_push.port, {"type": "door.held_open", "time": 1_800_000_000})[0] == 200
        closed = {"type": "door.closed", "time": 1_800_000_030}

        lock = WriteLock(path)
        for n in (1, 2, 3):
            line_server.send(json.dumps({"type": "access.denied", "reader": f"l{n}"}).encode() + b"\n")
        status, headers, reply = push(http_push.port, closed)
        assert status == 503, reply
        assert headers.get("Retry-After", "").isdigit()
        assert reply["reason"] == "store_unavailable" and reply["not_stored"] == ["body"]
        push_figures = http_push.snapshot()
        assert push_figures["rejected"]["store_unavailable"] == 1 and push_figures["store_failures"] >= 1
        assert push_figures["events"] == 1  # only the held-open alarm counts as taken
        wait_for(lambda: lines.counters.get("store_queued") == 3, timeout=STORE_WAIT_S, message="3 lines queued")
        assert service.snapshot()["wiegand"]["store_queue_depth"] == 3

        lock.release()
        status, _, reply = push(http_push.port, closed)
        assert status == 200 and reply["accepted"] == 1, reply
        wait_for(lambda: lines.store_retry.depth == 0, timeout=STORE_WAIT_S, message="the line queue drained")
    finally:
        if lock is not None:
            lock.release()
        service.stop()
        outbox.close()
    stored = rows(path)
    held_open = [(a["phase"], a["details"]["door"]) for a in stored if a["type"] == "door.held_open"]
    assert held_open == [("start", "main-gate"), ("end", "main-gate")]
    assert [a["details"]["reader"] for a in stored if a["type"] == "access.denied"] == ["l1", "l2", "l3"]
    assert lines.counters["events"] == 3 and lines.counters["store_retries"] >= 3
    assert lines.counters.get("store_dropped", 0) == 0


class SmallFileSystem:
    """A 2 MB tmpfs, unmounted afterwards."""

    def __init__(self, directory: Path):
        directory.mkdir()
        self.directory = directory
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(directory)], capture_output=True, text=True
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs to fill (needs root): {done.stderr.strip()}")

    def fill(self) -> Path:
        filler = self.directory / "filler"
        with open(filler, "wb", buffering=0) as out:
            for chunk in (1 << 16, 1 << 12, 1):
                try:
                    while True:
                        out.write(b"\0" * chunk)
                except OSError:
                    pass
        return filler

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.directory)], check=False)


@pytest.fixture
def small_filesystem(tmp_path):
    filesystem = SmallFileSystem(tmp_path / "small")
    try:
        yield filesystem
    finally:
        filesystem.unmount()


def test_a_full_disk_gets_503_and_nothing_acknowledged_is_lost(tmp_path, small_filesystem):
    path = small_filesystem.directory / "outbox.db"
    outbox = Outbox(path, OutboxConfig(min_free_disk_mb=0))
    service = make_service(tmp_path, outbox, [HTTP_ADAPTER])
    service.start()
    acknowledged, refused, filler = [], None, None
    try:
        [http_push] = service.adapters
        for n in range(3):
            body = {"type": "tamper", "reader": f"before-{n}"}
            assert push(http_push.port, body)[0] == 200
            acknowledged.append(body["reader"])
        filler = small_filesystem.fill()
        for n in range(300):  # the WAL may still have room for a few commits
            body = {"type": "tamper", "reader": f"full-{n}"}
            status, headers, reply = push(http_push.port, body)
            if status == 200:
                acknowledged.append(body["reader"])
                continue
            assert status == 503 and reply["reason"] == "store_unavailable", reply
            assert headers.get("Retry-After", "").isdigit()
            refused = body
            break
        assert refused is not None, "the outbox never failed on a full file system"
        assert http_push.counters["rejected.store_unavailable"] == 1

        os.unlink(filler)
        filler = None
        status, _, reply = push(http_push.port, refused)
        assert status == 200, reply
        acknowledged.append(refused["reader"])
    finally:
        service.stop()
        if filler is not None:
            os.unlink(filler)  # so closing (a WAL checkpoint) can write
        outbox.close()
    readers = [a["details"]["reader"] for a in rows(path) if a["type"] == "tamper"]
    assert readers == acknowledged  # every acknowledged event, once, in order


def test_osdp_events_wait_in_order_for_a_locked_store(tmp_path):
    path = tmp_path / "outbox.db"
    outbox = Outbox(path, OutboxConfig())
    adapter_config = {
        "type": "osdp",
        "id": "bus",
        "device": "/dev/null",
        "require_secure_channel": False,
        "readers": [{"address": 1, "door": "main-gate"}],
    }
    service = make_service(tmp_path, outbox, [adapter_config])
    [bus] = service.adapters  # not started: the events come in through libosdp's callback directly
    cards = [b"1001", b"1002", b"1003", b"1004"]

    def card_read(number: bytes) -> dict:
        return {"event": osdp.Event.CardRead, "format": osdp.CardFormat.ASCII, "data": number}

    lock = WriteLock(path)
    try:
        for number in cards:
            assert bus._on_osdp_event(0, card_read(number)) == 0
        assert bus.store_retry.depth == len(cards)  # the first failed, the rest waited behind it
        assert bus.counters["store_queued"] == len(cards) and "events" not in bus.counters
        bus.store_retry.stop(timeout=STORE_WAIT_S)  # the queue outlives a stop, for the next start
        lock.release()
        cards.append(b"1005")  # the store works again, but this one must still wait behind the others
        assert bus._on_osdp_event(0, card_read(cards[-1])) == 0
        assert bus.store_retry.depth == len(cards)
        bus.store_retry.start()
        wait_for(lambda: bus.store_retry.depth == 0, timeout=STORE_WAIT_S, message="the OSDP queue drained")
    finally:
        lock.release()
        bus.stop()
        outbox.close()
    tokens = [bus.tokenizer.card(number.decode()) for number in cards]
    stored = [a["details"]["credential_token"] for a in rows(path) if a["type"] == "credential.read"]
    assert stored == tokens
    assert bus.counters["events"] == len(cards)


def test_a_full_retry_queue_drops_the_newest_and_keeps_order(tmp_path):
    path = tmp_path / "outbox.db"
    outbox = Outbox(path, OutboxConfig())
    service = make_service(
        tmp_path,
        outbox,
        [
            {
                "type": "osdp",
                "id": "bus",
                "device": "/dev/null",
                "require_secure_channel": False,
                "readers": [{"address": 1, "door": "main-gate"}],
            }
        ],
    )
    [bus] = service.adapters
    bus.store_retry._limit = 2
    lock = WriteLock(path)
    try:
        for number in (b"2001", b"2002", b"2003"):
            bus._on_osdp_event(0, {"event": osdp.Event.CardRead, "format": osdp.CardFormat.ASCII, "data": number})
        assert bus.counters["store_dropped"] == 1 and bus.store_retry.depth == 2
        lock.release()
        wait_for(lambda: bus.store_retry.depth == 0, timeout=STORE_WAIT_S, message="the OSDP queue drained")
    finally:
        lock.release()
        bus.stop()
        outbox.close()
    stored = [a["details"]["credential_token"] for a in rows(path) if a["type"] == "credential.read"]
    assert stored == [bus.tokenizer.card("2001"), bus.tokenizer.card("2002")]


def test_a_consumer_that_cannot_store_raises_store_unavailable(tmp_path):
    """The service reports the failed commit instead of swallowing it, and a resend commits the same alert."""
    path = tmp_path / "outbox.db"
    outbox = Outbox(path, OutboxConfig())
    service = make_service(tmp_path, outbox, [HTTP_ADAPTER])
    event = DoorEvent(type="tamper", door="main-gate", adapter="push", edge_time=time.time(), reader="x")
    lock = WriteLock(path)
    try:
        with pytest.raises(StoreUnavailable, match="locked"):
            service.on_event(event)
    finally:
        lock.release()
    service.on_event(event)
    service.on_event(DoorEvent(type="tamper", door="main-gate", adapter="push", edge_time=time.time(), reader="y"))
    outbox.close()
    assert [a["details"]["reader"] for a in rows(path) if a["type"] == "tamper"] == ["x", "y"]
    assert service.committer.commit_failures == 1 and service.committer.waiting == 0
