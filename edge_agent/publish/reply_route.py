"""Where a command's reply goes: MQTT v5 request/response, within the device's own topic space.

A v5 request may carry a Response Topic and Correlation Data; the reply is then published on that
topic with the same Correlation Data. The Response Topic comes from whoever could publish the
request, so it is an allow-list, not a wish: only the device's own reply area `{base}/reply/…`
(one topic per requester, say) or its default `{base}/cmd/<name>/reply`. Anything else — another
device's `cmd/…` topic, the device's own `cmd/<name>` (the reply would come back as a command),
a wildcard, `$SYS`, a topic of the platform's — would make the box publish where a sender points
it, so the request is refused: not run, answered with the reason on the default reply topic.
A v3.1.1 request (no properties) is answered on `{base}/cmd/<name>/reply`, as before.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_RESPONSE_TOPIC = 512  # bytes of UTF-8: a requester id fits many times over


@dataclass(frozen=True)
class ReplyRoute:
    topic: str
    correlation_data: bytes | None = None
    refusal: str | None = None  # set: do not run the request, answer this on `topic`


def reply_area(base: str) -> str:
    """The topic prefix a requester's own Response Topic must start with."""
    return f"{base}/reply/"


def reply_route(base: str, name: str, properties) -> ReplyRoute:
    """The route of the reply to command `name` given the request's v5 `properties` (None for v3.1.1)."""
    default = f"{base}/cmd/{name}/reply"
    correlation = getattr(properties, "CorrelationData", None) if properties is not None else None
    correlation = bytes(correlation) if correlation is not None else None
    wanted = getattr(properties, "ResponseTopic", None) if properties is not None else None
    if wanted is None:
        return ReplyRoute(default, correlation)
    problem = response_topic_problem(base, name, wanted)
    if problem is not None:
        return ReplyRoute(default, correlation, refusal=f"response topic {str(wanted)[:80]!r} refused: {problem}")
    return ReplyRoute(wanted, correlation)


def response_topic_problem(base: str, name: str, topic: str) -> str | None:
    """Why a requested Response Topic is not allowed; None when it is."""
    if not isinstance(topic, str) or not topic:
        return "empty"
    if len(topic.encode("utf-8", "surrogatepass")) > MAX_RESPONSE_TOPIC:
        return f"longer than {MAX_RESPONSE_TOPIC} bytes"
    if any(bad in topic for bad in "+#\x00"):
        return "a wildcard or NUL is not a topic to publish on"
    if topic == f"{base}/cmd/{name}/reply":
        return None
    area = reply_area(base)
    if topic.startswith(area) and len(topic) > len(area) and "//" not in topic[len(area) - 1 :]:
        return None
    return f"a reply goes only under this device's {area}… (or its {base}/cmd/{name}/reply)"
