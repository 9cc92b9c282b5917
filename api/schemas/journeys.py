"""Journeys, their versions, direct enrollment and previews."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field

from api.schemas.common import INT32_MAX, StrictIn

JourneyStatus = Literal["draft", "active", "paused", "archived"]


class JourneyCreate(StrictIn):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    definition: dict[str, Any]


class JourneyUpdate(StrictIn):
    definition: dict[str, Any]


class JourneyOut(BaseModel):
    id: str
    name: str
    status: JourneyStatus
    latest_version: int
    created_at: datetime
    updated_at: datetime
    definition: dict[str, Any] | None = None


class JourneyVersionOut(BaseModel):
    journey_id: str
    version: int
    definition: dict[str, Any]
    created_at: datetime


class EnrollRequest(StrictIn):
    contacts: list[str] = Field(min_length=1, max_length=1000, description=(
        "External ids, at most 1,000 per call. Up to 100 are answered at once with every result (200); "
        "more are accepted (202) and their results appear at the Location."))
    enrollment_id: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$", description=(
        "Idempotency key: the call is accepted (202) whatever its size, and posting the same id again answers "
        "with that enrollment and starts nothing. Without it, a list of more than 100 is keyed by its contents."))


class EnrollResult(BaseModel):
    contact: str
    status: Literal["started", "existing", "not_found", "failed"]
    workflow_id: str | None = None
    run_id: str | None = None
    version: int | None = None
    error: str | None = None


class EnrollResponse(BaseModel):
    journey_id: str
    version: int
    results: list[EnrollResult]


class ContactsEnrollmentOut(BaseModel):
    journey_id: str
    enrollment_id: str
    status: Literal["accepted", "running", "completed", "cancelled", "failed"]
    total: int = Field(description="Distinct contacts in the enrollment.")
    version: int | None = Field(description="The journey version the runs started on (null before the first).")
    results: list[EnrollResult] = Field(description="One per contact done so far, in the order posted.")


class PreviewEvent(StrictIn):
    name: str = Field(min_length=1, max_length=200)
    properties: dict[str, Any] = Field(default_factory=dict)
    occurred_at: AwareDatetime | None = None


class PreviewRequest(StrictIn):
    node: str = Field(min_length=1, max_length=64, description="The id of a send node.")
    contact: str = Field(min_length=1, max_length=255, description="The contact's external id.")
    version: int | None = Field(None, ge=1, le=INT32_MAX, description="Defaults to the latest version.")
    event: PreviewEvent | None = Field(None, description="A triggering event for `{{ event... }}` in templates.")


class PreviewMessage(BaseModel):
    subject: str | None = Field(description="Email's subject, push's title, LINE's first text.")
    payload: Any = Field(description="What the provider would receive (email: from, html, text).")


class PreviewOut(BaseModel):
    journey: str
    version: int
    node: str
    contact: str
    channel: str | None = Field(description="The channel a send now would use; null if it would be skipped.")
    refusals: list[str] = Field(description="Why each channel listed before it (or every one) would not be used.")
    messages: dict[str, PreviewMessage] = Field(description="The message rendered for each channel listed.")
    errors: dict[str, str] = Field(description="Channels whose templates fail for this contact, and why.")
