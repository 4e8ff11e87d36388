"""A one-line progress counter on a terminal, rewritten in place (nothing at all when not a terminal).

A hand-written line rather than tqdm or rich: it is a dozen lines, and the box need not
carry another dependency for a technician's progress display.
"""

from __future__ import annotations

import time
from typing import TextIO

REFRESH_S = 0.2


class ProgressLine:
    def __init__(self, stream: TextIO, label: str):
        self.stream = stream
        self.label = label
        self._shown_at = 0.0
        self._width = 0

    @classmethod
    def if_terminal(cls, stream: TextIO, label: str) -> ProgressLine | None:
        return cls(stream, label) if stream.isatty() else None

    def update(self, done_s: float, total_s: float) -> None:
        now = time.monotonic()
        if now - self._shown_at < REFRESH_S:
            return
        self._shown_at = now
        share = f" ({100 * done_s / total_s:3.0f} %)" if total_s > 0 else ""
        of_total = f" of {total_s:.1f}" if total_s > 0 else ""
        self._write(f"{self.label}: {done_s:.1f}{of_total} s of clip{share}")

    def close(self) -> None:
        self.clear()

    def clear(self) -> None:
        """Blank the line (another line may be printed there); the next update draws it again."""
        if self._width:
            self._write("")
            self.stream.write("\r")
            self.stream.flush()

    def _write(self, text: str) -> None:
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = max(self._width, len(text))
