"""The running agent has one narrow face (edge_agent/control.py), and what uses it never reaches past it.

Read with `ast`: in the technician's page (web/), the remote commands (publish/commands.py) and status reporting
(daemon/reporting.py) every attribute read off the agent (`agent.x`, `context.agent.x`, `self.agent.x`) is a member
of `AgentControl`; a config change (daemon/config_change.py) reads only `ConfigHost`'s members off its host and
never imports the agent. So the page cannot reach into `agent.pipeline` or `agent.delivery.outbox` again, and a
config change cannot take the agent's lock or set its text from outside.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from edge_agent import control
from edge_agent.daemon import config_change
from edge_agent.daemon.agent import Agent
from edge_agent.daemon.face import AgentFace

ROOT = Path(__file__).resolve().parents[1] / "edge_agent"
FACE_USERS = [*sorted((ROOT / "web").glob("*.py")), ROOT / "publish" / "commands.py", ROOT / "daemon" / "reporting.py"]


def members(protocol: type) -> set[str]:
    """Its methods and properties, and the attributes it only annotates."""
    names = set(vars(protocol)) | set(vars(protocol).get("__annotations__", {}))
    return {name for name in names if not name.startswith("_")}


def reads_off(source: str, holder: str) -> list[tuple[int, str]]:
    """(line, attribute) of every `holder.x` read, `holder` being a name or the last attribute of an expression."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute):
            base = node.value
            if (isinstance(base, ast.Name) and base.id == holder) or (
                isinstance(base, ast.Attribute) and base.attr == holder
            ):
                found.append((node.lineno, node.attr))
    return found


def test_the_page_the_commands_and_status_reach_the_agent_only_through_its_face():
    allowed = members(control.AgentControl)
    beyond = [
        f"{path.relative_to(ROOT.parent)}:{line}: agent.{name}"
        for path in FACE_USERS
        for line, name in reads_off(path.read_text(encoding="utf-8"), "agent")
        if name not in allowed
    ]
    assert not beyond, "reads past the agent's face (edge_agent/control.py AgentControl):\n" + "\n".join(beyond)


def test_a_config_change_uses_only_its_host_protocol_and_never_imports_the_agent():
    path = ROOT / "daemon" / "config_change.py"
    source = path.read_text(encoding="utf-8")
    beyond = [
        f"line {line}: host.{name}"
        for line, name in reads_off(source, "host")
        if name not in members(config_change.ConfigHost)
    ]
    assert not beyond, "config_change reads past ConfigHost:\n" + "\n".join(beyond)
    imported = {node.module for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom) and node.module}
    assert "edge_agent.daemon.agent" not in imported


def test_the_face_and_the_agent_implement_their_protocols_whole():
    """Every member of the face's protocol is on AgentFace, and every member of ConfigHost on the Agent, with the
    same parameters: a protocol method added without an implementation fails here, not on a technician's click."""
    for protocol, implementation in ((control.AgentControl, AgentFace), (config_change.ConfigHost, Agent)):
        for name in members(protocol):
            ours = vars(protocol).get(name)  # None: an attribute the protocol only annotates
            theirs = inspect.getattr_static(implementation, name, None)
            if theirs is None:  # an attribute the implementation sets in __init__
                assert f"self.{name} =" in inspect.getsource(implementation), f"{implementation.__name__} lacks {name}"
                continue
            if callable(ours) and not isinstance(ours, property):
                expected = list(inspect.signature(ours).parameters)
                assert list(inspect.signature(theirs).parameters) == expected, f"{implementation.__name__}.{name}"
