"""Commands to OSDP readers: waiting for libosdp to finish one, and refusing what a reader would refuse.

libosdp (3.x) reports each submitted command's fate through the control panel's
command-completion callback: done (the reader acknowledged it), failed (it NAKed it),
flushed or aborted. The callback names the command only by its contents, so a waiter is
matched by contents, first come first served: libosdp keeps one FIFO per reader and the
adapter registers waiters in submission order.

A NAK costs more than the command: libosdp 3.2 then drops the reader offline and backs
off (300 s) before probing it again, and card reads at that door stop meanwhile. So a
command the reader's own capability report (PDCAP) says it cannot take — an output or LED
number it does not have, a buzzer it lacks — is refused here and never sent. Timers are
checked too: libosdp's Python binding keeps only the low 8 bits of a timer (25.5 s).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import osdp

MAX_TIMER = 255  # 100 ms units: what survives libosdp's Python binding (it casts timers to uint8)
ABANDONED_KEEP_S = 60.0  # a timed-out command whose completion never comes stops being matched after this

_COMPLETION_PROBLEMS = {
    osdp.CompletionStatus.Failed: "the reader refused it (NAK); libosdp now takes the reader offline for a while",
    osdp.CompletionStatus.Flushed: "it was flushed from the reader's queue before it was sent",
    osdp.CompletionStatus.Aborted: "libosdp aborted it",
}
_COLOUR_NAMES = {value: name.lower() for name, value in vars(osdp.CommandLEDColor).items() if not name.startswith("_")}
_CAPABILITIES = {  # command → (PDCAP function, what it counts, the command's item number key or None)
    osdp.Command.Output: (osdp.Capability.OutputControl, "output", "output_no"),
    osdp.Command.LED: (osdp.Capability.LEDControl, "LED", "led_number"),
    osdp.Command.Buzzer: (osdp.Capability.AudibleControl, "buzzer", None),
}


def describe(command: dict) -> str:
    """A short name for logs and errors: which command, which item, its timer."""
    kind = command.get("command")
    if kind == osdp.Command.Output:
        return (
            f"output {command.get('output_no')} command (control code {command.get('control_code')}, "
            f"timer {command.get('timer_count')})"
        )
    if kind == osdp.Command.LED:
        colour = _COLOUR_NAMES.get(command.get("on_color"), command.get("on_color"))
        return f"LED {command.get('led_number')} command (colour {colour}, timer {command.get('timer_count')})"
    if kind == osdp.Command.Buzzer:
        return f"buzzer command (tone {command.get('control_code')}, {command.get('rep_count')} beep(s))"
    return f"command {kind!r}"


def shape_problem(command: dict) -> str | None:
    """What libosdp would send differently from what was asked (a timer past 8 bits)."""
    for key in ("timer_count", "on_count", "off_count", "rep_count"):
        value = command.get(key)
        if isinstance(value, int) and not 0 <= value <= MAX_TIMER:
            return f"{key} {value} is outside 0..{MAX_TIMER} (libosdp's binding would send only its low 8 bits)"
    return None


def capability_problem(command: dict, items: Callable[[int], int]) -> str | None:
    """Why the reader would NAK `command`, judged by `items(function code)` from its PDCAP; None when it can take it."""
    entry = _CAPABILITIES.get(command.get("command"))
    if entry is None:
        return None
    function, what, number_key = entry
    have = items(function)
    number = command.get(number_key, 0) if number_key else 0
    if number < have:
        return None
    if have == 0:
        return f"the reader reports no {what} control in its capabilities (PDCAP)"
    return (
        f"the reader reports {have} {what}(s) in its capabilities (PDCAP), numbered from 0; there is no {what} {number}"
    )


def completion_problem(status: int) -> str | None:
    if status == osdp.CompletionStatus.Ok:
        return None
    return _COMPLETION_PROBLEMS.get(status, f"libosdp reported completion status {status}")


def _same_command(sent: dict, done: dict) -> bool:
    return sent.get("command") == done.get("command") and all(
        sent[key] == value for key, value in done.items() if key in sent
    )


@dataclass(eq=False)
class Waiter:
    """One submitted command: `done` is set once libosdp reports it (`status`) or the panel stops (`error`)."""

    address: int
    command: dict
    done: threading.Event = field(default_factory=threading.Event)
    status: int | None = None
    error: str | None = None
    abandoned_at: float | None = None


class CommandWaiters:
    """Commands submitted and not yet reported, across readers. Never held while calling into libosdp."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[Waiter] = []

    def add(self, address: int, command: dict) -> Waiter:
        waiter = Waiter(address, dict(command))
        with self._lock:
            cutoff = time.monotonic() - ABANDONED_KEEP_S
            self._pending = [w for w in self._pending if w.abandoned_at is None or w.abandoned_at > cutoff]
            self._pending.append(waiter)
        return waiter

    def remove(self, waiter: Waiter) -> None:
        with self._lock:
            if waiter in self._pending:
                self._pending.remove(waiter)

    def abandon(self, waiter: Waiter) -> bool:
        """The sender stopped waiting; keep matching its completion so it is not taken for a later one's.
        False when the command was reported after all (check `status`)."""
        with self._lock:
            if waiter.done.is_set():
                return False
            waiter.abandoned_at = time.monotonic()
            return True

    def complete(self, address: int, command: dict, status: int) -> bool:
        """libosdp's completion callback (its thread, or the flushing one): wake the first matching waiter."""
        with self._lock:
            for waiter in self._pending:
                if waiter.address == address and _same_command(waiter.command, command):
                    self._pending.remove(waiter)
                    waiter.status = status
                    waiter.done.set()
                    return True
        return False

    def fail_all(self, reason: str) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        for waiter in pending:
            waiter.error = reason
            waiter.done.set()

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)
