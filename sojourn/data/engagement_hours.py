"""The local hours at which contacts engage, set-based over a range of contact ids, for the best
send time: one observation per message a person opened or clicked (its first such act; a link
scanner's is not one, nor is a test send), at its hour of day in the contact's time zone, or the
brand's when the contact has none or one Postgres does not know (UTC when neither is known). Counted per (contact, hour) and
whether it falls in the later (evaluation) part of the window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

_HOURS = """
WITH zones AS MATERIALIZED (SELECT name FROM pg_timezone_names),
firsts AS (
    SELECT m.contact_id, min(e.occurred_at) AS at
    FROM messages AS m JOIN engagement_events AS e ON e.message_id = m.id
    WHERE m.contact_id >= $1 AND m.contact_id < $2 AND NOT m.test
      AND e.type IN ('opened', 'clicked') AND NOT e.automated
      AND e.occurred_at >= $3 AND e.occurred_at < $4
    GROUP BY m.id, m.contact_id
)
SELECT f.contact_id,
       extract(hour FROM f.at AT TIME ZONE coalesce(z.name, (SELECT name FROM zones WHERE name = $5::text), 'UTC'))::int AS hour,
       f.at >= $6 AS later,
       count(*)::int AS n
FROM firsts AS f JOIN contacts AS c ON c.id = f.contact_id LEFT JOIN zones AS z ON z.name = c.time_zone
GROUP BY 1, 2, 3
ORDER BY 1
"""


@dataclass
class EngagementHours:
    contact_ids: list[int]
    hours: list[int]
    later: list[bool]
    counts: list[int]


async def engagement_hours(conn: asyncpg.Connection, low: int, high: int, start: datetime, split: datetime,
                           end: datetime, brand_time_zone: str) -> EngagementHours:
    """Counts per (contact, local hour, later) of the contacts with an id in [low, high) engaging in
    [start, end); `later` is at or after `split`."""
    rows = await conn.fetch(_HOURS, low, high, start, end, brand_time_zone, split)
    return EngagementHours([r["contact_id"] for r in rows], [r["hour"] for r in rows], [r["later"] for r in rows],
                           [r["n"] for r in rows])
