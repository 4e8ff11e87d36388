"""What OSDP readers report, as door events: the event direction of the OSDP adapter (osdp.py).

Card reads (ASCII, or Wiegand / raw bits turned into a card number), keypad entries (collected
up to '#', cleared after KEYPAD_TIMEOUT_S, at most MAX_PIN_LENGTH keys), local status (tamper,
power), a door-contact input, and PD online/offline as reader.online / reader.offline. Each
reader's last known state is kept so repeated status reports raise events only on change.
Card numbers and PINs are tokenized here, on libosdp's thread, and never logged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import osdp

from edge_agent.clock import Clock
from edge_agent.config.access_adapters import OsdpReaderConfig
from edge_agent.credentials import CredentialTokenizer, wiegand_card_number
from edge_agent.events import DoorEvent
from edge_agent.sources.access.base import Rejected

log = logging.getLogger(__name__)

KEYPAD_TIMEOUT_S = 10.0
MAX_PIN_LENGTH = 16
_KEY_CHARS = {**{0x30 + d: str(d) for d in range(10)}, 0x7F: "*", 0x0D: "#"}
_TAMPER, _POWER = 0, 1  # entries of a local status report


@dataclass
class ReaderState:
    """What we last knew about one PD, so repeated status reports raise events only on change."""

    config: OsdpReaderConfig
    reader_id: str
    online: bool | None = None
    tamper: bool = False
    power_fault: bool = False
    door_open: bool | None = None
    keys: list[str] = field(default_factory=list)
    keys_started: float = 0.0


class OsdpEvents:
    """translate(reader, event) -> door events; readers_online() for the adapter's figures."""

    def __init__(
        self,
        adapter_id: str,
        readers: list[ReaderState],
        clock: Clock,
        tokenizer: CredentialTokenizer,
        count: Callable[[str], object],
        set_online: Callable[[bool], object],
    ):
        """`count(key)` and `set_online(online)`: the adapter's counters and link state."""
        self.adapter_id = adapter_id
        self.readers = readers
        self.clock = clock
        self.tokenizer = tokenizer
        self._count = count
        self._set_online = set_online
        self._lock = threading.Lock()  # the readers' online states: libosdp's thread writes, snapshots read

    def readers_online(self) -> dict[str, bool]:
        with self._lock:
            return {r.reader_id: bool(r.online) for r in self.readers}

    def translate(self, reader: ReaderState, event: dict) -> list[DoorEvent]:
        """The door events one libosdp event dict means (none, one, or several); raises Rejected."""
        kind = event.get("event")
        if kind == osdp.Event.CardRead:
            return [self._card_read(reader, event)]
        if kind == osdp.Event.KeyPress:
            return self._keypress(reader, event)
        if kind == osdp.Event.Status:
            return self._status(reader, event)
        if kind == osdp.Event.Notification:
            return self._notification(reader, event)
        raise Rejected("unmapped_event", f"OSDP event kind {kind!r} from reader {reader.reader_id} is not mapped")

    def _event(self, reader: ReaderState, event_type: str, **fields) -> DoorEvent:
        return DoorEvent(
            type=event_type,
            door=reader.config.door,
            adapter=self.adapter_id,
            edge_time=self.clock.wall(),
            reader=reader.reader_id,
            direction=reader.config.direction,
            **fields,
        )

    def _card_read(self, reader: ReaderState, event: dict) -> DoorEvent:
        data, fmt = event.get("data"), event.get("format")
        if not isinstance(data, (bytes, bytearray)) or not data:
            raise Rejected("invalid_event", f"card read from reader {reader.reader_id} without data")
        if fmt == osdp.CardFormat.ASCII:
            try:
                number = bytes(data).decode("ascii").strip()
            except UnicodeDecodeError:
                raise Rejected(
                    "invalid_event", f"ASCII card read from reader {reader.reader_id} is not ASCII"
                ) from None
            if not number:
                raise Rejected("invalid_event", f"empty ASCII card read from reader {reader.reader_id}")
            raw = {"osdp_event": "card_read", "format": "ascii"}
        else:
            bits = event.get("length")
            if not isinstance(bits, int):
                raise Rejected("invalid_event", f"raw card read from reader {reader.reader_id} without a bit length")
            try:
                number = wiegand_card_number(bytes(data), bits)
            except ValueError as exc:
                raise Rejected("invalid_event", f"card read from reader {reader.reader_id}: {exc}") from None
            raw = {
                "osdp_event": "card_read",
                "format": "wiegand" if fmt == osdp.CardFormat.Wiegand else "raw",
                "bits": bits,
            }
        return self._event(reader, reader.config.card_read_as, credential_token=self.tokenizer.card(number), raw=raw)

    def _keypress(self, reader: ReaderState, event: dict) -> list[DoorEvent]:
        data = event.get("data")
        if not isinstance(data, (bytes, bytearray)):
            raise Rejected("invalid_event", f"keypress from reader {reader.reader_id} without data")
        now = self.clock.monotonic()
        if reader.keys and now - reader.keys_started > KEYPAD_TIMEOUT_S:
            reader.keys.clear()
            self._count("keypad_timeouts")
        out = []
        for byte in bytes(data):
            key = _KEY_CHARS.get(byte)
            if key is None:
                reader.keys.clear()
                raise Rejected(
                    "invalid_event", f"keypress from reader {reader.reader_id}: byte 0x{byte:02x} is not a key"
                )
            if key == "#":
                if reader.keys:
                    out.append(
                        self._event(
                            reader,
                            "keypad",
                            credential_token=self.tokenizer.pin("".join(reader.keys)),
                            raw={"osdp_event": "keypress", "keys": len(reader.keys)},
                        )
                    )
                reader.keys.clear()
                continue
            if not reader.keys:
                reader.keys_started = now
            if len(reader.keys) >= MAX_PIN_LENGTH:
                reader.keys.clear()
                raise Rejected(
                    "invalid_event", f"keypad entry at reader {reader.reader_id} longer than {MAX_PIN_LENGTH} keys"
                )
            reader.keys.append(key)
        return out

    def _status(self, reader: ReaderState, event: dict) -> list[DoorEvent]:
        report = event.get("report")
        if not isinstance(report, (bytes, bytearray)):
            raise Rejected("invalid_event", f"status report from reader {reader.reader_id} without entries")
        kind = event.get("type")
        raw = {"osdp_event": "status", "report_type": kind}
        out = []
        if kind == osdp.StatusReportType.Local:
            if len(report) > _TAMPER and bool(report[_TAMPER]) != reader.tamper:
                reader.tamper = bool(report[_TAMPER])
                out.append(self._event(reader, "tamper" if reader.tamper else "tamper.cleared", raw=raw))
            if len(report) > _POWER and bool(report[_POWER]) != reader.power_fault:
                reader.power_fault = bool(report[_POWER])
                out.append(self._event(reader, "power.fault" if reader.power_fault else "power.restored", raw=raw))
        elif kind == osdp.StatusReportType.Input:
            index = reader.config.door_contact_input
            if index is not None and len(report) > index and bool(report[index]) != reader.door_open:
                reader.door_open = bool(report[index])
                out.append(self._event(reader, "door.opened" if reader.door_open else "door.closed", raw=raw))
        return out

    def _notification(self, reader: ReaderState, event: dict) -> list[DoorEvent]:
        kind, value = event.get("type"), bool(event.get("arg0"))
        if kind == osdp.EventNotification.SecureChannelStatus:
            self._count("secure_channel_up" if value else "secure_channel_down")
            return []
        if kind != osdp.EventNotification.PeripheralDeviceStatus:
            return []
        with self._lock:
            if reader.online == value:
                return []
            reader.online = value
            self._set_online(all(r.online for r in self.readers))
        if value:
            log.info(
                "adapter %s: reader %s online", self.adapter_id, reader.reader_id, extra={"adapter": self.adapter_id}
            )
        else:
            log.warning(
                "adapter %s: reader %s offline", self.adapter_id, reader.reader_id, extra={"adapter": self.adapter_id}
            )
        return [self._event(reader, "reader.online" if value else "reader.offline", raw={"osdp_event": "pd_status"})]
