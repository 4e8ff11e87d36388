"""The door service: access adapters → door rules + tailgating fusion, with their state kept in the state store.

Door logic, not daemon plumbing: `service.py` (`AccessService`) builds and runs what the access
config asks for, `door_commit.py` holds a door event's acknowledgement until its alerts are
committed. The daemon's `access` stage (daemon/access_stages.py) only supervises the service.
"""
