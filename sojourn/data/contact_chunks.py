"""Walking every contact set-based, a chunk of N contacts at a time.

Chunks are counted in contacts, not in ids: ids need not be dense (an import with its own
numbers, a restored dump, rows written by another system), and ranges of N ids over ids that run
from 1 to 900,000,001 are millions of statements that each find nobody."""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncEngine

from sojourn.data.db import raw_connection

_FIRST_ID = -(2**63)  # the least bigint: every contact's id is at least this
_LAST_OF_CHUNK = "SELECT max(id) FROM (SELECT id FROM contacts WHERE id >= $1 ORDER BY id LIMIT $2) AS chunk"


async def contact_ranges(engine: AsyncEngine, size: int) -> AsyncIterator[tuple[int, int]]:
    """[low, high) id ranges, in id order, each holding up to `size` of the contacts there are
    now; together they cover every id from the least to one past the greatest."""
    low = _FIRST_ID
    async with raw_connection(engine) as conn:
        while (last := await conn.fetchval(_LAST_OF_CHUNK, low, size)) is not None:
            yield low, last + 1
            low = last + 1
