"""Provider engagement webhooks and LINE's webhook."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from api.schemas.common import StrictIn


class WebhookEvent(StrictIn):
    message_id: str = Field(min_length=1, max_length=400, description="Our Message-ID header, with or without <>, or the message uuid.")
    type: Literal["delivered", "opened", "clicked", "bounced", "complained", "unsubscribed"] = Field(description=(
        "`unsubscribed` withdraws the contact's consent on the message's channel; it is stored once per message."))
    timestamp: datetime
    url: str | None = Field(None, max_length=2048)
    event_id: str | None = Field(None, min_length=1, max_length=200, description=(
        "The provider's own id for this event. A repeat is stored once: an event with the id of one stored "
        "already, or, without an id, one with the same message, type, timestamp and url."))


class WebhookBatch(StrictIn):
    events: list[WebhookEvent] = Field(min_length=1, max_length=1000)


class WebhookResult(BaseModel):
    index: int
    status: Literal["recorded", "duplicate", "unknown_message"] = Field(
        description="`duplicate`: a repeat of an event stored already, not stored again.")


class WebhookResponse(BaseModel):
    results: list[WebhookResult]


class LineSource(BaseModel):
    type: str
    userId: str | None = None  # noqa: N815 - LINE's field name


class LineEvent(BaseModel):
    type: str
    timestamp: int = Field(ge=0, le=253_402_300_799_999, description="When it happened, in ms since the epoch.")
    source: LineSource | None = None


class LineBatch(BaseModel):
    """What LINE posts to its webhook (only the fields Sojourn reads)."""

    destination: str | None = None
    events: list[LineEvent]


class LineResult(BaseModel):
    index: int
    status: Literal["subscribed", "unsubscribed", "stale", "unknown_user", "ignored"] = Field(
        description="`stale`: older than the consent recorded, which it does not override.")


class LineResponse(BaseModel):
    results: list[LineResult]
