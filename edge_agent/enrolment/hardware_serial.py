"""The box's hardware serial: what the installer reads off the board and the operator approves."""

from __future__ import annotations

import re
from pathlib import Path

# a Pi's (and a Jetson's) device tree serial, then systemd's machine id on any other Linux
SERIAL_FILES = (
    Path("/proc/device-tree/serial-number"),
    Path("/sys/firmware/devicetree/base/serial-number"),
    Path("/etc/machine-id"),
)
SERIAL_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def valid_serial(serial: str) -> bool:
    """One topic level and one MQTT client id: no `/`, `+`, `#` or spaces (the broker's %c ACLs rely on it)."""
    return bool(SERIAL_PATTERN.match(serial))


def read_serial(files: tuple[Path, ...] = SERIAL_FILES) -> str:
    """The first readable, non-empty serial (device tree strings end in NUL); raises naming every file tried."""
    for path in files:
        try:
            serial = Path(path).read_bytes().replace(b"\x00", b"").decode("ascii", "replace").strip()
        except OSError:
            continue
        if serial and valid_serial(serial):
            return serial
    raise RuntimeError("no hardware serial found in " + ", ".join(str(p) for p in files))
