"""The processes of bench_consumer.py: a consumer (the reference `PlatformConsumer` into PostgreSQL, timing each
commit) and a publisher (a slice of simulated devices publishing valid alerts at a fixed rate).

    consumer_roles.py consumer STORE_URL PORT CLIENT_ID RECEIVE_MAXIMUM
    consumer_roles.py publisher PORT INDEX DEVICES RATE SECONDS

Each prints `ready` when it can start; a publisher then reads the wall time to start at from stdin, and
prints `published {event_id: publish time}` when every PUBACK is in; a consumer runs until SIGTERM and
prints `commits [[commit time, [[event_id, receive time], ...]], ...]`.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PACE_S = 0.005  # publish what is due every 5 ms


def task_times(pid: int | str) -> tuple[float, float]:
    """(seconds on a CPU, seconds runnable but waiting for one) of every thread of a process (/proc schedstat;
    threads already gone are not counted)."""
    on_cpu = waiting = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return 0.0, 0.0
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as stat:
                fields = stat.read().split()
        except FileNotFoundError:
            continue
        on_cpu += int(fields[0])
        waiting += int(fields[1])
    return on_cpu / 1e9, waiting / 1e9


def read_usage(pids: dict[str, list[int]]) -> dict[str, tuple[float, float]]:
    """Per role, (CPU seconds, seconds waiting for a CPU), summed over its processes and their threads."""
    usage = {}
    for role, role_pids in pids.items():
        times = [task_times(pid) for pid in role_pids]
        usage[role] = (sum(t[0] for t in times), sum(t[1] for t in times))
    return usage


def profile_threads(directory: str) -> None:
    """Every thread from now on runs under its own cProfile, dumped to `directory` when it ends (bench --profile:
    the consumer's work is on paho's network thread and the store's writer thread, not the main one)."""
    import cProfile

    original = threading.Thread.run

    def run(thread: threading.Thread) -> None:
        profile = cProfile.Profile(time.thread_time)  # CPU time: waiting for input or for a CPU is not work
        profile.enable()
        try:
            original(thread)
        finally:
            profile.disable()
            profile.dump_stats(f"{directory}/{os.getpid()}-{thread.name}.prof")

    threading.Thread.run = run


def run_consumer(url: str, port: int, client_id: str, receive_maximum: int) -> None:
    if os.environ.get("BENCH_PROFILE_DIR"):
        profile_threads(os.environ["BENCH_PROFILE_DIR"])
    from edge_agent.config.mqtt import MqttConfig
    from edge_agent.platform import ConsumerOptions, PlatformConsumer, PlatformStore

    store = PlatformStore(url)
    options = ConsumerOptions(group="bench", client_id=client_id, session_expiry_s=0, receive_maximum=receive_maximum)
    consumer = PlatformConsumer(MqttConfig(port=port), store, options)
    commits: list[tuple[float, list[tuple[str, float]]]] = []
    consumer.commit_listeners.append(
        lambda rows: commits.append((time.time(), [(row.key, row.received_at) for row in rows if row.kind == "alert"]))
    )
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    consumer.start()
    if not consumer.subscribed.wait(30):
        raise SystemExit("consumer: not subscribed")
    print("ready", flush=True)
    stopping.wait()
    consumer.stop()
    store.close()
    if consumer.rejected:
        print(f"consumer {client_id}: {consumer.rejected} rejected", file=sys.stderr)
    print("commits " + json.dumps(commits), flush=True)


def make_alerts(index: int, devices: int, count: int) -> list[tuple[str, bytes, str]]:
    """`count` valid alerts round-robin over the devices: (topic, payload, event_id)."""
    from edge_agent.events import AlertFactory, Topics

    factories = [AlertFactory(f"dev-{index}-{n:04d}", "bench") for n in range(devices)]
    topics = [Topics("edge", "bench", factory.device_id).alert("loitering") for factory in factories]
    open_starts: list[str | None] = [None] * devices
    made = []
    for i in range(count):
        n = i % devices
        if open_starts[n] is None:
            alert = factories[n].make("loitering", "minor", ("camera", "cam1"), phase="start", rule="linger")
            open_starts[n] = alert.event_id
        else:
            alert = factories[n].make(
                "loitering", "minor", ("camera", "cam1"), phase="end", related_event_id=open_starts[n],
                rule="linger", ended_at=time.time(),
            )  # fmt: skip
            open_starts[n] = None
        made.append((topics[n], alert.to_json().encode(), alert.event_id))
    return made


def run_publisher(port: int, index: int, devices: int, rate: float, seconds: float) -> None:
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    alerts = make_alerts(index, devices, int(rate * seconds))
    acked = threading.Semaphore(0)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-publisher-{index}", protocol=paho.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.on_publish = lambda *args: acked.release()
    client.connect("127.0.0.1", port)
    client.loop_start()
    print("ready", flush=True)
    start = float(sys.stdin.readline())
    time.sleep(max(0.0, start - time.time()))
    published: dict[str, float] = {}
    sent, (cpu, waited) = 0, task_times("self")
    while sent < len(alerts):
        due = min(len(alerts), int((time.time() - start) * rate) + 1)
        for topic, payload, event_id in alerts[sent:due]:
            published[event_id] = time.time()
            client.publish(topic, payload, qos=1)
        sent = due
        time.sleep(PACE_S)
    for _ in alerts:
        if not acked.acquire(timeout=120):
            raise SystemExit("publisher: PUBACKs missing")
    client.disconnect()
    client.loop_stop()
    cpu_end, waited_end = task_times("self")
    report = {"cpu_s": cpu_end - cpu, "wait_s": waited_end - waited, "ids": published}
    print("published " + json.dumps(report), flush=True)


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    role, arguments = sys.argv[1], sys.argv[2:]
    if role == "consumer":
        run_consumer(arguments[0], int(arguments[1]), arguments[2], int(arguments[3]))
    else:
        run_publisher(int(arguments[0]), int(arguments[1]), int(arguments[2]), float(arguments[3]), float(arguments[4]))


if __name__ == "__main__":
    main()
