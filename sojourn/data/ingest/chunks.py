"""Loading a streamed import chunk by chunk, whatever it holds (contacts, products): rows are
gathered by key (later rows of the same key merge into earlier ones), each chunk is `COPY`ed
into a temporary staging table and merged into its table by one upsert, in its own
transaction, committed before the next chunk is read (see the package docstring)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from sojourn.data.db import raw_connection
from sojourn.data.ingest import ATTEMPTS
from sojourn.data.ingest.records import ImportSummary

log = logging.getLogger(__name__)

IMPORT_CHUNK_ROWS = 10_000

Row = TypeVar("Row")
ChunkCallback = Callable[[list[Any]], Awaitable[None]]


async def staged_upsert(conn: asyncpg.Connection, staging_ddl: str, staging: str, columns: Sequence[str],
                        rows: list[tuple[Any, ...]], upsert: str) -> list[asyncpg.Record]:
    """Create the staging table (`staging_ddl`, dropped on commit), COPY `rows` into it and run
    `upsert` (which reads it), in one transaction; a deadlock or serialization failure retries it."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            async with conn.transaction():
                await conn.execute(staging_ddl)
                await conn.copy_records_to_table(staging, records=rows, columns=columns)
                return await conn.fetch(upsert)
        except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError):
            if attempt == ATTEMPTS:
                raise
            log.warning("import chunk retried after a deadlock or serialization failure (attempt %d)", attempt)
    raise AssertionError("unreachable")


async def load_in_chunks(engine: AsyncEngine, rows: AsyncIterator[tuple[int, Row | None]], summary: ImportSummary,
                         key: Callable[[Row], str], merge: Callable[[Row, Row], None],
                         load: Callable[[asyncpg.Connection, list[Row]], Awaitable[tuple[list[Any], int]]],
                         chunk_rows: int = IMPORT_CHUNK_ROWS, on_chunk: ChunkCallback | None = None) -> ImportSummary:
    """Feed the valid `rows` to `load(conn, chunk)` in chunks of `chunk_rows` distinct keys;
    `load` returns the keys (ids) of the rows it inserted or changed and how many it inserted, and `on_chunk(ids)`
    is awaited after each chunk commits. Counts go into `summary`, rejections sorted by line."""
    chunk: dict[str, Row] = {}
    async with raw_connection(engine) as conn:

        async def flush() -> None:
            ids, inserted = await load(conn, sorted(chunk.values(), key=key))
            summary.inserted += inserted
            summary.updated += len(ids) - inserted
            summary.unchanged += len(chunk) - len(ids)
            chunk.clear()
            if ids and on_chunk is not None:
                await on_chunk(ids)

        async for _, row in rows:
            if row is None:
                continue
            known = chunk.get(key(row))
            if known is None:
                chunk[key(row)] = row
            else:
                merge(known, row)
            if len(chunk) >= chunk_rows:
                await flush()
        if chunk:
            await flush()
    summary.rejected.sort(key=lambda r: r["line"])
    return summary
