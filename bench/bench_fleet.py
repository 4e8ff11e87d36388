#!/usr/bin/env python3
"""A fleet against one broker, through a broker restart: N devices, two reference consumers.

    .venv/bin/python bench/bench_fleet.py --devices 50                  # a quick look
    .venv/bin/python bench/bench_fleet.py --devices 1000 --per-process 125

Each device is a real Outbox (its own SQLite file) and Publisher (its own MQTT session,
client id and Last Will, the agent's default back-off), packed `--per-process` to a worker
process (bench/fleet_devices.py). A private mosquitto (persistence on, no connection or queue
cap) takes the fleet; two `edge-agent platform consume` processes share one group and one
SQLite file. After `--before` s the broker is stopped (SIGTERM) for `--down` s and started
again; the fleet emits for `--after` s more, then stops emitting and the run waits for every
outbox to empty and every alert to be stored.

Report: emitted, unique stored, lost (must be 0), duplicate deliveries (same event_id by
construction: the store's key), time from the broker's restart to the last device
reconnected, CONNECTs per second after the restart (from the broker's log) as a histogram,
time to drain the backlog from before the restart, and CPU and memory of broker, workers
and consumers (from /proc), per device.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fleet_devices import run_worker

from edge_agent.config.mqtt import MqttConfig
from tests.support.broker import Mosquitto, free_port

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
FD_SETSIZE_DEVICES = 165  # ~6 descriptors per device; select() refuses descriptors >= 1024
CONNECTED = re.compile(r"^(\d+): New client connected from .* as (\S+)")


class FleetBroker(Mosquitto):
    """Persistent sessions (the consumers' queues survive the restart), no caps, no per-message log."""

    def write_config(self) -> Path:
        config = self.workdir / "mosquitto.conf"
        config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\nuser root\n"
            f"persistence true\npersistence_location {self.workdir}/\n"
            "max_connections -1\nmax_queued_messages 0\nmax_inflight_messages 20\n"
            f"log_dest file {self.log_path}\nlog_type error\nlog_type warning\nlog_type notice\n"
            "log_type information\nconnection_messages true\n"
        )
        return config


