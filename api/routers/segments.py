"""Segments (saved filters, counted and listed in one SQL statement each) and waterfall segment sets."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from api.deps import CallerDep, SessionDep
from api.routing import conflict, resource_router
from api.schemas.common import ExternalId, Page, ResourceId
from api.schemas.contacts import ContactOut
from api.schemas.segments import (
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
from sojourn.data.models import Segment, SegmentSet
from sojourn.services import segments

router = resource_router(prefix="/v1/segments", tags=["segments"])
sets_router = resource_router(prefix="/v1/segment-sets", tags=["segments"])


@router.post("", status_code=201, response_model=SegmentOut, responses=conflict("The id is taken."))
async def create_segment(body: SegmentCreate, session: SessionDep, caller: CallerDep) -> Segment:
    """Save a filter under an id. 422 lists every problem of the filter; 409 if the id is taken."""
    return await segments.create_segment(session, body.id, body.name, body.filter, actor=caller.name)


@router.put("/{segment_id}", response_model=SegmentOut)
async def update_segment(segment_id: ResourceId, body: SegmentUpdate, session: SessionDep,
                         caller: CallerDep) -> Segment:
    """Replace the filter (and the name, when given). A reference loop between segments is refused (422)."""
    return await segments.update_segment(session, segment_id, body.name, body.filter, actor=caller.name)


@router.get("/{segment_id}", response_model=SegmentOut)
async def get_segment(segment_id: ResourceId, session: SessionDep) -> Segment:
    return await segments.get_segment(session, segment_id)


@router.get("", response_model=Page[SegmentOut])
async def list_segments(session: SessionDep, limit: Annotated[int, Query(ge=1, le=500)] = 50,
                        cursor: str | None = None) -> dict:
    return await segments.page(session, limit, cursor)


@router.get("/{segment_id}/count", response_model=SegmentCount)
async def count_segment(segment_id: ResourceId, session: SessionDep) -> SegmentCount:
    """How many contacts match now (one SQL statement)."""
    return SegmentCount(segment=segment_id, count=await segments.count(session, segment_id))


@router.get("/{segment_id}/contacts", response_model=Page[ContactOut])
async def segment_contacts(segment_id: ResourceId, session: SessionDep,
                           limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                           cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None) -> dict:
    """The matching contacts, a page at a time (keyset: stable however many contacts are added meanwhile)."""
    return await segments.contacts(session, segment_id, limit, after_id=int(cursor) if cursor else None)


@router.get("/{segment_id}/contacts/{external_id:path}", response_model=SegmentMatch)
async def segment_match(segment_id: ResourceId, external_id: ExternalId, session: SessionDep) -> SegmentMatch:
    """Whether this contact matches the segment now."""
    return SegmentMatch(segment=segment_id, contact=external_id,
                        matches=await segments.matches(session, segment_id, external_id))


@sets_router.post("", status_code=201, response_model=SegmentSetOut, responses=conflict("The id is taken."))
async def create_segment_set(body: SegmentSetCreate, session: SessionDep, caller: CallerDep) -> SegmentSet:
    """An ordered list of segments: each contact is placed in the first one it matches."""
    return await segments.create_set(session, body.id, body.name, body.segments, actor=caller.name)


@sets_router.get("/{set_id}", response_model=SegmentSetOut)
async def get_segment_set(set_id: ResourceId, session: SessionDep) -> SegmentSet:
    return await segments.get_set(session, set_id)


@sets_router.get("/{set_id}/counts", response_model=SegmentSetCounts)
async def segment_set_counts(set_id: ResourceId, session: SessionDep) -> dict:
    """How many contacts land in each segment, in order, and how many in none (one SQL statement)."""
    return await segments.set_counts(session, set_id)


@sets_router.get("/{set_id}/contacts/{external_id:path}", response_model=SegmentPlacement)
async def segment_set_placement(set_id: ResourceId, external_id: ExternalId, session: SessionDep) -> SegmentPlacement:
    """The segment this contact is placed in (null when it matches none)."""
    return SegmentPlacement(segment_set=set_id, contact=external_id,
                            segment=await segments.placement(session, set_id, external_id))
