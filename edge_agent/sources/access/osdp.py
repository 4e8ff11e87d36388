"""OSDP control panel (IEC 60839-11-5) over serial / RS-485, using libosdp.

The adapter runs libosdp's ControlPanel on the configured device and turns
what the readers (PDs) report into door events (osdp_events.py: card reads,
keypad entries, local status, a door-contact input, PD online/offline). A
reader with an SCBK file talks over the secure channel only. Card data is
tokenized in the libosdp callback and never logged; libosdp's own logging
stays at warnings, where it prints no packet contents. An event whose alerts
could not be stored waits in a `StoreRetryQueue` (a PD cannot be asked to
resend), so libosdp's thread blocks on a failing store at most once, not once
per event.

`send_command` is the other direction, for local actions (actions/osdp_output.py): an
output, LED or buzzer command to one reader, waited for until the reader acknowledges it
(osdp_commands.py says what is refused before sending, and why).
"""

from __future__ import annotations

import errno
import logging
import os
import threading

import osdp

from edge_agent.config.access_adapters import OsdpAdapterConfig
from edge_agent.config.base import read_secret_bytes
from edge_agent.sources.access.base import AccessAdapter, Rejected
from edge_agent.sources.access.line_stream import open_serial
from edge_agent.sources.access.osdp_commands import (
    CommandWaiters,
    capability_problem,
    completion_problem,
    describe,
    shape_problem,
)
from edge_agent.sources.access.osdp_events import OsdpEvents, ReaderState
from edge_agent.sources.access.store_retry import StoreRetryQueue

log = logging.getLogger(__name__)


class FdChannel(osdp.Channel):
    """A libosdp channel over a non-blocking file descriptor (serial port, pty or socket)."""

    def __init__(self, fd: int):
        super().__init__()
        self.fd = fd
        os.set_blocking(fd, False)

    def read(self, max_bytes: int) -> bytes:
        try:
            return os.read(self.fd, max_bytes)
        except BlockingIOError:
            return b""
        except OSError as exc:  # EIO: the other end of a pty hung up; libosdp times the PD out
            if exc.errno not in (errno.EIO, errno.EBADF, errno.ECONNRESET):
                log.debug("OSDP channel read failed: %s", exc)
            return b""

    def write(self, buf: bytes) -> int:
        try:
            return os.write(self.fd, buf)
        except (BlockingIOError, OSError):
            return 0

    def flush(self) -> None:
        pass


