"""libosdp's own peripheral device (a card reader) on the master side of a pty, secure channel on, for tests
that drive the agent's OSDP control panel: it does what a person at the door does and reports what it was told."""

from __future__ import annotations

import osdp

from edge_agent.credentials import wiegand26
from edge_agent.sources.access.osdp import FdChannel

SCBK = bytes.fromhex("303132333435363738393a3b3c3d3e3f")


class Reader:
    def __init__(self, fd: int, capabilities: osdp.PDCapabilities, address: int = 1, scbk: bytes = SCBK):
        info = osdp.PDInfo(address, FdChannel(fd), scbk=scbk, flags=[osdp.LibFlag.EnforceSecure])
        self.pd = osdp.PeripheralDevice(info, capabilities, log_level=osdp.LogLevel.Warning)
        self.pd.start()

    def next_command(self, timeout: float = 5.0) -> dict:
        command = self.pd.get_command(timeout)
        assert command is not None, "the reader received no command"
        return command

    def commands(self, count: int, timeout: float = 10.0) -> list[dict]:
        received = []
        while len(received) < count:
            command = self.pd.get_command(timeout)
            assert command is not None, f"the reader received {received}, expected {count} commands"
            received.append(command)
        return received

    def card(self, facility: int, number: int) -> None:
        """A 26-bit Wiegand card read."""
        event = {
            "event": osdp.Event.CardRead,
            "reader_no": 0,
            "direction": 0,
            "format": osdp.CardFormat.Wiegand,
            "length": 26,
            "data": wiegand26(facility, number),
        }
        assert self.pd.submit_event(event) is not False

    def door_contact(self, is_open: bool) -> None:
        report = bytes([int(is_open)])
        event = {"event": osdp.Event.Status, "type": osdp.StatusReportType.Input, "nr_entries": 1, "report": report}
        assert self.pd.submit_event(event) is not False

    def stop(self) -> None:
        if self.pd.thread is not None:
            self.pd.stop()
