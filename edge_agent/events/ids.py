"""UUIDv7 event ids (RFC 9562): time-ordered, unique, strictly increasing per process.

Python 3.11 has no uuid7. Within one millisecond a 12-bit counter in `rand_a`
keeps ids increasing (RFC 9562 section 6.2, method 1); when it overflows, the
timestamp field is advanced by one millisecond rather than ever going back.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid

_COUNTER_MAX = 0xFFF


class UUIDv7Generator:
    def __init__(self, now_ms=lambda: time.time_ns() // 1_000_000):
        self._now_ms = now_ms
        self._lock = threading.Lock()
        self._last_ms = -1
        self._counter = 0

    def __call__(self) -> str:
        with self._lock:
            now = self._now_ms()
            if now > self._last_ms:
                self._last_ms = now
                self._counter = int.from_bytes(os.urandom(2), "big") & 0x3FF  # leave headroom
            else:
                self._counter += 1
                if self._counter > _COUNTER_MAX:
                    self._last_ms += 1
                    self._counter = 0
            ms, counter = self._last_ms, self._counter
        tail = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
        value = (ms & ((1 << 48) - 1)) << 80
        value |= 0x7 << 76
        value |= counter << 64
        value |= 0b10 << 62
        value |= tail
        return str(uuid.UUID(int=value))


new_event_id = UUIDv7Generator()


def event_id_time_ms(event_id: str) -> int:
    """The creation time (ms since the epoch) encoded in a UUIDv7."""
    return uuid.UUID(event_id).int >> 80


def stable_event_id(at_ms: int, *names: str) -> str:
    """A UUIDv7 that is the same every time for the same (time, names): a re-sent periodic message dedupes.

    The timestamp field is `at_ms`, so such ids still sort with the others by time;
    the "random" bits come from a hash of the names (RFC 9562 allows any bits there).
    """
    digest = int.from_bytes(hashlib.sha256("\x1f".join(names).encode()).digest()[:10], "big")
    value = (at_ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= (digest >> 68 & 0xFFF) << 64
    value |= 0b10 << 62
    value |= digest & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))
