"""`edge-agent actions list|render|run`: the configured local actions, what one would send, and a run now.

`list` shows each action's kind, target, triggers, limits and remote flag. `render NAME` shows
exactly what the action would send for a sample alert (HTTP request with secret values masked,
argv, OSDP commands) without sending it. `run NAME` runs it once for real and prints the outcome
record. The alert comes from `--alert FILE` (a published alert's JSON) or is built from `--type`,
`--rule`, `--zone`… and the action's own trigger. The work is edge_agent.actions.preview, .samples
and .trial; this module parses and prints.

Exit codes: 0 done (run: outcome ok); 64 usage (unknown action, osdp_output run, --yes needed);
65 the alert asked for is not valid; 66 alert file or config missing; 69 the run failed or timed
out, or `render` shows a command the agent would refuse to run (a value that could be an option or
a path); 78 invalid config or an action that cannot be built (missing program, unreadable secret file).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from edge_agent.cli.common import CliExit, load_config_or_exit

FAILED = 69  # os.EX_UNAVAILABLE: the target did not do it, as `probe` for a camera that does not answer


def register(subparsers) -> None:
    parser = subparsers.add_parser("actions", help="list local actions, show what one would send, run one now")
    commands = parser.add_subparsers(dest="actions_command", metavar="COMMAND", required=True)
    listing = commands.add_parser("list", help="each action: kind, target, triggers, limits, remote flag")
    listing.add_argument("--config", required=True, help="config YAML")
    listing.add_argument("--json", action="store_true", help="print JSON instead of text")
    listing.set_defaults(handler=run_list)
    render = commands.add_parser("render", help="show what an action would send for an alert, without sending")
    _common(render)
    render.add_argument("--json", action="store_true", help="print JSON (the body as an exact string)")
    render.set_defaults(handler=run_render)
    run = commands.add_parser("run", help="run an action once now, for real (http, command); print its record")
    _common(run)
    run.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    run.set_defaults(handler=run_run)


def _common(parser) -> None:
    parser.add_argument("name", help="action name (actions[].name)")
    parser.add_argument("--config", required=True, help="config YAML")
    parser.add_argument("--alert", metavar="JSON_FILE", help="fill the templates from this alert (published JSON)")
    sample = parser.add_argument_group("or a sample alert (defaults: the action's first trigger and its rule)")
    sample.add_argument("--type", help="alert type, e.g. intrusion, door.forced")
    sample.add_argument("--rule", help="rule name")
    sample.add_argument("--phase", choices=("start", "end", "instant"), help="alert phase")
    sample.add_argument("--source", help="camera or door id")
    sample.add_argument("--severity", choices=("info", "minor", "major", "critical"))
    for fact in ("zone", "line", "door", "reader", "direction", "object-class", "count", "message", "reason"):
        sample.add_argument(f"--{fact}", metavar=fact.replace("-", "_").upper())


def run_list(args) -> int:
    from edge_agent.actions.preview import describe_action, describe_text

    config = load_config_or_exit(args.config)
    if args.json:
        print(json.dumps([describe_action(action) for action in config.actions], indent=2))
    else:
        print(describe_text(config.actions))
    return os.EX_OK


def run_render(args) -> int:
    from edge_agent.actions.base import ActionBuildError
    from edge_agent.actions.preview import render_action, rendering_text
    from edge_agent.actions.samples import alert_summary
    from edge_agent.events.action import alert_fields

    config, action = _action(args)
    alert = _alert(args, config, action)
    try:
        shown = render_action(action, alert_fields(alert, action.name), on_the_box=True)
    except ActionBuildError as exc:
        return _fail(os.EX_CONFIG, str(exc))
    if args.json:
        print(json.dumps(shown | {"alert": json.loads(alert.to_json())}, indent=2, ensure_ascii=False))
    else:
        print(f"alert:   {alert_summary(alert)}")
        print(rendering_text(shown))
    return FAILED if shown.get("refused") else os.EX_OK


def run_run(args) -> int:
    from edge_agent.actions.base import ActionBuildError
    from edge_agent.actions.preview import target_of
    from edge_agent.actions.samples import alert_summary
    from edge_agent.actions.trial import TrialRefused, needs_the_daemon, run_once
    from edge_agent.identity import device_id_for

    config, action = _action(args)
    why_not = needs_the_daemon(action)
    if why_not:
        return _fail(os.EX_USAGE, why_not)
    alert = _alert(args, config, action)
    print(f"{action.name} ({action.kind}) -> {target_of(action)}\nalert: {alert_summary(alert)}", file=sys.stderr)
    if not args.yes and not _confirmed(action.name):
        return _fail(os.EX_USAGE, "not run: confirm at the prompt, or add --yes")
    try:
        record = run_once(action, alert, (device_id_for(config), config.device.site))
    except (ActionBuildError, TrialRefused) as exc:
        return _fail(os.EX_CONFIG if isinstance(exc, ActionBuildError) else os.EX_USAGE, str(exc))
    except TimeoutError as exc:
        return _fail(FAILED, str(exc))
    print(json.dumps(json.loads(record.model_dump_json(exclude_none=True)), indent=2, ensure_ascii=False))
    detail = f": {record.error}" if record.error else ""
    print(
        f"outcome: {record.outcome} after {record.attempts} tr{'y' if record.attempts == 1 else 'ies'}"
        f"{detail} (the record is not stored or published)",
        file=sys.stderr,
    )
    return os.EX_OK if record.outcome == "ok" else FAILED


def _action(args):
    config = load_config_or_exit(args.config)
    action = next((a for a in config.actions if a.name == args.name), None)
    if action is None:
        known = ", ".join(a.name for a in config.actions) or "none"
        raise CliExit(_fail(os.EX_USAGE, f"no action named {args.name!r} in {args.config} (configured: {known})"))
    if not action.enabled:
        print(f"note: action {action.name!r} is disabled (enabled: false); the agent does not run it", file=sys.stderr)
    return config, action


def _alert(args, config, action):
    from edge_agent.actions.samples import SampleError, SampleFacts, load_alert_file, parse_detail_value, sample_alert

    named = {key: value for key, value in vars(args).items() if key in _FACT_KEYS and value is not None}
    try:
        if args.alert is not None:
            if named:
                raise CliExit(
                    _fail(
                        os.EX_USAGE,
                        f"--alert fills every field; leave out --{', --'.join(key.replace('_', '-') for key in named)}",
                    )
                )
            if not Path(args.alert).is_file():
                raise CliExit(_fail(os.EX_NOINPUT, f"alert file {args.alert} does not exist"))
            return load_alert_file(args.alert)
        details = {key: parse_detail_value(key, value) for key, value in named.items() if key in _DETAILS}
        facts = SampleFacts(args.type, args.rule, args.phase, args.source, args.severity, details)
        return sample_alert(config, action, facts)
    except SampleError as exc:
        raise CliExit(_fail(os.EX_DATAERR, str(exc))) from None


_DETAILS = ("zone", "line", "door", "reader", "direction", "object_class", "count", "message", "reason")
_FACT_KEYS = ("type", "rule", "phase", "source", "severity", *_DETAILS)


def _confirmed(name: str) -> bool:
    if not sys.stdin.isatty():
        return False
    print(f"run {name} now, for real? [y/N] ", end="", file=sys.stderr, flush=True)  # stdout is for the record
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _fail(code: int, message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code
