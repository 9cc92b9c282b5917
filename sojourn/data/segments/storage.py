"""Stored segments and segment sets: filters checked before they are saved, one writer at a time."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.data.models import Segment, SegmentSet, utcnow
from sojourn.data.segments.errors import InvalidFilter, SegmentConflict, SegmentNotFound, SegmentSetNotFound
from sojourn.data.segments.references import check_cycles, filter_problems, load_references, parse_filter
from sojourn.dsl.filters import Filter


async def checked_filter(session: AsyncSession, data: Any, segment_id: str | None = None) -> Filter:
    """Parse a filter for storing as segment `segment_id`: every problem is listed in
    `InvalidFilter`; a reference to a missing segment is a problem; a cycle raises `SegmentCycle`."""
    problems = filter_problems(data)
    if problems:
        raise InvalidFilter(problems)
    parsed = parse_filter(data)
    known = {segment_id: parsed} if segment_id is not None else {}
    try:
        segments = await load_references(session, [parsed], known=known)
    except SegmentNotFound as exc:
        raise InvalidFilter([{"field": "filter", "message": f"references {exc}", "type": "segment_not_found"}])
    if segment_id is not None:
        check_cycles(segments, start=segment_id)
    return parsed


def stored_form(filter: Filter) -> dict:
    return filter.model_dump(mode="json", by_alias=True, exclude_defaults=True)


async def get_segment(session: AsyncSession, segment_id: str) -> Segment:
    segment = await session.get(Segment, segment_id)
    if segment is None:
        raise SegmentNotFound(segment_id)
    return segment


# Segment writes take this transaction-scoped advisory lock, one at a time: two concurrent
# updates could otherwise each pass the cycle check and close a loop together, and two
# creates of one id would both pass the existence check.
_WRITE_LOCK = text("SELECT pg_advisory_xact_lock(7250419318502)")


async def create_segment(session: AsyncSession, segment_id: str, name: str, data: Any) -> Segment:
    await session.execute(_WRITE_LOCK)
    parsed = await checked_filter(session, data, segment_id)
    if await session.get(Segment, segment_id) is not None:
        raise SegmentConflict(f"segment '{segment_id}' already exists; change it with PUT")
    segment = Segment(id=segment_id, name=name, filter=stored_form(parsed))
    session.add(segment)
    await session.commit()
    return segment


async def update_segment(session: AsyncSession, segment_id: str, name: str | None, data: Any) -> Segment:
    await session.execute(_WRITE_LOCK)
    segment = await get_segment(session, segment_id)
    parsed = await checked_filter(session, data, segment_id)
    segment.filter = stored_form(parsed)
    if name is not None:
        segment.name = name
    segment.updated_at = utcnow()
    await session.commit()
    return segment


async def get_segment_set(session: AsyncSession, set_id: str) -> SegmentSet:
    segment_set = await session.get(SegmentSet, set_id)
    if segment_set is None:
        raise SegmentSetNotFound(set_id)
    return segment_set


async def create_segment_set(session: AsyncSession, set_id: str, name: str, segment_ids: list[str]) -> SegmentSet:
    problems = [{"field": f"segments.{i}", "message": f"segment '{s}' is listed twice", "type": "duplicate"}
                for i, s in enumerate(segment_ids) if s in segment_ids[:i]]
    found = set((await session.execute(select(Segment.id).where(Segment.id.in_(segment_ids)))).scalars())
    problems += [{"field": f"segments.{i}", "message": f"segment '{s}' not found", "type": "segment_not_found"}
                 for i, s in enumerate(segment_ids) if s not in found]
    if problems:
        raise InvalidFilter(problems)
    await session.execute(_WRITE_LOCK)
    if await session.get(SegmentSet, set_id) is not None:
        raise SegmentConflict(f"segment set '{set_id}' already exists")
    segment_set = SegmentSet(id=set_id, name=name, segments=list(segment_ids))
    session.add(segment_set)
    await session.commit()
    return segment_set
