#!/usr/bin/env python3
"""Consumer scale-out: 1, 2 and 3 reference consumers (separate processes) in one shared-subscription group,
one private mosquitto, PostgreSQL.

    .venv/bin/python bench/bench_consumer.py                         # 1, 2, 3 consumers, 3,000 alerts/s offered, 15 s
    .venv/bin/python bench/bench_consumer.py --consumers 3 --rate 4000 --seconds 10

Publisher processes simulate `--devices` devices (each alert on its device's topic, valid alerts made by
the agent's own `AlertFactory`: alternating `loitering` start/end, so the consumers pair episodes) and
publish QoS 1 at a fixed offered `--rate` in total for `--seconds`; a publisher is one MQTT connection for
its slice of devices (what the consumers see is the same topics and payloads; a connection per device is
bench_fleet.py's subject). The consumers (`PlatformConsumer`, as `edge-agent platform consume` runs it)
store into a fresh PostgreSQL schema per run and report each commit's time. For each consumer count:

- stored/s: alerts stored over first publish → last commit (above capacity, the consumers' capacity;
  below it, the offered rate);
- publish→commit latency, p50 / p95 / max (the publisher's clock before PUBLISH, the consumer's after COMMIT;
  one machine, one clock);
- lost (published, not stored), unexpected (stored, never published), duplicated rows (count(*) against
  count(DISTINCT event_id)) and duplicate deliveries (sum(deliveries) - count(*)): all must be 0;
- CPU of consumers, their PostgreSQL backends, the broker and the publishers (/proc), in cores, and the
  mean batch (alerts per commit): where the time goes.

The ratio column is stored/s against the 1-consumer run of the same invocation.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from consumer_roles import read_usage

from tests.support.broker import Mosquitto, free_port

SERVER = os.environ.get("EDGE_AGENT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
ROLES = str(ROOT / "bench" / "consumer_roles.py")


class BenchBroker(Mosquitto):
    """No queue cap (a consumer behind takes its backlog late, never loses it), errors only in the log."""

    def write_config(self) -> Path:
        config = self.workdir / "mosquitto.conf"
        config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\nuser root\npersistence false\n"
            "max_queued_messages 0\nmax_inflight_messages 0\n"
            f"log_dest file {self.log_path}\nlog_type error\nlog_type warning\n"
        )
        return config


def spawn(*arguments: str, profile: Path | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
        env["BENCH_PROFILE_DIR"] = str(profile)
    return subprocess.Popen(
        [sys.executable, ROLES, *arguments], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )


def expect(process: subprocess.Popen, word: str) -> str:
    """The process's next line, which must start with `word` (a role that failed says so on stderr)."""
    line = process.stdout.readline()
    if not line.startswith(word):
        raise RuntimeError(f"pid {process.pid}: expected {word!r}, got {line!r} (exit {process.poll()})")
    return line


def backend_pids(url: str, name: str) -> list[int]:
    with psycopg.connect(url, autocommit=True) as connection:
        rows = connection.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", (name,))
        return [row[0] for row in rows]


