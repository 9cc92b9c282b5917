"""Recommendations' data: product events read set-based a range of contacts at a time (views,
adds to cart and purchases of catalogue products, by `properties.sku`), and the products chosen
for each contact (`contact_recommendations`) and for anyone (`popular_products`), replaced as a
whole per range and idempotent: a row equal to the stored one is left, `computed_at` included."""

from __future__ import annotations

from datetime import datetime

import asyncpg
from sqlalchemy import BigInteger, Column, Float, ForeignKey, SmallInteger
from sqlmodel import Field, SQLModel

from sojourn.data.models import _ts


class ContactRecommendation(SQLModel, table=True):
    __tablename__ = "contact_recommendations"

    contact_id: int = Field(sa_column=Column(BigInteger, ForeignKey("contacts.id", ondelete="CASCADE"),
                                             primary_key=True))
    rank: int = Field(sa_column=Column(SmallInteger, primary_key=True))  # 1 first
    sku: str = Field(max_length=255)
    score: float = Field(sa_column=Column(Float, nullable=False))  # 0 for a popular product filling the list
    model_version: int
    computed_at: datetime = _ts()


class PopularProduct(SQLModel, table=True):
    __tablename__ = "popular_products"

    rank: int = Field(sa_column=Column(SmallInteger, primary_key=True))
    sku: str = Field(max_length=255)
    score: float = Field(sa_column=Column(Float, nullable=False))  # distinct buyers
    model_version: int
    computed_at: datetime = _ts()


# Only the differences are written: on a day scored again the stored rows are read and
# compared, and nothing is written at all.
_REPLACE_CONTACTS = """
WITH new AS (
    SELECT * FROM unnest($3::bigint[], $4::int[], $5::text[], $6::float8[]) AS n(contact_id, rank, sku, score)
), old AS (
    SELECT contact_id, rank, sku, score, model_version FROM contact_recommendations
    WHERE contact_id >= $1 AND contact_id < $2
), diff AS (
    SELECT coalesce(new.contact_id, old.contact_id) AS contact_id, coalesce(new.rank, old.rank) AS rank,
           new.sku, new.score, new.contact_id IS NULL AS gone
    FROM new FULL JOIN old ON old.contact_id = new.contact_id AND old.rank = new.rank
    WHERE (new.sku, new.score, $7::int) IS DISTINCT FROM (old.sku, old.score, old.model_version)
), gone AS (
    DELETE FROM contact_recommendations AS r USING diff
    WHERE diff.gone AND r.contact_id = diff.contact_id AND r.rank = diff.rank
    RETURNING 1
), put AS (
    INSERT INTO contact_recommendations AS r (contact_id, rank, sku, score, model_version)
    SELECT diff.contact_id, diff.rank, diff.sku, diff.score, $7 FROM diff
    JOIN contacts AS c ON c.id = diff.contact_id  -- a contact erased since it was read has none
    WHERE NOT diff.gone
    ORDER BY diff.contact_id, diff.rank
    ON CONFLICT (contact_id, rank) DO UPDATE SET sku = EXCLUDED.sku, score = EXCLUDED.score,
        model_version = EXCLUDED.model_version, computed_at = now()
    RETURNING 1
)
SELECT (SELECT count(*) FROM gone) + (SELECT count(*) FROM put)
"""

_REPLACE_POPULAR = """
WITH new AS (
    SELECT * FROM unnest($1::int[], $2::text[], $3::float8[]) AS n(rank, sku, score)
), gone AS (
    DELETE FROM popular_products AS r WHERE NOT EXISTS (SELECT 1 FROM new WHERE new.rank = r.rank) RETURNING 1
), put AS (
    INSERT INTO popular_products AS r (rank, sku, score, model_version)
    SELECT rank, sku, score, $4 FROM new ORDER BY rank
    ON CONFLICT (rank) DO UPDATE SET sku = EXCLUDED.sku, score = EXCLUDED.score,
        model_version = EXCLUDED.model_version, computed_at = now()
    WHERE (r.sku, r.score, r.model_version) IS DISTINCT FROM (EXCLUDED.sku, EXCLUDED.score, EXCLUDED.model_version)
    RETURNING 1
)
SELECT (SELECT count(*) FROM gone) + (SELECT count(*) FROM put)
"""


async def replace_recommendations(conn: asyncpg.Connection, low: int, high: int, version: int,
                                  contact_ids: list[int], ranks: list[int], skus: list[str],
                                  scores: list[float]) -> int:
    """The recommendations of the contacts with ids in [low, high) become the rows given (a
    contact left out has none); returns how many rows changed."""
    return await conn.fetchval(_REPLACE_CONTACTS, low, high, contact_ids, ranks, skus, scores, version)


async def replace_popular(conn: asyncpg.Connection, version: int, skus: list[str], scores: list[float]) -> int:
    """The popular products become `skus`, ranked in their order; returns how many rows changed."""
    return await conn.fetchval(_REPLACE_POPULAR, list(range(1, len(skus) + 1)), skus, scores, version)
