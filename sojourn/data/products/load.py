"""Putting products in: one product (`upsert_product`) or a streamed import (`import_products`),
both by the same upsert, the import chunk by chunk like contacts' (sojourn.data.ingest)."""

from __future__ import annotations

from collections.abc import AsyncIterable

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from sojourn.data.ingest.chunks import IMPORT_CHUNK_ROWS, load_in_chunks, staged_upsert
from sojourn.data.ingest.records import ImportSummary, records
from sojourn.data.products.rows import ProductRow, product_row

_STAGING = "sojourn_product_import"
_COLUMNS = ("sku", "name", "description", "category", "brand", "price", "currency", "attributes")
_STAGING_DDL = (f"CREATE TEMPORARY TABLE {_STAGING} (sku text, name text, description text, category text[],"
                " brand text, price numeric(14, 4), currency text, attributes text) ON COMMIT DROP")

_UPSERT_PRODUCTS = f"""
INSERT INTO products AS p (sku, name, description, category, brand, price, currency, attributes)
SELECT s.sku, s.name, s.description, s.category, s.brand, s.price, s.currency, s.attributes::jsonb
FROM {_STAGING} AS s ORDER BY s.sku
ON CONFLICT (sku) DO UPDATE SET
    name = EXCLUDED.name, description = EXCLUDED.description, category = EXCLUDED.category,
    brand = EXCLUDED.brand, price = EXCLUDED.price, currency = EXCLUDED.currency,
    attributes = EXCLUDED.attributes, updated_at = now()
WHERE (EXCLUDED.name, EXCLUDED.description, EXCLUDED.category, EXCLUDED.brand, EXCLUDED.price,
       EXCLUDED.currency, EXCLUDED.attributes)
      IS DISTINCT FROM (p.name, p.description, p.category, p.brand, p.price, p.currency, p.attributes)
RETURNING p.sku, (p.xmax = 0) AS inserted
"""


async def _load_chunk(conn: asyncpg.Connection, chunk: list[ProductRow]) -> tuple[list[str], int]:
    changed = await staged_upsert(conn, _STAGING_DDL, _STAGING, _COLUMNS, [row.record() for row in chunk],
                                  _UPSERT_PRODUCTS)
    return [r["sku"] for r in changed], sum(1 for r in changed if r["inserted"])


def _replace(known: ProductRow, row: ProductRow) -> None:
    """A later row of the same sku is the whole product again: it wins."""
    known.__dict__.update(row.__dict__)


async def import_products(engine: AsyncEngine, stream: AsyncIterable[bytes], fmt: str, default_currency: str,
                          chunk_rows: int = IMPORT_CHUNK_ROWS) -> ImportSummary:
    """Upsert products from a streamed CSV (`fmt="csv"`, a `sku` column) or NDJSON (`"ndjson"`)
    body. Raises ImportFormatError if the body cannot be read at all."""
    summary = ImportSummary()
    rows = records(stream, fmt, summary, "sku", lambda values, keep: product_row(values, keep, default_currency))
    return await load_in_chunks(engine, rows, summary, lambda row: row.sku, _replace, _load_chunk, chunk_rows)


async def upsert_product(conn: asyncpg.Connection, row: ProductRow) -> str:
    """Store one product: 'inserted', 'updated' or 'unchanged'."""
    changed = await _load_chunk(conn, [row])
    if changed[1]:
        return "inserted"
    return "updated" if changed[0] else "unchanged"
