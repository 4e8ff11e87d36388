"""Command dispatch and validation. The end-to-end set-config tests run the daemon (test_daemon_*.py)."""

import json
import threading

import pytest

from edge_agent.clock import FakeClock
from edge_agent.publish.commands import CommandDispatcher, CommandServer
from tests.support.wait import wait_for


class RecordingAgent:
    def __init__(self):
        self.applied = []
        self.resent = []
        self.ran = []
        self.block = threading.Event()
        self.block.set()

    def status_report(self):
        self.block.wait(10)
        return {"healthy": True}

    def redacted_config(self):
        return {"mqtt": {"password": "**********"}}

    def apply_config_text(self, text, origin, persist):
        if "broken" in text:
            raise RuntimeError("exploded")
        self.applied.append((text, origin, persist))
        return {"applied": True}

    def resend_since(self, wall, kinds=("alerts",)):
        self.resent.append(wall)
        return 7

    def run_action(self, name, event_id, request_id):
        self.ran.append((name, event_id, request_id))
        return {"action": name, "outcome": "ok"}


@pytest.fixture
def dispatcher():
    return CommandDispatcher(RecordingAgent(), FakeClock(wall=1_767_225_600.0))


def request(request_id="r1", **args):
    return json.dumps({"request_id": request_id, "args": args}).encode()


def test_ping_status_and_get_config(dispatcher):
    reply = dispatcher.dispatch("ping", request("abc"))
    assert reply.ok and reply.request_id == "abc" and reply.result == {"pong": True}
    assert reply.at == "2026-01-01T00:00:00.000Z"
    assert dispatcher.dispatch("status", request()).result == {"healthy": True}
    assert dispatcher.dispatch("get-config", request()).result == {"config": {"mqtt": {"password": "**********"}}}


@pytest.mark.parametrize(
    "name, payload, error",
    [
        (
            "reboot",
            request("r9"),
            "unknown command 'reboot'; known: arm, disarm, dispose, get-config, get-evidence, ping, resend-alerts, "
            "run-action, set-config, snooze, status",
        ),
        ("ping", b"{not json", "malformed payload: not JSON"),
        ("ping", b"\xff\xfe", "malformed payload: not JSON"),
        ("ping", b"[1, 2]", "malformed payload: expected a JSON object, found list"),
        ("ping", b'{"args": {}}', "malformed request: request_id: Field required"),
        ("ping", b'{"request_id": "x", "argz": {}}', "malformed request: argz: unknown key"),
        ("ping", request(force=True), "bad args: args.force: unknown key"),
        ("set-config", request(), "bad args: args.config: Field required"),
        ("run-action", request(), "bad args: args.action: Field required"),
        ("run-action", request(action="a", shell="rm -rf /"), "bad args: args.shell: unknown key"),
        ("resend-alerts", request(since="yesterday"), "args.since: expected an RFC 3339 time"),
        ("resend-alerts", request(since="2026-01-01T00:00:00"), "has no time zone"),
        ("resend-alerts", request(since="2027-01-01T00:00:00Z"), "args.since is in the future"),
        ("ping", b"x" * (256 * 1024 + 1), "the limit is 262144"),
    ],
)
def test_bad_requests_get_an_error_reply(dispatcher, name, payload, error):
    reply = dispatcher.dispatch(name, payload)
    assert reply.ok is False
    assert error in reply.error
    assert reply.command == name


def test_request_id_is_echoed_on_errors_when_it_could_be_read(dispatcher):
    assert dispatcher.dispatch("nope", request("keep-me")).request_id == "keep-me"
    assert dispatcher.dispatch("ping", b"{bad").request_id is None


def test_handler_exception_becomes_an_error_reply(dispatcher):
    reply = dispatcher.dispatch("set-config", request(config="broken: yes"))
    assert not reply.ok and reply.error == "internal error: RuntimeError: exploded"
    assert dispatcher.counts["set-config:failed"] == 1


def test_set_config_accepts_yaml_text_or_an_object(dispatcher):
    agent = dispatcher.agent
    assert dispatcher.dispatch("set-config", request(config="device: {site: a}\n")).ok
    assert dispatcher.dispatch("set-config", request(config={"device": {"site": "b"}}, persist=False)).ok
    assert agent.applied[0] == ("device: {site: a}\n", "remote set-config", True)
    assert json.loads(agent.applied[1][0]) == {"device": {"site": "b"}} and agent.applied[1][2] is False


def test_resend_parses_rfc3339_and_epoch(dispatcher):
    reply = dispatcher.dispatch("resend-alerts", request(since="2025-12-31T23:00:00+00:00"))
    assert reply.result == {"since": "2025-12-31T23:00:00.000Z", "kinds": ["alerts"], "requeued": 7}
    dispatcher.dispatch("resend-alerts", request(since=1_767_000_000))
    assert dispatcher.agent.resent == [1_767_222_000.0, 1_767_000_000.0]


def test_server_answers_on_the_reply_topic_and_refuses_when_busy(dispatcher):
    sent = []
    agent = dispatcher.agent
    agent.block.clear()  # status handler blocks: the queue fills up behind it
    server = CommandServer(
        dispatcher,
        "edge/s/d/cmd/",
        lambda t, p, c: sent.append((t, json.loads(p))),
        queue_size=2,
    )
    server.start()
    try:
        server.on_message("edge/s/d/cmd/status", request("first"))
        wait_for(lambda: server._queue.empty(), timeout=3, message="worker to take the first request")
        server.on_message("edge/s/d/cmd/ping", request("2"))
        server.on_message("edge/s/d/cmd/ping", request("3"))
        server.on_message("edge/s/d/cmd/ping", request("4"))  # queue full: refused at once
        server.on_message("edge/s/d/cmd/ping/reply", request("ignored"))  # our own reply topic
        assert sent == [("edge/s/d/cmd/ping/reply", sent[0][1])]
        assert sent[0][1]["request_id"] == "4" and sent[0][1]["error"].startswith("busy")
        agent.block.set()
        wait_for(lambda: len(sent) == 4, timeout=3, message="all replies")
        assert [(t, p["request_id"], p["ok"]) for t, p in sent[1:]] == [
            ("edge/s/d/cmd/status/reply", "first", True),
            ("edge/s/d/cmd/ping/reply", "2", True),
            ("edge/s/d/cmd/ping/reply", "3", True),
        ]
        assert server.dropped == 1
    finally:
        agent.block.set()
        server.stop()


def test_run_action_passes_the_action_the_alert_and_the_request_id(dispatcher):
    reply = dispatcher.dispatch("run-action", request("r7", action="lift-warning", event_id="0190-e"))
    assert reply.ok and reply.result == {"action": "lift-warning", "outcome": "ok"}
    assert dispatcher.agent.ran == [("lift-warning", "0190-e", "r7")]
