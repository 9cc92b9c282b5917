"""Each contact's purchase history summarised for lifetime value, set-based over a range of
contact ids: frequency (purchase days after the first), recency (days from the first purchase
day to the last), age T (days from the first purchase day to the cut-off) and monetary value
(mean value of the repeat purchase days). Purchases on one day (UTC) count as one, with their
values summed, as BG/NBD counts periods; a contact without a purchase has frequency, recency and
value 0 and an age from when the contact was created."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg


def purchase_value(parameter: str) -> str:
    """SQL for an event's value: its `properties` key named by the bind `parameter` ("$5") holds
    a number, or text that is a plain decimal; anything else is worth 0."""
    return (f"CASE WHEN jsonb_typeof(properties -> {parameter}) = 'number' THEN (properties ->> {parameter})::numeric "
            f"WHEN properties ->> {parameter} ~ '^\\s*-?[0-9]+(\\.[0-9]+)?\\s*$' "
            f"THEN trim(properties ->> {parameter})::numeric ELSE 0 END")


# A day's total is never below 0 (a refund does not make a purchase worth less than nothing).
_SUMMARY = r"""
WITH purchases AS (
    SELECT contact_id, date_trunc('day', occurred_at AT TIME ZONE 'UTC') AS day, """ + purchase_value("$5") + r""" AS value
    FROM events
    WHERE name = $4 AND occurred_at < $3 AND contact_id >= $1 AND contact_id < $2
), days AS (
    SELECT contact_id, day, greatest(sum(value), 0) AS value,
           row_number() OVER (PARTITION BY contact_id ORDER BY day) AS n
    FROM purchases GROUP BY contact_id, day
), buyers AS (
    SELECT contact_id, count(*) - 1 AS frequency,
           extract(epoch FROM max(day) - min(day)) / 86400 AS recency,
           extract(epoch FROM ($3 AT TIME ZONE 'UTC') - min(day)) / 86400 AS age,
           coalesce(avg(value) FILTER (WHERE n > 1), 0) AS monetary
    FROM days GROUP BY contact_id
)
SELECT c.id,
       coalesce(b.frequency, 0)::float8 AS frequency,
       coalesce(b.recency, 0)::float8 AS recency,
       coalesce(b.age, greatest(extract(epoch FROM $3 - c.created_at) / 86400, 0))::float8 AS age,
       coalesce(b.monetary, 0)::float8 AS monetary,
       b.contact_id IS NOT NULL AS bought
FROM contacts AS c LEFT JOIN buyers AS b ON b.contact_id = c.id
WHERE c.id >= $1 AND c.id < $2
ORDER BY c.id
"""


@dataclass
class PurchaseSummary:
    contact_ids: list[int]
    frequency: list[float]
    recency: list[float]
    age: list[float]
    monetary: list[float]
    bought: list[bool]


async def purchase_summary(conn: asyncpg.Connection, low: int, high: int, as_of: datetime, event: str,
                           value_property: str) -> PurchaseSummary:
    """The summary of every contact with an id in [low, high), from `event` events before `as_of`."""
    rows = await conn.fetch(_SUMMARY, low, high, as_of, event, value_property)
    return PurchaseSummary([r["id"] for r in rows], [r["frequency"] for r in rows], [r["recency"] for r in rows],
                           [r["age"] for r in rows], [r["monetary"] for r in rows], [r["bought"] for r in rows])
