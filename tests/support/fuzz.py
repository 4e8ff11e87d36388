"""One fuzzing budget for every fuzzer: short in CI (all fuzzers together stay under 60 s), long by hand.

`make fuzz` sets EDGE_AGENT_FUZZ=long and runs only the tests marked `fuzz`, each with many
more examples and no deadline. A fuzzer takes its settings from `fuzz_settings(ci_examples)`
so the budget is decided here, not in each file.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

LONG = os.environ.get("EDGE_AGENT_FUZZ", "") == "long"
LONG_FACTOR = 50  # `make fuzz`: fifty times the CI examples of each fuzzer


def fuzz_settings(ci_examples: int, **overrides) -> settings:
    """Hypothesis settings for one fuzzer: `ci_examples` in CI, LONG_FACTOR times that under `make fuzz`."""
    examples = ci_examples * LONG_FACTOR if LONG else ci_examples
    return settings(
        max_examples=examples,
        deadline=None,  # real sockets and a real daemon: a slow example is not a failure
        derandomize=not LONG,  # CI is repeatable; the long run explores
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
        **overrides,
    )
