"""Whether a worker process is alive, for a container's healthcheck. While the worker polls,
it touches WORKER_HEALTH_FILE every few seconds from its event loop, and removes the file when it
stops; `sojourn worker --check` exits 0 while the file is fresh. A worker whose loop is stuck,
or that died, leaves a stale file or none: unhealthy. Standard library only: the check runs
every few seconds in a container and must start fast."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

INTERVAL = 5.0
# A few missed beats, not one: a long garbage collection or a busy moment is not a dead worker.
STALE_AFTER = 4 * INTERVAL


@asynccontextmanager
async def heartbeat(path: Path | None, interval: float = INTERVAL) -> AsyncIterator[None]:
    """Touch `path` every `interval` seconds until the block ends, then remove it (no path: nothing)."""
    if path is None:
        yield
        return

    async def beat() -> None:
        while True:
            path.touch()
            await asyncio.sleep(interval)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        path.unlink(missing_ok=True)


def problem(path: Path | None, now: float | None = None) -> str | None:
    """Why the worker touching `path` is not healthy, or None."""
    if path is None:
        return "WORKER_HEALTH_FILE is not set, so the worker leaves no sign of life to check"
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
    except FileNotFoundError:
        return f"{path} does not exist: the worker is not running (or has not started polling)"
    if age > STALE_AFTER:
        return f"{path} was last touched {age:.0f} s ago (more than {STALE_AFTER:g}): the worker is stuck"
    return None

