"""Video rules: zones, lines, schedules and the engine that turns tracks into alerts.

(The access-control rules, door.py and fusion.py, live here too but are separate modules.)
"""

from edge_agent.rules.engine import CameraRules, RuleEngine
from edge_agent.rules.geometry import DirectedLine, LineCounter, Polygon
from edge_agent.rules.schedule import ArmingSchedule

__all__ = ["ArmingSchedule", "CameraRules", "DirectedLine", "LineCounter", "Polygon", "RuleEngine"]
