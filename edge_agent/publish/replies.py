"""Command replies waiting for a broker connection: in memory, bounded, oldest dropped first.

A reply is not worth keeping across a restart (the sender asks again), so it never touches the
outbox; but it must not be lost to a connection that is merely not up yet. The revert of a broker
change answers `set-config` through a publisher that has only just started: dropping the reply
then left the sender waiting for good. A publisher that replaces another takes over what the old
one still held (`daemon/delivery.py`).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

log = logging.getLogger(__name__)

HELD_REPLIES = 32  # commands are queued 8 deep (publish/commands.py): this is several rounds of them

Reply = tuple[str, "str | bytes", int, bool, object]  # topic, payload, qos, retain, v5 properties (or None)


class HeldReplies:
    """Filled by any thread (`hold`), emptied by the publisher's own thread (`send`) while connected."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._replies: deque[Reply] = deque()
        self.dropped = 0

    def hold(self, topic: str, payload: str | bytes, qos: int, retain: bool, properties=None) -> None:
        with self._lock:
            if len(self._replies) >= HELD_REPLIES:
                self._replies.popleft()
                self.dropped += 1
                log.warning("a command reply waited too long for the broker and was dropped (%d so far)", self.dropped)
            self._replies.append((topic, payload, qos, retain, properties))

    def send(self, publish: Callable[..., object]) -> None:
        """Hand every held reply to `publish(topic, payload, qos=, retain=, properties=)` (paho's), oldest first."""
        while True:
            with self._lock:
                if not self._replies:
                    return
                topic, payload, qos, retain, properties = self._replies.popleft()
            publish(topic, payload, qos=qos, retain=retain, properties=properties)

    def adopt(self, predecessor: HeldReplies) -> None:
        """Take over what a replaced publisher still held, ahead of anything held here since."""
        with predecessor._lock:
            taken, predecessor._replies = predecessor._replies, deque()
        with self._lock:
            self._replies.extendleft(reversed(taken))
            while len(self._replies) > HELD_REPLIES:
                self._replies.popleft()
                self.dropped += 1

    def __len__(self) -> int:
        return len(self._replies)
