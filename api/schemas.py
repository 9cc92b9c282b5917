"""Request and response bodies of the /v1 API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(None, description="Pass as `cursor` to get the next page; null on the last page.")


class ContactIn(_In):
    email: str | None = Field(None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone: str | None = Field(None, max_length=32)
    first_name: str | None = Field(None, max_length=200)
    last_name: str | None = Field(None, max_length=200)
    time_zone: str | None = Field(None, max_length=64)
    attributes: dict[str, Any] = Field(default_factory=dict, description="Merged into the stored attributes.")


class ContactOut(BaseModel):
    external_id: str
    email: str | None
    phone: str | None
    first_name: str | None
    last_name: str | None
    time_zone: str | None
    attributes: dict[str, Any]
    created_at: datetime
    updated_at: datetime


JourneyStatus = Literal["draft", "active", "paused", "archived"]


class JourneyCreate(_In):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    definition: dict[str, Any]


class JourneyUpdate(_In):
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


class EnrollRequest(_In):
    contacts: list[str] = Field(min_length=1, max_length=1000, description="External ids, at most 1,000 per call.")


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


class RunOut(BaseModel):
    workflow_id: str
    run_id: str | None
    journey_id: str
    version: int
    contact: str
    execution_status: str
    state: dict[str, Any] | None


class WebhookEvent(_In):
    message_id: str = Field(min_length=1, max_length=400, description="Our Message-ID header, with or without <>, or the message uuid.")
    type: Literal["delivered", "opened", "clicked", "bounced", "complained"]
    timestamp: datetime
    url: str | None = Field(None, max_length=2048)


class WebhookBatch(_In):
    events: list[WebhookEvent] = Field(min_length=1, max_length=1000)


class WebhookResult(BaseModel):
    index: int
    status: Literal["recorded", "unknown_message"]


class WebhookResponse(BaseModel):
    results: list[WebhookResult]


class MailboxItem(BaseModel):
    model_config = ConfigDict(extra="allow")
