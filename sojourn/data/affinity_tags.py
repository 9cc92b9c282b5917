"""Affinity tags written set-based, a range of contacts at a time: the range's earned tags (the
caller computes them) copied into a temporary table, then one statement writes those that are
new or changed and removes the range's affinity tags no longer earned.

Only tags whose source is SOURCE are written or removed: a tag of the same name another source
(a rule, a journey, an import) holds is left as it is."""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

SOURCE = "model:affinity"
_EARNED = "affinity_earned"

# Tags already held with the same weight are not offered to the upsert: a night without news
# for a contact writes nothing for it, and a re-run of the day writes nothing at all. The
# upsert and the delete see the same snapshot and disjoint rows.
_WRITE = f"""
WITH written AS (
    INSERT INTO contact_tags AS t (contact_id, tag, weight, source, updated_at)
    SELECT e.contact_id, e.tag, e.weight, $3::text, now() FROM {_EARNED} AS e
    WHERE NOT EXISTS (SELECT 1 FROM contact_tags AS h WHERE h.contact_id = e.contact_id AND h.tag = e.tag
                      AND h.weight = e.weight AND h.source = $3::text)
    ON CONFLICT (contact_id, tag) DO UPDATE SET weight = EXCLUDED.weight, updated_at = EXCLUDED.updated_at
    WHERE t.source = $3::text AND t.weight IS DISTINCT FROM EXCLUDED.weight
    RETURNING 1
),
removed AS (
    DELETE FROM contact_tags AS t
    WHERE t.source = $3::text AND t.contact_id >= $1 AND t.contact_id < $2
      AND NOT EXISTS (SELECT 1 FROM {_EARNED} AS e WHERE e.contact_id = t.contact_id AND e.tag = t.tag)
    RETURNING 1
)
SELECT (SELECT count(*) FROM written) AS written, (SELECT count(*) FROM removed) AS removed
"""


async def write_range(conn: asyncpg.Connection, low: int, high: int,
                      earned: Iterable[tuple[int, str, float]]) -> tuple[int, int]:
    """Make the affinity tags of the contacts with ids in [low, high) the `earned` (contact id,
    tag, weight) ones, inside the caller's transaction; returns (tags written or changed, tags
    removed)."""
    await conn.execute(f"CREATE TEMPORARY TABLE {_EARNED} (contact_id bigint NOT NULL, tag text NOT NULL,"
                       " weight float8 NOT NULL, PRIMARY KEY (contact_id, tag)) ON COMMIT DROP")
    await conn.copy_records_to_table(_EARNED, records=earned)
    await conn.execute(f"ANALYZE {_EARNED}")
    row = await conn.fetchrow(_WRITE, low, high, SOURCE)
    return row["written"], row["removed"]


async def held(conn: asyncpg.Connection) -> tuple[int, int]:
    """(contacts holding an affinity tag, affinity tags held)."""
    row = await conn.fetchrow("SELECT count(DISTINCT contact_id) AS contacts, count(*) AS tags"
                              " FROM contact_tags WHERE source = $1", SOURCE)
    return row["contacts"], row["tags"]
