"""Fault points: named places in the long-lived threads where a test makes the thread hang or die, once.

The watchdog tests (tests/test_watchdogs.py) break a real thread inside a real agent and watch the
agent notice: the publisher's network loop, the command worker, a line-stream adapter's reader, a
camera reader inside OpenCV's read(), the metrics server's accept loop. Each of those threads passes
its point on every turn (`reached(POINT)`); a test arms a point (`arm`) and the next thread to pass it
hangs until the test releases it, or dies with `ThreadKilled`. Nothing but a test arms a point, and an
unarmed pass is one dictionary truth test, so the points cost the running agent nothing.

Whole-pipeline faults in a subprocess are the `EDGE_AGENT_FAULT` stage's job (daemon/stages.py).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

PUBLISHER = "publisher"  # publish/mqtt.py: every network-loop turn
COMMAND_WORKER = "command-worker"  # publish/commands.py: a command taken off the queue, before it runs
ADAPTER_READER = "adapter-reader"  # sources/access/line_stream.py: bytes read from the controller
CAMERA_READ = "camera-read"  # sources/camera.py: inside read(), where a real OpenCV hang happens
METRICS_SERVER = "metrics-server"  # daemon/prometheus.py: every accept-loop turn
POINTS = (PUBLISHER, COMMAND_WORKER, ADAPTER_READER, CAMERA_READ, METRICS_SERVER)
MODES = ("hang", "die")


class ThreadKilled(BaseException):
    """An injected death. Not an Exception: no `except Exception` in a thread's loop catches it, so it ends."""


@dataclass
class Fault:
    point: str
    mode: str
    fired: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None  # the thread it struck
    _gate: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        """Disarm, and let a hung thread go on (it finds itself stopped or abandoned)."""
        with _lock:
            if _armed.get(self.point) is self:
                del _armed[self.point]
        self._gate.set()


_lock = threading.Lock()
_armed: dict[str, Fault] = {}


def arm(point: str, mode: str) -> Fault:
    """The next thread to reach `point` hangs (until `release`) or dies; only that one."""
    if point not in POINTS or mode not in MODES:
        raise ValueError(f"a fault point is one of {POINTS} and a mode one of {MODES}; found {point!r}, {mode!r}")
    fault = Fault(point, mode)
    with _lock:
        _armed[point] = fault
    return fault


def reached(point: str) -> None:
    """Called by the thread at `point`; returns at once unless a test armed it."""
    if not _armed:
        return
    with _lock:
        fault = _armed.pop(point, None)
    if fault is None:
        return
    fault.thread = threading.current_thread()
    fault.fired.set()
    if fault.mode == "die":
        raise ThreadKilled(f"fault injected at {point}")
    fault._gate.wait()
