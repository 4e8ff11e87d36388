"""The `command` action: run one program with an argument list, never through a shell.

Each configured argument becomes exactly one argv entry (templates filled as plain text), so a
message saying `x; rm -rf ~` is one argument holding those characters. A field value that could make
an argument an option or a path (`-…`, `/`, `.`, `..`) is refused and nothing runs: the record says
which argument and field (templates.py `render_argv` says why). The program gets a minimal
environment, no stdin, its own process group (killed whole at the timeout) and `/` as its working
directory; the last few KiB of its output are kept for the record's error (where a program says why
it failed) and the rest discarded.
Only the config file on the box may add or change a command action (daemon/config_change.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path

from edge_agent.actions.base import ActionBuildError, ActionEnv, Attempt, Fields
from edge_agent.actions.templates import ArgvRefused, render_argv
from edge_agent.config.actions import CommandAction

ENVIRONMENT = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
OUTPUT_LIMIT = 4096  # bytes kept of the end of the output; the record shows the last few hundred characters
_REAP_S = 2.0  # after a kill: how long to wait for the process to be reaped and its output to close


class CommandKind:
    def __init__(self, config: CommandAction, env: ActionEnv | None = None):
        self.config = config
        program = Path(config.argv[0])
        if not program.is_file():
            raise ActionBuildError(f"action {config.name!r}: program {program} does not exist (argv[0])")
        if not os.access(program, os.X_OK):
            raise ActionBuildError(f"action {config.name!r}: program {program} is not executable (chmod +x?)")

    def run(self, fields: Fields, timeout: float) -> Attempt:
        try:
            argv = render_argv(self.config.argv, fields)
        except ArgvRefused as exc:
            return Attempt(ok=False, refused=True, error=str(exc))
        try:
            process = subprocess.Popen(
                argv,
                shell=False,
                env=dict(ENVIRONMENT),
                cwd="/",
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                close_fds=True,
                start_new_session=True,  # its own process group: the timeout kills its children too
            )
        except OSError as exc:
            return Attempt(ok=False, error=f"cannot start {argv[0]}: {exc.strerror or exc}")
        output = _Output(process.stdout)
        try:
            code = process.wait(timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            output.finish(_REAP_S)
            return Attempt(ok=False, timed_out=True, error=f"still running after {timeout:g} s; killed")
        output.finish(_REAP_S)
        if code == 0:
            return Attempt(ok=True, exit_code=0)
        why = f"exited with status {code}" if code > 0 else f"killed by signal {-code}"
        tail = output.tail(200)
        return Attempt(ok=False, exit_code=code, error=f"{why}: {tail}" if tail else why)

    def close(self) -> None:
        pass


class _Output:
    """Reads a program's output on a helper thread, keeping its last OUTPUT_LIMIT bytes and discarding the rest,
    so a chatty program neither fills memory nor blocks on a full pipe."""

    def __init__(self, pipe):
        self._pipe = pipe
        self._kept = bytearray()
        self._thread = threading.Thread(target=self._read, name="action-output", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            while chunk := self._pipe.read1(65536):
                self._kept += chunk
                del self._kept[:-OUTPUT_LIMIT]
        except (OSError, ValueError):
            pass

    def finish(self, timeout: float) -> None:
        """Wait for the end of output; a grandchild that left the group may hold the pipe open: then give up."""
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._pipe.close()

    def tail(self, characters: int) -> str:
        text = bytes(self._kept).decode("utf-8", "replace").strip()
        return " ".join(text[-characters:].split())


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()
    try:
        process.wait(_REAP_S)
    except subprocess.TimeoutExpired:
        pass
