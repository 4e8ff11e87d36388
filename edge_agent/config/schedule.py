from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from edge_agent.config.base import Section
from edge_agent.config.policy import REMOTE

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")


class TimeRange(Section):
    """A daily window in the site's time zone; end before start wraps past midnight."""

    remote_change: ClassVar[str] = REMOTE

    days: list[Day] = Field(
        default_factory=lambda: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        description="Days the window starts on.",
    )
    start: str = Field(description="HH:MM, inclusive.")
    end: str = Field(description="HH:MM, exclusive; 24:00 for end of day.")

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError(f"expected HH:MM (00:00 to 24:00), found {value!r}")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> TimeRange:
        if self.start == "24:00":
            raise ValueError("start 24:00 is the end of a day; a window starting at midnight begins at 00:00")
        if self.start == self.end:
            raise ValueError(
                f"start and end are both {self.start}: the window would be empty (use 00:00 to 24:00 for a whole day)"
            )
        return self