class OsdpAdapter(AccessAdapter):
    type = "osdp"

    def __init__(self, config: OsdpAdapterConfig, on_event, clock, tokenizer):
        super().__init__(config, on_event, clock, tokenizer)
        self.readers = [ReaderState(r, r.reader or f"{config.id}-{r.address}") for r in config.readers]
        self.events = OsdpEvents(self.id, self.readers, clock, tokenizer, self.count, self.set_online)
        self._scbks = [read_secret_bytes(r.scbk_file) if r.scbk_file else None for r in config.readers]
        for reader, scbk in zip(config.readers, self._scbks):
            if scbk is not None and len(scbk) != 16:
                raise ValueError(
                    f"adapter {config.id}: SCBK of reader {reader.address} must be 16 bytes (found {len(scbk)})"
                )
        self._fd: int | None = None
        self._cp: osdp.ControlPanel | None = None
        self._submit_lock = threading.Lock()  # waiters are registered in libosdp's queue order
        self._waiters = CommandWaiters()
        self._tracks_completion = False
        self.store_retry = StoreRetryQueue(self)

    def start(self) -> None:
        self.store_retry.start()
        stream = open_serial(self.config.device, self.config.baud)
        self._fd = stream.fd
        channel = FdChannel(stream.fd)
        infos = []
        for reader, scbk in zip(self.readers, self._scbks):
            flags = [osdp.LibFlag.EnableNotification]
            if scbk is not None:
                flags.append(osdp.LibFlag.EnforceSecure)
            infos.append(osdp.PDInfo(reader.config.address, channel, scbk=scbk, name=reader.reader_id, flags=flags))
        try:
            self._cp = osdp.ControlPanel(
                infos,
                log_level=osdp.LogLevel.Warning,
                event_handler=self._on_osdp_event,
                command_completion_handler=self._on_command_done,
            )
            # an older libosdp has no completion callback: a command then counts as sent once queued
            self._tracks_completion = hasattr(self._cp.ctx, "set_command_completion_callback")
            self._cp.start()
        except BaseException:
            self.stop()
            raise
        log.info(
            "adapter %s: OSDP control panel on %s with %d reader(s)",
            self.id,
            self.config.device,
            len(self.readers),
            extra={"adapter": self.id},
        )

    def stop(self, timeout: float = 5.0) -> None:
        cp, self._cp = self._cp, None
        if cp is not None and cp.thread is not None:
            cp.stop()
        self._waiters.fail_all("the control panel stopped")
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None
        self.store_retry.stop(timeout)
        self.set_online(False)

    def alive(self) -> bool:
        cp = self._cp
        return cp is not None and cp.thread is not None and cp.thread.is_alive()

    def snapshot(self) -> dict:
        figures = super().snapshot()
        figures["readers_online"] = self.events.readers_online()
        figures["store_queue_depth"] = self.store_retry.depth
        return figures

    # -- commands to readers (any thread) ---------------------------------------

    def send_command(self, address: int, command: dict, timeout: float) -> None:
        """Send one libosdp command dict to the reader at `address` and wait (up to `timeout` s) until it
        acknowledges it. Raises RuntimeError (refused, NAKed, flushed) or TimeoutError, naming what and where."""
        what = f"adapter {self.id}: {describe(command)} to reader {address}"
        cp = self._cp
        if cp is None or cp.thread is None or not cp.thread.is_alive():
            raise RuntimeError(f"{what}: the OSDP control panel is not running")
        addresses = [reader.config.address for reader in self.readers]
        if address not in addresses:
            raise RuntimeError(f"{what}: no such reader on this adapter (readers: {addresses})")
        problem = shape_problem(command)
        if problem is None and not cp.is_online(address):
            raise RuntimeError(f"{what}: the reader is offline")
        if problem is None:
            problem = capability_problem(command, lambda function: cp.check_capability(address, function)[1])
        if problem is not None:
            self.count("commands_refused")
            raise RuntimeError(f"{what}: not sent: {problem}")
        waiter = self._submit(cp, address, command, what)
        if waiter is None:
            self.count("commands_sent")
            return
        if not waiter.done.wait(timeout) and self._waiters.abandon(waiter):
            self._flush_late(cp, address)
            self.count("commands_timed_out")
            raise TimeoutError(
                f"{what}: no acknowledgement within {timeout:.3g} s; commands still queued for the reader were "
                "flushed (libosdp retries one already on the wire until it declares the reader offline, ~8 s)"
            )
        problem = waiter.error or completion_problem(waiter.status)
        if problem is not None:
            self.count("commands_failed")
            raise RuntimeError(f"{what}: {problem}")
        self.count("commands_sent")

    def _submit(self, cp: osdp.ControlPanel, address: int, command: dict, what: str):
        with self._submit_lock:
            waiter = self._waiters.add(address, command) if self._tracks_completion else None
            try:
                accepted = cp.submit_command(address, command)
            except Exception as exc:  # the binding raises SystemError/ValueError on a malformed dict
                accepted, detail = False, f"libosdp rejected it: {exc}"
            else:
                detail = "libosdp did not queue it (the reader went offline, or its command queue is full)"
            if not accepted:
                if waiter is not None:
                    self._waiters.remove(waiter)
                self.count("commands_failed")
                raise RuntimeError(f"{what}: {detail}")
        return waiter

    def _flush_late(self, cp: osdp.ControlPanel, address: int) -> None:
        """A reader that did not answer in time may come back minutes later: its queued commands must not run then.
        (libosdp cannot withdraw the one on the wire: it retries it, then reports it failed when it gives up.)"""
        try:
            cp.flush_commands(address)
        except Exception:
            log.warning(
                "adapter %s: flushing reader %s's commands failed", self.id, address, extra={"adapter": self.id}
            )

    def _on_command_done(self, address: int, command: dict, status: int) -> None:
        try:
            self._waiters.complete(address, command, status)
        except Exception:  # never let bookkeeping unwind into libosdp
            self.count("internal_errors")
            log.exception("adapter %s: OSDP command completion failed", self.id, extra={"adapter": self.id})

    # -- libosdp callback (runs on the control panel's thread) ------------------

    def _on_osdp_event(self, pd_index: int, event: dict) -> int:
        try:
            reader = self.readers[pd_index]
            for door_event in self.events.translate(reader, event):
                self.store_retry.submit(door_event)
        except Rejected as error:
            self.reject(error)
        except Exception:  # never let one odd event unwind into libosdp
            self.count("internal_errors")
            log.exception("adapter %s: OSDP event handling failed", self.id, extra={"adapter": self.id})
        return 0
