"""Builds the reloadable part of the agent from a config: video, access, telemetry, metrics.

Everything here is rebuilt on a reload; the outbox and publisher (daemon/core.py) are not.
Building only constructs objects (loading and verifying the model, checking files);
nothing runs until the supervisor starts the stages, so a config can be built, found
wanting, and dropped without disturbing the running one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from edge_agent.clock import Clock
from edge_agent.config import AgentConfig
from edge_agent.daemon.core import Core
from edge_agent.daemon.prometheus import MetricsServer
from edge_agent.daemon.stages import ComponentStage, LoopStage, fault_from_env
from edge_agent.daemon.supervisor import StageSpec
from edge_agent.daemon.telemetry import SystemStats, TelemetryCollector, TelemetrySources

log = logging.getLogger(__name__)

Section = Callable[[], dict]


@dataclass
class PipelineParts:
    specs: list[StageSpec] = field(default_factory=list)
    cameras: Section | None = None
    lines: Section | None = None
    adapters: Section | None = None
    detector: Section | None = None
    collector: TelemetryCollector | None = None
    crossing_source: object | None = None  # the video rule engine, for tailgating fusion
    counters: dict[str, Callable[[], int]] = field(default_factory=dict)  # telemetry system.agent
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for close in reversed(self.closers):
            try:
                close()
            except Exception:
                log.exception("releasing a pipeline resource failed")


def build_pipeline(
    config: AgentConfig,
    core: Core,
    clock: Clock,
    stages_snapshot: Section,
    environ: Mapping[str, str] | None = None,
    agent_figures: Section | None = None,
) -> PipelineParts:
    """`agent_figures`: the agent's own counters (commands, sd_notify), for telemetry system.agent."""
    environ = os.environ if environ is None else environ
    parts = PipelineParts()
    try:
        _add_video(parts, config, core, clock)
        _add_access(parts, config, core, clock)
        _add_telemetry(parts, config, core, clock, stages_snapshot, agent_figures)
        fault = fault_from_env(environ.get("EDGE_AGENT_FAULT"))
        if fault is not None:
            log.warning("EDGE_AGENT_FAULT=%s: a fault-injection stage is running (tests only)", environ["EDGE_AGENT_FAULT"])
            parts.specs.append(StageSpec("fault-injection", fault))
    except BaseException:
        parts.close()
        raise
    return parts


def _add_video(parts: PipelineParts, config: AgentConfig, core: Core, clock: Clock) -> None:
    if not any(camera.enabled for camera in config.cameras):
        return
    from edge_agent.daemon.video_assembly import video_stages

    video = video_stages(config, core.outbox, core.factory, clock, core.camera_health)
    parts.specs.extend(video.specs)
    parts.cameras, parts.lines, parts.detector = video.cameras, video.lines, video.detector
    parts.closers.append(video.close)
    parts.crossing_source = video.crossing_source


def _add_access(parts: PipelineParts, config: AgentConfig, core: Core, clock: Clock) -> None:
    if not config.access.adapters:
        return
    from edge_agent.daemon.access_assembly import access_stages

    access = access_stages(config, core.outbox, core.factory, clock, parts.crossing_source)
    parts.specs.extend(access.specs)
    parts.adapters = access.adapters
    parts.counters["door_rule_tick_errors"] = lambda: access.service.tick_errors
    parts.closers.append(access.close)


def _add_telemetry(parts: PipelineParts, config: AgentConfig, core: Core, clock: Clock, stages_snapshot: Section,
                   agent_figures: Section | None) -> None:
    def agent_counters() -> dict:
        figures = dict(agent_figures() if agent_figures else {})
        figures["telemetry_section_errors"] = collector.section_errors
        figures.update({name: read() for name, read in parts.counters.items()})
        return figures

    sources = TelemetrySources(
        cameras=parts.cameras,
        lines=parts.lines,
        outbox=lambda: {**core.outbox.stats().to_dict(), "enqueued": core.outbox.enqueued()},
        adapters=parts.adapters,
        stages=stages_snapshot,
        detector=parts.detector,
        extra_system={"mqtt": lambda: _publisher_figures(core), "agent": agent_counters},
    )
    collector = TelemetryCollector(core.device_id, clock, SystemStats(config.device.state_dir, clock), sources)
    parts.collector = collector
    topic = core.topics.telemetry

    def publish_sample() -> None:
        core.outbox.enqueue(topic, collector.sample().model_dump_json(), "telemetry")

    interval = config.telemetry.interval
    parts.specs.append(
        StageSpec("telemetry", lambda: LoopStage("telemetry", publish_sample, interval, first_delay=min(2.0, interval)),
                  stall_timeout=max(config.supervisor.stall_timeout, 3 * interval))
    )
    prometheus = config.telemetry.prometheus
    if prometheus.enabled:
        servers: list[MetricsServer] = []  # the current one last (the supervisor may restart it)

        def metrics_stage():
            server = MetricsServer(prometheus.bind, prometheus.port, collector.current)
            servers.append(server)
            del servers[:-1]
            return ComponentStage("metrics", server, alive=server.alive)

        # with port 0 this is where a scraper (or a test) finds the endpoint
        sources.extra_system["metrics"] = lambda: (
            {"port": servers[-1].port, "scrape_errors": servers[-1].metrics.scrape_errors} if servers else {})

        parts.specs.append(StageSpec("metrics", metrics_stage))


def _publisher_figures(core: Core) -> dict:
    stats = core.publisher.stats()
    figures = stats.to_dict() if hasattr(stats, "to_dict") else stats
    return {"connected": core.publisher.connected, **(figures if isinstance(figures, dict) else {})}