def run_one(args, consumers: int, workdir: Path) -> dict:
    """One consumer count: fresh broker and schema, publish for --seconds, wait until everything is stored."""
    schema = f"bench_{consumers}_{secrets.token_hex(4)}"
    with psycopg.connect(SERVER, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    name = f"bench-consumer-{schema}"
    separator = "&" if "?" in SERVER else "?"
    url = f"{SERVER}{separator}options=-csearch_path%3D{schema}&application_name={name}"
    broker = BenchBroker(workdir / f"broker-{consumers}", port=free_port()).start()
    try:
        return measure(args, consumers, url, name, broker, workdir)
    finally:
        broker.stop()
        if not args.keep:
            with psycopg.connect(SERVER, autocommit=True) as admin:
                admin.execute(f"DROP SCHEMA {schema} CASCADE")


def measure(args, consumers: int, url: str, name: str, broker, workdir: Path) -> dict:
    port = str(broker.port)
    profile = workdir / f"profile-{consumers}" if args.profile else None
    receive_maximum = str(args.receive_maximum)
    group = [
        spawn("consumer", url, port, f"c{consumers}-{i}", receive_maximum, profile=profile) for i in range(consumers)
    ]
    for process in group:
        expect(process, "ready")
    per_publisher = args.rate / args.publishers
    devices = args.devices // args.publishers
    publishers = [
        spawn("publisher", port, str(i), str(devices), str(per_publisher), str(args.seconds))
        for i in range(args.publishers)
    ]
    for process in publishers:
        expect(process, "ready")
    pids = {
        "consumers": [p.pid for p in group],
        "postgres": backend_pids(url, name),
        "broker": [broker.process.pid],
        "publishers": [p.pid for p in publishers],
    }
    before, started = read_usage(pids), time.monotonic()
    go = time.time() + 0.2
    for process in publishers:
        process.stdin.write(f"{go}\n")
        process.stdin.flush()
    published: dict[str, float] = {}
    publishers_cpu = publishers_wait = 0.0
    for process in publishers:
        report = json.loads(expect(process, "published")[len("published ") :])
        published.update(report["ids"])
        publishers_cpu += report["cpu_s"]
        publishers_wait += report["wait_s"]
        process.wait(30)
    stored = wait_stored(url, len(published), args.settle)
    after, elapsed = read_usage(pids), time.monotonic() - started
    before["publishers"] = (0.0, 0.0)  # they have exited: their own count of the publishing
    after["publishers"] = (publishers_cpu, publishers_wait)
    commits = stop_consumers(group)
    if profile is not None:
        print_profile(profile)
    return summarise(args, consumers, url, published, commits, stored, before, after, elapsed)


def wait_stored(url: str, expected: int, settle: float) -> int:
    deadline, stored = time.monotonic() + settle, -1
    with psycopg.connect(url, autocommit=True) as connection:
        while True:
            stored = connection.execute("SELECT count(*) FROM alerts").fetchone()[0]
            if stored >= expected or time.monotonic() > deadline:
                return stored
            time.sleep(0.2)


def stop_consumers(group: list[subprocess.Popen]) -> list[tuple[float, list[list]]]:
    """Each commit's time with the alerts it stored ([event_id, receive time])."""
    commits: list[tuple[float, list[list]]] = []
    for process in group:
        process.send_signal(signal.SIGTERM)
    for process in group:
        commits.extend(json.loads(expect(process, "commits")[len("commits ") :]))
        process.wait(30)
    return commits


def summarise(args, consumers, url, published, commits, stored, before, after, elapsed) -> dict:
    first_commit: dict[str, float] = {}
    received: dict[str, float] = {}
    for at, stored_ids in sorted(commits):
        for event_id, received_at in stored_ids:
            first_commit.setdefault(event_id, at)
            received.setdefault(event_id, received_at)
    with psycopg.connect(url, autocommit=True) as connection:
        rows, distinct, deliveries = connection.execute(
            "SELECT count(*), count(DISTINCT event_id), coalesce(sum(deliveries), 0) FROM alerts"
        ).fetchone()
        ids = {row[0] for row in connection.execute("SELECT event_id FROM alerts")}
        episodes = connection.execute("SELECT count(*) FROM episodes WHERE end_event_id IS NOT NULL").fetchone()[0]
    latencies = sorted(first_commit[e] - t for e, t in published.items() if e in first_commit)
    to_receive = sorted(received[e] - t for e, t in published.items() if e in received)
    span = max(first_commit.values()) - min(published.values()) if first_commit else float("nan")
    cores = {role: round((after[role][0] - before[role][0]) / elapsed, 2) for role in after}
    waiting = {role: round((after[role][1] - before[role][1]) / elapsed, 2) for role in after}
    batches = [len(batch) for _, batch in commits if batch]
    return {
        "consumers": consumers,
        "offered_per_s": args.rate,
        "published": len(published),
        "stored": rows,
        "stored_per_s": round(rows / span, 1),
        "p50_ms": round(1000 * percentile(latencies, 0.50), 1),
        "p95_ms": round(1000 * percentile(latencies, 0.95), 1),
        "max_ms": round(1000 * latencies[-1], 1) if latencies else None,
        "p95_to_receive_ms": round(1000 * percentile(to_receive, 0.95), 1),
        "lost": len(set(published) - ids),
        "unexpected": len(ids - set(published)),
        "duplicate_rows": rows - distinct,
        "duplicate_deliveries": deliveries - rows,
        "episodes_closed": episodes,
        "mean_batch": round(sum(batches) / len(batches), 1) if batches else 0,
        "cores": cores,
        "waiting_for_cpu": waiting,  # thread-seconds per second runnable but not running: CPU starvation
        "cpu_us_per_alert": {role: round(1e6 * cores[role] * elapsed / max(rows, 1)) for role in cores},
        "seconds_to_store_all": round(span, 2),
        "complete": stored >= len(published),
    }


def print_profile(directory: Path, top: int = 14) -> None:
    """The consumers' threads, each kind summed over the processes: where their CPU goes (own time)."""
    import pstats

    kinds: dict[str, list[str]] = {}
    for path in sorted(directory.glob("*.prof")):
        kinds.setdefault(path.stem.split("-", 1)[1], []).append(str(path))
    for kind, paths in kinds.items():
        print(f"\n-- profile: thread {kind} ({len(paths)} processes), by own time", flush=True)
        pstats.Stats(*paths, stream=sys.stdout).sort_stats("tottime").print_stats(top)


def percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--consumers", default="1,2,3", help="consumer counts to run, in order")
    parser.add_argument("--repeat", type=int, default=1, help="run the whole sequence this many times (medians)")
    parser.add_argument("--rate", type=float, default=3000.0, help="alerts/s offered, all publishers together")
    parser.add_argument("--seconds", type=float, default=15.0, help="publishing time per run")
    parser.add_argument("--devices", type=int, default=600, help="simulated devices (split over the publishers)")
    parser.add_argument("--publishers", type=int, default=2, help="publisher processes")
    parser.add_argument("--receive-maximum", type=int, default=500, help="per consumer: in flight and largest batch")
    parser.add_argument("--settle", type=float, default=120.0, help="wait at most this long for the backlog")
    parser.add_argument("--keep", action="store_true", help="keep each run's PostgreSQL schema")
    parser.add_argument("--profile", action="store_true", help="cProfile the consumers' threads and print the top")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-consumer-"))
    results = []
    for consumers in [int(n) for n in args.consumers.split(",")] * args.repeat:
        result = run_one(args, consumers, workdir)
        results.append(result)
        print(json.dumps(result), flush=True)
    print_table(args, results)
    return 0 if all(r["lost"] == r["unexpected"] == r["duplicate_rows"] == 0 for r in results) else 1


def print_table(args, results: list[dict]) -> None:
    """One row per consumer count: medians over the repeats (the box is shared: interleaved runs see the same
    load), the ratio against the 1st count's median, and lost / duplicated summed over every run."""
    counts = list(dict.fromkeys(r["consumers"] for r in results))
    by_count = {n: [r for r in results if r["consumers"] == n] for n in counts}
    base = statistics.median(r["stored_per_s"] for r in by_count[counts[0]])
    load = open("/proc/loadavg").read().split()[:3]
    print(f"\n{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, load {' '.join(load)}")
    print(f"offered {args.rate:,.0f} alerts/s for {args.seconds:g} s from {args.devices} devices, {args.repeat} runs\n")
    print("| consumers | stored/s | vs 1st | p50 ms | p95 ms | lost | dup rows | dup deliveries | mean batch |"
          " CPU µs/alert: consumers / postgres / broker / publishers | consumers waiting for a CPU |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    roles = ("consumers", "postgres", "broker", "publishers")
    for n, runs in by_count.items():

        def median(key: str, runs=runs) -> float:
            return statistics.median(r[key] for r in runs)

        stored = median("stored_per_s")
        cost = " / ".join(str(round(statistics.median(r["cpu_us_per_alert"][k] for r in runs))) for k in roles)
        waiting = statistics.median(r["waiting_for_cpu"]["consumers"] for r in runs)
        lost = sum(r["lost"] + r["unexpected"] for r in runs)
        print(
            f"| {n} | {stored:,.0f} | {stored / base:.2f}x | {median('p50_ms'):,.0f} | {median('p95_ms'):,.0f}"
            f" | {lost} | {sum(r['duplicate_rows'] for r in runs)} | {sum(r['duplicate_deliveries'] for r in runs)}"
            f" | {median('mean_batch'):.0f} | {cost} | {waiting:.2f} |"
        )


if __name__ == "__main__":
    sys.exit(main())
