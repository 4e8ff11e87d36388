"""Welfare watches: a resident not seen at any door for too long (quiet hours not counted).

`DoorRules` resets a watch on every presence event that concerns it and advances them all on
its tick; this module holds what a watch counts, how it is built from the config (card
numbers become tokens), the alert it raises and how its count survives a reload.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_agent.clock import Clock
from edge_agent.config.access import AccessConfig, WelfareWatch
from edge_agent.credentials import CredentialTokenizer, tokenizer_for
from edge_agent.events import Alert, AlertDetails, AlertFactory, DoorEvent
from edge_agent.rules.schedule import ArmingSchedule

# Events that show a person at the door (not device health), for the welfare check.
PRESENCE_EVENTS = frozenset(
    {"access.granted", "access.denied", "credential.read", "door.opened", "door.closed", "exit_request", "keypad"}
)
_WELFARE_STEP_S = 60.0


@dataclass
class WelfareState:
    """Silence counted outside quiet hours since the watch last saw its resident."""

    watch: WelfareWatch
    tokens: frozenset[str]
    quiet: ArmingSchedule | None
    last_tick: float
    silence_s: float = 0.0
    alerted: bool = False

    def sees(self, event: DoorEvent) -> bool:
        if event.type not in PRESENCE_EVENTS:
            return False
        return (
            event.credential_token is not None and event.credential_token in self.tokens
        ) or event.door in self.watch.doors

    def advance(self, mono: float, wall: float) -> None:
        """Add the non-quiet part of the time since the last tick, in steps of at most a minute."""
        elapsed = max(0.0, mono - self.last_tick)
        self.last_tick = mono
        start = wall - elapsed
        while elapsed > 0:
            step = min(elapsed, _WELFARE_STEP_S)
            if self.quiet is None or not self.quiet.armed(start + step / 2):
                self.silence_s += step
            start += step
            elapsed -= step


def welfare_states(
    access_cfg: AccessConfig, timezone: str, tokenizer: CredentialTokenizer | None, clock: Clock
) -> list[WelfareState]:
    if any(watch.card_numbers for watch in access_cfg.welfare):
        tokenizer = tokenizer or tokenizer_for(access_cfg)
        if tokenizer is None:
            raise ValueError("welfare watches list card numbers but access.site_key_file is not set")
    states = []
    for watch in access_cfg.welfare:
        tokens = set(watch.credential_tokens)
        tokens.update(tokenizer.card(card.get_secret_value()) for card in watch.card_numbers)
        quiet = ArmingSchedule(watch.quiet_hours, timezone) if watch.quiet_hours else None
        states.append(WelfareState(watch, frozenset(tokens), quiet, clock.monotonic()))
    return states


def welfare_alert(state: WelfareState, factory: AlertFactory) -> Alert:
    watch = state.watch
    token = next(iter(state.tokens)) if len(state.tokens) == 1 else None
    details = AlertDetails(
        credential_token=token,
        door=watch.doors[0] if len(watch.doors) == 1 else None,
        duration_s=round(state.silence_s, 1),
        message=f"no door event for {watch.name} for {watch.max_silence_hours:g} h (quiet hours not counted)",
        extra={"watch": watch.name},
    )
    source = ("door", watch.doors[0]) if watch.doors else ("device", factory.device_id)
    return factory.make("welfare.check", watch.severity, source, rule=watch.name, details=details)


def carry_welfare(states: list[WelfareState], previous: list[WelfareState]) -> None:
    """Over a reload: a watch that did not change keeps its count (matched by name)."""
    by_name = {state.watch.name: state for state in previous}
    for state in states:
        kept = by_name.get(state.watch.name)
        if kept is not None and kept.watch == state.watch:
            state.silence_s, state.alerted, state.last_tick = kept.silence_s, kept.alerted, kept.last_tick
