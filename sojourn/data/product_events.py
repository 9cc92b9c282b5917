"""Events on products (they name the product by sku in `properties.sku`), read set-based for a
range of contact ids: each event as it happened (recommendations), or each contact's decayed,
weighted interest in each product it touched (affinity).

An event counts its name's weight, halved for every `half_life_days` of age at the cut-off, so a
purchase today outweighs a view today and a view this week can outweigh a purchase long ago.
Events at or after the cut-off, and events of other names, do not count."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg
import numpy as np

# The product events' names (the purchase is settings.purchase_event).
VIEW_EVENT = "viewed_product"
CART_EVENT = "added_to_cart"

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


# Kinds as sojourn.predict.recommend numbers them: 0 view, 1 add to cart, 2 purchase. Only
# products in the catalogue count: a recommendation must be a product a template can show.
_PRODUCT_EVENTS = """
SELECT e.contact_id, e.properties ->> 'sku' AS sku,
       CASE e.name WHEN $6 THEN 2 WHEN $7 THEN 1 ELSE 0 END AS kind,
       extract(epoch FROM e.occurred_at)::float8 AS at
FROM events AS e JOIN products AS p ON p.sku = e.properties ->> 'sku'
WHERE e.name = ANY($5::text[]) AND e.occurred_at >= $3 AND e.occurred_at < $4
  AND e.contact_id >= $1 AND e.contact_id < $2
"""


@dataclass
class ProductEvents:
    contact_ids: np.ndarray
    skus: list[str]
    kinds: np.ndarray
    times: np.ndarray


async def product_events(conn: asyncpg.Connection, low: int, high: int, since: datetime, until: datetime,
                         purchase_event: str) -> ProductEvents:
    """Every product event of the contacts with ids in [low, high), from `since` to before `until`."""
    names = [purchase_event, CART_EVENT, VIEW_EVENT]
    rows = await conn.fetch(_PRODUCT_EVENTS, low, high, since, until, names, purchase_event, CART_EVENT)
    return ProductEvents(np.array([r["contact_id"] for r in rows], dtype=np.int64), [r["sku"] for r in rows],
                         np.array([r["kind"] for r in rows], dtype=np.int64),
                         np.array([r["at"] for r in rows], dtype=np.float64))
