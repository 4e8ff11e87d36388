"""glibc malloc arenas capped at two inside the process, however the agent is started (edge_agent/malloc_arenas.py).

`MALLOC_ARENA_MAX=2` in the systemd unit covered only the unit: `edge-agent run` started any other way
grew (206 → 239 MB in 11 minutes, bench/README.md). The real `edge-agent run` here runs without the
variable, with two cameras and a two-thread detector, so several threads allocate frames at once, and
its telemetry reads the arenas back (`malloc_info`): never more than two.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from edge_agent import malloc_arenas
from tests.support.assets import entrance_camera
from tests.support.daemon import ROOT, Daemon, Watcher, base_config
from tests.support.wait import wait_for
from tests.test_daemon_video import models_dir  # noqa: F401 - a fixture

pytestmark = pytest.mark.skipif(malloc_arenas.arena_count() is None, reason="not glibc: no malloc arenas to cap")

THREADS_ALLOCATING = """
import threading
from edge_agent import malloc_arenas
{setup}

def churn():
    for _ in range(2000):
        [bytearray(4096) for _ in range(50)]

threads = [threading.Thread(target=churn) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(malloc_arenas.arena_count())
"""


def arenas_after_eight_allocating_threads(setup: str) -> int:
    script = textwrap.dedent(THREADS_ALLOCATING.format(setup=setup))
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}  # no MALLOC_ARENA_MAX from the caller's environment
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    return int(result.stdout)


def test_without_the_cap_allocating_threads_get_arenas_of_their_own_and_with_it_two():
    assert arenas_after_eight_allocating_threads("") > 2  # what the agent would do uncapped
    assert arenas_after_eight_allocating_threads("malloc_arenas.limit_arenas({})") == 2


def test_an_arena_limit_the_environment_sets_is_left_alone():
    said = malloc_arenas.limit_arenas({"MALLOC_ARENA_MAX": "4"})
    assert said == "malloc arenas: MALLOC_ARENA_MAX=4 from the environment"


def test_edge_agent_run_caps_its_arenas_without_the_units_environment(tmp_path, mosquitto, models_dir):  # noqa: F811
    cameras = [entrance_camera(id=name) for name in ("left", "right")]
    config = base_config(
        tmp_path / "state",
        mosquitto.port,
        detector={"models_dir": str(models_dir), "threads": 2},
        cameras=cameras,
        telemetry={"interval": 1},
    )
    watcher = Watcher(mosquitto.port)
    daemon = Daemon(tmp_path / "agent", config, env={"MALLOC_ARENA_MAX": ""}).start()  # empty: glibc's default
    try:

        def busy_samples() -> list[dict]:
            samples = [t for t in watcher.payloads("telemetry") if t.get("cameras")]
            detecting = [t for t in samples if all(c.get("processed_fps", 0) > 0 for c in t["cameras"].values())]
            return detecting if len(detecting) >= 5 else []

        samples = wait_for(busy_samples, timeout=90, message="five telemetry samples with both cameras detecting")
        arenas = [t["system"]["malloc_arenas"] for t in samples]
        assert max(arenas) == 2, arenas  # main + one, however busy (uncapped: one per busy thread, up to 16 here)
        assert "malloc arenas: at most 2 (mallopt M_ARENA_MAX at start)" in daemon.log()
    finally:
        assert daemon.stop() == 0
        watcher.close()
