"""Where the technician finds the page: its URL and its TLS certificate's SHA-256 fingerprint.

The running server logs both at start and writes them to `<state_dir>/web/page.json` (removed when it stops), so
`edge-agent status` on the box tells a technician the address to open and the fingerprint to compare with what
the browser shows, without reading the journal.
"""

from __future__ import annotations

import hashlib
import json
import os
import ssl
from pathlib import Path

from edge_agent.private_files import atomic_write_private, private_dir


def fingerprint(cert: Path) -> str:
    """The SHA-256 fingerprint of a PEM certificate's (first) DER form, as browsers show it: `3A:91:…`."""
    der = ssl.PEM_cert_to_DER_cert(Path(cert).read_text())
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def page_file(state_dir: Path) -> Path:
    return Path(state_dir) / "web" / "page.json"


def announce(state_dir: Path, url: str, cert_fingerprint: str | None) -> None:
    entry = {"url": url, "fingerprint": cert_fingerprint, "pid": os.getpid()}
    private_dir(page_file(state_dir).parent)
    atomic_write_private(page_file(state_dir), json.dumps(entry).encode())


def withdraw(state_dir: Path) -> None:
    try:
        page_file(state_dir).unlink()
    except FileNotFoundError:
        pass


def announced(state_dir: Path) -> dict | None:
    """What a running server wrote, if its process still runs; None otherwise."""
    try:
        entry = json.loads(page_file(state_dir).read_text())
        os.kill(int(entry["pid"]), 0)
    except PermissionError:  # alive, another user's: the agent's, seen by root or a technician
        pass
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return entry if isinstance(entry.get("url"), str) else None
