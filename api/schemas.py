"""Request and response bodies of the /v1 API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from sojourn.data.tag_rules import Weight

T = TypeVar("T")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(None, description="Pass as `cursor` to get the next page; null on the last page.")


ConsentChannel = Literal["email", "sms", "push", "line"]
ConsentState = Literal["subscribed", "unsubscribed"]


class ContactIn(_In):
    email: str | None = Field(None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone: str | None = Field(None, max_length=32, description="E.164, for example +886 912 345 678.")
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
    opens: int
    clicks: int


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


class ContactProfile(ContactOut):
    """Everything Sojourn knows about a contact: fields, attributes, tags, recent activity, journeys."""

    consent: dict[str, ConsentOut] = Field(description="Known consent per channel; a channel not listed is unknown.")
    tags: list[TagOut] = Field(description="Strongest first.")
    events: list[ProfileEvent] = Field(description="The 50 most recent events, newest first.")
    messages: list[ProfileMessage] = Field(description="The 50 most recent messages, newest first, with engagement counts.")
    journeys: list[ProfileJourney] = Field(description="Runs, active ones first, then newest first (at most 100).")


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


class EventIn(_In):
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


class PreviewEvent(_In):
    name: str = Field(min_length=1, max_length=200)
    properties: dict[str, Any] = Field(default_factory=dict)
    occurred_at: AwareDatetime | None = None


class PreviewRequest(_In):
    node: str = Field(min_length=1, max_length=64, description="The id of a send node.")
    contact: str = Field(min_length=1, max_length=255, description="The contact's external id.")
    version: int | None = Field(None, ge=1, description="Defaults to the latest version.")
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


class SegmentEnrollmentRequest(_In):
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
    delivery: Literal["run", "batch"] = Field("run", description=(
        "batch: delivered by an enrollment's batched send, with no workflow of its own (`run_id` is null)."))


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


# -- segments -------------------------------------------------------------------------------

class SegmentCreate(_In):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    name: str = Field(min_length=1, max_length=200)
    filter: dict[str, Any] = Field(description="A filter of the segment language; see sojourn/filters.py.")


class SegmentUpdate(_In):
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


class SegmentSetCreate(_In):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
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


# -- tagging rules ---------------------------------------------------------------------------

class TagRuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tag: str = Field(min_length=1, max_length=100)
    filter: dict[str, Any] = Field(description="Who carries the tag: a filter of the segment language.")
    weight: Weight


class TagRuleRunOut(BaseModel):
    day: str
    tagged: int
    changed: int
    removed: int
    started_at: Any
    finished_at: Any


class TagRuleOut(BaseModel):
    id: str
    tag: str
    filter: dict[str, Any]
    weight: dict[str, Any]
    runs: list[TagRuleRunOut] = Field(description="The latest runs, newest first.")


class TagRuleRunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day: date | None = Field(None, description="The day to analyse (events up to its end); default: yesterday.")


# -- LINE webhook ----------------------------------------------------------------------------

class LineSource(BaseModel):
    type: str
    userId: str | None = None  # noqa: N815 - LINE's field name


class LineEvent(BaseModel):
    type: str
    timestamp: int
    source: LineSource | None = None


class LineBatch(BaseModel):
    """What LINE posts to its webhook (only the fields Sojourn reads)."""

    destination: str | None = None
    events: list[LineEvent]


class LineResult(BaseModel):
    index: int
    status: Literal["subscribed", "unsubscribed", "unknown_user", "ignored"]


class LineResponse(BaseModel):
    results: list[LineResult]
