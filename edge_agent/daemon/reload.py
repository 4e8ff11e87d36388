"""Reloads, make before break: the new pipeline is built while the old one runs, then takes over its state.

1. Build the new pipeline (model loaded and verified, files read, adapters constructed). If that
   fails the old pipeline never noticed: nothing to roll back.
2. Carry (`carry`, the one walk over `PipelineParts.carried()`): every old part is told its successor
   (a kept camera's running reader is set aside for it: no reopen, a kept camera misses only the frames
   in flight); the old detector and pumps stop; every new part adopts its predecessor's state where
   its config is unchanged: the chains the trackers, the rule engine the rules, counters and
   episodes, the counts ledger its occupancy samples and watched spans, the access service the door
   rules' state, the fusion's recent grants and every adapter whose config is unchanged, still running
   (its port, serial device and connection are handed over, never held twice).
3. The new video stages and the action runner start (the runner takes over the after-store
   listener); the old pipeline stops, releasing the ports and devices it kept; the other new stages
   start.
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
from edge_agent.daemon.parts import CAMERA_KEY, Carried, PipelineParts
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
    """Stop `old` and start `new` with `old`'s state (steps 2-4 above). On failure `new` is torn down (releasing what
    it was handed) and the exception raised; `old` is then stopped too (the caller starts a config again)."""
    old_stopped = False
    try:
        kept = carry(old.parts, new.parts, stop_old_video=lambda: _stop_video(old))
        new.supervisor.start([spec for spec in new.parts.specs if starts_early(spec.name)])
        old.supervisor.stop()
        old.parts.close()
        old_stopped = True
        new.supervisor.start([spec for spec in new.parts.specs if not starts_early(spec.name)])
    except BaseException:
        new.supervisor.stop()
        new.parts.close()
        if not old_stopped:  # its access, telemetry and metrics stages still hold ports
            old.supervisor.stop()
            old.parts.close()
        raise
    cameras = sorted(
        key.removeprefix(CAMERA_KEY) for key, kept_reader in kept.items() if key.startswith(CAMERA_KEY) and kept_reader
    )
    log.info(
        "reload: cameras kept running %s, adapters kept running %s", cameras or "none", kept.get("access") or "none"
    )
    end_orphans(old.parts, new.parts, new.config, delivery)


def carry(old: PipelineParts, new: PipelineParts, stop_old_video: Callable[[], None]) -> dict[str, object]:
    """The one walk that carries state over a reload (the Carried protocol of daemon/parts.py). Every registered
    old part hands over to its successor (or to none) while the old pipeline runs; the old video stages stop; every
    new part with a predecessor adopts it. Returns what each adopted, by key."""
    outgoing, incoming = old.carried(), new.carried()
    for key, part in (*outgoing.items(), *incoming.items()):
        if not isinstance(part, Carried):
            raise TypeError(f"pipeline part {key!r} ({type(part).__name__}) lacks hand_over/adopt (daemon/parts.py)")
    for key, part in outgoing.items():
        part.hand_over(incoming.get(key))
    stop_old_video()
    return {key: part.adopt(outgoing[key]) for key, part in incoming.items() if key in outgoing}


def _stop_video(running: Running) -> None:
    running.supervisor.stop_stages({spec.name for spec in running.parts.specs if is_video_stage(spec.name)})


def held_episodes(parts: PipelineParts) -> set[str]:
    return parts.held_episodes()


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
        return subject in subjects and delivery.health.restore(start)

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
