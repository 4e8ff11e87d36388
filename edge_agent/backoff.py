"""Retry delays: exponential growth with full jitter, so a fleet does not stampede a restarted peer.

Delay for attempt n (0-based) is uniform in [0, min(max_delay, min_delay * 2**n)]
("full jitter", AWS Architecture Blog, "Exponential Backoff And Jitter"), never below
`floor`, so a client never spins. The ceiling, not the delay, is what grows. The one
back-off of the agent: broker reconnects, camera reopen attempts, access adapter restarts.
The random source is passed in so tests can fix it.
"""

from __future__ import annotations

import random

FLOOR_S = 0.05


class FullJitterBackoff:
    def __init__(self, min_delay: float, max_delay: float, rng: random.Random | None = None, *, floor: float = FLOOR_S):
        """`floor`: the shortest delay ever returned (a camera waits at least its `reconnect_min_delay`)."""
        if min_delay <= 0 or max_delay < min_delay:
            raise ValueError("need 0 < min_delay <= max_delay")
        self.min_delay = min_delay
        self.max_delay = max_delay
        self.floor = min(floor, max_delay)
        self._rng = rng or random.Random()
        self.attempt = 0

    def ceiling(self, attempt: int) -> float:
        # Cap the exponent: 2**64 seconds is already past any max_delay.
        return min(self.max_delay, self.min_delay * 2 ** min(attempt, 64))

    def next_delay(self) -> float:
        delay = max(self.floor, self._rng.uniform(0.0, self.ceiling(self.attempt)))
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0
