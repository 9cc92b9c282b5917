"""Segments (saved filters, counted and listed in one SQL statement each) and waterfall segment sets."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from api.deps import SessionDep
from api.errors import ApiError, conflict, not_found
from api.pagination import keyset_page
from api.schemas import (
    ContactOut,
    Page,
    SegmentCount,
    SegmentCreate,
    SegmentMatch,
    SegmentOut,
    SegmentPlacement,
    SegmentSetCounts,
    SegmentSetCreate,
    SegmentSetOut,
    SegmentUpdate,
)
from sojourn.data import segments
from sojourn.data.models import Contact, Segment

router = APIRouter(prefix="/v1/segments", tags=["segments"])
sets_router = APIRouter(prefix="/v1/segment-sets", tags=["segments"])


def segment_error(exc: segments.SegmentError) -> ApiError:
    if isinstance(exc, segments.InvalidFilter):
        return ApiError(422, "invalid_filter", f"the filter has {len(exc.problems)} problem(s)", exc.problems)
    if isinstance(exc, segments.SegmentCycle):
        return ApiError(422, "segment_cycle", str(exc), [{"field": "filter", "message": str(exc), "type": "cycle",
                                                         "path": exc.path}])
    if isinstance(exc, (segments.SegmentNotFound, segments.SegmentSetNotFound)):
        return not_found(str(exc).removesuffix(" not found"))
    if isinstance(exc, segments.SegmentConflict):
        return conflict(str(exc))
    return ApiError(422, "invalid_segment", str(exc))


async def _contact_id(session, external_id: str) -> int:
    contact_id = (await session.execute(select(Contact.id).where(Contact.external_id == external_id))).scalar()
    if contact_id is None:
        raise not_found(f"contact '{external_id}'")
    return contact_id


async def _segment(session, segment_id: str) -> Segment:
    try:
        return await segments.get_segment(session, segment_id)
    except segments.SegmentError as exc:
        raise segment_error(exc) from exc


@router.post("", status_code=201, response_model=SegmentOut)
async def create_segment(body: SegmentCreate, session: SessionDep) -> Segment:
    """Save a filter under an id. 422 lists every problem of the filter; 409 if the id is taken."""
    try:
        return await segments.create_segment(session, body.id, body.name, body.filter)
    except segments.SegmentError as exc:
        raise segment_error(exc) from exc


@router.put("/{segment_id}", response_model=SegmentOut)
async def update_segment(segment_id: str, body: SegmentUpdate, session: SessionDep) -> Segment:
    """Replace the filter (and the name, when given). A reference loop between segments is refused (422)."""
    try:
        return await segments.update_segment(session, segment_id, body.name, body.filter)
    except segments.SegmentError as exc:
        raise segment_error(exc) from exc


@router.get("/{segment_id}", response_model=SegmentOut)
async def get_segment(segment_id: str, session: SessionDep) -> Segment:
    return await _segment(session, segment_id)


@router.get("", response_model=Page[SegmentOut])
async def list_segments(session: SessionDep, limit: Annotated[int, Query(ge=1, le=500)] = 50,
                        cursor: str | None = None) -> dict:
    return await keyset_page(session, select(Segment), Segment.id, limit, cursor)


@router.get("/{segment_id}/count", response_model=SegmentCount)
async def count_segment(segment_id: str, session: SessionDep) -> SegmentCount:
    """How many contacts match now (one SQL statement)."""
    segment = await _segment(session, segment_id)
    try:
        return SegmentCount(segment=segment_id, count=await segments.count(session, segment.filter))
    except segments.SegmentError as exc:
        raise segment_error(exc) from exc


@router.get("/{segment_id}/contacts", response_model=Page[ContactOut])
async def segment_contacts(segment_id: str, session: SessionDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                           cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None) -> dict:
    """The matching contacts, a page at a time (keyset: stable however many contacts are added meanwhile)."""
    segment = await _segment(session, segment_id)
    try:
        rows = await segments.contacts(session, segment.filter, limit + 1, after_id=int(cursor) if cursor else None)
    except segments.SegmentError as exc:
        raise segment_error(exc) from exc
    more = len(rows) > limit
    return {"items": rows[:limit], "next_cursor": str(rows[limit - 1].id) if more else None}


@router.get("/{segment_id}/contacts/{external_id}", response_model=SegmentMatch)
async def segment_match(segment_id: str, external_id: str, session: SessionDep) -> SegmentMatch:
    """Whether this contact matches the segment now."""
    segment = await _segment(session, segment_id)
    contact_id = await _contact_id(session, external_id)
    try:
        return SegmentMatch(segment=segment_id, contact=external_id,
                            matches=await segments.matches(session, segment.filter, contact_id))
    except segments.SegmentError as exc:
        raise segment_error(exc) from exc


@sets_router.post("", status_code=201, response_model=SegmentSetOut)
async def create_segment_set(body: SegmentSetCreate, session: SessionDep):
    """An ordered list of segments: each contact is placed in the first one it matches."""
    try:
        return await segments.create_segment_set(session, body.id, body.name, body.segments)
    except segments.SegmentError as exc:
        raise segment_error(exc) from exc


@sets_router.get("/{set_id}", response_model=SegmentSetOut)
async def get_segment_set(set_id: str, session: SessionDep):
    try:
        return await segments.get_segment_set(session, set_id)
    except segments.SegmentError as exc:
        raise segment_error(exc) from exc


@sets_router.get("/{set_id}/counts", response_model=SegmentSetCounts)
async def segment_set_counts(set_id: str, session: SessionDep) -> SegmentSetCounts:
    """How many contacts land in each segment, in order, and how many in none (one SQL statement)."""
    try:
        segment_set = await segments.get_segment_set(session, set_id)
        counts = await segments.placement_counts(session, segment_set.segments)
    except segments.SegmentError as exc:
        raise segment_error(exc) from exc
    return SegmentSetCounts(id=set_id, segments=[{"segment": s, "count": counts[s]} for s in segment_set.segments],
                            unplaced=counts[None], total=sum(counts.values()))


@sets_router.get("/{set_id}/contacts/{external_id}", response_model=SegmentPlacement)
async def segment_set_placement(set_id: str, external_id: str, session: SessionDep) -> SegmentPlacement:
    """The segment this contact is placed in (null when it matches none)."""
    try:
        segment_set = await segments.get_segment_set(session, set_id)
    except segments.SegmentError as exc:
        raise segment_error(exc) from exc
    contact_id = await _contact_id(session, external_id)
    try:
        placed = await segments.place(session, segment_set.segments, contact_id)
    except segments.SegmentError as exc:
        raise segment_error(exc) from exc
    return SegmentPlacement(segment_set=set_id, contact=external_id, segment=placed)
