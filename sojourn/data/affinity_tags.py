"""Affinity tags written set-based, a range of contacts at a time: each contact's interest in
products (sojourn.data.product_events) spread over the products' features (category levels,
brand, attributes, topics: a temporary table the caller fills once per run), summed per tag,
and divided by the contact's strongest tag of the same kind, so 1 is the contact's strongest
category (brand, topic, value of one attribute) and 0.5 half as strong. Weights are rounded to
4 places (the same events give the same weights, to the bit, on a re-run).

Only tags whose source is SOURCE are written or removed: a tag of the same name another source
(a rule, a journey, an import) holds is left as it is."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from sojourn.data.product_events import INTEREST, interest_args

SOURCE = "model:affinity"
_FEATURES = "affinity_features"


async def load_features(conn: asyncpg.Connection, features: list[tuple[str, str, str, float]]) -> None:
    """(sku, kind, tag, share) rows into this connection's temporary feature table, replacing any."""
    await conn.execute(f"DROP TABLE IF EXISTS pg_temp.{_FEATURES}")
    await conn.execute(f"CREATE TEMPORARY TABLE {_FEATURES} (sku text NOT NULL, kind text NOT NULL,"
                       " tag text NOT NULL, share float8 NOT NULL)")
    await conn.copy_records_to_table(_FEATURES, records=features)
    await conn.execute(f"CREATE INDEX ON pg_temp.{_FEATURES} (sku)")
    await conn.execute(f"ANALYZE pg_temp.{_FEATURES}")


async def drop_features(conn: asyncpg.Connection) -> None:
    await conn.execute(f"DROP TABLE IF EXISTS pg_temp.{_FEATURES}")


# The upsert and the delete see the same snapshot and disjoint rows: the delete takes only the
# tags not earned now, the upsert only those earned.
_WRITE = f"""
WITH interest AS ({INTEREST}),
scores AS (
    SELECT i.contact_id, f.kind, f.tag, sum(i.interest * f.share) AS score
    FROM interest AS i JOIN {_FEATURES} AS f ON f.sku = i.sku
    GROUP BY i.contact_id, f.kind, f.tag
),
weighed AS (
    SELECT contact_id, tag,
           round((score / nullif(max(score) OVER (PARTITION BY contact_id, kind), 0))::numeric, 4)::float8 AS weight
    FROM scores
),
earned AS (SELECT contact_id, tag, weight FROM weighed WHERE weight >= $7 AND weight > 0),
written AS (
    INSERT INTO contact_tags AS t (contact_id, tag, weight, source, updated_at)
    SELECT contact_id, tag, weight, $8, now() FROM earned ORDER BY contact_id, tag
    ON CONFLICT (contact_id, tag) DO UPDATE SET weight = EXCLUDED.weight, updated_at = EXCLUDED.updated_at
    WHERE t.source = $8 AND t.weight IS DISTINCT FROM EXCLUDED.weight
    RETURNING 1
),
removed AS (
    DELETE FROM contact_tags AS t
    WHERE t.source = $8 AND t.contact_id >= $1 AND t.contact_id < $2
      AND NOT EXISTS (SELECT 1 FROM earned AS e WHERE e.contact_id = t.contact_id AND e.tag = t.tag)
    RETURNING 1
)
SELECT (SELECT count(*) FROM written) AS written, (SELECT count(*) FROM removed) AS removed
"""


async def write_range(conn: asyncpg.Connection, low: int, high: int, as_of: datetime,
                      event_weights: dict[str, float], half_life_days: float, min_weight: float) -> tuple[int, int]:
    """Affinity tags of the contacts with ids in [low, high) as of `as_of`, tags weighing less
    than `min_weight` left out; returns (tags written or changed, tags removed)."""
    row = await conn.fetchrow(_WRITE, *interest_args(low, high, as_of, event_weights, half_life_days),
                              min_weight, SOURCE)
    return row["written"], row["removed"]


async def held(conn: asyncpg.Connection) -> tuple[int, int]:
    """(contacts holding an affinity tag, affinity tags held)."""
    row = await conn.fetchrow("SELECT count(DISTINCT contact_id) AS contacts, count(*) AS tags"
                              " FROM contact_tags WHERE source = $1", SOURCE)
    return row["contacts"], row["tags"]
