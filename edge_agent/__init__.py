"""edge-agent: cameras and door controllers in, structured alerts out over MQTT.

The public API is small; everything else lives in private-by-convention modules
of the stage subpackages (sources, vision, tracking, rules, store, publish, daemon).
"""

__version__ = "0.1.0"

from edge_agent.clock import Clock, FakeClock, SystemClock
from edge_agent.config import AgentConfig, ConfigError, load_config
from edge_agent.events import (
    Alert,
    AlertDetails,
    Box,
    Detection,
    DoorEvent,
    Frame,
    FrameDetections,
    Severity,
    Source,
    Track,
    new_event_id,
)

__all__ = [
    "__version__",
    "AgentConfig",
    "Alert",
    "AlertDetails",
    "Box",
    "Clock",
    "ConfigError",
    "Detection",
    "DoorEvent",
    "FakeClock",
    "Frame",
    "FrameDetections",
    "Severity",
    "Source",
    "SystemClock",
    "Track",
    "load_config",
    "new_event_id",
]
