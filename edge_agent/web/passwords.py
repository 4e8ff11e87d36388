"""The one local account's password: an scrypt hash in a file, written by `edge-agent web passwd`.

scrypt comes from the standard library (hashlib, backed by OpenSSL), so the hash needs no native
package that might not build on a Pi or Jetson; it is memory-hard, which is what slows down a
guessing attack on a stolen file. The file holds one line: scrypt$N$r$p$salt$hash (base64).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from pathlib import Path

from edge_agent.private_files import PRIVATE_FILE, atomic_write_private, private_dir

N, R, P = 2**14, 8, 1  # ~16 MB and tens of milliseconds per check on a Pi 4
MIN_LENGTH = 10
_MAXMEM = 64 * 2**20


class PasswordUnset(RuntimeError):
    """No password file: nobody can log in until `edge-agent web passwd` writes one."""


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=N, r=R, p=P, maxmem=_MAXMEM, dklen=32)
    return "$".join(["scrypt", str(N), str(R), str(P), _b64(salt), _b64(digest)])


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, expected = stored.strip().split("$")
        if scheme != "scrypt":
            return False
        expected_bytes = base64.b64decode(expected)
        digest = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=_MAXMEM,
            dklen=len(expected_bytes),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest, expected_bytes)


def read_hash(path: Path) -> str:
    try:
        return Path(path).read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise PasswordUnset(f"no password set ({path}): run `edge-agent web passwd`") from None


def write_hash(path: Path, password: str) -> None:
    """Atomically, readable by the owner only."""
    if len(password) < MIN_LENGTH:
        raise ValueError(f"the password must have at least {MIN_LENGTH} characters")
    path = Path(path)
    private_dir(path.parent)
    atomic_write_private(path, (hash_password(password) + "\n").encode("ascii"), PRIVATE_FILE)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
