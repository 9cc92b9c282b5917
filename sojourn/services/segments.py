"""Segments (saved filters) and waterfall segment sets, as the API asks for them: each answer
is one SQL statement over the contacts. The segment language and its SQL live in
`sojourn.data.segments`; its errors (not found, conflict, invalid filter, cycle) pass through."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.data import audit, segments
from sojourn.data.models import Segment, SegmentSet
from sojourn.services.contacts import find_id
from sojourn.services.pagination import keyset_page

# Each change is recorded in the audit log first: the storage below commits both, or neither.


async def create_segment(session: AsyncSession, segment_id: str, name: str, filter: dict[str, Any], *,
                         actor: str) -> Segment:
    audit.record(session, actor, "created", "segment", segment_id, name=name)
    return await segments.create_segment(session, segment_id, name, filter)


async def update_segment(session: AsyncSession, segment_id: str, name: str | None,
                         filter: dict[str, Any], *, actor: str) -> Segment:
    audit.record(session, actor, "updated", "segment", segment_id, **({"name": name} if name is not None else {}))
    return await segments.update_segment(session, segment_id, name, filter)


async def get_segment(session: AsyncSession, segment_id: str) -> Segment:
    return await segments.get_segment(session, segment_id)


async def page(session: AsyncSession, limit: int, cursor: str | None) -> dict[str, Any]:
    return await keyset_page(session, select(Segment), Segment.id, limit, cursor)


async def count(session: AsyncSession, segment_id: str) -> int:
    segment = await segments.get_segment(session, segment_id)
    return await segments.count(session, segment.filter)


async def contacts(session: AsyncSession, segment_id: str, limit: int, after_id: int | None) -> dict[str, Any]:
    """A page of the matching contacts, keyset by contact id: stable however many are added meanwhile."""
    segment = await segments.get_segment(session, segment_id)
    rows = await segments.contacts(session, segment.filter, limit + 1, after_id=after_id)
    more = len(rows) > limit
    return {"items": rows[:limit], "next_cursor": str(rows[limit - 1].id) if more else None}


async def matches(session: AsyncSession, segment_id: str, external_id: str) -> bool:
    segment = await segments.get_segment(session, segment_id)
    contact_id = await find_id(session, external_id)
    return await segments.matches(session, segment.filter, contact_id)


async def create_set(session: AsyncSession, set_id: str, name: str, segment_ids: list[str], *,
                     actor: str) -> SegmentSet:
    audit.record(session, actor, "created", "segment_set", set_id, name=name, segments=list(segment_ids))
    return await segments.create_segment_set(session, set_id, name, segment_ids)


async def get_set(session: AsyncSession, set_id: str) -> SegmentSet:
    return await segments.get_segment_set(session, set_id)


async def set_counts(session: AsyncSession, set_id: str) -> dict[str, Any]:
    """How many contacts land in each segment of the set, in order, and how many in none."""
    segment_set = await segments.get_segment_set(session, set_id)
    counts = await segments.placement_counts(session, segment_set.segments)
    return {"id": set_id, "segments": [{"segment": s, "count": counts[s]} for s in segment_set.segments],
            "unplaced": counts[None], "total": sum(counts.values())}


async def placement(session: AsyncSession, set_id: str, external_id: str) -> str | None:
    """The segment of the set this contact is placed in (None when it matches none)."""
    segment_set = await segments.get_segment_set(session, set_id)
    contact_id = await find_id(session, external_id)
    return await segments.place(session, segment_set.segments, contact_id)
