"""`edge-agent platform enroll serve|list|approve|reject|revoke`: the operator's side of enrolment."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import signal
import ssl
import sys
import threading


def register(commands) -> None:
    enroll = commands.add_parser("enroll", help="first-boot enrolment: the site CA signs the boxes' certificates")
    sub = enroll.add_subparsers(dest="enroll_command", metavar="COMMAND", required=True)
    serve = sub.add_parser("serve", help="take CSRs off the broker, send the decisions, renew enrolled boxes")
    _db(serve)
    _ca(serve)
    serve.add_argument("--host", default="127.0.0.1", help="broker host (its mTLS listener)")
    serve.add_argument("--port", type=int, default=8883, help="broker port")
    serve.add_argument("--broker-ca", required=True, metavar="FILE", help="CA that signed the broker certificate")
    serve.add_argument("--cert", required=True, metavar="FILE", help="the platform's client certificate (CN=platform)")
    serve.add_argument("--key", required=True, metavar="FILE", help="its private key")
    serve.add_argument("--prefix", default="edge", help="the agents' mqtt.topic_prefix")
    serve.set_defaults(handler=run_serve)
    listing = sub.add_parser("list", help="requests waiting for a decision (--all: every box)")
    _db(listing)
    listing.add_argument("--all", action="store_true", help="every request, decided ones too")
    listing.add_argument("--json", action="store_true", help="JSON lines")
    listing.set_defaults(handler=run_list)
    approve = sub.add_parser("approve", help="sign the pending CSR of SERIAL as --device-id at --site")
    approve.add_argument("serial")
    approve.add_argument("--device-id", required=True, help="the box's id in topics (its certificate's CN)")
    approve.add_argument("--site", required=True, help="the site (its certificate's O)")
    _db(approve)
    _ca(approve)
    approve.set_defaults(handler=run_approve)
    reject = sub.add_parser("reject", help="refuse SERIAL (the box is told, and stops asking)")
    reject.add_argument("serial")
    reject.add_argument("--reason", default="rejected by the operator", help="told to the box")
    _db(reject)
    reject.set_defaults(handler=run_reject)
    revoke = sub.add_parser("revoke", help="revoke every certificate of DEVICE_ID and rewrite the CRL")
    revoke.add_argument("device_id")
    revoke.add_argument("--crl", required=True, metavar="FILE", help="the broker's crlfile (SIGHUP or restart it)")
    _db(revoke)
    _ca(revoke)
    revoke.set_defaults(handler=run_revoke)


def _db(parser) -> None:
    parser.add_argument("--db", required=True, metavar="FILE", help="the enrolment book (SQLite, created if missing)")


def _ca(parser) -> None:
    parser.add_argument("--ca-cert", required=True, metavar="FILE", help="the site CA certificate")
    parser.add_argument("--ca-key", required=True, metavar="FILE", help="the site CA key (read, never logged)")
    parser.add_argument("--lifetime-days", type=float, default=90.0, help="certificate lifetime (renewed at 2/3)")


def _open(args):
    from edge_agent.platform.enrolment_records import EnrolmentRecords

    return EnrolmentRecords(args.db)


def _site_ca(args):
    from edge_agent.platform.enrolment_ca import SiteCa

    return SiteCa(args.ca_cert, args.ca_key, dt.timedelta(days=args.lifetime_days))


def _refusal(exc: Exception) -> int:
    print(f"edge-agent platform enroll: {exc}", file=sys.stderr)
    return 2


def run_list(args) -> int:
    records = _open(args)
    rows = records.listing(("pending", "approved", "rejected", "revoked") if args.all else ("pending",))
    refusals = records.refusals()
    records.close()
    for row in rows:
        print(json.dumps(row) if args.json else _line(row))
    if not args.json and refusals:
        print(f"{len(refusals)} refused request(s); newest: {refusals[-1][1]}: {refusals[-1][2]}")
    return 0


def _line(row: dict) -> str:
    received = dt.datetime.fromtimestamp(row["received_at"], dt.timezone.utc).isoformat(timespec="seconds")
    who = f" -> {row['device_id']}@{row['site']}" if row["device_id"] else ""
    return f"{row['serial']}  key {row['fingerprint']}  {row['state']}{who}  asked {received}"


def run_approve(args) -> int:
    from edge_agent.platform.enrolment_ca import CsrRefused
    from edge_agent.platform.enrolment_desk import approve
    from edge_agent.platform.enrolment_records import UnknownSerial

    records = _open(args)
    try:
        row = approve(records, _site_ca(args), args.serial, args.device_id, args.site, by=getpass.getuser())
    except (UnknownSerial, CsrRefused, OSError, ValueError) as exc:  # CsrRefused is a ValueError: named for the reader
        return _refusal(exc)
    finally:
        records.close()
    print(f"approved {row['serial']} as {row['device_id']}@{row['site']} (certificate {row['cert_serial']})")
    return 0


def run_reject(args) -> int:
    from edge_agent.platform.enrolment_desk import reject
    from edge_agent.platform.enrolment_records import UnknownSerial

    records = _open(args)
    try:
        reject(records, args.serial, getpass.getuser(), args.reason)
    except UnknownSerial as exc:
        return _refusal(exc)
    finally:
        records.close()
    print(f"rejected {args.serial}")
    return 0


def run_revoke(args) -> int:
    from edge_agent.platform.enrolment_desk import revoke
    from edge_agent.platform.enrolment_records import UnknownSerial

    records = _open(args)
    try:
        serials = revoke(records, _site_ca(args), args.device_id, args.crl)
    except (UnknownSerial, OSError, ValueError) as exc:
        return _refusal(exc)
    finally:
        records.close()
    print(f"revoked {len(serials)} certificate(s) of {args.device_id}; wrote {args.crl}: restart or SIGHUP the broker")
    return 0


def run_serve(args) -> int:
    from edge_agent.enrolment.exchange import mqtt_client
    from edge_agent.platform.enrolment_service import EnrolmentService

    context = ssl.create_default_context(cafile=args.broker_ca)
    context.load_cert_chain(args.cert, args.key)
    records = _open(args)
    service = EnrolmentService(mqtt_client("platform-enrolment", context), records, _site_ca(args), args.prefix)
    service.start(args.host, args.port)
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    print(f"enrolment service on {args.host}:{args.port}, book {args.db}", flush=True)
    stopping.wait()
    service.stop()
    records.close()
    return 0
