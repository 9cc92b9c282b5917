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
        # MERGE joins the values with the stored ones once and updates or inserts each; an upsert
        # (INSERT ... ON CONFLICT) tried each insert first and, for a stored row, also locked it
        # when equal: 6.4 s against 8.1-9.4 s for the bench's 700,000 values. A night writes each
        # model's names alone (a run at a time), so no concurrent insert of one key is expected.
        status = await conn.execute(
            """
            MERGE INTO contact_predictions AS p
            USING unnest($4::bigint[], $5::float8[]) AS u(c, v) ON p.contact_id = u.c AND p.name = $1::text
            WHEN MATCHED AND (p.value, p.model, p.model_version) IS DISTINCT FROM (u.v, $2::text, $3::int) THEN
                UPDATE SET value = u.v, model = $2::text, model_version = $3::int, computed_at = now()
            WHEN NOT MATCHED THEN
                INSERT (contact_id, name, value, model, model_version) VALUES (u.c, $1::text, u.v, $2::text, $3::int)
            """, name, model, version, contact_ids, numbers)
        changed += int(status.split()[-1])  # "MERGE <rows updated or inserted>"
    return changed
