"""Which integer-dot-product instructions this CPU has, from /proc/cpuinfo.

INT8 convolutions only beat FP32 when the CPU multiplies int8 pairs in one instruction (x86
VNNI / AMX, ARM dot-product); printing them beside a quantize or bench result explains why INT8
won or lost on this box.
"""

from __future__ import annotations

import platform
from pathlib import Path

# cpuinfo flag -> the name people know it by
INT8_FLAGS = {
    "avx2": "AVX2",
    "avx512_vnni": "AVX-512 VNNI",
    "avx_vnni": "AVX-VNNI",
    "amx_int8": "AMX-INT8",
    "asimddp": "ARM dotprod",
    "i8mm": "ARM i8mm",
}


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> list[str]:
    """The INT8-relevant flags this CPU reports, in INT8_FLAGS order; empty when unknown."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return []
    reported: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):  # x86 says flags, ARM says Features
            reported.update(value.split())
    return [name for flag, name in INT8_FLAGS.items() if flag in reported]


def describe_cpu(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    flags = cpu_flags(cpuinfo)
    return f"cpu {platform.machine()}: {', '.join(flags) if flags else 'no int8 dot-product instructions found'}"
