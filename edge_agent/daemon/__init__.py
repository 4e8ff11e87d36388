"""The long-running agent: supervisor, systemd notification, telemetry and the assembled runner."""
