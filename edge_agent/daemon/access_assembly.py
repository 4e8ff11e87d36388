"""The daemon's access-control stages: adapters → DoorRules, plus tailgating fusion with camera lines.

Not wired yet: the adapters, door rules and fusion (edge_agent/sources/access, rules/door.py,
rules/fusion.py) were still being written when the daemon was assembled. Until this module
builds them, a config with access adapters fails to start with the reason below (and a reload
to such a config is rolled back), rather than running without the doors it names.
"""

from __future__ import annotations


class AccessNotAvailable(RuntimeError):
    pass


def access_stages(config, sink, factory, clock, crossing_source):
    ids = ", ".join(adapter.id for adapter in config.access.adapters)
    raise AccessNotAvailable(
        f"access adapters are configured ({ids}) but this build of the daemon does not run access adapters yet"
    )
