"""The product catalogue: put one product, import many (streamed), read, list, delete."""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from sojourn.data.db import raw_connection
from sojourn.data.ingest.records import ImportFormatError, ImportSummary
from sojourn.data.products.load import import_products, upsert_product
from sojourn.data.products.rows import product_row
from sojourn.data.products.table import Product
from sojourn.errors import Invalid, NotFound
from sojourn.services.pagination import keyset_page


class ProductNotFound(NotFound):
    code = "product_not_found"

    def __init__(self, sku: str) -> None:
        super().__init__(f"no product with sku '{sku}'")


class InvalidProduct(Invalid):
    code = "invalid_product"

    def __init__(self, problem: str) -> None:
        field, _, message = problem.partition(": ")
        super().__init__(problem, details=[{"field": field, "message": message, "type": self.code}])


class InvalidProductImport(Invalid):
    code = "invalid_import"


async def put(engine: AsyncEngine, sku: str, values: dict[str, Any], attributes: dict[str, Any],
              default_currency: str) -> tuple[dict[str, Any], bool]:
    """Store the product as given (a whole product: fields left out are cleared); returns it and
    whether it was created. Checked by the same rules as an import's rows."""
    try:
        row = product_row({**values, "sku": sku}, True, default_currency, attributes)
    except ValueError as err:
        raise InvalidProduct(str(err)) from None
    async with raw_connection(engine) as conn:
        outcome = await upsert_product(conn, row)
        stored = await conn.fetchrow("SELECT * FROM products WHERE sku = $1", sku)
    return dict(stored), outcome == "inserted"


async def import_file(engine: AsyncEngine, stream: AsyncIterable[bytes], fmt: str,
                      default_currency: str) -> ImportSummary:
    try:
        return await import_products(engine, stream, fmt, default_currency)
    except ImportFormatError as err:
        raise InvalidProductImport(str(err)) from None


async def get(session: AsyncSession, sku: str) -> Product:
    product = await session.get(Product, sku)
    if product is None:
        raise ProductNotFound(sku)
    return product


async def page(session: AsyncSession, limit: int, cursor: str | None) -> dict[str, Any]:
    return await keyset_page(session, select(Product), Product.sku, limit, cursor)


async def remove(session: AsyncSession, sku: str) -> None:
    if (await session.execute(delete(Product).where(Product.sku == sku))).rowcount == 0:
        raise ProductNotFound(sku)
    await session.commit()
