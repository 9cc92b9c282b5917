"""Keep the dev stack's components running: a component that dies is restarted after a
delay that doubles with each death in a row, and one that keeps dying soon after it starts
is given up on (the stack then stops, saying which one and where its log is)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    first: float = 1.0  # seconds before the first restart
    cap: float = 30.0  # the delay stops doubling here
    stable_after: float = 60.0  # a component up this long has recovered: its next death counts as the first
    give_up_after: int = 5  # deaths in a row, each within `stable_after` of starting

    def delay(self, deaths: int) -> float:
        return min(self.first * 2 ** (deaths - 1), self.cap)


class GaveUp(RuntimeError):
    """A component died `give_up_after` times in a row soon after starting."""

    def __init__(self, message: str, component: Component) -> None:
        super().__init__(message)
        self.component = component


@dataclass
class Component:
    """A supervised child process; `launch` starts it (and may wait until it is ready)."""

    name: str
    launch: Callable[[], subprocess.Popen]
    log_path: Path
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    deaths: int = 0  # in a row, each soon after a start
    restart_at: float | None = None  # set while dead and waiting to be restarted


def describe_exit(code: int | None) -> str:
    # uvicorn re-raises SIGTERM after its graceful shutdown, so "signal SIGTERM" is normal there.
    if code is not None and code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"exit {code}"


class Supervisor:
    def __init__(self, components: list[Component], backoff: Backoff | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.components = components
        self.backoff = backoff or Backoff()
        self.clock = clock

    def start(self, component: Component) -> None:
        component.process = component.launch()
        component.started_at = self.clock()
        component.restart_at = None

    def run(self, poll: float = 0.5) -> None:
        """Supervise until a component is given up on (raises `GaveUp`) or the caller is interrupted."""
        while True:
            self.check()
            time.sleep(poll)

    def check(self) -> None:
        """One pass: notice deaths, and restart the components whose delay is over."""
        for component in self.components:
            if component.restart_at is None:
                if component.process is not None and component.process.poll() is not None:
                    self._died(component, describe_exit(component.process.returncode))
            elif self.clock() >= component.restart_at:
                self._restart(component)

    def _died(self, component: Component, how: str) -> None:
        now = self.clock()
        uptime = now - component.started_at
        if uptime >= self.backoff.stable_after:
            component.deaths = 0
        component.deaths += 1
        _kill_leftovers(component.process)
        if component.deaths >= self.backoff.give_up_after:
            raise GaveUp(f"{component.name} died ({how}) after {uptime:.1f}s, {component.deaths} times in a row "
                         f"within {self.backoff.stable_after:.0f}s of starting; giving up", component)
        delay = self.backoff.delay(component.deaths)
        component.restart_at = now + delay
        log.error("%s died (%s) after %.1fs; see %s; restarting in %.0fs (death %d in a row, giving up at %d)",
                  component.name, how, uptime, component.log_path, delay, component.deaths,
                  self.backoff.give_up_after)

    def _restart(self, component: Component) -> None:
        try:
            self.start(component)
        except Exception as err:  # a failed restart is one more death, with its own backoff
            component.started_at = self.clock()
            self._died(component, f"restart failed: {err}")
            return
        log.warning("%s restarted (pid %s)", component.name, component.process.pid)


def _kill_leftovers(process: subprocess.Popen | None) -> None:
    # Each component leads its own process group; what it left behind (Postgres backends
    # still holding shared memory) would stop its replacement from starting.
    if process is None:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
