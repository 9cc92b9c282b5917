"""Segments and segment sets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from api.schemas.common import StrictIn
from sojourn.dsl.filters import SEGMENT_ID_MAX, SEGMENT_ID_PATTERN


class SegmentCreate(StrictIn):
    id: str = Field(min_length=1, max_length=SEGMENT_ID_MAX, pattern=SEGMENT_ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    filter: dict[str, Any] = Field(description=(
        "A filter of the segment language (sojourn/dsl/filters.py): and, or, not, attribute, tag, event, "
        "engagement, segment, or score: `{\"score\": \"purchase_30d\", \"op\": \"gte\", \"value\": 0.7}` compares "
        "a stored prediction as a number (eq, ne, gt, gte, lt, lte, between); a contact without it matches none."))


class SegmentUpdate(StrictIn):
    name: str | None = Field(None, min_length=1, max_length=200)
    filter: dict[str, Any]


class SegmentOut(BaseModel):
    id: str
    name: str
    filter: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class SegmentCount(BaseModel):
    segment: str
    count: int


class SegmentMatch(BaseModel):
    segment: str
    contact: str
    matches: bool


class SegmentSetCreate(StrictIn):
    id: str = Field(min_length=1, max_length=SEGMENT_ID_MAX, pattern=SEGMENT_ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    segments: list[str] = Field(min_length=1, max_length=100, description="Segment ids, in the order contacts are placed.")


class SegmentSetOut(BaseModel):
    id: str
    name: str
    segments: list[str]
    created_at: datetime
    updated_at: datetime


class SegmentSetCount(BaseModel):
    segment: str
    count: int


class SegmentSetCounts(BaseModel):
    id: str
    segments: list[SegmentSetCount] = Field(description="In the set's order: the contacts placed in each segment.")
    unplaced: int
    total: int


class SegmentPlacement(BaseModel):
    segment_set: str
    contact: str
    segment: str | None = Field(description="The first segment of the set the contact matches; null for none.")
