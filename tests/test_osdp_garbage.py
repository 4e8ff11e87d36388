"""OSDP: a device that sends garbage on the bus never stops the control panel.

The other end of the pty answers every poll with random bytes (and a few
frames that start like OSDP but are broken). libosdp drops them; the reader
never comes online, nothing is emitted, the adapter thread lives on and stops
cleanly.
"""

from __future__ import annotations

import os
import pty
import random
import select
import threading
import time
import tty

from edge_agent.clock import SystemClock
from edge_agent.sources.access import build_adapters
from tests.support.wait import wait_for
from tests.test_access_common import EventLog, access_config


def babble(fd: int, stop: threading.Event, polls: list[int]) -> int:
    """Read the panel's polls (counted in `polls`) and answer with noise until stopped."""
    rng = random.Random(5)
    sent = 0
    while not stop.is_set():
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                if os.read(fd, 4096):  # the panel's polls
                    polls[0] += 1
            except OSError:
                return sent
        noise = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 64)))
        if rng.random() < 0.3:  # start of mark + SOM + a bogus header, then junk
            noise = b"\xff\x53\x81" + noise
        try:
            os.write(fd, noise)
        except OSError:
            return sent
        sent += len(noise)
    return sent


def test_a_peripheral_sending_garbage_never_stops_the_panel(tmp_path):
    master, slave = pty.openpty()
    tty.setraw(slave)
    scbk = tmp_path / "scbk"
    scbk.write_text("00" * 16)
    access = access_config(
        tmp_path,
        doors=[{"id": "main-gate"}],
        adapters=[
            {
                "type": "osdp",
                "id": "bus",
                "device": os.ttyname(slave),
                "readers": [{"address": 1, "door": "main-gate", "scbk_file": str(scbk)}],
            }
        ],
    )
    events = EventLog()
    [adapter] = build_adapters(access, events, SystemClock())
    stop = threading.Event()
    sent: list[int] = []
    polls = [0]
    noise = threading.Thread(target=lambda: sent.append(babble(master, stop, polls)), daemon=True)
    adapter.start()
    noise.start()
    try:
        # The panel keeps polling through the noise (libosdp retries, then probes again).
        wait_for(lambda: polls[0] >= 3, timeout=15, message="panel polls while answered with garbage")
        assert adapter.alive() and not adapter.online
    finally:
        stop.set()
        noise.join(5)
        started = time.monotonic()
        adapter.stop()
        stop_s = time.monotonic() - started
        os.close(master)
        os.close(slave)
    assert sent and sent[0] > 1000, "the garbage really went out"
    assert not [e for e in events.events if e.type not in ("reader.offline", "reader.online")]
    assert adapter.counters.get("internal_errors", 0) == 0 and adapter.counters.get("consumer_errors", 0) == 0
    assert stop_s < 5.0
