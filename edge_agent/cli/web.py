"""`edge-agent web passwd|cert`: the technician's page account and its TLS certificate (see docs/technician.md)."""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
from pathlib import Path

from edge_agent.cli.common import CliExit, load_config_or_exit
from edge_agent.private_files import private_dir
from edge_agent.web.page_address import fingerprint


def register(subparsers) -> None:
    parser = subparsers.add_parser("web", help="the technician's page: set its password, make its certificate")
    commands = parser.add_subparsers(dest="web_command", metavar="WEB_COMMAND", required=True)
    passwd = commands.add_parser("passwd", help="set the page's password (an scrypt hash in web.password_file)")
    where = passwd.add_mutually_exclusive_group(required=True)
    where.add_argument("--config", help="the agent's config: the hash goes to its web.password_file")
    where.add_argument("--file", help="write the hash to this file instead")
    passwd.add_argument("--stdin", action="store_true", help="read the password from stdin (scripts, tests)")
    passwd.set_defaults(handler=set_password)
    cert = commands.add_parser("cert", help="make a self-signed TLS certificate and print its SHA-256 fingerprint")
    cert.add_argument("--cert", required=True, help="certificate file to write (PEM)")
    cert.add_argument("--key", required=True, help="private key file to write (PEM, mode 0600)")
    cert.add_argument("--name", default=os.uname().nodename, help="host name in the certificate")
    cert.add_argument("--days", type=int, default=825, help="validity in days")
    cert.set_defaults(handler=make_certificate)


def set_password(args) -> int:
    from edge_agent.web.passwords import write_hash

    if args.file:
        path = Path(args.file)
    else:
        config = load_config_or_exit(args.config)
        path = config.web.password_path(config.device.state_dir)
    if args.stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("new password for the technician's page: ")
        if getpass.getpass("again: ") != password:
            print("error: the two passwords differ; nothing changed", file=sys.stderr)
            raise CliExit(os.EX_DATAERR)
    try:
        write_hash(path, password)
    except ValueError as exc:
        print(f"error: {exc}; nothing changed", file=sys.stderr)
        raise CliExit(os.EX_DATAERR) from None
    print(f"password hash written to {path}; the page's existing sessions end (log in again with the new one)")
    return os.EX_OK


def make_certificate(args) -> int:
    cert, key = Path(args.cert), Path(args.key)
    for path in (cert, key):
        private_dir(path.parent)  # missing directories 0750 whatever the umask (the key's stays closed)
    command = [
        "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-days", str(args.days), "-subj", f"/CN={args.name}", "-addext", f"subjectAltName=DNS:{args.name}",
        "-keyout", str(key), "-out", str(cert),
    ]  # fmt: skip
    old_umask = os.umask(0o077)  # the key is never readable by others, not even for a moment
    try:
        done = subprocess.run(command, capture_output=True, text=True)
    except FileNotFoundError:
        print("error: openssl is not installed (apt-get install openssl)", file=sys.stderr)
        raise CliExit(os.EX_UNAVAILABLE) from None
    finally:
        os.umask(old_umask)
    if done.returncode != 0:
        print(f"error: openssl failed: {done.stderr.strip()}", file=sys.stderr)
        raise CliExit(os.EX_SOFTWARE)
    os.chmod(cert, 0o644)
    print(f"certificate: {cert}\nkey:         {key}")
    print(f"SHA-256 fingerprint: {fingerprint(cert)}")
    print("compare it with what the browser shows the first time; then set web.tls.cert_file and web.tls.key_file")
    return os.EX_OK
