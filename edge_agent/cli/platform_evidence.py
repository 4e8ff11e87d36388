"""`edge-agent platform evidence EVENT_ID --out FILE`: fetch an alert's evidence, checked against its hash."""

from __future__ import annotations

import sys

from edge_agent.cli.common import add_broker_arguments, broker_config
from edge_agent.platform.evidence_fetch import EvidenceFetchError, FetchRequest, fetch_evidence
from edge_agent.platform.store import PlatformStore
from edge_agent.private_files import atomic_write_private


def register(commands) -> None:
    evidence = commands.add_parser(
        "evidence", help="fetch an alert's snapshot or clip from its device (get-evidence), checked against its hash"
    )
    evidence.add_argument("event_id", metavar="EVENT_ID", help="the alert's event_id")
    evidence.add_argument("--out", required=True, metavar="FILE", help="where to write it (0600)")
    evidence.add_argument("--db", required=True, metavar="FILE", help="the store `consume` writes (the alert's hash)")
    evidence.add_argument("--kind", choices=("snapshot", "clip"), default="snapshot", help="which evidence")
    evidence.add_argument("--by", dest="requested_by", help="who asks (recorded on the device)")
    evidence.add_argument("--timeout", type=float, default=60.0, metavar="S", help="give up after S seconds")
    add_broker_arguments(evidence)
    evidence.set_defaults(handler=run_evidence)


def run_evidence(args) -> int:
    store = PlatformStore(args.db)
    try:
        alert = store.alert_origin(args.event_id)
        expected = store.evidence_sha256(args.event_id, args.kind)
    finally:
        store.close()
    if alert is None or expected is None:
        print(f"no {args.kind} evidence is described for alert {args.event_id} in {args.db}", file=sys.stderr)
        return 2
    mqtt = broker_config(args)
    request = FetchRequest(
        f"{args.prefix}/{alert[0]}/{alert[1]}", args.event_id, args.kind, expected, args.requested_by, args.timeout
    )
    try:
        data, requests = fetch_evidence(mqtt, request)
    except EvidenceFetchError as exc:
        print(f"evidence of {args.event_id}: {exc}", file=sys.stderr)
        return 1
    atomic_write_private(args.out, data)
    print(f"{args.out}: {len(data)} bytes, sha256 {expected} (matches the alert's; {requests} request(s))")
    return 0
