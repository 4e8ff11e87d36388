"""`edge-agent check-config FILE`: validate and summarise, or list every problem."""

from __future__ import annotations

from edge_agent.cli.common import load_config_or_exit
from edge_agent.config import AgentConfig


def register(subparsers) -> None:
    parser = subparsers.add_parser("check-config", help="validate a config file and summarise it")
    parser.add_argument("file", help="config YAML")
    parser.set_defaults(handler=run)


def run(args) -> int:
    config = load_config_or_exit(args.file)
    print(f"{args.file}: OK")
    print(summary(config))
    return 0


def summary(config: AgentConfig) -> str:
    device = config.device
    mqtt = config.mqtt
    scheme = "mqtts" if mqtt.tls.enabled else "mqtt"
    lines = [
        f"device:  id={device.id or '(from machine-id)'} site={device.site} tz={device.timezone} "
        f"state={device.state_dir}",
        f"broker:  {scheme}://{mqtt.host}:{mqtt.port} MQTT {mqtt.protocol} prefix={mqtt.topic_prefix}"
        + (" TLS-VERIFY-OFF" if mqtt.tls.insecure else ""),
        f"detector: {config.detector.model} ({config.detector.variant}) score>={config.detector.score_threshold}",
        f"cameras: {len(config.cameras)}",
    ]
    for camera in config.cameras:
        lines.append(
            f"  - {camera.id}: {camera.url} @ {camera.detect_fps:g} fps, zones={sorted(camera.zones)}, "
            f"lines={sorted(camera.lines)}"
        )
    lines.append(
        f"doors:   {len(config.access.doors)} ({', '.join(d.id for d in config.access.doors) or '-'}),"
        f" adapters: {', '.join(f'{a.id}({a.type})' for a in config.access.adapters) or '-'}"
    )
    lines.append(f"rules:   {len(config.rules)}")
    for rule in config.rules:
        target = getattr(rule, "zone", None) or getattr(rule, "line", None)
        lines.append(f"  - {rule.name}: {rule.type} on {rule.camera}/{target} [{rule.severity.value}]")
    return "\n".join(lines)