def proc_usage(pid: int) -> tuple[float, float]:
    """(CPU seconds, RSS MB) of one process."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    with open(f"/proc/{pid}/statm") as statm:
        rss_pages = int(statm.read().split()[1])
    return (int(fields[11]) + int(fields[12])) / TICKS, rss_pages * PAGE / 1e6


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def start_consumers(port: int, db: Path, workdir: Path) -> list[subprocess.Popen]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    consumers = []
    for n in (1, 2):
        command = [sys.executable, "-m", "edge_agent", "platform", "consume", "--db", str(db), "--port", str(port)]
        command += ["--client-id", f"fleet-consumer-{n}", "--group", "fleet"]
        log = open(workdir / f"consumer-{n}.log", "w")
        consumers.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT))
    return consumers


def stored(db: Path) -> tuple[set[str], int]:
    with sqlite3.connect(db, timeout=10) as connection:
        rows = connection.execute("SELECT event_id, deliveries FROM alerts").fetchall()
    return {row[0] for row in rows}, sum(row[1] for row in rows)


def connect_histogram(log_path: Path, since: float) -> tuple[Counter, list[int]]:
    """Device CONNECTs per second since `since`, and the seconds at which the consumers came back."""
    per_second: Counter = Counter()
    consumers_back = []
    for line in log_path.read_text(errors="replace").splitlines():
        match = CONNECTED.match(line)
        if match and int(match.group(1)) >= int(since):
            second = int(match.group(1)) - int(since)
            if match.group(2).startswith("dev-"):
                per_second[second] += 1
            else:
                consumers_back.append(second)
    return per_second, consumers_back


def sample(pids: dict[str, list[int]]) -> dict[str, tuple[float, float]]:
    totals = {}
    for role, role_pids in pids.items():
        usages = [proc_usage(pid) for pid in role_pids]
        totals[role] = (sum(u[0] for u in usages), sum(u[1] for u in usages))
    return totals


def run(args) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="fleet-", dir=args.workdir))
    broker = FleetBroker(workdir / "broker", port=free_port()).start()
    db = workdir / "platform.db"
    consumers = start_consumers(broker.port, db, workdir)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    ids = [f"dev-{n:05d}" for n in range(args.devices)]
    slices = [ids[i : i + args.per_process] for i in range(0, len(ids), args.per_process)]
    queues = [context.Queue() for _ in slices]
    workers = [
        context.Process(
            target=run_worker,
            args=(i, chunk, broker.port, args.rate, str(workdir), queues[i], results, args.retry_unrouted),
            daemon=True,
        )
        for i, chunk in enumerate(slices)
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        results.get(timeout=300)
    print(f"{args.devices} devices in {len(workers)} processes started", flush=True)
    pids = {
        "broker": [broker.process.pid],
        "workers": [w.pid for w in workers],
        "consumers": [c.pid for c in consumers],
    }
    time.sleep(args.before)  # the fleet at steady state
    steady_start, steady_t0 = sample(pids), time.monotonic()
    time.sleep(min(10.0, args.before))
    steady_end, steady_s = sample(pids), time.monotonic() - steady_t0
    fds = {"worker_fds": max(fd_count(pid) for pid in pids["workers"]), "broker_fds": fd_count(broker.process.pid)}
    broker.stop()
    time.sleep(args.down)
    broker.start(timeout=60)
    restarted_at = time.time()
    pids["broker"] = [broker.process.pid]
    for queue in queues:
        queue.put(("restarted", restarted_at))
    time.sleep(args.after)
    end_usage = sample(pids)  # while everything still runs
    for queue in queues:
        queue.put(("stop_emitting",))
    reports = collect(results, queues, len(workers), args.settle)
    emitted: set[str] = set()
    for i in range(len(workers)):
        emitted |= set(json.loads((workdir / f"emitted-{i}.json").read_text()))
    unique, deliveries = wait_stored(db, emitted, args.settle)
    for consumer in consumers:
        consumer.terminate()
        consumer.wait(10)
    broker.stop()
    return summarise(args, workdir, broker, reports, emitted, unique, deliveries, restarted_at, steady_start,
                     steady_end, steady_s, end_usage, fds)  # fmt: skip


def collect(results, queues, count: int, settle: float) -> list[dict]:
    reports, deadline = [], time.monotonic() + settle
    while len(reports) < count:
        try:
            kind, _index, report = results.get(timeout=max(1.0, deadline - time.monotonic()))
        except Exception:
            for queue in queues:
                queue.put(("give_up",))
            deadline = time.monotonic() + 60
            continue
        if kind == "done":
            reports.append(report)
    return reports


def wait_stored(db: Path, emitted: set[str], settle: float) -> tuple[set[str], int]:
    deadline = time.monotonic() + settle
    while True:
        unique, deliveries = stored(db)
        if emitted <= unique or time.monotonic() > deadline:
            return unique, deliveries
        time.sleep(0.5)


def summarise(args, workdir, broker, reports, emitted, unique, deliveries, restarted_at, steady_start, steady_end,
              steady_s, end_usage, fds) -> dict:  # fmt: skip
    reconnected = [t for report in reports for t in report["reconnected"].values()]
    drained = [t for report in reports for t in report["drained"].values()]
    histogram, consumers_back = connect_histogram(broker.log_path, restarted_at)
    n = args.devices
    cpu = {role: (steady_end[role][0] - steady_start[role][0]) / steady_s for role in steady_end}
    return {
        "devices": n,
        "retry_unrouted": args.retry_unrouted,
        "processes": len(reports),
        "rate_per_device": args.rate,
        "emitted": len(emitted),
        "unique_stored": len(emitted & unique),
        "lost": len(emitted - unique),  # includes still_pending when the run gave up waiting
        "still_pending": sum(report["pending"] for report in reports),
        "unexpected": len(unique - emitted),
        "duplicate_deliveries": deliveries - len(unique),
        "reconnected": len(reconnected),
        "last_reconnect_s": round(max(reconnected) - restarted_at, 1) if reconnected else None,
        "drained": len(drained),
        "drain_s": round(max(drained) - restarted_at, 1) if drained else None,
        "consumers_back_s": consumers_back,
        "peak_connects_per_s": max(histogram.values(), default=0),
        "connect_histogram": dict(sorted(histogram.items())),
        "steady_cpu_percent": {role: round(100 * value, 1) for role, value in cpu.items()},
        "rss_mb": {role: round(value[1], 1) for role, value in end_usage.items()},
        "per_device": {
            "worker_cpu_percent": round(100 * cpu["workers"] / n, 3),
            "worker_rss_mb": round(end_usage["workers"][1] / n, 2),
            "broker_cpu_percent": round(100 * cpu["broker"] / n, 3),
            "broker_rss_kb": round(1000 * end_usage["broker"][1] / n, 1),
        },
        **fds,
        "fd_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        "loadavg": open("/proc/loadavg").read().split()[:3],
        "workdir": str(workdir),
    }


def print_report(report: dict) -> None:
    print(json.dumps({k: v for k, v in report.items() if k != "connect_histogram"}, indent=2))
    print("CONNECTs per second after the broker restart (s: count)")
    peak = max(report["connect_histogram"].values(), default=1)
    for second, count in report["connect_histogram"].items():
        print(f"  {second:>4} {count:>5} {'#' * max(1, round(50 * count / peak))}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--per-process", type=int, default=125, help="devices per worker process")
    parser.add_argument("--rate", type=float, default=0.2, help="alerts per second per device")
    parser.add_argument("--before", type=float, default=20.0, help="seconds before the broker stops")
    parser.add_argument("--down", type=float, default=10.0, help="seconds the broker stays down")
    parser.add_argument("--after", type=float, default=60.0, help="seconds of emitting after the restart")
    parser.add_argument("--settle", type=float, default=240.0, help="longest wait for outboxes to empty")
    parser.add_argument(
        "--retry-unrouted",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="devices re-send a message PUBACKed 'No matching subscribers' (the agent's mqtt.retry_unrouted); "
        "default: the agent's default (on)",
    )
    parser.add_argument("--workdir", default=None, help="where the outboxes go (default: the temp dir)")
    args = parser.parse_args()
    if args.retry_unrouted is None:
        args.retry_unrouted = MqttConfig().retry_unrouted
    if args.per_process > FD_SETSIZE_DEVICES:
        print(f"warning: over ~{FD_SETSIZE_DEVICES} devices per process pass select()'s 1024-descriptor limit (README)")
    report = run(args)
    print_report(report)
    return 0 if report["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
