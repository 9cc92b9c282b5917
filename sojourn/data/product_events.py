"""Events on products (they name the product by sku in `properties.sku`), read set-based for a
range of contact ids: each contact's decayed, weighted interest in each product it touched.

An event counts its name's weight, halved for every `half_life_days` of age at the cut-off, so a
purchase today outweighs a view today and a view this week can outweigh a purchase long ago.
Events at or after the cut-off, and events of other names, do not count."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

# Parameters: $1, $2 the contact id range [low, high); $3 the cut-off; $4 event names and $5
# their weights (same order); $6 the half-life in days.
INTEREST = """
SELECT e.contact_id, e.properties ->> 'sku' AS sku,
       sum(w.weight * exp(-ln(2) * extract(epoch FROM $3::timestamptz - e.occurred_at) / ($6::float8 * 86400)))
           AS interest
FROM events AS e JOIN unnest($4::text[], $5::float8[]) AS w(name, weight) ON w.name = e.name
WHERE e.contact_id >= $1 AND e.contact_id < $2 AND e.occurred_at < $3
  AND jsonb_typeof(e.properties -> 'sku') IN ('string', 'number')
GROUP BY e.contact_id, e.properties ->> 'sku'
"""


@dataclass
class Interest:
    """Columns, a row per (contact, product), by contact then sku."""

    contact_ids: list[int]
    skus: list[str]
    interest: list[float]


def interest_args(low: int, high: int, as_of: datetime, event_weights: dict[str, float],
                  half_life_days: float) -> tuple:
    """INTEREST's parameters, in order."""
    names = sorted(event_weights)
    return low, high, as_of, names, [float(event_weights[n]) for n in names], float(half_life_days)


async def product_interest(conn: asyncpg.Connection, low: int, high: int, as_of: datetime,
                           event_weights: dict[str, float], half_life_days: float) -> Interest:
    """Each (contact, product) of the contacts with ids in [low, high) that has an event of one of
    `event_weights`' names before `as_of`, with its interest."""
    rows = await conn.fetch(f"{INTEREST} ORDER BY 1, 2", *interest_args(low, high, as_of, event_weights,
                                                                         half_life_days))
    return Interest([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
