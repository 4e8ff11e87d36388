"""`edge-agent platform pending|dispose|response`: the platform's side of the response (docs/platform.md)."""

from __future__ import annotations

import json
import sqlite3

from edge_agent.cli.common import add_broker_arguments, broker_config
from edge_agent.platform.commander import NoReply, send_command
from edge_agent.platform.dialect import is_postgres_url, sqlite_path
from edge_agent.platform.response import ResponseStore
from edge_agent.platform.store import PlatformStore


def register_response(commands) -> None:
    pending = commands.add_parser("pending", help="list the alerts still waiting for a disposition, oldest first")
    pending.add_argument("--db", required=True, metavar="FILE", help="SQLite file written by `consume`")
    pending.add_argument("--json", action="store_true", help="print JSON lines instead of text")
    pending.set_defaults(handler=run_pending)
    dispose = commands.add_parser("dispose", help="send a disposition of an alert to the device that raised it")
    dispose.add_argument("--db", required=True, metavar="FILE", help="SQLite file written by `consume`")
    dispose.add_argument("event_id", help="the alert's event_id (see `platform pending`)")
    dispose.add_argument("state", choices=("acknowledged", "dispatched", "resolved", "false_alarm"))
    dispose.add_argument("--by", required=True, help="who decides (published with the disposition)")
    dispose.add_argument("--note", default="", help="free text, published with the disposition")
    dispose.add_argument("--timeout", type=float, default=15.0, metavar="S", help="wait this long for the reply")
    add_broker_arguments(dispose)
    dispose.set_defaults(handler=run_dispose)
    figures = commands.add_parser("response", help="response figures per site, rule and type (time to answer)")
    figures.add_argument("--db", required=True, metavar="FILE", help="SQLite file written by `consume`")
    figures.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    figures.set_defaults(handler=run_figures)


def open_response(path: str) -> ResponseStore:
    """The response tables beside the consumer's store: `path` is a PostgreSQL URL, a sqlite:/// URL or a file."""
    PlatformStore(path).close()  # the consumer's tables exist (a new store gets them)
    if is_postgres_url(path):
        import psycopg  # the `platform` extra

        return ResponseStore(psycopg.connect(path, connect_timeout=10), pyformat=True)
    return ResponseStore(sqlite3.connect(sqlite_path(path), timeout=5.0, check_same_thread=False))


def run_pending(args) -> int:
    for row in open_response(args.db).pending():
        if args.json:
            print(json.dumps(row))
        else:
            states = ",".join(row["states"]) or "unanswered"
            rule = f" rule={row['rule']}" if row["rule"] else ""
            print(
                f"{row['age_s']:>8.0f}s  {row['severity']:<8} {row['type']:<16} {row['site']}/{row['device_id']}"
                f" {row['source']}{rule}  {states}  {row['event_id']}"
            )
    return 0


def run_dispose(args) -> int:
    origin = open_response(args.db).alert_origin(args.event_id)
    if origin is None:
        print(f"no alert {args.event_id} in {args.db}: it must have reached the platform first")
        return 2
    mqtt = broker_config(args)
    request = {"event_id": args.event_id, "state": args.state, "by": args.by, "note": args.note}
    try:
        reply = send_command(mqtt, origin[0], origin[1], "dispose", request, args.timeout)
    except NoReply as exc:
        print(f"not sent or not answered: {exc}")
        return 3
    print(json.dumps(reply))
    return 0 if reply.get("ok") else 1


def run_figures(args) -> int:
    rows = open_response(args.db).figures()
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    print("site        rule            type          alerts  ack p50/p95 s   resolve p50/p95 s  unanswered  false%")
    for row in rows:
        ack = f"{_s(row['ack_p50_s'])}/{_s(row['ack_p95_s'])}"
        resolve = f"{_s(row['resolve_p50_s'])}/{_s(row['resolve_p95_s'])}"
        rate = "-" if row["false_alarm_rate"] is None else f"{100 * row['false_alarm_rate']:.0f}%"
        print(
            f"{row['site']:<11} {row['rule'] or '-':<15} {row['type']:<13} {row['alerts']:>6}  {ack:<15} "
            f"{resolve:<18} {row['unanswered']:>10}  {rate:>6}"
        )
    return 0


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
