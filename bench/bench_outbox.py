"""Outbox and publisher throughput against a private local mosquitto.

    .venv/bin/python bench/bench_outbox.py [--drain N] [--backlog N] [--enqueue N] [--statements N] [--rounds R]

Prints, each with its baseline measured in the same run:
  1. durable enqueue rate (one fsync'd commit per alert) vs an SQLite insert loop
     with the same pragmas (WAL, synchronous=FULL);
  2. drain rate of a pre-filled outbox at QoS 1 vs a bare paho QoS-1 publish loop
     (same payloads, topics, MQTT v5 user properties and in-flight window);
  3. drain of a large backlog after the broker comes back (seconds, and the same ratio);
  4. the outbox's per-message statements (enqueue; claim + mark delivered) written with
     sqlite-utils' table API vs the raw sqlite3 statements outbox.py uses, same file layout
     and pragmas: why the hot path stays raw.
Rounds alternate baseline and outbox so machine noise hits both alike; best of each is kept.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge_agent.config.mqtt import MqttConfig, ReconnectConfig
from edge_agent.config.outbox import OutboxConfig
from edge_agent.events import SCHEMA_VERSION, AlertFactory, Topics
from edge_agent.publish import Publisher
from edge_agent.store import Outbox
from edge_agent.store.outbox_schema import PRIORITY, open_outbox_database
from edge_agent.store.queries import ROW_COLUMNS
from tests.support.broker import Mosquitto, free_port

SITE, DEVICE = "bench-site", "bench-dev"


def make_alerts(count: int):
    factory = AlertFactory(DEVICE, SITE)
    return [
        factory.make("intrusion", "major", ("camera", "cam1"), details={"count": i, "zone": "gate"})
        for i in range(count)
    ]


def bench_enqueue(workdir: Path, count: int, chunk: int = 100) -> tuple[float, float]:
    """Alternates chunks of outbox emits and raw inserts so disk contention hits both alike."""
    alerts = make_alerts(count)
    outbox = Outbox(workdir / "enqueue.db", OutboxConfig())
    connection = sqlite3.connect(workdir / "raw.db", isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = FULL")
    connection.execute("CREATE TABLE t (seq INTEGER PRIMARY KEY, event_id TEXT UNIQUE, topic TEXT, payload BLOB)")
    ours_s = raw_s = 0.0
    for index in range(0, count, chunk):
        block = alerts[index : index + chunk]
        start = time.perf_counter()
        for alert in block:
            outbox.emit(alert)
        ours_s += time.perf_counter() - start
        start = time.perf_counter()
        for alert in block:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(
                "INSERT INTO t (event_id, topic, payload) VALUES (?, ?, ?)",
                (alert.event_id, "t", alert.to_json().encode()),
            )
            connection.execute("COMMIT")
        raw_s += time.perf_counter() - start
    outbox.close()
    connection.close()
    return count / ours_s, count / raw_s


def _row(alert, now: float) -> dict:
    body = alert.to_json().encode()
    return {
        "event_id": alert.event_id,
        "topic": "t",
        "payload": body,
        "class": alert.priority_class,
        "priority": PRIORITY[alert.priority_class],
        "size": len(body),
        "created_at": now,
    }


def _enqueue_raw(connection, row: dict) -> None:
    connection.execute("BEGIN IMMEDIATE")
    if connection.execute("SELECT 1 FROM outbox WHERE event_id = ?", (row["event_id"],)).fetchone() is None:
        connection.execute(
            "INSERT INTO outbox (event_id, topic, payload, class, priority, size, created_at) VALUES (?, ?, ?, ?, ?, "
            "?, ?)",
            tuple(row.values()),
        )
    connection.execute("COMMIT")


def _enqueue_library(db, row: dict) -> None:
    with db.atomic():
        if not db["outbox"].count_where("event_id = ?", [row["event_id"]]):
            db["outbox"].insert(row)


def _claim_deliver_raw(connection, batch: int, now: float) -> int:
    connection.execute("BEGIN IMMEDIATE")
    found = connection.execute(
        f"SELECT {ROW_COLUMNS} FROM outbox WHERE state = 'pending' ORDER BY priority, seq LIMIT ?", (batch,)
    ).fetchall()
    connection.executemany(
        "UPDATE outbox SET state = 'inflight', attempts = attempts + 1 WHERE seq = ?", [(r[0],) for r in found]
    )
    connection.executemany(
        "UPDATE outbox SET state = 'delivered', delivered_at = ? WHERE seq = ? AND state = 'inflight'",
        [(now, r[0]) for r in found],
    )
    connection.execute("COMMIT")
    return len(found)


def _claim_deliver_library(db, batch: int, now: float) -> int:
    table = db["outbox"]
    with db.atomic():
        found = list(table.rows_where("state = 'pending'", order_by="priority, seq", limit=batch, select=ROW_COLUMNS))
        for row in found:
            table.update(row["seq"], {"state": "inflight", "attempts": row["attempts"] + 1})
        for row in found:
            table.update(row["seq"], {"state": "delivered", "delivered_at": now})
    return len(found)


def bench_statements(workdir: Path, count: int, chunk: int = 100, batch: int = 20) -> dict[str, tuple[float, float]]:
    """Rows/s of the hot-path statements, raw vs sqlite-utils, on two outbox files; chunks alternate."""
    raw = open_outbox_database(workdir / "statements-raw.db")
    lib = open_outbox_database(workdir / "statements-lib.db")
    for opened in (raw, lib):
        opened.connection.execute("PRAGMA synchronous = FULL")  # as Outbox.enqueue commits
    alerts = make_alerts(count)
    seconds = {"enqueue raw": 0.0, "enqueue lib": 0.0, "claim raw": 0.0, "claim lib": 0.0}
    for index in range(0, count, chunk):
        now = time.time()
        for name, run in (
            ("enqueue raw", lambda r: _enqueue_raw(raw.connection, r)),
            ("enqueue lib", lambda r: _enqueue_library(lib.db, r)),
        ):
            rows = [_row(alert, now) for alert in alerts[index : index + chunk]]
            start = time.perf_counter()
            for row in rows:
                run(row)
            seconds[name] += time.perf_counter() - start
    for opened in (raw, lib):
        opened.connection.execute("PRAGMA synchronous = NORMAL")  # as Outbox.claim commits
    while True:
        start = time.perf_counter()
        done_raw = _claim_deliver_raw(raw.connection, batch, time.time())
        seconds["claim raw"] += time.perf_counter() - start
        start = time.perf_counter()
        done_lib = _claim_deliver_library(lib.db, batch, time.time())
        seconds["claim lib"] += time.perf_counter() - start
        if not (done_raw or done_lib):
            break
    raw.connection.close()
    lib.connection.close()
    return {
        "durable enqueue": (count / seconds["enqueue raw"], count / seconds["enqueue lib"]),
        f"claim + mark delivered (batches of {batch})": (count / seconds["claim raw"], count / seconds["claim lib"]),
    }


def fill(outbox: Outbox, alerts, chunk: int = 500) -> None:
    topic = Topics("edge", SITE, DEVICE).alert("intrusion")
    for index in range(0, len(alerts), chunk):
        outbox.enqueue_many([(topic, a.to_json(), a.priority_class, a.event_id) for a in alerts[index : index + chunk]])


def bare_paho(port: int, alerts, window: int) -> float:
    """Messages/s of paho itself: publish everything at QoS 1, wait for every PUBACK."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-baseline", protocol=paho.MQTTv5)
    client.max_inflight_messages_set(window)
    done = threading.Event()
    acked = [0]

    def on_publish(client, userdata, mid, reason_code, properties):
        acked[0] += 1
        if acked[0] == len(alerts):
            done.set()

    client.on_publish = on_publish
    connected = threading.Event()
    client.on_connect = lambda *args: connected.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    connected.wait(10)
    topic = Topics("edge", SITE, DEVICE).alert("intrusion")
    payloads = [(a.event_id, a.to_json().encode()) for a in alerts]
    start = time.perf_counter()
    for event_id, payload in payloads:
        properties = Properties(PacketTypes.PUBLISH)
        properties.UserProperty = [("event_id", event_id), ("schema_version", SCHEMA_VERSION)]
        client.publish(topic, payload, qos=1, properties=properties)
    if not done.wait(600):
        raise RuntimeError("baseline did not finish")
    rate = len(alerts) / (time.perf_counter() - start)
    client.disconnect()
    client.loop_stop()
    return rate


