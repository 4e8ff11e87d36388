"""The one local account's password: an scrypt hash in a file, written by `edge-agent web passwd`.

scrypt comes from the standard library (hashlib, backed by OpenSSL), so the hash needs no native
package that might not build on a Pi or Jetson; it is memory-hard, which is what slows down a
guessing attack on a stolen file. The file holds one line: scrypt$N$r$p$salt$hash (base64).

Every scrypt run goes through `_scrypt`, which counts it (`scrypt_runs()`): a login for an unknown
user must cost the same derivation as one for the real user, and the tests check that by count,
not by a stopwatch.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from pathlib import Path

from edge_agent.private_files import PRIVATE_FILE, atomic_write_private, private_dir

N, R, P = 2**14, 8, 1  # ~16 MB and tens of milliseconds per check on a Pi 4
MIN_LENGTH = 10
_MAXMEM = 64 * 2**20


class PasswordUnset(RuntimeError):
    """No password file: nobody can log in until `edge-agent web passwd` writes one."""


_runs = 0
_runs_lock = threading.Lock()


def scrypt_runs() -> int:
    """How many scrypt derivations this process has run (hashing and checking)."""
    with _runs_lock:
        return _runs


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    global _runs
    with _runs_lock:
        _runs += 1
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=dklen)


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = _scrypt(password.encode(), salt, N, R, P, 32)
    return "$".join(["scrypt", str(N), str(R), str(P), _b64(salt), _b64(digest)])


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, expected = stored.strip().split("$")
        if scheme != "scrypt":
            return False
        expected_bytes = base64.b64decode(expected)
        digest = _scrypt(password.encode(), base64.b64decode(salt), int(n), int(r), int(p), len(expected_bytes))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest, expected_bytes)


def read_hash(path: Path) -> str:
    try:
        return Path(path).read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise PasswordUnset(f"no password set ({path}): run `edge-agent web passwd`") from None


def hash_version(stored: str) -> str:
    """A short digest of a stored hash: sessions carry it, and a new password (a new salt, so a new hash, even
    for the same password) changes it, which ends them. It reveals nothing usable about the hash."""
    return hashlib.sha256(stored.strip().encode("ascii")).hexdigest()[:32]


def password_version(path: Path) -> str | None:
    """The version of the hash in `path` now; None when no password is set (then no session is valid).

    Read on every logged-in request, on the event loop: one read of a one-line file that the page
    cache holds costs less than the hop to a worker thread would.
    """
    try:
        return hash_version(read_hash(path))
    except PasswordUnset:
        return None
    except (OSError, UnicodeDecodeError):  # unreadable: no session can be checked against it, so none is valid
        return None


def write_hash(path: Path, password: str) -> None:
    """Atomically, readable by the owner only."""
    if len(password) < MIN_LENGTH:
        raise ValueError(f"the password must have at least {MIN_LENGTH} characters")
    path = Path(path)
    private_dir(path.parent)
    atomic_write_private(path, (hash_password(password) + "\n").encode("ascii"), PRIVATE_FILE)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
