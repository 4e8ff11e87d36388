"""`edge-agent platform ...`: the reference consumer (docs/platform.md); pending|dispose|response: platform_response;
enroll: cli/enroll.py."""

from __future__ import annotations

import argparse
import json
import signal
import threading

from edge_agent.cli import platform_evidence
from edge_agent.cli.common import add_broker_arguments, broker_config
from edge_agent.cli.enroll import register as register_enroll
from edge_agent.cli.platform_response import open_response, register_response
from edge_agent.platform import ATTENTION_OUTCOMES, ConsumerOptions, PlatformConsumer, PlatformStore

DB_HELP = (
    "the store: postgresql://user@host/db (password from PGPASSFILE or ~/.pgpass, not the URL),"
    " or a SQLite file path or sqlite:///path (created if missing)"
)


def register(subparsers) -> None:
    parser = subparsers.add_parser("platform", help="the reference platform consumer: store the fleet's alerts")
    commands = parser.add_subparsers(dest="platform_command", metavar="COMMAND", required=True)
    consume = commands.add_parser(
        "consume", help="subscribe (shared) and store alerts, action records, counts and status"
    )
    consume.add_argument("--db", required=True, metavar="DB", help=DB_HELP)
    consume.add_argument("--group", default="platform", help="shared-subscription group: instances split its load")
    consume.add_argument("--client-id", default="platform-consumer-1", help="unique per instance (session key)")
    consume.add_argument("--session-expiry", type=int, default=3600, metavar="S", help="keep the session this long")
    consume.add_argument(
        "--receive-maximum",
        type=_receive_maximum,
        default=500,
        metavar="N",
        help="unacknowledged messages in flight, 1-65535 (MQTT v5 Receive Maximum; the largest batch)",
    )
    consume.add_argument("--summary", type=float, default=0.0, metavar="S", help="print a summary every S seconds")
    add_broker_arguments(consume)
    consume.set_defaults(handler=run_consume)
    summary = commands.add_parser("summary", help="print what the store holds and exit")
    summary.add_argument("--db", required=True, metavar="DB", help=DB_HELP)
    summary.add_argument("--json", action="store_true", help="print JSON instead of text")
    summary.set_defaults(handler=run_summary)
    actions = commands.add_parser(
        "actions", help=f"list the newest action records to check ({'/'.join(ATTENTION_OUTCOMES)}), with their alerts"
    )
    actions.add_argument("--db", required=True, metavar="DB", help=DB_HELP)
    actions.add_argument("--all", action="store_true", help="every outcome, not only those to check")
    actions.add_argument("--limit", type=int, default=50, metavar="N", help="at most N records, newest first")
    actions.add_argument("--json", action="store_true", help="print JSON lines instead of text")
    actions.set_defaults(handler=run_actions)
    register_response(commands)
    platform_evidence.register(commands)
    register_enroll(commands)


def _receive_maximum(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: a whole number from 1 to 65535 (MQTT v5 Receive Maximum)")
    return value


def run_consume(args) -> int:
    mqtt = broker_config(args)
    options = ConsumerOptions(
        group=args.group,
        client_id=args.client_id,
        session_expiry_s=args.session_expiry,
        receive_maximum=args.receive_maximum,
    )
    store = PlatformStore(args.db)
    consumer = PlatformConsumer(mqtt, store, options, response=open_response(args.db)).start()
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    print(f"consuming {', '.join(consumer.filters)} from {args.host}:{args.port} into {store.name}", flush=True)
    while not stopping.wait(args.summary or None):
        print(_consumed(store, consumer), flush=True)
    consumer.stop()
    print(_consumed(store, consumer), flush=True)
    store.close()
    return 0


def _consumed(store: PlatformStore, consumer: PlatformConsumer) -> str:
    rejected = ", ".join(f"{kind}={count}" for kind, count in sorted(consumer.rejected_by_kind.items())) or "none"
    return f"{store.summary().text()}\nnot stored by this instance: {consumer.rejected} ({rejected})"


def run_summary(args) -> int:
    store = PlatformStore(args.db)
    summary = store.summary()
    store.close()
    print(json.dumps(summary.to_dict(), indent=2) if args.json else summary.text())
    return 0


def run_actions(args) -> int:
    store = PlatformStore(args.db)
    rows = store.actions_to_check(args.limit, every_outcome=args.all)
    store.close()
    for row in rows:
        print(json.dumps(row) if args.json else _action_line(row))
    return 0


def _action_line(row: dict) -> str:
    alert = f"{row['alert_type'] or 'alert'} {row['alert_event_id']}" if row["alert_event_id"] else "no alert"
    if row["alert_event_id"] and not row["alert_stored"]:
        alert += " (not received yet)"
    error = f": {row['error']}" if row["error"] else ""
    return (
        f"{row['finished_at']} {row['device_id']} {row['action']} ({row['kind']}) {row['outcome']}"
        f" after {row['attempts']} tries{error} [{alert}; record {row['event_id']}]"
    )
