"""The `counts` stage: a loop over the counts ledger (store/counts_ledger.py) under the supervisor.

The ledger is the counting (crossings into the state store, occupancy samples, one counts message per
interval); this stage only gives it a thread: it samples and reports every `counts.sample_every` s, and takes
a last sample when it stops. The ledger is carried over a reload (`CountsParts.ledger`, the Carried protocol of
daemon/parts.py); a build dropped without a successor saves its samples to the store (its closer).
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_agent.config import AgentConfig
from edge_agent.daemon.delivery import Services
from edge_agent.daemon.stage_kinds import LoopStage, Stages
from edge_agent.daemon.supervisor import StageSpec
from edge_agent.rules.engine import RuleEngine
from edge_agent.store.counts_ledger import CountsLedger


class CountsStage(LoopStage):
    """Samples occupancy and reports finished intervals; samples once more when stopped."""

    def __init__(self, ledger: CountsLedger):
        super().__init__("counts", self.tick, ledger.config.sample_every)
        self.ledger = ledger

    def tick(self) -> None:
        now = self.ledger.clock.wall()
        self.ledger.sample(now)
        self.ledger.report_due(now)

    def stop(self, timeout: float) -> None:
        super().stop(timeout)
        if not self._thread.is_alive():  # not when a stalled tick still holds the ledger (the supervisor restarts it)
            self.ledger.sample(self.ledger.clock.wall())  # the slots up to the stop; a no-op once adopted


@dataclass
class CountsParts:
    """What the counts build yields: its stage, and the ledger (what a reload carries)."""

    stages: Stages
    ledger: CountsLedger


def counts_stages(config: AgentConfig, services: Services, engine: RuleEngine) -> CountsParts:
    """The counts stage over the video rule engine (its crossings are stored from now on)."""
    ledger = CountsLedger(config, services, engine)
    engine.add_crossing_listener(ledger.on_crossing)
    counters = {"counts_reported": lambda: ledger.reported, "counts_write_errors": lambda: ledger.write_errors}
    stages = Stages([StageSpec("counts", lambda: CountsStage(ledger))], counters=counters, closers=[ledger.save])
    return CountsParts(stages, ledger)
