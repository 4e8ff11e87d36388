"""The clip's clock: replayed frames, door events and alerts all read clip time, however fast the replay runs."""

from __future__ import annotations

from edge_agent.clock import Clock, FakeClock


class ClipClock(FakeClock):
    """Reads the time of the clip: it starts at a real clock's readings and moves only as the replay does."""

    @classmethod
    def starting_at(cls, clock: Clock) -> ClipClock:
        return cls(wall=clock.wall(), monotonic=clock.monotonic())

    def move_to(self, wall: float) -> None:
        """Forward to `wall` (both readings); never backwards."""
        step = wall - self.wall()
        if step > 0:
            self.advance(step)
