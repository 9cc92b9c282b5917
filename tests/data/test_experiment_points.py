"""The results' SQL puts every contact at the same point as the send path's Python, or holdout
counts would disagree with who was held out."""

from __future__ import annotations

from sqlalchemy import text

from sojourn.data.experiments import sql_point
from sojourn.dsl.experiments import stable_point


async def test_sql_and_python_agree_on_every_point(engine):
    ids = [1, 7, 42, 99_999, 900_000_001, 2**40 + 3, *range(1000, 3000, 7)]
    alone, scoped = sql_point("id"), sql_point("id", "'journey-x'")
    async with engine.connect() as conn:
        rows = await conn.execute(text(f"SELECT id, {alone} AS alone, {scoped} AS scoped"
                                       " FROM unnest(CAST(:ids AS bigint[])) AS id"), {"ids": ids})
        found = {row.id: (row.alone, row.scoped) for row in rows}
    assert found == {i: (stable_point(i), stable_point(i, "journey-x")) for i in ids}
