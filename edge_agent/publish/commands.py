"""Remote operations over MQTT: `{prefix}/{site}/{device}/cmd/<name>` → `…/cmd/<name>/reply`, or the
request's MQTT v5 Response Topic with its Correlation Data when that is in the device's reply area
(reply_route.py).

Requests are JSON `{"request_id": "...", "args": {...}}`. Every request gets exactly one
reply carrying its request id (or null when the payload was too broken to carry one),
`ok`, and a `result` or an `error` that says what was wrong. Nothing a remote sends can
stop the agent: handlers run on one worker thread behind a bounded queue, and every
exception becomes an error reply.

Who may send commands is the broker's business: see "Broker ACLs" in docs/mqtt-api.md.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable
from datetime import timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge_agent.clock import Clock, iso_utc, parse_rfc3339
from edge_agent.config.errors import describe_validation_errors
from edge_agent.control import AgentControl
from edge_agent.events import CommandReply, CommandRequest
from edge_agent.evidence.desk import EvidenceRefused
from edge_agent.faults import COMMAND_WORKER, reached
from edge_agent.publish.reply_route import ReplyRoute, reply_route
from edge_agent.publish.response_commands import ResponseRefused, response_handlers

log = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 256 * 1024


class CommandError(Exception):
    """A request that cannot be carried out; the message goes back to the sender (with `result`, if any)."""

    def __init__(self, message: str, result: dict | None = None):
        super().__init__(message)
        self.result = result


class _NoArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SetConfigArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    config: str | dict[str, Any] = Field(description="The whole new config: YAML text or a JSON object.")
    persist: bool = Field(default=True, description="Write the applied config to the config file.")


class ResendArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: str | float = Field(description="RFC 3339 time or epoch seconds; alerts created since then are sent again.")
    kinds: list[Literal["alerts", "counts", "actions"]] = Field(
        default=["alerts"],
        min_length=1,
        max_length=3,
        description="What to send again: alerts (the default), counts messages, action records. Never telemetry.",
    )


class RunActionArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: str = Field(min_length=1, max_length=64, description="Name of an action configured with `remote: true`.")
    event_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="A stored alert whose fields fill the action's templates; without it only action, site and "
        "device_id have values.",
    )


class GetEvidenceArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(min_length=1, max_length=64, description="The alert whose evidence is asked for.")
    kind: Literal["snapshot", "clip"] | None = Field(
        default=None, description="Which evidence; default the snapshot if one is kept, else the clip."
    )
    requested_by: str | None = Field(
        default=None, min_length=1, max_length=128, description="Who asks (an operator's name or id): recorded."
    )


def _wall_time(value: str | float) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    try:
        moment = parse_rfc3339(value)
    except ValueError:
        raise CommandError(
            f"args.since: expected an RFC 3339 time like 2026-01-01T00:00:00Z or epoch seconds, found {value!r}"
        ) from None
    if moment.tzinfo is None:
        raise CommandError(f"args.since: {value!r} has no time zone; add Z or an offset")
    return moment.astimezone(timezone.utc).timestamp()


class CommandDispatcher:
    """Parses a request, validates its args and runs the named handler; always returns a reply.

    The handlers use the agent's one face (edge_agent/control.py): status, get-config, set-config (a config change
    through the agent's own path), resend-alerts, run-action and get-evidence."""

    def __init__(self, agent: AgentControl, clock: Clock):
        self.agent = agent
        self.clock = clock
        self.counts: Counter = Counter()
        # handler(args, request_id) -> result
        self._handlers: dict[str, tuple[type[BaseModel], Callable[[Any, str | None], dict]]] = {
            "ping": (_NoArgs, lambda args, _: {"pong": True}),
            "status": (_NoArgs, lambda args, _: self.agent.status_report()),
            "get-config": (_NoArgs, lambda args, _: {"config": self.agent.redacted_config()}),
            "set-config": (SetConfigArgs, self._set_config),
            "resend-alerts": (ResendArgs, self._resend),
            "run-action": (RunActionArgs, self._run_action),
            **response_handlers(agent),
            "get-evidence": (GetEvidenceArgs, self._get_evidence),
        }

    @property
    def names(self) -> list[str]:
        return sorted(self._handlers)

    def dispatch(self, name: str, payload: bytes) -> CommandReply:
        request_id = None
        try:
            request = self._parse(payload)
            request_id = request.request_id
            if name not in self._handlers:
                raise CommandError(f"unknown command {name!r}; known: {', '.join(self.names)}")
            model, handler = self._handlers[name]
            args = self._args(model, request.args)
            result = handler(args, request_id)
            self.counts[f"{name}:ok"] += 1
            return self._reply(name, request_id, ok=True, result=result)
        except (CommandError, ResponseRefused) as exc:
            self.counts[f"{name}:error"] += 1
            log.info("command %s (request %s) refused: %s", name, request_id, exc)
            return self._reply(name, request_id, ok=False, error=str(exc), result=exc.result)
        except Exception as exc:  # a bug in a handler is reported, never fatal
            self.counts[f"{name}:failed"] += 1
            log.exception("command %s (request %s) failed", name, request_id)
            return self._reply(name, request_id, ok=False, error=f"internal error: {type(exc).__name__}: {exc}"[:500])

    def _parse(self, payload: bytes) -> CommandRequest:
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise CommandError(f"payload is {len(payload)} bytes; the limit is {MAX_PAYLOAD_BYTES}")
        try:
            data = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CommandError(f"malformed payload: not JSON ({exc})") from None
        except RecursionError:  # 256 KiB of brackets nests far deeper than the JSON decoder recurses
            raise CommandError("malformed payload: JSON nested too deeply") from None
        if not isinstance(data, dict):
            raise CommandError(f"malformed payload: expected a JSON object, found {type(data).__name__}")
        try:
            return CommandRequest.model_validate(data)
        except ValidationError as exc:
            raise CommandError("malformed request: " + describe_validation_errors(exc.errors())) from None

    def _args(self, model: type[BaseModel], args: dict) -> BaseModel:
        try:
            return model.model_validate(args)
        except ValidationError as exc:
            raise CommandError("bad args: " + describe_validation_errors(exc.errors(), prefix="args")) from None

    def _set_config(self, args: SetConfigArgs, request_id: str | None) -> dict:
        text = args.config if isinstance(args.config, str) else json.dumps(args.config)
        return self.agent.apply_config_text(text, origin="remote set-config", persist=args.persist)

    def _resend(self, args: ResendArgs, request_id: str | None) -> dict:
        since = _wall_time(args.since)
        if since > self.clock.wall() + 60:
            raise CommandError(f"args.since is in the future ({iso_utc(since)})")
        kinds = tuple(dict.fromkeys(args.kinds))
        return {"since": iso_utc(since), "kinds": list(kinds), "requeued": self.agent.resend_since(since, kinds)}

    def _run_action(self, args: RunActionArgs, request_id: str | None) -> dict:
        return self.agent.run_action(args.action, args.event_id, request_id)

    def refuse(self, name: str, payload: bytes, reason: str) -> CommandReply:
        """The reply to a request that is not run (its Response Topic was refused): counted as an error."""
        self.counts[f"{name}:error"] += 1
        log.warning("command %s not run: %s", name, reason)
        return self._reply(name, _request_id_of(payload), ok=False, error=reason)

    def _get_evidence(self, args: GetEvidenceArgs, request_id: str | None) -> dict:
        try:
            return self.agent.send_evidence(args.event_id, args.kind, request_id, args.requested_by)
        except EvidenceRefused as exc:
            raise CommandError(str(exc)) from None

    def _reply(self, name: str, request_id, ok: bool, result=None, error=None) -> CommandReply:
        return CommandReply(
            request_id=request_id, command=name, ok=ok, result=result, error=error, at=iso_utc(self.clock.wall())
        )


