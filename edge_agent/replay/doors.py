"""Scripted door events for `edge-agent replay --door-events`: DoorRules + TailgatingFusion on the clip's clock.

A door events file has one JSON object per line: a door event in the generic format of
docs/access-control.md plus `at_clip_s`, the moment on the clip's timeline it happens:

    {"at_clip_s": 6.0, "type": "access.granted", "door": "main-gate", "direction": "in", "card": "4010001"}

The whole file is checked before the clip is decoded; a bad line is an error naming the
file, the line and the field. Cards and PINs are tokenized with the config's site key
when the file is read, as an adapter would, and never kept. Events are fed to the rules at
their clip time, between frames; the door rules, the fusion and the alert factory all read
a `ClipClock` that follows the frames, so held-open timers, tailgating windows and alert
times are clip time however fast the replay runs.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from edge_agent.config import AgentConfig
from edge_agent.credentials import CredentialTokenizer, tokenizer_for
from edge_agent.events import AlertFactory, AlertSink, DoorEvent
from edge_agent.replay.clip_clock import ClipClock
from edge_agent.rules.door import DoorRules
from edge_agent.rules.fusion import TailgatingFusion
from edge_agent.sources.access.base import Rejected
from edge_agent.sources.access.normalize import EventContext, parse_generic

ADAPTER_ID = "replay"
DoorEventsSource = str | Path | Iterable[dict]


@dataclass(frozen=True)
class ScriptedDoorEvent:
    at_clip_s: float
    event: DoorEvent  # credentials already tokenized; edge_time set when fed


def load_door_events(source: DoorEventsSource, config: AgentConfig) -> list[ScriptedDoorEvent]:
    """Every event of a JSON-lines file (or of a list of dicts), checked and tokenized, in clip-time order."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"door events file {path} cannot be read: {exc}") from None
        items = [(f"{path.name} line {n}", text) for n, text in enumerate(lines, 1) if text.strip()]
    else:
        items = [(f"door_events[{n}]", item) for n, item in enumerate(source)]
    known_doors = {door.id for door in config.access.doors}
    tokenizer = tokenizer_for(config.access)
    scripted = [_scripted(where, item, tokenizer, known_doors) for where, item in items]
    return sorted(scripted, key=lambda s: s.at_clip_s)


def _scripted(where: str, item, tokenizer: CredentialTokenizer | None, known_doors: set[str]) -> ScriptedDoorEvent:
    if isinstance(item, str):
        try:
            item = json.loads(item)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: invalid JSON at column {exc.colno}: {exc.msg}") from None
    if not isinstance(item, dict):
        raise ValueError(f"{where}: expected a JSON object with at_clip_s and a door event")
    fields = dict(item)
    at = fields.pop("at_clip_s", None)
    if isinstance(at, bool) or not isinstance(at, (int, float)) or not math.isfinite(at) or at < 0:
        raise ValueError(f"{where}.at_clip_s: required, seconds from the start of the clip (a number >= 0)")
    if "time" in fields:
        raise ValueError(f"{where}.time: a replayed event is timed by at_clip_s only; remove time")
    if tokenizer is None and ("card" in fields or "pin" in fields):
        raise ValueError(f"{where}: has a card or pin but the config sets no access.site_key_file to tokenize it with")
    try:
        event = parse_generic(fields, EventContext(ADAPTER_ID, 0.0, tokenizer), where)
    except Rejected as exc:
        raise ValueError(exc.detail) from None
    if event.door not in known_doors:
        raise ValueError(f"{where}.door: unknown door {event.door!r} (configured: {sorted(known_doors)})")
    return ScriptedDoorEvent(float(at), event)


class DoorScript:
    """Feeds scripted events to DoorRules and TailgatingFusion at their clip times; the fusion hears the engine."""

    def __init__(
        self,
        config: AgentConfig,
        events: list[ScriptedDoorEvent],
        factory: AlertFactory,
        sink: AlertSink,
        clock: ClipClock,
        engine,
    ):
        self.clock = clock
        self.start_wall = clock.wall()
        self.rules = DoorRules(
            config.access, factory, sink, clock, config.device.timezone, tokenizer=tokenizer_for(config.access)
        )
        self.fusion = TailgatingFusion(config.access, factory, sink, clock)
        engine.add_crossing_listener(self.fusion.on_crossing)
        self._pending = deque(events)
        self.fed = 0

    def advance_to(self, wall: float) -> None:
        """Feed every event due by `wall` at its own time, then move the clock to `wall` and tick the rules."""
        while self._pending and self.start_wall + self._pending[0].at_clip_s <= wall:
            scripted = self._pending.popleft()
            self.clock.move_to(self.start_wall + scripted.at_clip_s)
            event = dataclasses.replace(scripted.event, edge_time=self.clock.wall())
            self.rules.on_event(event)
            self.fusion.on_door_event(event)
            self.fed += 1
        self.clock.move_to(wall)
        self.rules.tick()
        self.fusion.tick()

    def finish(self) -> None:
        """End of the replay: judge the crossings still waiting for a late grant."""
        self.fusion.flush()

    def summary(self) -> dict[str, int]:
        return {
            "fed": self.fed,
            "not_reached": len(self._pending),
            "covered": self.fusion.covered,
            "tailgating": self.fusion.tailgating,
        }
