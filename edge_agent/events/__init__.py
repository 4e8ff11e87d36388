"""The few types every stage speaks: frames, detections, tracks, door events, alerts."""

from edge_agent.events.alert import SCHEMA_VERSION, Alert, AlertDetails, BoxOut, Severity, Source
from edge_agent.events.door_event import DENY_REASONS, DOOR_EVENT_TYPES, DoorEvent
from edge_agent.events.factory import AlertFactory
from edge_agent.events.ids import event_id_time_ms, new_event_id
from edge_agent.events.messages import CommandReply, CommandRequest, Counts, Status, Telemetry
from edge_agent.events.sink import AlertSink, JsonLinesSink, ListSink, TeeSink
from edge_agent.events.topics import Topics
from edge_agent.events.vision_types import (
    Box,
    CrossingFeed,
    CrossingListener,
    Detection,
    Frame,
    FrameDetections,
    LineCrossing,
    Track,
)

__all__ = [
    "SCHEMA_VERSION",
    "Alert",
    "AlertFactory",
    "AlertSink",
    "JsonLinesSink",
    "CrossingFeed",
    "CrossingListener",
    "LineCrossing",
    "ListSink",
    "TeeSink",
    "Topics",
    "AlertDetails",
    "Box",
    "BoxOut",
    "CommandReply",
    "CommandRequest",
    "DENY_REASONS",
    "DOOR_EVENT_TYPES",
    "Detection",
    "DoorEvent",
    "Frame",
    "FrameDetections",
    "Severity",
    "Source",
    "Status",
    "Telemetry",
    "Counts",
    "Track",
    "event_id_time_ms",
    "new_event_id",
]
