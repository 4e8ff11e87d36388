"""The `osdp_output` kind: drive a reader's output (relay), LED and buzzer through the running OSDP control panel.

The commands are fixed by the config when the action is built: nothing from the alert
reaches the wire. Each run looks the adapter up again (`ActionEnv.osdp_adapter`), since
adapters are rebuilt on reload and restart, and sends output, LED, buzzer in that order,
each acknowledged by the reader before the next; the run's timeout bounds all of them.
OSDP counts time in 100 ms units (docs/actions.md, "OSDP outputs").
"""

from __future__ import annotations

import math
import time

import osdp

from edge_agent.actions.base import ActionEnv, Attempt, Fields
from edge_agent.config.actions import OsdpBuzzerSetting, OsdpLedSetting, OsdpOutputAction, OsdpOutputSetting

MAX_ERROR_CHARS = 400
FLASH_TICKS = 5  # a flashing LED: 500 ms on, 500 ms off
DEFAULT_TONE = 2  # OSDP buzzer tone code 2: the reader's default tone (1 would be "off")
LED_SET_TEMPORARY = 2  # LED temporary control code 2: set the temporary state and start its timer

# OSDP output control codes
PERMANENT_OFF_ABORT_TIMED = 1
PERMANENT_ON_ABORT_TIMED = 2
TEMPORARY_ON_RESUME_PERMANENT = 5


def ticks(seconds: float) -> int:
    """Seconds in OSDP's 100 ms units, rounded half up; a positive time never rounds to 0 (which means 'no timer')."""
    count = math.floor(seconds * 10 + 0.5)
    return max(count, 1) if seconds > 0 else 0


def output_command(setting: OsdpOutputSetting) -> dict:
    if setting.state == "off":
        code, timer = PERMANENT_OFF_ABORT_TIMED, 0
    elif setting.duration > 0:
        code, timer = TEMPORARY_ON_RESUME_PERMANENT, ticks(setting.duration)
    else:
        code, timer = PERMANENT_ON_ABORT_TIMED, 0
    return {"command": osdp.Command.Output, "output_no": setting.number, "control_code": code, "timer_count": timer}


def led_command(setting: OsdpLedSetting) -> dict:
    colour = getattr(osdp.CommandLEDColor, setting.color.capitalize())
    # steady: the 'off' phase has no time and the same colour, so a reader reading either field shows it steady
    off_count, off_colour = (FLASH_TICKS, osdp.CommandLEDColor.Black) if setting.flash else (0, colour)
    return {
        "command": osdp.Command.LED,
        "reader": 0,
        "led_number": setting.number,
        "temporary": True,  # the permanent state is left alone (its control code stays 0: no change)
        "control_code": LED_SET_TEMPORARY,
        "on_count": FLASH_TICKS,
        "off_count": off_count,
        "on_color": colour,
        "off_color": off_colour,
        "timer_count": ticks(setting.duration),
    }


def buzzer_command(setting: OsdpBuzzerSetting) -> dict:
    return {
        "command": osdp.Command.Buzzer,
        "reader": 0,
        "control_code": DEFAULT_TONE,
        "on_count": ticks(setting.on_time),
        "off_count": ticks(setting.off_time),
        "rep_count": setting.count,
    }


def planned_commands(config: OsdpOutputAction) -> list[tuple[str, dict]]:
    """(label, libosdp command dict) in the order they are sent: output, LED, buzzer."""
    plan = []
    if config.output is not None:
        plan.append((f"output {config.output.number}", output_command(config.output)))
    if config.led is not None:
        plan.append((f"LED {config.led.number}", led_command(config.led)))
    if config.buzzer is not None:
        plan.append(("buzzer", buzzer_command(config.buzzer)))
    return plan


class OsdpOutputKind:
    def __init__(self, config: OsdpOutputAction, env: ActionEnv):
        self.config = config
        self.env = env
        self.commands = planned_commands(config)

    def run(self, fields: Fields, timeout: float) -> Attempt:
        """Send every planned command within `timeout` s; stop at the first that fails. Never raises."""
        deadline = time.monotonic() + timeout
        try:
            adapter = self.env.osdp_adapter(self.config.adapter)
        except Exception as exc:
            return self._failed([], "lookup", f"looking up adapter {self.config.adapter!r} failed: {exc}")
        if adapter is None:
            return self._failed([], "lookup", f"no running osdp adapter {self.config.adapter!r}")
        acknowledged: list[str] = []
        for label, command in self.commands:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return self._failed(acknowledged, label, f"not sent: the {timeout:g} s timeout ran out", True)
            try:
                adapter.send_command(self.config.reader, command, remaining)
            except TimeoutError as exc:
                return self._failed(acknowledged, label, str(exc), timed_out=True)
            except Exception as exc:
                return self._failed(acknowledged, label, str(exc) or type(exc).__name__)
            acknowledged.append(label)
        return Attempt(ok=True)

    def _failed(self, acknowledged: list[str], label: str, problem: str, timed_out: bool = False) -> Attempt:
        error = f"{label}: {problem}"
        if acknowledged:
            error += f" (already acknowledged: {', '.join(acknowledged)})"
        if len(error) > MAX_ERROR_CHARS:
            error = error[: MAX_ERROR_CHARS - 1] + "…"
        return Attempt(ok=False, error=error, timed_out=timed_out)

    def close(self) -> None:
        pass
