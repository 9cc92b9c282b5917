"""Contacts: upsert, profile, import."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from api.schemas.common import StrictIn
from sojourn.dsl.channels import PERSON_CHANNELS

ConsentChannel = Literal[PERSON_CHANNELS]  # every channel that reaches a person


ConsentState = Literal["subscribed", "unsubscribed"]


class ContactIn(StrictIn):
    email: str | None = Field(None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone: str | None = Field(None, max_length=32, description=(
        "Stored in E.164 (+886912345678); written without a country code (0912-345-678) it is read in "
        "DEFAULT_PHONE_REGION."))
    first_name: str | None = Field(None, max_length=200)
    last_name: str | None = Field(None, max_length=200)
    time_zone: str | None = Field(None, max_length=64)
    push_token: str | None = Field(None, max_length=4096, description="The app's FCM registration token.")
    line_user_id: str | None = Field(None, max_length=64, pattern=r"^U[0-9a-f]{32}$")
    attributes: dict[str, Any] = Field(default_factory=dict, description="Merged into the stored attributes.")
    consent: dict[ConsentChannel, ConsentState] = Field(
        default_factory=dict, description="Consent changes per channel, recorded with source `api`.")


class ContactOut(BaseModel):
    external_id: str
    email: str | None
    phone: str | None
    first_name: str | None
    last_name: str | None
    time_zone: str | None
    push_token: str | None
    line_user_id: str | None
    attributes: dict[str, Any]
    suppressed_at: datetime | None
    suppression_reason: str | None
    created_at: datetime
    updated_at: datetime


class TagOut(BaseModel):
    tag: str
    weight: float
    source: str | None
    updated_at: datetime


class ProfileEvent(BaseModel):
    event_id: str
    name: str
    properties: dict[str, Any]
    occurred_at: datetime
    received_at: datetime


class ConsentOut(BaseModel):
    status: ConsentState
    source: str
    changed_at: datetime


class ProfileMessage(BaseModel):
    id: uuid.UUID
    journey: str
    journey_version: int
    node: str
    channel: str
    recipient: str | None
    subject: str | None
    status: str
    reason: str | None = Field(description="Why a message was skipped, failed or is unconfirmed.")
    provider_message_id: str | None
    created_at: datetime
    sent_at: datetime | None
    opens: int = Field(description="Opens a person made, each one (a pixel fetched three times is three).")
    unique_opens: int = Field(description="1 if a person opened the message at all, else 0.")
    clicks: int = Field(description="Clicks a person made, each one (automated clicks not counted).")
    unique_clicks: int = Field(description="Distinct links a person clicked.")
    automated_clicks: int = Field(description="Clicks set aside as a link scanner's: a HEAD request, or within "
                                              "`AUTOMATED_CLICK_WINDOW` seconds of the send.")


class ProfileJourney(BaseModel):
    journey: str
    version: int
    key: str | None
    status: str = Field(description="active | completed | exited | cancelled")
    enrolled_at: datetime
    ended_at: datetime | None
    exit_reason: str | None
    converted_at: datetime | None
    workflow_id: str
    run_id: str
    batch: str | None = Field(None, description="The enrollment workflow whose batched send delivered this entry "
                                                "(no workflow of its own; `run_id` is then ours, not Temporal's).")


class PredictionOut(BaseModel):
    value: float
    model: str
    model_version: int
    computed_at: datetime


class ContactProfile(ContactOut):
    """Everything Sojourn knows about a contact: fields, attributes, tags, recent activity, journeys."""

    consent: dict[str, ConsentOut] = Field(description="Known consent per channel; a channel not listed is unknown.")
    tags: list[TagOut] = Field(description="Strongest first.")
    events: list[ProfileEvent] = Field(description="The 50 most recent events, newest first.")
    messages: list[ProfileMessage] = Field(description="The 50 most recent messages, newest first, with engagement counts.")
    journeys: list[ProfileJourney] = Field(description="Runs, active ones first, then newest first (at most 100).")
    predictions: dict[str, PredictionOut] = Field(description=(
        "What models predict for the contact, by name (`ltv.expected_value`...), with the model version that did."))


class ImportRejectedLine(BaseModel):
    line: int = Field(description="1-based line number in the file (a CSV header is line 1).")
    reason: str


class ImportResult(BaseModel):
    rows: int = Field(description="Data rows read (blank lines and the CSV header not counted).")
    inserted: int = Field(description="Contacts created.")
    updated: int = Field(description="Existing contacts whose fields or attributes changed.")
    unchanged: int = Field(description="Existing contacts the rows did not change.")
    rejected: list[ImportRejectedLine] = Field(description="Rows not loaded, by line (at most 1,000 listed).")
    rejected_omitted: int = Field(description="Rejected rows beyond the 1,000 listed.")
