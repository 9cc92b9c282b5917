"""What models predict, for every kind of model: `prediction_models` holds each fitted version
of a named model (parameters, metrics, whether it is used and why not), `contact_predictions`
one value per (contact, prediction name) with the model version that made it. Writes are
set-based per chunk of contacts and idempotent: a value already stored is left as it is."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import BigInteger, Column, Float, ForeignKey, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from sojourn.data.ingest.text import to_json_text
from sojourn.data.models import _json, _ts


class PredictionModel(SQLModel, table=True):
    __tablename__ = "prediction_models"
    __table_args__ = (UniqueConstraint("name", "as_of"),)

    name: str = Field(primary_key=True, max_length=64)  # "ltv", later "purchase_30d"...
    version: int = Field(primary_key=True)
    as_of: datetime = _ts(default=False)  # the data it was fitted on ends here; one version per day
    params: dict[str, Any] = _json({})
    metrics: dict[str, Any] = _json({})
    trained_at: datetime = _ts()
    used: bool
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class ContactPrediction(SQLModel, table=True):
    __tablename__ = "contact_predictions"
    __table_args__ = (Index("ix_contact_predictions_name_value", "name", "value"),)

    contact_id: int = Field(sa_column=Column(BigInteger, ForeignKey("contacts.id", ondelete="CASCADE"),
                                             primary_key=True))
    name: str = Field(primary_key=True, max_length=64)  # "ltv.expected_value"...
    value: float = Field(sa_column=Column(Float, nullable=False))
    model: str = Field(max_length=64)
    model_version: int
    computed_at: datetime = _ts()


async def record_model(conn: asyncpg.Connection, name: str, as_of: datetime, params: dict[str, Any],
                       metrics: dict[str, Any], used: bool, reason: str | None) -> int:
    """The version of model `name` fitted on data up to `as_of`: a new one, or the day's own
    again (a re-run of the day updates it in place, its version kept)."""
    return await conn.fetchval(
        """
        INSERT INTO prediction_models AS m (name, version, as_of, params, metrics, used, reason)
        SELECT $1::text, coalesce(max(version), 0) + 1, $2, $3::jsonb, $4::jsonb, $5, $6::text
        FROM prediction_models WHERE name = $1::text
        ON CONFLICT (name, as_of) DO UPDATE SET params = EXCLUDED.params, metrics = EXCLUDED.metrics,
            used = EXCLUDED.used, reason = EXCLUDED.reason, trained_at = now()
        WHERE (m.params, m.metrics, m.used, m.reason)
              IS DISTINCT FROM (EXCLUDED.params, EXCLUDED.metrics, EXCLUDED.used, EXCLUDED.reason)
        RETURNING version
        """, name, as_of, to_json_text(params), to_json_text(metrics), used, reason,
    ) or await conn.fetchval("SELECT version FROM prediction_models WHERE name = $1 AND as_of = $2", name, as_of)


async def store_predictions(conn: asyncpg.Connection, model: str, version: int,
                            values: dict[str, tuple[list[int], list[float]]]) -> int:
    """Store each prediction name's (contact ids, values) from `model` `version`; returns how
    many rows changed (a value equal to the stored one is left, computed_at included)."""
    changed = 0
    for name, (contact_ids, numbers) in sorted(values.items()):
        # Equal values are left out before the insert, not only by its ON CONFLICT condition: a
        # conflicting row is locked even when the condition then leaves it, which writes the row's
        # page and the WAL for every unchanged value (most of a night's rfm.* values; all of a re-run).
        # Counted in the statement: the changed rows themselves are not sent back.
        changed += await conn.fetchval(
            """
            WITH written AS (
                INSERT INTO contact_predictions AS p (contact_id, name, value, model, model_version)
                SELECT u.c, $1::text, u.v, $2::text, $3::int FROM unnest($4::bigint[], $5::float8[]) AS u(c, v)
                LEFT JOIN contact_predictions AS s ON s.contact_id = u.c AND s.name = $1::text
                WHERE s.contact_id IS NULL
                   OR (s.value, s.model, s.model_version) IS DISTINCT FROM (u.v, $2::text, $3::int)
                ORDER BY u.c
                ON CONFLICT (contact_id, name) DO UPDATE SET value = EXCLUDED.value, model = EXCLUDED.model,
                    model_version = EXCLUDED.model_version, computed_at = now()
                WHERE (p.value, p.model, p.model_version)
                      IS DISTINCT FROM (EXCLUDED.value, EXCLUDED.model, EXCLUDED.model_version)
                RETURNING 1
            )
            SELECT count(*) FROM written
            """, name, model, version, contact_ids, numbers)
    return changed
