"""Telemetry: the figures a fleet operator needs, sampled every N seconds and published via the outbox.

System figures come from /proc and /sys directly (no psutil on the allowed list):
process CPU from /proc/self/stat, RSS from /proc/self/status, memory from
/proc/meminfo, disk free with statvfs and the SoC temperature from the thermal
zones where the board exposes one.
"""

from __future__ import annotations

import logging
import os
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edge_agent.clock import Clock, iso_utc, wire_time
from edge_agent.events import Telemetry
from edge_agent.malloc_arenas import arena_count

log = logging.getLogger(__name__)

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_SOC_ZONE_HINTS = ("cpu", "soc", "x86_pkg", "tcpu", "acpitz")


class SystemStats:
    """Process and host figures; CPU% is measured between consecutive `sample()` calls."""

    def __init__(self, disk_path: Path, clock: Clock, proc: Path = Path("/proc"), sys_root: Path = Path("/sys")):
        self.disk_path = Path(disk_path)
        self.clock = clock
        self.proc = proc
        self.sys_root = sys_root
        self._last_cpu: tuple[float, float] | None = None  # (monotonic, cpu seconds)

    def sample(self) -> dict:
        return self._without_none({"cpu_percent": self._cpu_percent(), **self._levels()})

    def current(self) -> dict:
        """The same figures read now, without moving the CPU% baseline: cumulative `cpu_seconds` instead."""
        return self._without_none({"cpu_seconds": self.process_cpu_seconds(), **self._levels()})

    def _levels(self) -> dict:
        figures = {
            "rss_mb": self._rss_mb(),
            "threads": self._threads(),
            "load_1m": _round(os.getloadavg()[0]) if hasattr(os, "getloadavg") else None,
            "cpu_count": os.cpu_count(),
            "malloc_arenas": arena_count(),  # glibc only: at most 2 (edge_agent/malloc_arenas.py)
            # the Python heap, only while tracemalloc traces (PYTHONTRACEMALLOC=1: bench/bench_daemon.py --python-heap)
            "python_traced_mb": _round(tracemalloc.get_traced_memory()[0] / 2**20)
            if tracemalloc.is_tracing()
            else None,
        }
        figures.update(self._memory())
        figures.update(self._disk())
        figures["soc_temp_c"] = soc_temperature(self.sys_root)
        return figures

    @staticmethod
    def _without_none(figures: dict) -> dict:
        return {key: value for key, value in figures.items() if value is not None}

    def process_cpu_seconds(self) -> float | None:
        try:
            fields = (self.proc / "self" / "stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime
        except (OSError, IndexError, ValueError):
            return None

    def _cpu_percent(self) -> float | None:
        cpu = self.process_cpu_seconds()
        now = self.clock.monotonic()
        if cpu is None:
            return None
        previous, self._last_cpu = self._last_cpu, (now, cpu)
        if previous is None or now <= previous[0]:
            return None
        # percent of one core, like top: 4 busy cores show 400
        return _round(100.0 * (cpu - previous[1]) / (now - previous[0]))

    def _rss_mb(self) -> float | None:
        value = _status_field(self.proc / "self" / "status", "VmRSS")
        return None if value is None else _round(value / 1024)

    def _threads(self) -> int | None:
        value = _status_field(self.proc / "self" / "status", "Threads")
        return None if value is None else int(value)

    def _memory(self) -> dict:
        info = {}
        try:
            for line in (self.proc / "meminfo").read_text().splitlines():
                key, _, rest = line.partition(":")
                info[key] = int(rest.split()[0])
        except (OSError, ValueError, IndexError):
            return {}
        if "MemTotal" not in info or "MemAvailable" not in info:
            return {}
        return {
            "mem_total_mb": _round(info["MemTotal"] / 1024),
            "mem_available_mb": _round(info["MemAvailable"] / 1024),
        }

    def _disk(self) -> dict:
        path = self.disk_path
        while not path.exists() and path != path.parent:
            path = path.parent
        try:
            stats = os.statvfs(path)
        except OSError:
            return {}
        return {
            "disk_free_mb": _round(stats.f_bavail * stats.f_frsize / 2**20),
            "disk_total_mb": _round(stats.f_blocks * stats.f_frsize / 2**20),
        }


def soc_temperature(sys_root: Path = Path("/sys")) -> float | None:
    """Degrees C from the CPU/SoC thermal zone (Pi, Jetson, x86 package), else the first readable zone."""
    zones = sorted((Path(sys_root) / "class" / "thermal").glob("thermal_zone*"))
    readings = []
    for zone in zones:
        try:
            kind = (zone / "type").read_text().strip().lower()
            millidegrees = int((zone / "temp").read_text().strip())
        except (OSError, ValueError):
            continue
        readings.append((not any(hint in kind for hint in _SOC_ZONE_HINTS), millidegrees / 1000.0))
    if not readings:
        return None
    readings.sort(key=lambda reading: reading[0])
    return _round(readings[0][1])


def _status_field(path: Path, name: str) -> float | None:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(name + ":"):
                return float(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(float(value), digits)


Section = Callable[[], dict]


@dataclass
class TelemetrySources:
    """Callables that return one telemetry section each; a failing one is reported, not fatal."""

    cameras: Section | None = None
    lines: Section | None = None
    outbox: Section | None = None
    adapters: Section | None = None
    stages: Section | None = None
    detector: Section | None = None
    extra_system: dict[str, Section] = field(default_factory=dict)


class TelemetryCollector:
    def __init__(self, device_id: str, clock: Clock, system: SystemStats, sources: TelemetrySources):
        self.device_id = device_id
        self.clock = clock
        self.system = system
        self.sources = sources
        self.started = clock.monotonic()
        self.section_errors = 0
        self.last: Telemetry | None = None

    def sample(self) -> Telemetry:
        """The periodic sample: CPU% since the previous one; kept as `last`."""
        telemetry = self._build(self.system.sample())
        self.last = telemetry
        return telemetry

    def current(self) -> Telemetry:
        """The figures as they are now, for a scrape: no CPU% baseline moved, `last` untouched."""
        return self._build(self.system.current())

    def _build(self, system: dict) -> Telemetry:
        for name, source in self.sources.extra_system.items():
            system[name] = self._section(name, source)
        return Telemetry(
            device_id=self.device_id,
            at=iso_utc(self.clock.wall()),
            uptime_s=round(self.clock.monotonic() - self.started, 1),
            cameras=self._section("cameras", self.sources.cameras),
            lines=self._section("lines", self.sources.lines),
            outbox=self._section("outbox", self.sources.outbox),
            adapters=self._section("adapters", self.sources.adapters),
            stages=self._section("stages", self.sources.stages),
            detector=self._section("detector", self.sources.detector),
            system=system,
        )

    def _section(self, name: str, source: Section | None) -> dict:
        if source is None:
            return {}
        try:
            return _plain(source() or {})
        except Exception as exc:  # a stage mid-restart must not cost the whole sample
            self.section_errors += 1
            log.warning("telemetry section %s failed: %r", name, exc)
            return {"error": f"{type(exc).__name__}: {exc}"[:200]}


def _plain(value):
    """Dataclasses, tuples and numpy scalars to JSON-friendly values; `*_at` times to RFC 3339 (clock.wire_time)."""
    if hasattr(value, "__dataclass_fields__"):
        value = {key: getattr(value, key) for key in value.__dataclass_fields__}
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(key): wire_time(str(key), _plain(item)) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return value.item()
    if isinstance(value, float):
        return round(value, 3)
    return value
