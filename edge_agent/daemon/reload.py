"""Reloads, make before break: the new pipeline is built while the old one runs, then takes over its state.

1. Build the new pipeline (model loaded and verified, files read, adapters constructed). If that
   fails the old pipeline never noticed: nothing to roll back.
2. Video: every old camera pump hands over its open episodes, and its running reader when the
   camera's config is unchanged (no reopen: a kept camera misses only the frames in flight);
   the old detector and pumps stop; the new chains take the trackers, the new rule engine the
   rules, counters and episodes whose config is unchanged; the new action runner starts and takes
   over the after-store listener; the new video stages start.
3. Access: the new service takes the door rules' state, the fusion's recent grants and every
   adapter whose config is unchanged, still running (its listening port, serial device and
   connection are handed over, never held twice); the old service stops the rest, releasing
   their ports and devices before the new service opens them; the other new stages start.
4. Episodes the old pipeline held and the new one did not take over (a rule, door or camera
   removed or changed) end with `details.reason: config_changed`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from edge_agent.config import AgentConfig
from edge_agent.daemon.action_stages import ACTIONS_STAGE
from edge_agent.daemon.delivery import Delivery
from edge_agent.daemon.parts import PipelineParts
from edge_agent.daemon.supervisor import Supervisor
from edge_agent.events import Alert
from edge_agent.store.episodes import EpisodeSink

log = logging.getLogger(__name__)


@dataclass
class Running:
    config: AgentConfig
    parts: PipelineParts
    supervisor: Supervisor


def is_video_stage(name: str) -> bool:
    return name == "detector" or name.startswith("camera-")


def starts_early(name: str) -> bool:
    """Started before the old pipeline stops: the video stages, and the action runner, which takes over the
    after-store listener then, so the alerts the new video stages raise are heard (daemon/action_stages.py)."""
    return is_video_stage(name) or name == ACTIONS_STAGE


def start_pipeline(running: Running, sink: EpisodeSink, ended_without_a_pipeline: Sequence[Alert] = ()) -> None:
    """Start every stage of a freshly built pipeline; on failure stop what started and raise.

    `ended_without_a_pipeline`: ends stored while none ran (settled at start-up, decided in a restart with a new
    store). The action runner, the first stage to start, hears them before any other stage can raise an alert,
    so an action bound to `end` (releasing what its start held) runs for them, and ahead of a new start."""
    sink.keep_for_listener(ended_without_a_pipeline)
    try:
        running.supervisor.start(running.parts.specs)
    except BaseException:
        running.supervisor.stop()
        running.parts.close()
        raise
    finally:
        sink.keep_for_listener(())  # no actions configured: no later runner hears them late


def hand_over(old: Running, new: Running, delivery: Delivery) -> None:
    """Stop `old` and start `new` with `old`'s state (steps 2-4 above). On failure `new` is torn down and the
    exception raised; `old` is then already stopped (the caller starts a config again)."""
    handed = _hand_over_video(old, new)
    old_stopped = False
    try:
        new.supervisor.start([spec for spec in new.parts.specs if starts_early(spec.name)])
        kept_adapters = new.parts.access.adopt(old.parts.access) if new.parts.access and old.parts.access else []
        old.supervisor.stop()
        old.parts.close()
        old_stopped = True
        new.supervisor.start([spec for spec in new.parts.specs if not starts_early(spec.name)])
    except BaseException:
        new.supervisor.stop()
        new.parts.close()
        for source in new.parts.inherited_sources.values():  # handed over but never taken up
            source.stop(2.0)
        if not old_stopped:  # its access, telemetry and metrics stages still hold ports
            old.supervisor.stop()
            old.parts.close()
        raise
    log.info(
        "reload: cameras kept running %s, adapters kept running %s",
        sorted(handed) or "none",
        sorted(kept_adapters) or "none",
    )
    end_orphans(old.parts, new.parts, new.config, delivery)


def _hand_over_video(old: Running, new: Running) -> set[str]:
    enabled = {camera.id: camera for camera in new.config.cameras if camera.enabled}
    handed = set()
    for camera_id, pump in list(old.parts.pumps.items()):
        keep = enabled.get(camera_id) == pump.camera and camera_id in new.parts.chains
        source = pump.hand_over(keep_source=keep)
        if source is not None:
            new.parts.inherited_sources[camera_id] = source
            handed.add(camera_id)
    old.supervisor.stop_stages({spec.name for spec in old.parts.specs if is_video_stage(spec.name)})
    for camera_id, chain in new.parts.chains.items():
        if camera_id in old.parts.chains:
            chain.adopt(old.parts.chains[camera_id])
    if new.parts.rule_engine is not None and old.parts.rule_engine is not None:
        same_zone = new.config.device.timezone == old.config.device.timezone
        new.parts.rule_engine.adopt(old.parts.rule_engine, timezone_kept=same_zone)
    return handed


def held_episodes(parts: PipelineParts) -> set[str]:
    held = set(parts.rule_engine.open_episode_ids()) if parts.rule_engine is not None else set()
    if parts.access is not None:
        held |= parts.access.rules.open_episode_ids()
    return held


def end_orphans(old: PipelineParts, new: PipelineParts, config: AgentConfig, delivery: Delivery) -> int:
    """End, with `config_changed`, the episodes `old` held that `new` did not take over; returns how many."""
    orphans = held_episodes(old) - held_episodes(new)
    cameras = {camera.id for camera in config.cameras if camera.enabled}
    adapters = {adapter.id for adapter in config.access.adapters}
    gone = delivery.health.forget(keep_cameras=cameras, keep_adapters=adapters)
    return len(end_episodes(delivery, orphans | {alert.event_id for alert in gone}, "config_changed"))


def end_episodes(delivery: Delivery, start_ids: set[str], reason: str) -> list[Alert]:
    """End the ledger's open episodes among `start_ids` with `details.reason` = reason; returns the ends stored."""
    if not start_ids:
        return []
    now = delivery.factory.clock.wall()
    ends = [
        delivery.sink.end(episode.start, reason, now)
        for episode in delivery.state.open_episodes()
        if episode.start.event_id in start_ids
    ]
    if ends:
        log.info("ended %d open episode(s): %s", len(ends), reason)
    return ends


def settle_previous_run(delivery: Delivery, config: AgentConfig) -> list[Alert]:
    """At start-up: what the last process left open is continued where its condition can come back by itself
    (a camera or adapter outage of something still configured: the reader or adapter ends it) and ended
    with `agent_restarted` otherwise. Returns the ends stored (for the action runner: `start_pipeline`)."""
    subjects = {camera.id for camera in config.cameras if camera.enabled} | {a.id for a in config.access.adapters}

    def adopt(start: Alert) -> bool:
        subject = (start.details.extra or {}).get("adapter") if start.type == "agent.health" else start.source.id
        return subject in subjects and delivery.health.adopt(start)

    continued, ends = settle_ledger(delivery.sink, delivery.factory.clock.wall(), adopt)
    if continued or ends:
        log.info("episodes open at the last stop: %d continued, %d ended (agent_restarted)", continued, len(ends))
    return ends


def settle_ledger(sink: EpisodeSink, now: float, adopt: Callable[[Alert], bool]) -> tuple[int, list[Alert]]:
    """Recover the ledger; every episode still open is adopted by its owner or ended with `agent_restarted`.
    Returns (how many continued, the ends stored)."""
    continued, ends = 0, []
    for episode in sink.recover():
        if adopt(episode.start):
            continued += 1
        else:
            ends.append(sink.end(episode.start, "agent_restarted", now))
    return continued, ends