class CommandServer:
    """Receives command messages from the MQTT thread and answers them from a worker thread."""

    def __init__(
        self,
        dispatcher: CommandDispatcher,
        command_prefix: str,
        reply: Callable[[str, str, bytes | None], None],
        queue_size: int = 8,
    ):
        self.dispatcher = dispatcher
        self.command_prefix = command_prefix  # "{prefix}/{site}/{device}/cmd/"
        self._reply = reply  # (topic, payload, correlation data)
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped = 0
        self.handled = 0
        self.loops = 0  # worker-loop turns: the watchdog's progress token (an idle worker still turns)

    def start(self) -> None:
        """Starts a fresh worker on the same queue; after a hang the old thread is abandoned (Python cannot kill it)."""
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(self._stopping,), name="commands", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._thread is not None and self._thread is not threading.current_thread() and self._thread.is_alive():
            self._thread.join(timeout)

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def figures(self) -> dict:
        """Telemetry `system.agent`: commands handled, refused as busy, and by name and outcome."""
        return {
            "commands_handled": self.handled,
            "commands_refused_busy": self.dropped,
            "commands": dict(self.dispatcher.counts),
        }

    def on_message(self, topic: str, payload: bytes, properties=None) -> None:
        """MQTT callback: never blocks the network thread, never raises."""
        name = topic[len(self.command_prefix) :] if topic.startswith(self.command_prefix) else ""
        if not name or "/" in name:
            return  # not a command (e.g. our own reply topic)
        try:
            route = reply_route(self.command_prefix[: -len("/cmd/")], name, properties)
        except Exception:  # properties paho could not make sense of: answer where v3.1.1 would
            route = ReplyRoute(f"{self.command_prefix}{name}/reply")
        try:
            self._queue.put_nowait((name, bytes(payload), route))
        except queue.Full:
            self.dropped += 1
            busy = self.dispatcher._reply(
                name, _request_id_of(payload), ok=False, error="busy: too many commands pending; retry later"
            )
            self._send(name, busy, route)

    def _run(self, stopping: threading.Event) -> None:
        while not stopping.is_set():
            self.loops += 1
            try:
                name, payload, route = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            reached(COMMAND_WORKER)  # a test's hang or death of this worker (edge_agent/faults.py)
            if route.refusal is not None:
                reply = self.dispatcher.refuse(name, payload, route.refusal)
            else:
                reply = self.dispatcher.dispatch(name, payload)
            self.handled += 1
            self._send(name, reply, route)

    def _send(self, name: str, reply: CommandReply, route: ReplyRoute) -> None:
        try:
            self._reply(route.topic, _encoded(reply), route.correlation_data)
        except Exception:
            log.exception("could not publish the reply to command %s", name)


def _encoded(reply: CommandReply) -> str:
    """The reply as JSON; text that cannot be UTF-8 (a lone surrogate a sender escaped in) is escaped, so a reply
    always goes out."""
    try:
        return reply.model_dump_json()
    except ValueError:
        return json.dumps(reply.model_dump(mode="json"), separators=(",", ":"))


def _request_id_of(payload: bytes) -> str | None:
    try:
        value = json.loads(payload).get("request_id")
        return value if isinstance(value, str) and 0 < len(value) <= 128 else None
    except Exception:
        return None
