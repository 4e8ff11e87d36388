"""glibc's malloc arenas: at most two, set in the process itself at start, however the agent was launched.

By default glibc may give each allocating thread its own arena, up to 8 per core. The camera readers,
ffmpeg's decoder threads and onnxruntime free megabyte frames in different arenas, which fragment, and
the resident size of a 4-camera agent climbs (206 → 239 MB in 11 minutes; bench/README.md, "Daemon
footprint"). Two arenas keep it flat at no measurable CPU cost. `MALLOC_ARENA_MAX=2` in the systemd
unit covers only the unit; `limit_arenas()` runs first thing in `cli/main.py:main`, before any command
module (OpenCV, onnxruntime) is imported and before the agent starts a thread, so `edge-agent run`
started by hand, from a container or by `python -m edge_agent` gets it too. A `MALLOC_ARENA_MAX` the
environment already sets wins (glibc applied it before Python started). Elsewhere (musl, macOS) there
is no such setting: nothing is done and the log says so.

`arena_count()` reads back how many arenas exist (glibc's `malloc_info`) for telemetry `system`.
"""

from __future__ import annotations

import ctypes
import functools
import os
import re
from collections.abc import Mapping

ARENA_MAX = 2
M_ARENA_MAX = -8  # glibc <malloc.h>
_HEAP = re.compile(rb"<heap nr=")

applied: str | None = None  # what limit_arenas() did, for the log once logging is set up


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None)
        for name in ("gnu_get_libc_version", "mallopt", "malloc_info", "open_memstream"):  # glibc has all four
            getattr(libc, name)
    except (OSError, AttributeError):
        return None
    libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    libc.open_memstream.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_size_t)]
    libc.open_memstream.restype = ctypes.c_void_p
    libc.malloc_info.argtypes, libc.malloc_info.restype = [ctypes.c_int, ctypes.c_void_p], ctypes.c_int
    libc.fclose.argtypes, libc.fclose.restype = [ctypes.c_void_p], ctypes.c_int
    libc.free.argtypes, libc.free.restype = [ctypes.c_void_p], None
    return libc


def limit_arenas(environ: Mapping[str, str] = os.environ) -> str:
    """Cap glibc's arenas at ARENA_MAX unless the environment chose; returns (and keeps in `applied`) what
    happened, in words for the log (logging is not set up this early)."""
    global applied
    libc = _glibc()
    chosen = environ.get("MALLOC_ARENA_MAX")
    if libc is None:
        applied = "malloc arenas: not glibc, no arena limit to set (this C library has its own allocator)"
    elif chosen:
        applied = f"malloc arenas: MALLOC_ARENA_MAX={chosen} from the environment"
    elif libc.mallopt(M_ARENA_MAX, ARENA_MAX) == 1:
        applied = f"malloc arenas: at most {ARENA_MAX} (mallopt M_ARENA_MAX at start)"
    else:
        applied = "malloc arenas: glibc refused mallopt(M_ARENA_MAX); its default applies"
    return applied


def arena_count() -> int | None:
    """How many malloc arenas the process has now (main included), from glibc's malloc_info; None elsewhere."""
    libc = _glibc()
    if libc is None:
        return None
    buffer, size = ctypes.c_void_p(), ctypes.c_size_t()
    stream = libc.open_memstream(ctypes.byref(buffer), ctypes.byref(size))
    if not stream:
        return None
    try:
        libc.malloc_info(0, stream)
    finally:
        libc.fclose(stream)  # flushes: buffer and size are valid from here
    try:
        return len(_HEAP.findall(ctypes.string_at(buffer, size.value)))
    finally:
        libc.free(buffer)
