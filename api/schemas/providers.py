"""Providers' callbacks in their own wire formats (only the fields Sojourn reads are declared)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, RootModel


class SendGridEventIn(BaseModel):
    """One event of SendGrid's Event Webhook; its other fields (and custom arguments) are allowed."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    event: str = Field(max_length=64, examples=["delivered"])
    timestamp: int = Field(ge=0, le=253_402_300_799, description="When it happened, in seconds since the epoch.")
    email: str | None = Field(None, max_length=320)
    sg_event_id: str | None = Field(None, max_length=200)
    sg_message_id: str | None = Field(None, max_length=400)
    smtp_id: str | None = Field(None, alias="smtp-id", max_length=400, description="Our Message-ID header.")
    sojourn_message_id: str | None = Field(None, max_length=400, description="A custom argument naming our message.")
    url: str | None = Field(None, max_length=2048)
    type: str | None = Field(None, max_length=32, description="A bounce's kind: bounce or blocked.")
    sg_machine_open: bool | None = None


class SendGridEvents(RootModel[list[SendGridEventIn]]):
    root: list[SendGridEventIn] = Field(min_length=1)


class ProviderEventResult(BaseModel):
    index: int
    status: str = Field(description="recorded | duplicate | unknown_message | ignored")


class ProviderEventsResponse(BaseModel):
    results: list[ProviderEventResult]
