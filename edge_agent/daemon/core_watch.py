"""Watching what outlives a reload: the publisher's network thread and the command server's worker.

Both belong to the Delivery and the Agent, not to the reloadable pipeline, so they are not
pipeline stages; a `CoreWatch` gives them a Supervisor of their own, which `Agent.tick` checks
every round next to the pipeline's. Each reports liveness and a progress token (its loop
turns: an idle publisher still turns on its select timeout, an idle command worker on its
queue timeout). A dead or hung one is restarted within the same restart budget as any stage
(an `agent.health` alert says so); past the budget the supervisor gives up, the agent stops
feeding the systemd watchdog and exits non-zero, and systemd restarts it.

A hung thread cannot be killed in Python: a restart asks it to stop, abandons it when it does
not, and starts a fresh publisher (same outbox, same command subscription) or a fresh command
worker (same queue, so waiting commands are still answered).
"""

from __future__ import annotations

from edge_agent.clock import Clock
from edge_agent.config.daemon import SupervisorConfig
from edge_agent.daemon.delivery import Delivery
from edge_agent.daemon.stage_kinds import ComponentStage
from edge_agent.daemon.supervisor import StageSpec, Supervisor
from edge_agent.publish.commands import CommandServer

# connect() may block for CONNECT_TIMEOUT_S (10 s) in DNS, TCP and TLS; otherwise the loop turns every 0.5 s
PUBLISHER_STALL_S = 30.0
# a command runs on the worker; set-config stops and starts the whole pipeline (model load, start grace)
COMMAND_STALL_S = 300.0


class CoreWatch:
    def __init__(self, delivery: Delivery, commands: CommandServer, config: SupervisorConfig, clock: Clock):
        self.delivery = delivery
        self.commands = commands
        self.supervisor = Supervisor(
            config.stall_timeout, config.max_restarts, config.restart_window, clock, delivery.health
        )
        self._adopted: set[str] = set()
        self.supervisor.start(
            [
                StageSpec("publisher", self._publisher_stage, stall_timeout=PUBLISHER_STALL_S),
                StageSpec("commands", self._commands_stage, stall_timeout=COMMAND_STALL_S),
            ]
        )

    def check(self) -> bool:
        """True when both are healthy; restarts a failed one; raises SupervisorGaveUp past the budget."""
        return self.supervisor.check()

    def healthy(self) -> bool:
        return self.supervisor.healthy()

    def snapshot(self) -> dict[str, dict]:
        return self.supervisor.snapshot()

    def _first_time(self, name: str) -> bool:
        """The first instance is the one already running: adopted, not started again."""
        first = name not in self._adopted
        self._adopted.add(name)
        return first

    def _publisher_stage(self) -> ComponentStage:
        if self._first_time("publisher"):
            publisher, start = self.delivery.publisher, _already_running
        else:
            publisher = self.delivery.renew_publisher(self.commands.on_message)
            start = publisher.start
        return ComponentStage(
            "publisher",
            publisher,
            alive=publisher.alive,
            progress=lambda: publisher.loops,
            start=start,
            stop=publisher.stop,
        )

    def _commands_stage(self) -> ComponentStage:
        commands = self.commands
        start = _already_running if self._first_time("commands") else commands.start
        return ComponentStage(
            "commands", commands, alive=commands.alive, progress=lambda: commands.loops, start=start, stop=commands.stop
        )


def _already_running() -> None:
    pass
