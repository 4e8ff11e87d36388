"""Builds the reloadable part of the agent from a config: video, access, actions, telemetry, metrics.

Everything here is rebuilt on a reload; the outbox and publisher (daemon/delivery.py) are not.
Building only constructs objects (loading and verifying the model, checking files);
nothing runs until the supervisor starts the stages, so a config can be built, found
wanting, and dropped without disturbing the running one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from edge_agent.clock import Clock
from edge_agent.config import AgentConfig
from edge_agent.daemon.delivery import Delivery, Services
from edge_agent.daemon.parts import PipelineParts
from edge_agent.daemon.prometheus import MetricsServer
from edge_agent.daemon.stage_kinds import ComponentStage, LoopStage, Stages, fault_from_env
from edge_agent.daemon.supervisor import StageSpec
from edge_agent.daemon.telemetry import Section, SystemStats, TelemetryCollector, TelemetrySources

log = logging.getLogger(__name__)


def build_pipeline(
    config: AgentConfig,
    delivery: Delivery,
    clock: Clock,
    stages_snapshot: Section,
    environ: Mapping[str, str] | None = None,
    agent_figures: Section | None = None,
) -> PipelineParts:
    """`agent_figures`: the agent's own counters (commands, sd_notify), for telemetry system.agent.

    Every stage builder is handed the same `Services` (the delivery's sink, factory, health, state, outbox, topics and
    the clock); only the telemetry stage reads the delivery itself (the publisher's figures)."""
    environ = os.environ if environ is None else environ
    services = Services.of(delivery, clock)
    parts = PipelineParts()
    try:
        if any(camera.enabled for camera in config.cameras):
            from edge_agent.daemon.video_stages import video_stages  # loads OpenCV and onnxruntime

            parts.video = video_stages(config, services)
            if config.counts.enabled:
                from edge_agent.daemon.counts_stages import counts_stages

                parts.counts = counts_stages(config, services, parts.video.engine)
        if config.access.adapters:
            from edge_agent.daemon.access_stages import access_stages

            crossings = parts.video.engine if parts.video is not None else None
            parts.access = access_stages(config, services, crossings)
        if config.actions:
            from edge_agent.daemon.action_stages import action_stages

            parts.actions = action_stages(config, services, lambda: parts.access.service if parts.access else None)
        if delivery.response is not None:
            from edge_agent.daemon.response_stages import response_stages

            parts.response = response_stages(config, delivery.response, parts.action_runner)
        _add_telemetry(parts, config, delivery, clock, stages_snapshot, agent_figures)
        fault = fault_from_env(environ.get("EDGE_AGENT_FAULT"))
        if fault is not None:
            log.warning(
                "EDGE_AGENT_FAULT=%s: a fault-injection stage is running (tests only)", environ["EDGE_AGENT_FAULT"]
            )
            parts.fault = Stages([StageSpec("fault-injection", fault)])
    except BaseException:
        parts.close()
        raise
    return parts


def _add_telemetry(
    parts: PipelineParts,
    config: AgentConfig,
    delivery: Delivery,
    clock: Clock,
    stages_snapshot: Section,
    agent_figures: Section | None,
) -> None:
    def agent_counters() -> dict:
        figures = dict(agent_figures() if agent_figures else {})
        figures["telemetry_section_errors"] = collector.section_errors
        figures.update({name: read() for name, read in parts.counters().items()})
        return figures

    video, access = parts.video, parts.access
    sources = TelemetrySources(
        cameras=video.cameras if video else None,
        lines=video.lines if video else None,
        outbox=lambda: {**delivery.outbox.stats().to_dict(), "enqueued": delivery.outbox.enqueued()},
        adapters=access.adapters if access else None,
        stages=stages_snapshot,
        detector=video.detector if video else None,
        extra_system={"mqtt": lambda: _publisher_figures(delivery), "agent": agent_counters},
    )
    if delivery.response is not None:
        sources.extra_system["response"] = delivery.response.snapshot
    sources.extra_system["evidence"] = lambda: _evidence_figures(delivery, video)
    if parts.actions is not None:
        sources.extra_system["actions"] = lambda: runner.snapshot() if (runner := parts.action_runner()) else {}
    collector = TelemetryCollector(delivery.device_id, clock, SystemStats(config.device.state_dir, clock), sources)
    parts.collector = collector
    topic = delivery.topics.telemetry

    def publish_sample() -> None:
        delivery.outbox.enqueue(topic, collector.sample().model_dump_json(), "telemetry")

    interval = config.telemetry.interval
    parts.telemetry.specs.append(
        StageSpec(
            "telemetry",
            lambda: LoopStage("telemetry", publish_sample, interval, first_delay=min(2.0, interval)),
            stall_timeout=max(config.supervisor.stall_timeout, 3 * interval),
        )
    )
    prometheus = config.telemetry.prometheus
    if prometheus.enabled:
        servers: list[MetricsServer] = []  # the current one last (the supervisor may restart it)

        def metrics_stage():
            server = MetricsServer(prometheus.bind, prometheus.port, collector.current)
            servers.append(server)
            del servers[:-1]
            return ComponentStage("metrics", server, alive=server.alive, progress=lambda: server.loops)

        # with port 0 this is where a scraper (or a test) finds the endpoint
        sources.extra_system["metrics"] = lambda: (
            {"port": servers[-1].port, "scrape_errors": servers[-1].metrics.scrape_errors} if servers else {}
        )

        parts.telemetry.specs.append(StageSpec("metrics", metrics_stage))


def _evidence_figures(delivery: Delivery, video) -> dict:
    """Telemetry `system.evidence`: files and bytes written and kept (SD wear), fetches, the capture's figures."""
    if delivery.desk is None:
        return {}
    figures = {**delivery.desk.store.figures(), **delivery.desk.figures()}
    if video is not None and video.evidence is not None:
        figures.update(video.evidence())
    return figures


def _publisher_figures(delivery: Delivery) -> dict:
    stats = delivery.publisher.stats()
    figures = stats.to_dict() if hasattr(stats, "to_dict") else stats
    return {"connected": delivery.publisher.connected, **(figures if isinstance(figures, dict) else {})}
