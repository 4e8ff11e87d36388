"""The page's local accounts and their roles: the technician's (web.user, web.password_file) and more users.

Roles:

- `technician`: the whole page (config edits, actions, the console);
- `operator`: the guards' console only (open alerts, dispositions, snoozes, door states): no config, no
  actions, no live view, no technician route (app.py answers 403).

The technician's account is the one it always was (`edge-agent web passwd`). Other users live in a
`users` file beside the password file (0600), one per line `name:role:scrypt$…` (names follow the
config's name rule, so no `:`), written by `edge-agent web user add NAME --role operator`.
A login runs one scrypt derivation whoever it names, and the name is compared against every account in
constant time, so neither the time nor the answer tells which names exist. A session carries its
own hash's version: a new password for one user ends that user's sessions only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from edge_agent.private_files import PRIVATE_FILE, atomic_write_private, private_dir
from edge_agent.web.passwords import MIN_LENGTH, PasswordUnset, hash_password, hash_version, read_hash
from edge_agent.web.security import same_text

ROLES = ("technician", "operator")
USERS_FILE = "users"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Account:
    user: str
    role: str
    stored: str  # the scrypt hash line


def users_path(password_path: Path) -> Path:
    return Path(password_path).with_name(USERS_FILE)


def read_users(path: Path) -> list[Account]:
    """The extra accounts; a missing file is none; a malformed line is skipped (it cannot log in)."""
    try:
        lines = Path(path).read_text(encoding="ascii").splitlines()
    except FileNotFoundError:
        return []
    accounts = []
    for line in lines:
        parts = line.strip().split(":", 2)
        if len(parts) == 3 and parts[1] in ROLES and _NAME.match(parts[0]):
            accounts.append(Account(parts[0], parts[1], parts[2]))
    return accounts


def accounts(technician: str, password_path: Path) -> list[Account]:
    """Every account that can log in now: the technician's (if its password is set), then the users file's."""
    found = []
    try:
        found.append(Account(technician, "technician", read_hash(password_path)))
    except (PasswordUnset, OSError, UnicodeDecodeError):
        pass
    try:
        found += [a for a in read_users(users_path(password_path)) if a.user != technician]
    except (OSError, UnicodeDecodeError):
        pass
    return found


def find(given: str, known: list[Account]) -> Account | None:
    """The account named `given`, comparing against every one in constant time (no early exit)."""
    match = None
    for account in known:
        if same_text(given, account.user) and match is None:
            match = account
    return match


def current_versions(technician: str, password_path: Path) -> dict[str, str]:
    """Per account its stored hash's version now: a session whose user is gone, or whose password changed, ends.

    Read on every logged-in request, on the event loop: two small files the page cache holds."""
    return {account.user: hash_version(account.stored) for account in accounts(technician, password_path)}


def add_user(password_path: Path, user: str, role: str, password: str) -> None:
    """Add or replace a user in the users file (atomically, 0600). Raises ValueError naming what is wrong."""
    if not _NAME.match(user):
        raise ValueError(f"user name {user!r}: 1-64 letters, digits, `_`, `-`, `.`, starting with a letter or digit")
    if role not in ROLES:
        raise ValueError(f"role {role!r}: one of {', '.join(ROLES)}")
    if len(password) < MIN_LENGTH:
        raise ValueError(f"the password must have at least {MIN_LENGTH} characters")
    path = users_path(password_path)
    kept = [a for a in read_users(path) if a.user != user]
    _write(path, [*kept, Account(user, role, hash_password(password))])


def remove_user(password_path: Path, user: str) -> bool:
    path = users_path(password_path)
    known = read_users(path)
    kept = [a for a in known if a.user != user]
    if len(kept) == len(known):
        return False
    _write(path, kept)
    return True


def _write(path: Path, users: list[Account]) -> None:
    private_dir(path.parent)
    text = "".join(f"{a.user}:{a.role}:{a.stored}\n" for a in users)
    atomic_write_private(path, text.encode("ascii"), PRIVATE_FILE)
