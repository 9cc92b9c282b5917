"""A one-line progress bar on stderr, for the commands that stream or follow long work."""

from __future__ import annotations

import sys
import time


class Progress:
    """A one-line progress bar on stderr: units done of the total, redrawn at most 10 times a second."""

    def __init__(self, total: int, stream=None, unit: str = "bytes") -> None:
        self.total, self.sent, self.stream, self.unit = total, 0, stream or sys.stderr, unit
        self.started = self.drawn = time.monotonic()
        self.rate: float | None = None  # units a second as the work itself measures it, when it does

    def advance(self, count: int) -> None:
        self.sent += count
        now = time.monotonic()
        if now - self.drawn >= 0.1 or self.sent >= self.total:
            self.drawn = now
            self.draw()

    def draw(self, end: str = "") -> None:
        fraction = self.sent / self.total if self.total else 1.0
        width = 30
        filled = int(width * fraction)
        per_second = self.rate if self.rate is not None else self.sent / max(time.monotonic() - self.started, 1e-6)
        rate = f"{per_second / 1e6:.1f} MB/s" if self.unit == "bytes" else f"{per_second:,.0f}/s"
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {fraction:4.0%}  "
                          f"{self.sent:,}/{self.total:,} {self.unit}  {rate}{end}")
        self.stream.flush()
