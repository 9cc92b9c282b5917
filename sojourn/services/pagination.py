"""Keyset pagination: stable pages however many rows are added meanwhile."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession


async def keyset_page(session: AsyncSession, query: Select, key, limit: int, cursor: str | None) -> dict[str, Any]:
    """One page of `query` ordered by the unique column `key`, after `cursor`."""
    query = query.order_by(key).limit(limit + 1)
    if cursor is not None:
        query = query.where(key > cursor)
    rows = list((await session.execute(query)).scalars())
    more = len(rows) > limit
    return {"items": rows[:limit], "next_cursor": getattr(rows[limit - 1], key.key) if more else None}
