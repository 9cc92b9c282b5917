"""Event ingestion."""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, Field

from api.schemas.common import StrictIn


class EventIn(StrictIn):
    contact: str = Field(min_length=1, max_length=255, description="The contact's external id.")
    name: str = Field(min_length=1, max_length=200, examples=["order.completed"])
    properties: dict[str, Any] = Field(default_factory=dict)
    occurred_at: AwareDatetime | None = Field(None, description="ISO 8601 with a zone; default: when received.")
    event_id: str | None = Field(
        None, min_length=1, max_length=200,
        description="Idempotency key: an event id already stored is acknowledged as a duplicate and not "
                    "stored again. Without it the server makes one (no idempotency).")


class RejectedItem(BaseModel):
    index: int = Field(description="Position of the event in the request (0 for a single event).")
    reason: str = Field(description="'field: message', problems separated by '; '.")


class EventsAccepted(BaseModel):
    accepted: int = Field(description="Events newly stored.")
    duplicates: int = Field(description="Events whose event_id was stored before or repeated in the batch.")
    rejected: list[RejectedItem]
