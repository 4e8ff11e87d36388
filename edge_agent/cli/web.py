"""`edge-agent web passwd|user|cert`: the page's accounts (technician, operators) and its TLS certificate."""

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
    user = commands.add_parser("user", help="the page's other accounts and their roles (operator: the console only)")
    user_commands = user.add_subparsers(dest="user_command", metavar="USER_COMMAND", required=True)
    add = user_commands.add_parser("add", help="add a user (or set a user's role and password)")
    add.add_argument("name", help="user name: letters, digits, _ - .")
    add.add_argument("--role", required=True, choices=("operator", "technician"), help="what the user may do")
    remove = user_commands.add_parser("remove", help="remove a user (their sessions end)")
    remove.add_argument("name")
    listing = user_commands.add_parser("list", help="list the users and their roles")
    for command in (add, remove, listing):
        where = command.add_mutually_exclusive_group(required=True)
        where.add_argument("--config", help="the agent's config: the users file is beside its web.password_file")
        where.add_argument("--file", help="the password file the users file sits beside")
    add.add_argument("--stdin", action="store_true", help="read the password from stdin (scripts, tests)")
    add.set_defaults(handler=add_user)
    remove.set_defaults(handler=remove_user)
    listing.set_defaults(handler=list_users)
    cert = commands.add_parser("cert", help="make a self-signed TLS certificate and print its SHA-256 fingerprint")
    cert.add_argument("--cert", required=True, help="certificate file to write (PEM)")
    cert.add_argument("--key", required=True, help="private key file to write (PEM, mode 0600)")
    cert.add_argument("--name", default=os.uname().nodename, help="host name in the certificate")
    cert.add_argument("--days", type=int, default=825, help="validity in days")
    cert.set_defaults(handler=make_certificate)


def _password_path(args) -> Path:
    if args.file:
        return Path(args.file)
    config = load_config_or_exit(args.config)
    return config.web.password_path(config.device.state_dir)


def _new_password(args, whose: str) -> str:
    if args.stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass(f"new password for {whose}: ")
    if getpass.getpass("again: ") != password:
        print("error: the two passwords differ; nothing changed", file=sys.stderr)
        raise CliExit(os.EX_DATAERR)
    return password


def add_user(args) -> int:
    from edge_agent.web.accounts import add_user as add
    from edge_agent.web.accounts import users_path

    path = _password_path(args)
    try:
        add(path, args.name, args.role, _new_password(args, args.name))
    except ValueError as exc:
        print(f"error: {exc}; nothing changed", file=sys.stderr)
        raise CliExit(os.EX_DATAERR) from None
    print(f"{args.name} ({args.role}) written to {users_path(path)}")
    return os.EX_OK


def remove_user(args) -> int:
    from edge_agent.web.accounts import remove_user as remove

    if not remove(_password_path(args), args.name):
        print(f"error: no user {args.name!r}; nothing changed", file=sys.stderr)
        raise CliExit(os.EX_DATAERR)
    print(f"{args.name} removed; their sessions end")
    return os.EX_OK


def list_users(args) -> int:
    from edge_agent.web.accounts import read_users, users_path

    for account in read_users(users_path(_password_path(args))):
        print(f"{account.user}\t{account.role}")
    return os.EX_OK


def set_password(args) -> int:
    from edge_agent.web.passwords import write_hash

    path = _password_path(args)
    password = _new_password(args, "the technician's page")
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
