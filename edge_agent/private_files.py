"""Files and directories the agent creates at run time: owner-only whatever the process umask.

The state directory, the outbox and state databases (with SQLite's -wal and -shm),
the audit log, the password hash, the persisted config and the models hold card
tokens, alerts, who changed what, and secrets. Under systemd the unit's `UMask=0027`
already keeps them private, but the agent also runs from a shell, cron, a container
or `sudo -u edge-agent edge-agent web passwd`, with whatever umask those hand it
(often 022, sometimes 000). So every creation here states its mode instead of
inheriting one: files 0600 (0640 where a group reader is meant), directories 0750.

Existing paths the agent did not create are left alone, except that `tighten`
takes group-write and every "other" bit off a file or directory the agent owns
(an older agent's 0644 outbox, say); it never loosens anything.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_FILE = 0o600
GROUP_READABLE_FILE = 0o640
PRIVATE_DIR = 0o750
_NEVER = 0o027  # group write, and anything for others


def private_dir(path: Path | str, tighten_existing: bool = False) -> Path:
    """`path` and any missing parents, each created 0750; an existing `path` tightened when asked (ours)."""
    path = Path(path)
    missing = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, PRIVATE_DIR)
        except FileExistsError:  # made meanwhile by another thread or process: theirs to have set up
            continue
        os.chmod(directory, PRIVATE_DIR)  # mkdir's mode passes through the umask; chmod's does not
    if tighten_existing and not missing:
        tighten(path)
    return path


def tighten(path: Path | str) -> None:
    """Take group-write and all "other" bits off `path` if we own it; a failure is logged, not raised."""
    try:
        info = os.stat(path)
        if info.st_uid == os.geteuid() and info.st_mode & _NEVER:
            os.chmod(path, info.st_mode & 0o7777 & ~_NEVER)
    except FileNotFoundError:
        pass
    except OSError as error:  # a read-only or FAT file system: not worth stopping the agent for
        log.warning("could not tighten the mode of %s: %s", path, error)


def create_private_file(path: Path | str, mode: int = PRIVATE_FILE) -> None:
    """Make sure `path` exists before another library (SQLite) creates it with its own mode: created `mode`."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    except FileExistsError:
        tighten(path)
        return
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def open_private(path: Path | str, flags: int, mode: int = PRIVATE_FILE) -> int:
    """`os.open(path, flags | O_CREAT)`: a new file gets exactly `mode`, an existing one is tightened."""
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    except FileExistsError:
        fd = os.open(path, flags | os.O_CREAT | os.O_CLOEXEC, mode)
        tighten(path)
        return fd
    try:
        os.fchmod(fd, mode)
    except OSError:
        os.close(fd)
        raise
    return fd


def atomic_write_private(path: Path | str, data: bytes, mode: int = PRIVATE_FILE) -> None:
    """Replace `path` with `data` atomically (temporary file, fsync, rename), the new file exactly `mode`."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mkstemp creates 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
