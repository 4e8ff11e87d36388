import os
import socket

import pytest

from edge_agent.daemon.notify import SystemdNotifier


@pytest.fixture
def notify_socket(tmp_path):
    path = tmp_path / "notify.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(path))
    server.settimeout(2)
    yield str(path), server
    server.close()


def test_messages_reach_a_real_datagram_socket(notify_socket):
    path, server = notify_socket
    notifier = SystemdNotifier({"NOTIFY_SOCKET": path})
    assert notifier.enabled
    assert notifier.ready("running 2 cameras")
    assert server.recv(4096) == b"READY=1\nSTATUS=running 2 cameras"
    assert notifier.watchdog()
    assert server.recv(4096) == b"WATCHDOG=1"
    assert notifier.stopping()
    assert server.recv(4096) == b"STOPPING=1"
    notifier.close()


def test_abstract_socket_name(tmp_path):
    name = f"edge-agent-test-{os.getpid()}"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(b"\0" + name.encode())
    server.settimeout(2)
    try:
        assert SystemdNotifier({"NOTIFY_SOCKET": "@" + name}).status("line1\nline2")
        assert server.recv(4096) == b"STATUS=line1 line2"
    finally:
        server.close()


def test_without_systemd_everything_is_a_no_op():
    notifier = SystemdNotifier({})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert notifier.watchdog_interval is None


def test_watchdog_interval_is_half_of_watchdog_usec_for_this_pid():
    assert SystemdNotifier({"WATCHDOG_USEC": "20000000"}).watchdog_interval == 10.0
    mine = {"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())}
    assert SystemdNotifier(mine).watchdog_interval == 2.0
    other = {"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"}
    assert SystemdNotifier(other).watchdog_interval is None
    assert SystemdNotifier({"WATCHDOG_USEC": "soon"}).watchdog_interval is None


def test_a_vanished_socket_is_counted_not_raised(tmp_path):
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert notifier.watchdog() is False
    assert notifier.watchdog() is False
    assert notifier.failures == 2
