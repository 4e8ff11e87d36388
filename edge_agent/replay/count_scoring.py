"""Agent counts against truth counts: count error, bias, crossing precision, occupancy MAE and bias.

- count error: sum over lines and directions of |agent - truth|, over the sum of truth (0 when both are 0);
- bias: (agent - truth) / truth summed the same way (negative: the agent undercounts);
- crossing precision: agent crossings matched one-to-one to truth crossings of the same line and direction
  within `window` seconds (nearest first), over all agent crossings; recall the same over truth crossings;
- occupancy: per zone and evaluated frame, agent count - truth count; MAE and bias are their mean absolute
  value and mean, and `relative_mae` is MAE over the mean true occupancy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

Timed = tuple[str, str, float]  # (line, direction, seconds)


@dataclass(frozen=True)
class LineScore:
    line: str
    truth: dict[str, int]  # {"in": n, "out": n}
    agent: dict[str, int]

    @property
    def truth_total(self) -> int:
        return self.truth["in"] + self.truth["out"]

    @property
    def abs_error(self) -> int:
        return sum(abs(self.agent[d] - self.truth[d]) for d in ("in", "out"))

    @property
    def signed_error(self) -> int:
        return sum(self.agent[d] - self.truth[d] for d in ("in", "out"))


@dataclass(frozen=True)
class CrossingMatch:
    matched: int
    agent: int
    truth: int

    @property
    def precision(self) -> float:
        return self.matched / self.agent if self.agent else 1.0

    @property
    def recall(self) -> float:
        return self.matched / self.truth if self.truth else 1.0


@dataclass(frozen=True)
class OccupancyScore:
    mae: float
    bias: float
    mean_truth: float
    samples: int

    @property
    def relative_mae(self) -> float:
        return self.mae / self.mean_truth if self.mean_truth else 0.0


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else (0.0 if numerator == 0 else float("inf"))


def count_error(scores: Iterable[LineScore]) -> tuple[float, float]:
    """(aggregate count error, bias) over `scores`."""
    scores = list(scores)
    truth = sum(s.truth_total for s in scores)
    return ratio(sum(s.abs_error for s in scores), truth), ratio(sum(s.signed_error for s in scores), truth)


def line_scores(truth: Iterable[Timed], agent_counts: Mapping[str, Mapping[str, int]]) -> list[LineScore]:
    """One LineScore per line of `agent_counts` (every configured line, crossed or not)."""
    tally = {line: {"in": 0, "out": 0} for line in agent_counts}
    for line, direction, _ in truth:
        tally[line][direction] += 1
    return [LineScore(line, tally[line], dict(agent_counts[line])) for line in agent_counts]


def match_crossings(agent: Iterable[Timed], truth: Iterable[Timed], window: float = 1.0) -> CrossingMatch:
    """One-to-one matching of agent to truth crossings (same line and direction, |dt| <= window), closest first."""
    agent, truth = list(agent), list(truth)
    pairs = sorted(
        (abs(a[2] - t[2]), ai, ti)
        for ai, a in enumerate(agent)
        for ti, t in enumerate(truth)
        if a[:2] == t[:2] and abs(a[2] - t[2]) <= window
    )
    used_agent, used_truth = set(), set()
    for _, ai, ti in pairs:
        if ai not in used_agent and ti not in used_truth:
            used_agent.add(ai)
            used_truth.add(ti)
    return CrossingMatch(len(used_agent), len(agent), len(truth))


def occupancy_score(
    agent: Mapping[int, Mapping[str, int]], truth: Mapping[int, Mapping[str, int]], frames: Iterable[int]
) -> OccupancyScore:
    """Agent against truth occupancy over `frames` (every zone of the truth's frames)."""
    differences, truths = [], []
    for frame in frames:
        for zone, true_count in truth.get(frame, {}).items():
            differences.append(agent.get(frame, {}).get(zone, 0) - true_count)
            truths.append(true_count)
    if not differences:
        return OccupancyScore(0.0, 0.0, 0.0, 0)
    n = len(differences)
    return OccupancyScore(sum(map(abs, differences)) / n, sum(differences) / n, sum(truths) / n, n)
