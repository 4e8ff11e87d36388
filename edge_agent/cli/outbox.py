"""`edge-agent outbox --config FILE [--tail N]`: what the store holds, read-only (safe while the agent runs)."""

from __future__ import annotations

import json
import os
import sys
import time

from edge_agent.cli.common import load_config_or_exit
from edge_agent.clock import iso_utc
from edge_agent.store import CLASSES, OutboxReader, OutboxRow, OutboxStats


def register(subparsers) -> None:
    parser = subparsers.add_parser("outbox", help="show outbox counts, ages and drops; --tail N lists recent alerts")
    parser.add_argument("--config", required=True, metavar="FILE", help="config YAML (gives the outbox path)")
    parser.add_argument("--tail", type=int, default=0, metavar="N", help="also print the N most recent alerts")
    parser.add_argument("--telemetry", action="store_true", help="include telemetry rows in --tail")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(handler=run)


def run(args) -> int:
    config = load_config_or_exit(args.config)
    path = config.outbox_path
    try:
        reader = OutboxReader(path)
    except FileNotFoundError:
        print(f"error: no outbox database at {path} (has the agent run with this config?)", file=sys.stderr)
        return os.EX_NOINPUT
    with reader:
        stats = reader.stats(time.time())
        rows = reader.tail(args.tail, include_telemetry=args.telemetry) if args.tail > 0 else []
    if args.json:
        print(
            json.dumps(
                {"path": str(path), "stats": stats.to_dict(), "tail": [_row_dict(row) for row in rows]}, indent=2
            )
        )
    else:
        print(f"outbox {path}")
        print(summary(stats))
        if rows:
            print(f"last {len(rows)} rows (oldest first):")
            for row in rows:
                print("  " + _row_line(row))
    return 0


def summary(stats: OutboxStats) -> str:
    header = f"  {'':10} {'pending':>9} {'inflight':>9} {'delivered':>10} {'dropped':>8}"
    lines = [header]
    for cls in CLASSES:
        lines.append(
            f"  {cls:10} {stats.pending[cls]:>9} {stats.inflight[cls]:>9} {stats.delivered[cls]:>10} "
            f"{stats.drops.get(cls, 0):>8}"
        )
    age = "-" if stats.oldest_pending_age_s is None else f"{stats.oldest_pending_age_s:.1f} s"
    last = "never" if stats.last_delivery_at is None else iso_utc(stats.last_delivery_at)
    reasons = ", ".join(f"{reason}={count}" for reason, count in sorted(stats.drops_by_reason.items())) or "none"
    lines += [
        f"  rows: {stats.rows}  bytes: {stats.bytes}",
        f"  oldest pending age: {age}",
        f"  last delivery: {last}",
        f"  drops by reason: {reasons}",
    ]
    return "\n".join(lines)


def _row_line(row: OutboxRow) -> str:
    return f"{iso_utc(row.created_at)} {row.cls:9} {row.state:9} attempts={row.attempts} {row.event_id} {row.topic}"


def _row_dict(row: OutboxRow) -> dict:
    return {
        "event_id": row.event_id,
        "topic": row.topic,
        "class": row.cls,
        "state": row.state,
        "attempts": row.attempts,
        "created_at": iso_utc(row.created_at),
        "delivered_at": None if row.delivered_at is None else iso_utc(row.delivered_at),
        "payload": row.payload.decode("utf-8", "replace"),
    }
