"""Segment enrollments."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from api.schemas.common import StrictIn


class SegmentEnrollmentRequest(StrictIn):
    segment: str = Field(min_length=1, max_length=64, description="Every contact in this segment, as it is now.")
    enrollment_id: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$",
                                      description="Idempotency: posting the same id again returns that enrollment.")
    page_size: int = Field(500, ge=1, le=1000, description="Contacts per page (one activity each).")
    delivery: Literal["auto", "runs"] = Field("auto", description=(
        "auto: a journey that is a single send goes out in batches from the pages, with no workflow per contact "
        "(a message held by quiet hours or a cap gets a run that waits for it); runs: one run per contact."))


class SegmentEnrollmentOut(BaseModel):
    journey_id: str
    segment_id: str
    enrollment_id: str
    workflow_id: str
    status: str = Field(description="counting, running, paused, completed, cancelled or failed.")
    total: int | None
    enrolled: int
    existing: int = Field(description="Contacts the journey's re-entry rule kept out, or whose run for this "
                                      "enrollment already existed (a retried page).")
    failed: int = Field(description="runs: runs that could not start; batch: messages that failed for good.")
    errors: list[str]
    started_at: str | None
    per_second: float | None
    mode: Literal["batch", "runs"] | None = Field(description="How the pages went out (null before the first).")
    sent: int = Field(description="batch: messages sent.")
    skipped: int = Field(description="batch: messages skipped (no consent, suppressed, or quiet hours/cap said skip).")
    held: int = Field(description="batch: messages handed to a run of their own that waits until they may go.")


class EnrollmentControlOut(BaseModel):
    enrollment_id: str
    requested: Literal["pause", "resume"]
