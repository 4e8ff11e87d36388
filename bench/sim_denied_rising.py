#!/usr/bin/env python3
"""False warnings of door.denied_rising, measured: the real rule fed Poisson denials at a steady rate for months.

    .venv/bin/python bench/sim_denied_rising.py                        # the table in docs/access-control.md
    .venv/bin/python bench/sim_denied_rising.py --rates 30 --days 120 --p-value 1e-3

Every denial is from its own card (no retries), on a fake clock with the access service's tick
every minute, the rule's defaults otherwise. Whatever the rule starts is a false warning: nothing
rose. The count includes the one warning a busy door may give in its first window, judged by the
prior alone. The analytic rate (rules/denials.py) is λ · P(X = k* − 1; μ) per hour, before
`clear_after` and `cooldown` fold close excursions into one warning.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_agent.clock import FakeClock
from edge_agent.config.access import AccessConfig
from edge_agent.events import AlertFactory, DoorEvent, ListSink
from edge_agent.rules.denials import DenialRising

TICK_S = 60.0


def false_warnings(per_hour: float, days: float, p_value: float, seed: int) -> tuple[int, int]:
    """(warnings started, denials) over `days` of Poisson denials at `per_hour`."""
    clock, sink = FakeClock(), ListSink()
    access = AccessConfig.model_validate({"doors": [{"id": "gate"}], "denied_rising": {"p_value": p_value}})
    doors = {door.id: door for door in access.doors}
    rule = DenialRising(access.denied_rising, doors, AlertFactory("bench", "bench", clock), sink.emit, clock)
    rng, end, next_tick, denials = random.Random(seed), clock.wall() + days * 86400, clock.wall() + TICK_S, 0
    while clock.wall() < end:
        arrival = clock.wall() + rng.expovariate(per_hour / 3600)
        while next_tick < arrival:
            clock.advance(next_tick - clock.wall())
            rule.tick()
            next_tick += TICK_S
        clock.advance(arrival - clock.wall())
        denials += 1
        event = DoorEvent("access.denied", "gate", "bench", clock.wall(), credential_token=f"card-{denials}")
        rule.observe(event)
    return sum(alert.phase == "start" for alert in sink.alerts), denials


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[1, 5, 10, 30], help="usual denials per hour")
    parser.add_argument("--days", type=float, default=365)
    parser.add_argument("--p-value", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    for per_hour in args.rates:
        started, denials = false_warnings(per_hour, args.days, args.p_value, args.seed)
        every = f"one per {args.days / started:.1f} days" if started else "none"
        rate = f"{per_hour:g}/h, p_value {args.p_value:g}"
        print(f"{rate}: {started} warnings in {args.days:g} days ({denials} denials): {every}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
