"""What the outbox hands out: rows for the publisher and the CLI, and its statistics."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class OutboxRow:
    seq: int
    event_id: str
    topic: str
    payload: bytes
    cls: str
    created_at: float
    expires_at: float | None
    attempts: int
    state: str = "pending"
    delivered_at: float | None = None


@dataclass(frozen=True)
class OutboxStats:
    """Counts by state and class, ages and drops; `to_dict()` is the telemetry `outbox` section."""

    pending: dict[str, int]
    inflight: dict[str, int]
    delivered: dict[str, int]
    rows: int
    bytes: int
    oldest_pending_age_s: float | None
    last_delivery_at: float | None
    drops: dict[str, int]
    drops_by_reason: dict[str, int]
    low_disk: bool = False
    by_state: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        by_state = {
            "pending": sum(self.pending.values()),
            "inflight": sum(self.inflight.values()),
            "delivered": sum(self.delivered.values()),
        }
        object.__setattr__(self, "by_state", by_state)

    @property
    def undelivered(self) -> int:
        return self.by_state["pending"] + self.by_state["inflight"]

    def to_dict(self) -> dict:
        return {
            "rows": self.rows,
            "bytes": self.bytes,
            "by_state": dict(self.by_state),
            "pending": dict(self.pending),
            "inflight": dict(self.inflight),
            "delivered": dict(self.delivered),
            "oldest_pending_age_s": None if self.oldest_pending_age_s is None else round(self.oldest_pending_age_s, 3),
            "last_delivery_at": self.last_delivery_at,
            "drops": dict(self.drops),
            "drops_by_reason": dict(self.drops_by_reason),
            "low_disk": self.low_disk,
        }
