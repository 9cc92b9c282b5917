"""Loading a contact import: chunk by chunk, COPY into a staging table and one upsert into
`contacts`, each chunk its own transaction (see the package docstring)."""

from __future__ import annotations

from collections.abc import AsyncIterable

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from sojourn.data.ingest.chunks import IMPORT_CHUNK_ROWS, ChunkCallback, load_in_chunks, staged_upsert
from sojourn.data.ingest.contact_rows import (
    CONTACT_FIELDS,
    ContactRow,
    ImportSummary,
    contact_rows,
)
from sojourn.data.ingest.text import to_json_text

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


async def _load_chunk(conn: asyncpg.Connection, chunk: list[ContactRow]) -> tuple[list[int], int]:
    """Merge one chunk into contacts; returns the ids of the contacts inserted or changed, and
    how many were inserted."""
    records = [(row.external_id, *(row.fields.get(name) for name in CONTACT_FIELDS), row.attributes_json)
               for row in chunk]
    changed = await staged_upsert(
        conn, f"CREATE TEMPORARY TABLE {_STAGING} (external_id text, email text, phone text, first_name text,"
              " last_name text, time_zone text, attributes text) ON COMMIT DROP",
        _STAGING, _STAGING_COLUMNS, records, _UPSERT_CONTACTS)
    return [r["id"] for r in changed], sum(1 for r in changed if r["inserted"])


def _merge(known: ContactRow, row: ContactRow) -> None:
    """Rows of one chunk with the same external id merge in file order (later values win)."""
    known.fields.update(row.fields)
    known.attributes.update(row.attributes)
    known.attributes_json = to_json_text(known.attributes)


async def import_contacts(engine: AsyncEngine, stream: AsyncIterable[bytes], fmt: str,
                          on_chunk: ChunkCallback | None = None,
                          chunk_rows: int = IMPORT_CHUNK_ROWS, phone_region: str | None = None) -> ImportSummary:
    """Upsert contacts from a streamed CSV (`fmt="csv"`) or NDJSON (`"ndjson"`) body; phone
    numbers without a country code are read in `phone_region`.

    `on_chunk(ids)` is awaited after each chunk commits, with the ids of the contacts it
    inserted or changed. Raises ImportFormatError if the body cannot be read at all."""
    summary = ImportSummary()
    return await load_in_chunks(engine, contact_rows(stream, fmt, summary, phone_region), summary,
                                lambda row: row.external_id, _merge, _load_chunk, chunk_rows, on_chunk)
