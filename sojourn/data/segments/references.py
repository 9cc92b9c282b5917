"""Filters as the segment layer reads them: parsed, their problems listed, the segments they reference loaded."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.data.models import Segment
from sojourn.data.segments.errors import SegmentCycle, SegmentNotFound
from sojourn.dsl.filters import (
    AndFilter,
    AttributeFilter,
    EngagementFilter,
    EventFilter,
    Filter,
    NotFilter,
    OrFilter,
    ScoreFilter,
    SegmentFilter,
    TagFilter,
)
from sojourn.dsl.filters import parse_filter as validate_filter


def parse_filter(data: Any) -> Filter:
    """A filter model from its JSON form (or the model itself)."""
    if isinstance(data, (AndFilter, OrFilter, NotFilter, AttributeFilter, TagFilter, EventFilter,
                         EngagementFilter, SegmentFilter, ScoreFilter)):
        return data
    return validate_filter(data)


def filter_problems(data: Any, prefix: str = "filter") -> list[dict[str, str]]:
    """Every problem pydantic finds in a filter's JSON form, as {field, message, type}."""
    try:
        validate_filter(data)
    except ValidationError as exc:
        return [{"field": ".".join([prefix, *(str(p) for p in e["loc"])]), "message": e["msg"], "type": e["type"]}
                for e in exc.errors()]
    return []


def referenced_segments(filter: Filter) -> set[str]:
    """Ids of the segments a filter names directly (not through them)."""
    found: set[str] = set()

    def walk(node: Filter) -> None:
        if isinstance(node, AndFilter):
            for child in node.and_:
                walk(child)
        elif isinstance(node, OrFilter):
            for child in node.or_:
                walk(child)
        elif isinstance(node, NotFilter):
            walk(node.not_)
        elif isinstance(node, SegmentFilter):
            found.add(node.segment)

    walk(filter)
    return found


async def load_references(session: AsyncSession, filters: Iterable[Filter],
                          known: Mapping[str, Filter] | None = None) -> dict[str, Filter]:
    """The stored filters of every segment `filters` reach, directly or through other segments.

    One query per level of nesting. `known` entries win over stored ones (a segment being
    saved is checked with its new filter). Raises `SegmentNotFound` for a missing segment.
    """
    loaded: dict[str, Filter] = dict(known or {})
    wanted: set[str] = set()
    for f in filters:
        wanted |= referenced_segments(f)
    wanted -= loaded.keys()
    while wanted:
        rows = (await session.execute(select(Segment.id, Segment.filter).where(Segment.id.in_(sorted(wanted))))).all()
        found = {row.id: parse_filter(row.filter) for row in rows}
        missing = wanted - found.keys()
        if missing:
            raise SegmentNotFound(sorted(missing)[0])
        loaded.update(found)
        wanted = set().union(*(referenced_segments(f) for f in found.values())) - loaded.keys()
    return loaded


def check_cycles(segments: Mapping[str, Filter], start: str | None = None) -> None:
    """Raise `SegmentCycle` if the segments (from `start`, or all of them) reference each other in a loop."""
    done: set[str] = set()

    def visit(segment_id: str, path: list[str]) -> None:
        if segment_id in path:
            raise SegmentCycle([*path[path.index(segment_id):], segment_id])
        if segment_id in done or segment_id not in segments:
            return
        for child in sorted(referenced_segments(segments[segment_id])):
            visit(child, [*path, segment_id])
        done.add(segment_id)

    for segment_id in ([start] if start is not None else sorted(segments)):
        visit(segment_id, [])
