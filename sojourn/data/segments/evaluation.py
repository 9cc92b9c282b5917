"""Segment queries: how many and which contacts a filter selects, and where a waterfall places them.

Each loads the segments the filter references, tunes the transaction, and runs one statement
built by `sojourn.data.segments.compiler`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.data.models import Contact
from sojourn.data.segments.compiler import compile_filter, placement_case, select_ids
from sojourn.data.segments.references import load_references, parse_filter
from sojourn.data.segments.tables import contacts_table
from sojourn.dsl.filters import Filter, SegmentFilter

# For the rest of the caller's transaction (SET LOCAL): room for exact bitmaps and in-memory
# hashes (at the default 4MB a 30-day scan of a common event goes lossy and rechecks ~1M rows),
# and a plan made for these parameters every time, never a generic plan cached for the
# statement text by the prepared-statement cache (a window or a name changes the best plan).
WORK_MEM = "64MB"
_TUNE = text("SELECT set_config('work_mem', :work_mem, true), set_config('plan_cache_mode', 'force_custom_plan', true)")


async def _tune(session: AsyncSession) -> None:
    await session.execute(_TUNE, {"work_mem": WORK_MEM})


async def _prepare(session: AsyncSession, filter: Filter | dict) -> tuple[Filter, dict[str, Filter]]:
    parsed = parse_filter(filter)
    segments = await load_references(session, [parsed])
    await _tune(session)
    return parsed, segments


async def count(session: AsyncSession, filter: Filter | dict, now: datetime | None = None) -> int:
    """How many contacts match."""
    parsed, segments = await _prepare(session, filter)
    condition = compile_filter(parsed, now=now, segments=segments)
    return (await session.execute(select(func.count()).select_from(contacts_table).where(condition))).scalar_one()


async def contacts(session: AsyncSession, filter: Filter | dict, limit: int, after_id: int | None = None,
                   now: datetime | None = None) -> list[Contact]:
    """Up to `limit` matching contacts with id > `after_id`, by id (keyset paging)."""
    parsed, segments = await _prepare(session, filter)
    query = select(Contact).where(compile_filter(parsed, now=now, segments=segments))
    if after_id is not None:
        query = query.where(Contact.id > after_id)
    return list((await session.execute(query.order_by(Contact.id).limit(limit))).scalars())


async def matching_ids(session: AsyncSession, filter: Filter | dict, contact_ids: Sequence[int],
                       now: datetime | None = None) -> set[int]:
    """Which of these contacts match (for example, after they changed: who newly entered)."""
    if not contact_ids:
        return set()
    parsed, segments = await _prepare(session, filter)
    query = select_ids(parsed, now=now, segments=segments).where(contacts_table.c.id.in_(list(contact_ids)))
    return set((await session.execute(query)).scalars())


async def matches(session: AsyncSession, filter: Filter | dict, contact_id: int, now: datetime | None = None) -> bool:
    """Whether one contact matches."""
    return contact_id in await matching_ids(session, filter, [contact_id], now=now)


async def _set_filters(session: AsyncSession, segment_ids: Sequence[str]) -> tuple[list[Filter], dict[str, Filter]]:
    filters = [SegmentFilter(segment=s) for s in segment_ids]
    segments = await load_references(session, filters)
    await _tune(session)
    return filters, segments


async def placement_counts(session: AsyncSession, segment_ids: Sequence[str],
                           now: datetime | None = None) -> dict[str | None, int]:
    """Waterfall: how many contacts land in each segment (the first they match), and under None the unplaced."""
    filters, segments = await _set_filters(session, segment_ids)
    slot = placement_case(filters, now=now, segments=segments).label("slot")
    rows = (await session.execute(select(slot, func.count()).select_from(contacts_table).group_by(slot))).all()
    counts: dict[str | None, int] = {segment_id: 0 for segment_id in segment_ids}
    counts[None] = 0
    for index, n in rows:
        counts[segment_ids[index] if index is not None else None] += n
    return counts


async def place(session: AsyncSession, segment_ids: Sequence[str], contact_id: int,
                now: datetime | None = None) -> str | None:
    """Waterfall: the first segment this contact matches, or None."""
    filters, segments = await _set_filters(session, segment_ids)
    slot = placement_case(filters, now=now, segments=segments)
    index = (await session.execute(select(slot).where(contacts_table.c.id == contact_id))).scalar_one_or_none()
    return segment_ids[index] if index is not None else None



async def explain(session: AsyncSession, filter: Filter | dict, now: datetime | None = None,
                  analyze: bool = False) -> str:
    """The Postgres plan of `count` for this filter (EXPLAIN, with ANALYZE and BUFFERS when `analyze`)."""
    parsed, segments = await _prepare(session, filter)
    statement = select(func.count()).select_from(contacts_table).where(
        compile_filter(parsed, now=now, segments=segments))
    connection = await session.connection()
    compiled = statement.compile(dialect=connection.dialect)
    params = [compiled.params[name] for name in compiled.positiontup]
    options = "ANALYZE, BUFFERS" if analyze else "COSTS"
    raw = (await connection.get_raw_connection()).driver_connection
    rows = await raw.fetch(f"EXPLAIN ({options}) {compiled.string}", *params)
    return "\n".join(row[0] for row in rows)
