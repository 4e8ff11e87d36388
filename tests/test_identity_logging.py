from __future__ import annotations

import io
import json
import logging

import pytest

from edge_agent.identity import derive_device_id
from edge_agent.logs import redact, setup_logging


@pytest.fixture(autouse=True)
def restore_root_logger():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_device_id_is_stable_hash_not_raw_machine_id(tmp_path):
    machine_id = tmp_path / "machine-id"
    machine_id.write_text("4f1c2a9e0b7d4e6fa1b2c3d4e5f60718\n")
    first = derive_device_id([machine_id])
    assert first == derive_device_id([machine_id])
    assert first.startswith("ea-") and len(first) == 15
    assert "4f1c2a9e" not in first
    machine_id.write_text("0000000000000000000000000000000a\n")
    assert derive_device_id([machine_id]) != first


def test_device_id_falls_back_to_next_file_and_fails_clearly(tmp_path):
    second = tmp_path / "dbus-machine-id"
    second.write_text("abc\n")
    assert derive_device_id([tmp_path / "missing", second]).startswith("ea-")
    with pytest.raises(RuntimeError, match="set device.id"):
        derive_device_id([tmp_path / "missing"])


def test_json_logs_are_one_object_per_line_and_secrets_are_masked():
    stream = io.StringIO()
    setup_logging("info", "json", stream=stream)
    redact("hunter2-password")
    log = logging.getLogger("edge_agent.test")
    log.info("connecting with %s", "hunter2-password", extra={"camera": "cam1"})
    log.debug("hidden at info level")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["level"] == "info" and entry["camera"] == "cam1"
    assert "hunter2" not in lines[0] and "****" in entry["msg"]


def test_text_logs_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    setup_logging("debug", "auto", stream=stream)
    logging.getLogger("edge_agent.test").debug("plain words")
    assert "plain words" in stream.getvalue() and not stream.getvalue().startswith("{")