def drain(workdir: Path, broker: Mosquitto, alerts, name: str) -> tuple[float, int]:
    """Messages/s of the publisher draining a pre-filled outbox."""
    outbox = Outbox(workdir / f"{name}.db", OutboxConfig(max_rows=len(alerts) + 10, max_bytes=1 << 30))
    fill(outbox, alerts)
    config = MqttConfig(port=broker.port, max_inflight=20, retry_unrouted=False)  # nobody subscribes: PUBACK is it
    publisher = Publisher(config, outbox, Topics("edge", SITE, DEVICE), DEVICE, "bench")
    start = time.perf_counter()
    publisher.start()
    while publisher.stats().delivered < len(alerts):
        time.sleep(0.005)
    rate = len(alerts) / (time.perf_counter() - start)
    window = publisher.stats().window_size
    publisher.stop()
    outbox.close()
    return rate, window


def backlog(workdir: Path, alerts) -> float:
    """Seconds from the publisher's (re)connect to the last PUBACK of a backlog built while the broker was down."""
    port = free_port()
    outbox = Outbox(workdir / "backlog.db", OutboxConfig(max_rows=len(alerts) + 10, max_bytes=1 << 30))
    config = MqttConfig(
        port=port, max_inflight=20, reconnect=ReconnectConfig(min_delay=0.05, max_delay=0.2), retry_unrouted=False
    )
    publisher = Publisher(config, outbox, Topics("edge", SITE, DEVICE), DEVICE, "bench")
    publisher.start()
    fill(outbox, alerts)
    broker = Mosquitto(workdir / "backlog-broker", port=port).start()
    while publisher.stats().connects == 0:
        time.sleep(0.001)
    connected_at = publisher.stats().last_connected_at
    while publisher.stats().delivered < len(alerts):
        time.sleep(0.005)
    seconds = time.time() - connected_at
    publisher.stop()
    outbox.close()
    broker.stop()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--enqueue", type=int, default=2000)
    parser.add_argument("--drain", type=int, default=10000)
    parser.add_argument("--backlog", type=int, default=50000)
    parser.add_argument(
        "--statements", type=int, default=2000, help="rows for the raw-vs-sqlite-utils statement comparison"
    )
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        ours, raw = bench_enqueue(workdir, args.enqueue)
        print(
            f"durable enqueue: {ours:,.0f} alerts/s (raw SQLite FULL-sync insert loop {raw:,.0f}/s, ratio "
            f"{ours / raw:.2f})"
        )
        for name, (raw_rate, lib_rate) in bench_statements(workdir, args.statements).items():
            print(
                f"hot path, {name}: raw sqlite3 {raw_rate:,.0f} rows/s vs sqlite-utils {lib_rate:,.0f} rows/s: ratio "
                f"{lib_rate / raw_rate:.2f}"
            )
        broker = Mosquitto(workdir / "broker").start()
        try:
            alerts = make_alerts(args.drain)
            best_base = best_ours = 0.0
            for round_ in range(args.rounds):
                rate, window = drain(workdir, broker, alerts, f"drain{round_}")
                base = bare_paho(broker.port, alerts, window)
                best_ours, best_base = max(best_ours, rate), max(best_base, base)
                print(f"  round {round_ + 1}: outbox {rate:,.0f}/s, bare paho {base:,.0f}/s (window {window})")
            print(
                f"drain at QoS 1: {best_ours:,.0f} msg/s vs bare paho {best_base:,.0f} msg/s: ratio "
                f"{best_ours / best_base:.2f}"
            )
            big = make_alerts(args.backlog)
            seconds = backlog(workdir, big)
            base = bare_paho(broker.port, big, window)
            rate = args.backlog / seconds
            print(
                f"backlog of {args.backlog:,}: drained in {seconds:.1f} s ({rate:,.0f} msg/s) vs bare paho "
                f"{base:,.0f} msg/s: ratio {rate / base:.2f}"
            )
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
