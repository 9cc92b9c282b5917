"""Loading a contact import: chunk by chunk, COPY into a staging table and one upsert into
`contacts`, each chunk its own transaction (see the package docstring)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, Awaitable, Callable

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from sojourn.data.db import raw_connection
from sojourn.data.ingest import ATTEMPTS
from sojourn.data.ingest.contact_rows import (
    CONTACT_FIELDS,
    ContactRow,
    ImportSummary,
    contact_rows,
)
from sojourn.data.ingest.text import to_json_text

log = logging.getLogger(__name__)

IMPORT_CHUNK_ROWS = 10_000


_STAGING = "sojourn_contact_import"
_STAGING_COLUMNS = ("external_id", "email", "phone", "first_name", "last_name", "time_zone", "attributes")

_UPSERT_CONTACTS = f"""
INSERT INTO contacts AS c (external_id, email, phone, first_name, last_name, time_zone, attributes)
SELECT s.external_id, s.email, s.phone, s.first_name, s.last_name, s.time_zone, s.attributes::jsonb
FROM {_STAGING} AS s ORDER BY s.external_id
ON CONFLICT (external_id) DO UPDATE SET
    email = coalesce(EXCLUDED.email, c.email),
    phone = coalesce(EXCLUDED.phone, c.phone),
    first_name = coalesce(EXCLUDED.first_name, c.first_name),
    last_name = coalesce(EXCLUDED.last_name, c.last_name),
    time_zone = coalesce(EXCLUDED.time_zone, c.time_zone),
    attributes = c.attributes || EXCLUDED.attributes,
    updated_at = now()
WHERE (coalesce(EXCLUDED.email, c.email), coalesce(EXCLUDED.phone, c.phone),
       coalesce(EXCLUDED.first_name, c.first_name), coalesce(EXCLUDED.last_name, c.last_name),
       coalesce(EXCLUDED.time_zone, c.time_zone), c.attributes || EXCLUDED.attributes)
      IS DISTINCT FROM (c.email, c.phone, c.first_name, c.last_name, c.time_zone, c.attributes)
RETURNING c.id, (c.xmax = 0) AS inserted
"""


async def _load_chunk(conn: asyncpg.Connection, chunk: dict[str, ContactRow]) -> tuple[list[int], int]:
    """COPY one chunk into a staging table and merge it into contacts; returns the ids of the
    contacts inserted or changed, and how many were inserted."""
    records = [
        (row.external_id, *(row.fields.get(name) for name in CONTACT_FIELDS), row.attributes_json)
        for row in chunk.values()
    ]
    for attempt in range(1, ATTEMPTS + 1):
        try:
            async with conn.transaction():
                await conn.execute(
                    f"CREATE TEMPORARY TABLE {_STAGING} (external_id text, email text, phone text, first_name text,"
                    " last_name text, time_zone text, attributes text) ON COMMIT DROP")
                await conn.copy_records_to_table(_STAGING, records=records, columns=_STAGING_COLUMNS)
                changed = await conn.fetch(_UPSERT_CONTACTS)
            return [r["id"] for r in changed], sum(1 for r in changed if r["inserted"])
        except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError):
            if attempt == ATTEMPTS:
                raise
            log.warning("import chunk retried after a deadlock or serialization failure (attempt %d)", attempt)
    raise AssertionError("unreachable")


def _merge(chunk: dict[str, ContactRow], row: ContactRow) -> None:
    """Rows of one chunk with the same external id merge in file order (later values win)."""
    known = chunk.get(row.external_id)
    if known is None:
        chunk[row.external_id] = row
        return
    known.fields.update(row.fields)
    known.attributes.update(row.attributes)
    known.attributes_json = to_json_text(known.attributes)


ChunkCallback = Callable[[list[int]], Awaitable[None]]


async def import_contacts(engine: AsyncEngine, stream: AsyncIterable[bytes], fmt: str,
                          on_chunk: ChunkCallback | None = None,
                          chunk_rows: int = IMPORT_CHUNK_ROWS, phone_region: str | None = None) -> ImportSummary:
    """Upsert contacts from a streamed CSV (`fmt="csv"`) or NDJSON (`"ndjson"`) body; phone
    numbers without a country code are read in `phone_region`.

    `on_chunk(ids)` is awaited after each chunk commits, with the ids of the contacts it
    inserted or changed. Raises ImportFormatError if the body cannot be read at all."""
    summary = ImportSummary()
    rows = contact_rows(stream, fmt, summary, phone_region)
    chunk: dict[str, ContactRow] = {}
    async with raw_connection(engine) as conn:

        async def flush() -> None:
            ids, inserted = await _load_chunk(conn, chunk)
            summary.inserted += inserted
            summary.updated += len(ids) - inserted
            summary.unchanged += len(chunk) - len(ids)
            chunk.clear()
            if ids and on_chunk is not None:
                await on_chunk(ids)

        async for _, row in rows:
            if row is None:
                continue
            _merge(chunk, row)
            if len(chunk) >= chunk_rows:
                await flush()
        if chunk:
            await flush()
    summary.rejected.sort(key=lambda r: r["line"])
    return summary
