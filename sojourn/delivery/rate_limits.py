"""Messages per second per channel, shared by every worker through one Postgres row each.

Each send takes the channel's next slot (slots are 1/rate apart). A slot within a second
is waited for here; a later one is not taken: the attempt fails as `RateLimited` with the
wait as its retry delay, so no worker slot is held while the queue drains.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from sojourn.contracts.errors import ErrorType
from sojourn.delivery import metrics

_HORIZON_SECONDS = 1.0

_TAKE = text("""
UPDATE channel_rates SET next_slot = greatest(next_slot, clock_timestamp()) + make_interval(secs => :spacing)
WHERE channel = :channel AND next_slot <= clock_timestamp() + make_interval(secs => :horizon)
RETURNING extract(epoch FROM greatest(next_slot - make_interval(secs => :spacing), clock_timestamp())
                             - clock_timestamp())::float8
""")
_FIRST = text("""
INSERT INTO channel_rates (channel, next_slot) VALUES (:channel, clock_timestamp() + make_interval(secs => :spacing))
ON CONFLICT (channel) DO NOTHING RETURNING 0.0::float8
""")
_NEXT = text("SELECT extract(epoch FROM next_slot - clock_timestamp())::float8 FROM channel_rates WHERE channel = :channel")


class ChannelRateLimiter:
    def __init__(self, engine: AsyncEngine, rates: dict[str, float]) -> None:
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._rates = {channel: rate for channel, rate in rates.items() if rate > 0}

    async def take_slot(self, channel: str) -> None:
        rate = self._rates.get(channel)
        if rate is None:
            return
        values = {"channel": channel, "spacing": 1.0 / rate, "horizon": _HORIZON_SECONDS}
        async with self._engine.connect() as conn:
            wait = (await conn.execute(_TAKE, values)).scalar()
            if wait is None:
                wait = (await conn.execute(_FIRST, values)).scalar()
            if wait is None:
                later = (await conn.execute(_NEXT, values)).scalar() or 0.0
                metrics.RATE_LIMITED.labels(channel).inc()
                # Benign: a full channel is expected, and the SDK would log a traceback per attempt.
                raise ApplicationError(f"{channel} is at its limit of {rate:g} messages per second",
                                       type=ErrorType.RATE_LIMITED, next_retry_delay=timedelta(seconds=max(later, 0.05)),
                                       category=ApplicationErrorCategory.BENIGN)
        if wait > 0:
            metrics.RATE_LIMIT_WAIT_SECONDS.labels(channel).observe(wait)
            await asyncio.sleep(wait)
