"""`edge-agent platform consume|summary`: the reference platform consumer (docs/platform.md)."""

from __future__ import annotations

import json
import signal
import threading

from edge_agent.config.mqtt import MqttConfig, TlsConfig
from edge_agent.platform import ConsumerOptions, PlatformConsumer, PlatformStore


def register(subparsers) -> None:
    parser = subparsers.add_parser("platform", help="the reference platform consumer: store the fleet's alerts")
    commands = parser.add_subparsers(dest="platform_command", metavar="COMMAND", required=True)
    consume = commands.add_parser("consume", help="subscribe (shared) and store alerts, counts and status")
    consume.add_argument("--db", required=True, metavar="FILE", help="SQLite file (created if missing)")
    consume.add_argument("--host", default="127.0.0.1", help="broker host")
    consume.add_argument("--port", type=int, default=1883, help="broker port")
    consume.add_argument("--prefix", default="edge", help="the agents' mqtt.topic_prefix")
    consume.add_argument("--group", default="platform", help="shared-subscription group: instances split its load")
    consume.add_argument("--client-id", default="platform-consumer-1", help="unique per instance (session key)")
    consume.add_argument("--session-expiry", type=int, default=3600, metavar="S", help="keep the session this long")
    consume.add_argument("--username", help="broker username")
    consume.add_argument("--password-file", metavar="FILE", help="file holding the broker password")
    consume.add_argument("--ca-file", metavar="FILE", help="use TLS, verifying the broker against this CA")
    consume.add_argument("--summary", type=float, default=0.0, metavar="S", help="print a summary every S seconds")
    consume.set_defaults(handler=run_consume)
    summary = commands.add_parser("summary", help="print what the store holds and exit")
    summary.add_argument("--db", required=True, metavar="FILE", help="SQLite file written by `consume`")
    summary.add_argument("--json", action="store_true", help="print JSON instead of text")
    summary.set_defaults(handler=run_summary)


def run_consume(args) -> int:
    tls = TlsConfig(enabled=True, ca_file=args.ca_file) if args.ca_file else TlsConfig()
    mqtt = MqttConfig(
        host=args.host,
        port=args.port,
        topic_prefix=args.prefix,
        username=args.username,
        password_file=args.password_file,
        tls=tls,
    )
    options = ConsumerOptions(group=args.group, client_id=args.client_id, session_expiry_s=args.session_expiry)
    store = PlatformStore(args.db)
    consumer = PlatformConsumer(mqtt, store, options).start()
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    print(f"consuming {', '.join(consumer.filters)} from {args.host}:{args.port} into {args.db}", flush=True)
    while not stopping.wait(args.summary or None):
        print(store.summary().text(), flush=True)
    consumer.stop()
    print(store.summary().text(), flush=True)
    store.close()
    return 0


def run_summary(args) -> int:
    store = PlatformStore(args.db)
    summary = store.summary()
    store.close()
    print(json.dumps(summary.to_dict(), indent=2) if args.json else summary.text())
    return 0
