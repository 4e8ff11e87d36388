"""A command reply is never lost to a broker connection that is not up yet.

The CI flake behind this file: `set-config` to a missing broker is reverted by building a fresh
publisher for the old broker and then answering at once. Under load the fresh publisher had not
connected yet, so the `reverted` reply was dropped ("not connected to the broker") and the sender
waited forever. Replies now wait in memory (bounded) for the next connection, and a publisher that
replaces another takes over the replies it still held. These tests make the race certain: the
reply is sent before the publisher can possibly be connected.
"""

from __future__ import annotations

import random

from edge_agent.clock import SystemClock
from edge_agent.config import AgentConfig
from edge_agent.config.mqtt import MqttConfig
from edge_agent.daemon.delivery import Delivery
from edge_agent.events import Topics
from edge_agent.publish import Publisher
from edge_agent.publish.replies import HELD_REPLIES, HeldReplies
from tests.support.broker import Recorder, free_port
from tests.support.wait import wait_for

TOPICS = Topics("edge", "site-1", "dev-1")
FAST_RETRY = {"min_delay": 0.05, "max_delay": 0.3}


def payloads(recorder: Recorder, topic: str) -> list[bytes]:
    return [payload for got, payload, *_ in recorder.snapshot() if got == topic]


def test_a_reply_sent_before_the_publisher_connects_goes_out_once_it_does(mosquitto, outbox):
    recorder = Recorder(mosquitto.port, "edge/#").start()
    publisher = Publisher(
        MqttConfig(port=mosquitto.port, reconnect=FAST_RETRY),
        outbox,
        TOPICS,
        "dev-1",
        "9.9.9-test",
        rng=random.Random(1),
    )
    try:
        assert recorder.ready.wait(10)
        reply = TOPICS.command_reply("set-config")
        assert publisher.publish_now(reply, "reverted") is False  # not connected: held, not dropped
        publisher.start()
        wait_for(lambda: payloads(recorder, reply) == [b"reverted"], timeout=15, message="the held reply")
    finally:
        publisher.stop()
        recorder.stop()


def test_a_publisher_replacing_another_sends_the_replies_it_held(tmp_path, mosquitto):
    """The revert path of a broker change: the stranded publisher held a reply; its successor sends it."""
    stranded = {"host": "127.0.0.1", "port": free_port(), "reconnect": FAST_RETRY}
    config = AgentConfig.model_validate(
        {"device": {"id": "dev-1", "site": "site-1", "state_dir": str(tmp_path)}, "mqtt": stranded}
    )
    delivery = Delivery.build(config, "dev-1", SystemClock())
    recorder = Recorder(mosquitto.port, "edge/#").start()
    try:
        assert recorder.ready.wait(10)
        delivery.start(lambda *message: None)
        reply = delivery.topics.command_reply("status")
        delivery.reply(reply, '{"ok": true}')  # nobody listens on the stranded port
        delivery.replace_publisher(config.mqtt.model_copy(update={"port": mosquitto.port}), lambda *message: None)
        wait_for(lambda: payloads(recorder, reply) == [b'{"ok": true}'], timeout=15, message="the carried reply")
    finally:
        delivery.stop(timeout=5)
        recorder.stop()


def test_held_replies_are_bounded_oldest_first_out():
    held = HeldReplies()
    for n in range(HELD_REPLIES + 3):
        held.hold(f"t/{n}", b"x", 1, False)
    sent = []
    held.send(lambda topic, payload, qos, retain, properties: sent.append(topic))
    assert sent == [f"t/{n}" for n in range(3, HELD_REPLIES + 3)] and held.dropped == 3
    held.send(lambda *message, **options: sent.append(message))
    assert len(sent) == HELD_REPLIES  # sent once only
