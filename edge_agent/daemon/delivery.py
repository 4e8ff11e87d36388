"""What outlives a reload: the outbox, the publisher that drains it, the durable rule state, and Health.

They are rebuilt only when their own sections (device identity, broker, store) change, so a
reload never drops a queued alert nor an open health episode.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from edge_agent import __version__
from edge_agent.actions.response_desk import ResponseDesk
from edge_agent.clock import Clock, wire_time
from edge_agent.config import AgentConfig
from edge_agent.config.mqtt import MqttConfig
from edge_agent.daemon.health import Health
from edge_agent.events import AlertFactory, Topics
from edge_agent.evidence.desk import EvidenceDesk
from edge_agent.private_files import private_dir
from edge_agent.publish.publisher import Publisher
from edge_agent.store import Outbox
from edge_agent.store.episodes import EpisodeSink
from edge_agent.store.evidence_files import EvidenceStore
from edge_agent.store.state_store import StateStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    """What every stage builder is handed, the same for each (daemon/pipeline.py): where alerts go, the health and
    rule state that outlive the build, the outbox and topics for the messages a stage stores itself (action records,
    counts), and the clock. The publisher is not among them: no stage talks to the broker."""

    sink: EpisodeSink
    factory: AlertFactory
    health: Health
    state: StateStore | None  # None: nothing survives a restart (unit tests)
    outbox: Outbox
    topics: Topics
    clock: Clock
    evidence_desk: EvidenceDesk | None = None  # evidence kept and handed out (None: no evidence, unit tests)

    @classmethod
    def of(cls, delivery: Delivery, clock: Clock) -> Services:
        return cls(
            delivery.sink,
            delivery.factory,
            delivery.health,
            delivery.state,
            delivery.outbox,
            delivery.topics,
            clock,
            delivery.evidence_desk,
        )


def store_sections(config: AgentConfig) -> tuple:
    """What a new outbox and state store follow: identity and state directory, the outbox, the topic prefix
    (stored rows carry their topics). A change of anything else in `mqtt` needs only a new publisher."""
    return (config.device, config.outbox, config.mqtt.topic_prefix)


@dataclass
class Delivery:
    config: AgentConfig
    device_id: str
    topics: Topics
    outbox: Outbox
    publisher: Publisher
    factory: AlertFactory
    health: Health  # open camera and adapter outages, kept across pipeline reloads
    state: StateStore  # rule state that survives reloads and restarts (state.db beside the outbox)
    sink: EpisodeSink  # where every alert goes: the outbox, with the ledger of open episodes
    clock: Clock | None = None
    response: ResponseDesk | None = None  # dispositions, escalations, controls (their state: the state store)
    evidence_desk: EvidenceDesk | None = None  # evidence files beside the outbox, handed out on request

    @classmethod
    def build(
        cls,
        config: AgentConfig,
        device_id: str,
        clock: Clock,
        health: Health | None = None,
        started_at: float | None = None,
    ) -> Delivery:
        """`health`: the previous delivery's, when only the broker changed (its open episodes carry on);
        `started_at`: the agent's start (epoch s), shown in the retained status (default: now)."""
        topics = Topics(config.mqtt.topic_prefix, config.device.site, device_id)
        factory = AlertFactory(device_id, config.device.site, clock)
        private_dir(config.device.state_dir, tighten_existing=True)  # 0750 whatever the umask (private_files.py)
        outbox = Outbox(config.outbox_path, config.outbox, clock, topic_prefix=config.mqtt.topic_prefix)
        try:
            state = StateStore.beside(config.outbox_path)
        except Exception:
            outbox.close()
            raise
        sink = EpisodeSink(outbox, state, clock)
        response = ResponseDesk(state, outbox, sink.emit, factory, topics)
        sink.response, sink.escalations = response, response.ledger
        if health is None or health.factory.device_id != device_id:
            health = Health(factory, sink)
        else:
            health.sink = sink
        if outbox.moved_aside_to is not None:
            health.outbox_recovered(outbox.moved_aside_to, outbox.corruption or "")
        if state.moved_aside_to is not None:
            health.emit(
                "state.corrupt",
                f"rule state database was corrupt and was moved to {state.moved_aside_to.name}; started empty",
                extra={"moved_to": str(state.moved_aside_to), "error": state.corruption},
            )
        try:
            publisher = Publisher(config.mqtt, outbox, topics, device_id, __version__, clock, started_at=started_at)
        except Exception:
            state.close()
            outbox.close()
            raise
        evidence = EvidenceStore(config.outbox_path.parent / "evidence", config.evidence, clock)
        try:
            evidence.prune()  # what aged out while the agent was down, even if no rule keeps evidence now
        except OSError:
            log.exception("evidence: could not prune %s", evidence.directory)
        desk = EvidenceDesk(evidence, outbox, topics, config.device.site, clock)
        return cls(config, device_id, topics, outbox, publisher, factory, health, state, sink, clock, response, desk)

    def start(self, on_command) -> None:
        self.publisher.subscribe(self.topics.command_filter, on_command)
        self.publisher.start()

    def replace_publisher(self, mqtt: MqttConfig, on_command) -> None:
        """Another broker or credentials: a new publisher drains the same outbox (nothing queued is lost).
        The new one is built (TLS files read) before the old one stops, so a bad setting changes nothing."""
        publisher = Publisher(
            mqtt, self.outbox, self.topics, self.device_id, __version__, self.factory.clock, started_at=self._started_at
        )
        self.publisher.stop(timeout=10.0)
        publisher.replies.adopt(self.publisher.replies)  # a reply the old one could not send yet goes out now
        self.config = self.config.model_copy(update={"mqtt": mqtt})  # what a renewed publisher uses
        self.publisher = publisher
        self.publisher.subscribe(self.topics.command_filter, on_command)
        self.publisher.start()

    def renew_publisher(self, on_command) -> Publisher:
        """A fresh, unstarted publisher on the same outbox, replacing one whose thread died or hung.

        The old thread is abandoned if it does not stop (Python cannot kill it); rows it had in
        flight are requeued when the new one connects, so they are sent again with the same event_id.
        """
        publisher = Publisher(
            self.config.mqtt,
            self.outbox,
            self.topics,
            self.device_id,
            __version__,
            self.clock,
            started_at=self._started_at,
        )
        publisher.subscribe(self.topics.command_filter, on_command)
        publisher.replies.adopt(self.publisher.replies)
        self.publisher = publisher
        return publisher

    @property
    def _started_at(self) -> float:
        return self.publisher.started_at  # a publisher that replaces another keeps the agent's start

    def stop(self, timeout: float) -> None:
        """Publisher first (it finishes in-flight rows and publishes status offline), then the store."""
        try:
            self.publisher.stop(timeout)
        finally:
            self.state.close()
            self.outbox.close()

    def status(self) -> dict:
        """The broker link and the outbox, for the `status` reply."""
        outbox = {key: wire_time(key, value) for key, value in self.outbox.stats().to_dict().items()}
        report = {
            "mqtt_connected": self.publisher.connected,
            "mqtt_error": self.publisher.last_error,  # e.g. a revoked certificate refused by the broker
            "outbox": outbox,
        }
        if self.response is not None:
            report["response"] = self.response.snapshot()
        return report

    def reply(self, topic: str, payload: str, correlation_data: bytes | None = None) -> None:
        if not self.publisher.publish_now(topic, payload, qos=1, retain=False, correlation_data=correlation_data):
            log.info("command reply on %s held until the broker connection is up", topic)
