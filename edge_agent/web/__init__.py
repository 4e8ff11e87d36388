"""The technician's page: a small Starlette app the daemon serves on its own thread (see server.py)."""
