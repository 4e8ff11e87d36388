"""Device identity: the configured id, else a stable hash of /etc/machine-id (never the raw id)."""

from __future__ import annotations

import hashlib
from pathlib import Path

MACHINE_ID_FILES = (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id"))


def derive_device_id(machine_id_files=MACHINE_ID_FILES) -> str:
    """`ea-` plus 12 hex digits of SHA-256 over an app-specific prefix and the machine id.

    The prefix keeps our id unlinkable to other software that hashes machine-id
    (systemd's guidance for application-specific ids).
    """
    for path in machine_id_files:
        try:
            machine_id = Path(path).read_text().strip()
        except OSError:
            continue
        if machine_id:
            digest = hashlib.sha256(b"edge-agent:" + machine_id.encode()).hexdigest()
            return f"ea-{digest[:12]}"
    raise RuntimeError(
        "device.id is not set and no machine id was found in "
        + ", ".join(str(p) for p in machine_id_files)
        + "; set device.id in the config"
    )


def device_id_for(config) -> str:
    return config.device.id or derive_device_id()
