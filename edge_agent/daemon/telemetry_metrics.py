"""The telemetry figures as Prometheus metric families, read live at each scrape (the endpoint: prometheus.py).

`TelemetryMetrics` is a prometheus_client collector that reads the telemetry sources live on
every scrape (`TelemetryCollector.current()`), not the last periodic sample, so counters move
between scrapes. Figures that only grow are counters (`…_total`), levels are gauges, and ids
(camera, line, adapter, stage, class, reason) are labels, never part of a name. Text figures
(states, errors) stay in the MQTT telemetry.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from edge_agent.clock import parse_utc
from edge_agent.events import Telemetry

log = logging.getLogger(__name__)

PREFIX = "edge_agent"
MB = 2**20
_NAME_BAD = re.compile(r"[^a-zA-Z0-9_]")  # counter keys that become part of a metric name

# telemetry key -> (metric name, help); one table per section, counters and gauges apart
_CAMERA_COUNTERS = {
    "frames_captured": ("camera_frames_captured_total", "Frames decoded from the camera."),
    "frames_dropped": ("camera_frames_dropped_total", "Decoded frames replaced by a newer one before use."),
    "reconnects": ("camera_reconnects_total", "Times the camera stream was reopened."),
    "frames_gated": ("camera_frames_gated_total", "Frames the motion gate passed to the detector."),
    "detector_calls": ("camera_detector_calls_total", "Detector runs on this camera's frames."),
    "detector_dropped": ("camera_detector_dropped_total", "Frames replaced in the detector queue by a newer one."),
}
_CAMERA_GAUGES = {
    "online": ("camera_online", "1 while the camera delivers frames."),
    "capture_fps": ("camera_capture_fps", "Decoded frames per second."),
    "motion_gate_ratio": ("camera_motion_gate_ratio", "Share of frames the motion gate passed."),
    "detector_ms": ("camera_detector_ms", "Mean detector milliseconds per frame."),
    "tracker_ms": ("camera_tracker_ms", "Mean tracker milliseconds per frame."),
    "live_tracks": ("camera_live_tracks", "Objects currently tracked."),
}
_DETECTOR_COUNTERS = {
    "calls": ("detector_calls_total", "Detector runs, all cameras."),
    "errors": ("detector_errors_total", "Detector runs that raised."),
    "dropped": ("detector_dropped_total", "Frames replaced in the detector queue by a newer one."),
}
_DETECTOR_GAUGES = {
    "queue_depth": ("detector_queue_depth", "Frames waiting for the detector."),
    "mean_ms": ("detector_mean_ms", "Mean detector milliseconds per run."),
}
_OUTBOX_GAUGES = {
    "rows": ("outbox_rows", "Rows in the outbox, any state."),
    "bytes": ("outbox_bytes", "Payload bytes in the outbox."),
    "oldest_pending_age_s": ("outbox_oldest_pending_age_seconds", "Age of the oldest undelivered message."),
    "last_delivery_at": ("outbox_last_delivery_timestamp_seconds", "Unix time of the last broker acknowledgement."),
    "low_disk": ("outbox_low_disk", "1 while free disk is below outbox.min_free_disk_mb."),
}
_STAGE_COUNTERS = {"restarts": ("stage_restarts_total", "Supervisor restarts of the stage.")}
_STAGE_GAUGES = {"idle_s": ("stage_idle_seconds", "Seconds since the stage last showed progress.")}
_SYSTEM_COUNTERS = {"cpu_seconds": ("process_cpu_seconds_total", "CPU seconds used by the agent (user + system).")}
_SYSTEM_GAUGES = {
    "threads": ("process_threads", "Threads of the agent process."),
    "load_1m": ("system_load1", "Host load average over one minute."),
    "cpu_count": ("system_cpus", "CPUs of the host."),
    "soc_temp_c": ("system_soc_temperature_celsius", "CPU/SoC temperature, where a thermal zone is readable."),
}
_SYSTEM_MB_GAUGES = {  # telemetry speaks MB; Prometheus speaks bytes
    "rss_mb": ("process_resident_memory_bytes", "Resident memory of the agent."),
    "mem_total_mb": ("system_memory_total_bytes", "Host memory."),
    "mem_available_mb": ("system_memory_available_bytes", "Host memory available."),
    "disk_free_mb": ("system_disk_free_bytes", "Free disk where the state directory lives."),
    "disk_total_mb": ("system_disk_total_bytes", "Size of the disk where the state directory lives."),
}
_MQTT_COUNTERS = {
    key: (f"mqtt_{key}_total", text)
    for key, text in {
        "connect_attempts": "Connection attempts to the broker.",
        "connects": "Successful connections to the broker.",
        "disconnects": "Connections lost.",
        "published": "Messages handed to the broker.",
        "delivered": "Messages the broker acknowledged.",
        "refused": "Messages the broker refused.",
        "unrouted": "Alarms and events the broker had no subscriber for, sent again (mqtt.retry_unrouted).",
        "errors": "Publisher errors.",
    }.items()
}
_MQTT_GAUGES = {
    "connected": ("mqtt_connected", "1 while connected to the broker."),
    "inflight": ("mqtt_inflight", "Messages sent and not yet acknowledged."),
    "peak_inflight": ("mqtt_inflight_peak", "Most messages in flight at once."),
    "window_size": ("mqtt_inflight_window", "mqtt.max_inflight."),
    "next_retry_s": ("mqtt_next_retry_seconds", "Seconds until the next connection attempt, while disconnected."),
    "last_connected_at": ("mqtt_last_connected_timestamp_seconds", "Unix time of the last connection."),
    "first_unrouted_at": (
        "mqtt_first_unrouted_timestamp_seconds",
        "Unix time since which every alarm and event found no subscriber (absent while they reach one).",
    ),
}
_ADAPTER_TEXT = {
    "type",
    "online",
    "last_error",
    "rejected_total",
    "rejected",
    "port",
    "next_start_in_s",
    "readers_online",
}


class _Families:
    """Collects samples into one family per metric name, so each is exposed once with its labels."""

    def __init__(self) -> None:
        self.families: dict[str, Metric] = {}

    def counter(self, name: str, doc: str, labels: dict, value) -> None:
        self._add(CounterMetricFamily, name, doc, labels, value)

    def gauge(self, name: str, doc: str, labels: dict, value) -> None:
        self._add(GaugeMetricFamily, name, doc, labels, value)

    def table(self, figures: dict, labels: dict, counters: dict, gauges: dict, scale: float = 1) -> None:
        for key, (name, doc) in counters.items():
            self.counter(name, doc, labels, figures.get(key))
        for key, (name, doc) in gauges.items():
            value = figures.get(key)
            if key.endswith("_at") and isinstance(value, str):  # telemetry's RFC 3339; Prometheus takes Unix time
                value = parse_utc(value)
            self.gauge(name, doc, labels, value * scale if _number(value) and not isinstance(value, bool) else value)

    def _add(self, kind, name: str, doc: str, labels: dict, value) -> None:
        if not _number(value):
            return  # absent, or text (states, errors): those stay in the MQTT telemetry
        family = self.families.get(name)
        if family is None:
            family = self.families[name] = kind(f"{PREFIX}_{name}", doc, labels=list(labels))
        family.add_metric([str(item) for item in labels.values()], float(value))


def _number(value) -> bool:
    return isinstance(value, (int, float))


def _sections(telemetry: Telemetry) -> dict[str, Metric]:
    out = _Families()
    out.gauge("uptime_seconds", "Seconds since the agent started.", {}, telemetry.uptime_s)
    for camera, figures in _dicts(telemetry.cameras):
        out.table(figures, {"camera": camera}, _CAMERA_COUNTERS, _CAMERA_GAUGES)
    for key, counts in _dicts(telemetry.lines):
        camera, _, line = key.partition("/")
        for direction, count in counts.items():
            out.counter(
                "line_crossings_total",
                "Tracks that crossed the line, by direction.",
                {"camera": camera, "line": line, "direction": direction},
                count,
            )
    _detector(out, telemetry.detector)
    _outbox(out, telemetry.outbox)
    for adapter, figures in _dicts(telemetry.adapters):
        _adapter(out, adapter, figures)
    for stage, figures in _dicts(telemetry.stages):
        out.table(figures, {"stage": stage}, _STAGE_COUNTERS, _STAGE_GAUGES)
        out.gauge(
            "stage_running",
            "1 while the supervisor sees the stage running.",
            {"stage": stage},
            figures.get("status") == "running",
        )
    _system(out, telemetry.system)
    return out.families


def _dicts(section: dict) -> Iterator[tuple[str, dict]]:
    """The per-id entries of a section; a failed section (`{"error": …}`) yields none."""
    return ((key, value) for key, value in sorted(section.items()) if isinstance(value, dict))


def _detector(out: _Families, figures: dict) -> None:
    out.table(figures, {}, _DETECTOR_COUNTERS, _DETECTOR_GAUGES)
    if "model" in figures:
        out.gauge(
            "detector_info",
            "The loaded model (always 1).",
            {"model": figures["model"], "variant": figures.get("variant") or ""},
            1,
        )


def _outbox(out: _Families, figures: dict) -> None:
    out.table(figures, {}, {}, _OUTBOX_GAUGES)
    for state in ("pending", "inflight", "delivered"):
        for cls, count in (figures.get(state) or {}).items():
            out.gauge(
                "outbox_messages", "Messages in the outbox by state and class.", {"state": state, "class": cls}, count
            )
    for cls, count in (figures.get("enqueued") or {}).items():
        out.counter(
            "outbox_enqueued_total", "Messages stored, by class (since the outbox was opened).", {"class": cls}, count
        )
    for cls, count in (figures.get("drops") or {}).items():
        out.counter(
            "outbox_dropped_total", "Messages lost (refused, evicted, expired), by class.", {"class": cls}, count
        )
    for reason, count in (figures.get("drops_by_reason") or {}).items():
        out.counter("outbox_dropped_by_reason_total", "Messages lost, by reason.", {"reason": reason}, count)


def _adapter(out: _Families, adapter: str, figures: dict) -> None:
    labels = {"adapter": adapter}
    out.gauge(
        "adapter_online",
        "1 while the access adapter's link is up.",
        {**labels, "type": figures.get("type", "")},
        figures.get("online"),
    )
    out.gauge(
        "adapter_next_start_seconds",
        "Seconds until the next start attempt of an adapter that failed to start.",
        labels,
        figures.get("next_start_in_s"),
    )
    for reason, count in (figures.get("rejected") or {}).items():
        out.counter(
            "adapter_rejected_total", "Messages the adapter rejected, by reason.", {**labels, "reason": reason}, count
        )
    for reader, online in (figures.get("readers_online") or {}).items():
        out.gauge("adapter_reader_online", "1 while the OSDP reader answers.", {**labels, "reader": reader}, online)
    for key, count in sorted(figures.items()):
        if key not in _ADAPTER_TEXT and not isinstance(count, bool):
            out.counter(f"adapter_{_NAME_BAD.sub('_', key)}_total", f"Access adapter counter {key}.", labels, count)


def _system(out: _Families, system: dict) -> None:
    out.table(system, {}, _SYSTEM_COUNTERS, _SYSTEM_GAUGES)
    out.table(system, {}, {}, _SYSTEM_MB_GAUGES, scale=MB)
    mqtt = system.get("mqtt") or {}
    out.table(mqtt, {}, _MQTT_COUNTERS, _MQTT_GAUGES)
    agent = system.get("agent") or {}
    for key, count in sorted(agent.items()):
        if key != "commands":  # commands_handled, sd_notify_failures, telemetry_section_errors, …
            out.counter(f"{_NAME_BAD.sub('_', key)}_total", f"Agent counter {key}.", {}, count)
    for name_outcome, count in (agent.get("commands") or {}).items():
        command, _, outcome = str(name_outcome).rpartition(":")
        out.counter(
            "commands_total", "Remote commands by name and outcome.", {"command": command, "outcome": outcome}, count
        )
    _actions(out, system.get("actions") or {})


def _actions(out: _Families, figures: dict) -> None:
    """Telemetry system.actions (actions/runner.py `snapshot`)."""
    for action, item in _dicts(figures.get("by_action") or {}):
        labels = {"action": action}
        out.gauge("action_queued", "Runs waiting in the action's queue.", labels, item.get("queued"))
        out.counter(
            "action_off_schedule_total", "Triggers outside the action's schedule.", labels, item.get("off_schedule")
        )
        for outcome, count in sorted((item.get("outcomes") or {}).items()):
            out.counter(
                "action_runs_total", "Action runs and refusals by outcome.", {**labels, "outcome": outcome}, count
            )
    out.counter("action_records_lost_total", "Action records not stored.", {}, figures.get("records_lost"))


class TelemetryMetrics:
    """A prometheus_client collector over a telemetry reading taken at scrape time."""

    def __init__(self, read: Callable[[], Telemetry]):
        self._read = read
        self.scrape_errors = 0

    def collect(self) -> Iterator[Metric]:
        try:
            families = _sections(self._read())
        except Exception:  # a broken source must not turn every scrape into a 500
            self.scrape_errors += 1
            log.exception("reading the figures for /metrics failed")
            families = {}
        yield from families.values()
        errors = CounterMetricFamily(
            f"{PREFIX}_metrics_scrape_errors_total", "Scrapes whose figures could not be read."
        )
        errors.add_metric([], self.scrape_errors)
        yield errors
