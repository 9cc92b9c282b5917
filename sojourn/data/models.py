"""Database tables (SQLModel on asyncpg). Schema changes go through Alembic migrations."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    LargeBinary,
    Numeric,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _ts(nullable: bool = False, default: bool = True) -> Any:
    return Field(
        default_factory=utcnow if default else None,
        sa_column=Column(
            DateTime(timezone=True), nullable=nullable,
            server_default=text("now()") if default else None,
        ),
    )


def _json(default: Any) -> Any:
    return Field(
        default_factory=lambda: type(default)(),
        sa_column=Column(JSONB, nullable=False, server_default=text(f"'{'{}' if isinstance(default, dict) else '[]'}'::jsonb")),
    )


class Contact(SQLModel, table=True):
    __tablename__ = "contacts"
    __table_args__ = (Index("ix_contacts_attributes", "attributes", postgresql_using="gin",
                            postgresql_ops={"attributes": "jsonb_path_ops"}),
                      # An inbound text (STOP) names its contact by number.
                      Index("ix_contacts_phone", "phone", postgresql_where=text("phone IS NOT NULL")))

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    external_id: str = Field(max_length=255, unique=True)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=32)
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    time_zone: str | None = Field(default=None, max_length=64)
    push_token: str | None = Field(default=None, max_length=4096)  # the app's FCM registration token
    line_user_id: str | None = Field(default=None, max_length=64, unique=True)
    attributes: dict[str, Any] = _json({})
    # Global suppression (a hard bounce, a spam complaint): no message at all, transactional or not.
    suppressed_at: datetime | None = _ts(nullable=True, default=False)
    suppression_reason: str | None = Field(default=None, max_length=200)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class ContactKey(SQLModel, table=True):
    """A contact's data key for its journeys' Temporal payloads, wrapped by the master key.
    Erasure deletes it, and with it the means to read those payloads (crypto-shredding). Keyed
    by external id, not by a foreign key: a payload codec knows a run only by its workflow id,
    which names the external id, and may encode a run's input before the contact's row commits."""

    __tablename__ = "contact_keys"

    key_id: str = Field(primary_key=True, max_length=36)  # written into each payload's metadata
    external_id: str = Field(max_length=255, unique=True)
    wrapped_key: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = _ts()


class ContactConsent(SQLModel, table=True):
    """A contact's consent on one channel; no row means unknown."""

    __tablename__ = "contact_consents"

    contact_id: int = Field(sa_column=Column(BigInteger, ForeignKey("contacts.id", ondelete="CASCADE"),
                                             primary_key=True))
    channel: str = Field(primary_key=True, max_length=16)  # email | sms | push | line
    status: str = Field(max_length=16)  # subscribed | unsubscribed
    source: str = Field(max_length=32)  # api | unsubscribe_link | one_click | line_webhook | import
    changed_at: datetime = _ts()


class ChannelRate(SQLModel, table=True):
    """The next free send slot of a rate-limited channel, shared by every worker (GCRA)."""

    __tablename__ = "channel_rates"

    channel: str = Field(primary_key=True, max_length=16)
    next_slot: datetime = _ts()


class Journey(SQLModel, table=True):
    __tablename__ = "journeys"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    status: str = Field(default="draft", max_length=16)  # draft | active | paused | archived
    latest_version: int = 1
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class JourneyVersion(SQLModel, table=True):
    """An immutable version of a journey's definition; runs pin the one they started on."""

    __tablename__ = "journey_versions"
    __table_args__ = (UniqueConstraint("journey_id", "version"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    journey_id: str = Field(foreign_key="journeys.id", max_length=64)
    version: int
    definition: dict[str, Any] = _json({})
    created_at: datetime = _ts()


class JourneyRun(SQLModel, table=True):
    """One run of a contact through a journey; its live state is the Temporal workflow.

    A workflow id (journey, contact, key) may run again under the journey's re-entry
    rule, so rows are keyed by Temporal's run id.
    """

    __tablename__ = "journey_runs"
    __table_args__ = (
        Index("ix_journey_runs_contact", "contact_id"),
        Index("ix_journey_runs_workflow", "workflow_id", "enrolled_at"),
        # A funnel's runs: one journey's, by when they entered it.
        Index("ix_journey_runs_funnel", "journey_id", "enrolled_at",
              postgresql_include=["version", "status", "exit_reason", "converted_at"]),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    run_id: str = Field(max_length=64, unique=True)
    workflow_id: str = Field(max_length=400)
    journey_id: str = Field(foreign_key="journeys.id", max_length=64, index=True)
    version: int
    contact_id: int = Field(sa_column=Column(BigInteger, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False))
    key: str | None = Field(default=None, max_length=200)
    status: str = Field(default="active", max_length=16)  # active | completed | exited | cancelled
    exit_reason: str | None = None
    converted_at: datetime | None = _ts(nullable=True, default=False)
    enrolled_at: datetime = _ts()
    ended_at: datetime | None = _ts(nullable=True, default=False)
    # The enrollment workflow that delivered this run in a batch (no workflow of its own).
    batch: str | None = Field(default=None, max_length=400)


class JourneyStep(SQLModel, table=True):
    """One node a run entered: when, when it left (None while there) and by which way out.
    Written as runs move (sojourn/contracts/steps.py); funnels count them."""

    __tablename__ = "journey_steps"
    __table_args__ = (
        # A funnel reads only this index: one journey's runs by when they entered it.
        Index("ix_journey_steps_funnel", "journey_id", "run_started_at",
              postgresql_include=["version", "node_id", "outcome", "reason", "left_at"]),
        Index("ix_journey_steps_contact", "contact_id"),  # erasure's cascade
    )

    run_id: str = Field(primary_key=True, max_length=64)  # journey_runs.run_id
    seq: int = Field(primary_key=True)  # the run's n-th step, continuations included
    journey_id: str = Field(max_length=64)
    version: int
    contact_id: int = Field(sa_column=Column(BigInteger, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False))
    node_id: str = Field(max_length=64)
    node_type: str = Field(max_length=16)
    run_started_at: datetime = _ts(default=False)
    entered_at: datetime = _ts(default=False)
    left_at: datetime | None = _ts(nullable=True, default=False)
    outcome: str | None = Field(default=None, max_length=32)
    reason: str | None = None


class Conversion(SQLModel, table=True):
    """A run's conversion: the first goal event within the goal's window after the run entered,
    with the revenue it names, and the journey's last message the contact received before it."""

    __tablename__ = "conversions"
    __table_args__ = (
        Index("ix_conversions_funnel", "journey_id", "run_started_at",
              postgresql_include=["version", "node_id", "value"]),
        Index("ix_conversions_contact", "contact_id"),  # erasure's cascade
    )

    run_id: str = Field(primary_key=True, max_length=64)  # journey_runs.run_id
    journey_id: str = Field(max_length=64)
    version: int
    contact_id: int = Field(sa_column=Column(BigInteger, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False))
    run_started_at: datetime = _ts(default=False)
    event_id: str = Field(max_length=200)
    occurred_at: datetime = _ts(default=False)
    value: Decimal | None = Field(default=None, sa_column=Column(Numeric(18, 4), nullable=True))
    # The message it is attributed to (none when the contact received none before it).
    message_id: uuid.UUID | None = Field(default=None, sa_column=Column(ForeignKey("messages.id", ondelete="SET NULL"),
                                                                       nullable=True))
    node_id: str | None = Field(default=None, max_length=64)


class ExperimentAssignment(SQLModel, table=True):
    """The arm a contact takes at a journey's split node, for good: drawn once, then read back."""

    __tablename__ = "experiment_assignments"
    __table_args__ = (Index("ix_experiment_assignments_contact", "contact_id"),)  # erasure's cascade

    journey_id: str = Field(primary_key=True, max_length=64)
    node_id: str = Field(primary_key=True, max_length=64)
    contact_id: int = Field(sa_column=Column(BigInteger, ForeignKey("contacts.id", ondelete="CASCADE"),
                                             primary_key=True))
    arm: str = Field(max_length=32)
    version: int  # the version the contact was drawn on
    assigned_at: datetime = _ts()


class ExperimentWinner(SQLModel, table=True):
    """The arm a split's `winner` rule chose, once: every contact new to the split takes it."""

    __tablename__ = "experiment_winners"

    journey_id: str = Field(primary_key=True, max_length=64)
    node_id: str = Field(primary_key=True, max_length=64)
    arm: str = Field(max_length=32)
    decided_at: datetime = _ts()


class Message(SQLModel, table=True):
    """A message the journey sent, keyed for exactly-once by (workflow, node, visit)."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_contact", "contact_id"),
        Index("ix_messages_journey_node_contact", "journey_id", "node_id", "contact_id"),
        Index("ix_messages_contact_due", "contact_id", "due_at"),
        # Delivery callbacks name the message by the provider's id for it (Twilio's MessageSid).
        Index("ix_messages_provider_message_id", "provider_message_id",
              postgresql_where=text("provider_message_id IS NOT NULL")),
        Index("ix_messages_billed_at", text("coalesce(sent_at, created_at)")),  # usage over a time range
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    idempotency_key: str = Field(max_length=500, unique=True)
    workflow_id: str = Field(max_length=400, index=True)
    journey_id: str = Field(max_length=64)
    journey_version: int
    node_id: str = Field(max_length=64)
    contact_id: int = Field(sa_column=Column(BigInteger, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False))
    channel: str = Field(default="email", max_length=16)
    recipient: str | None = Field(default=None, max_length=320)
    subject: str | None = None
    message_id_header: str | None = Field(default=None, max_length=400, unique=True)  # email only
    provider_message_id: str | None = Field(default=None, max_length=200)
    links: list[str] = _json([])
    # sending | sent | unconfirmed | skipped | failed | deferred (until `deferred_until`)
    status: str = Field(default="sent", max_length=16)
    transactional: bool = False  # frequency caps count marketing messages only
    priority: int = 0  # the journey's, for messages deferred by a frequency cap
    deferred_until: datetime | None = _ts(nullable=True, default=False)
    due_at: datetime | None = _ts(nullable=True, default=False)  # the run's time of the send; caps count by it
    error: str | None = None
    created_at: datetime = _ts()
    sent_at: datetime | None = _ts(nullable=True, default=False)
    # Billed as, once rendered: an SMS's segments, 1 elsewhere; and their cost at the prices then.
    units: int | None = None
    cost: Decimal | None = Field(default=None, sa_column=Column(Numeric(18, 8), nullable=True))
    test: bool = Field(default=False, sa_column=Column(Boolean, server_default=text("false"), nullable=False))


class EngagementEvent(SQLModel, table=True):
    """An open, click, delivery, bounce or complaint, from the pixel, a tracked link or a webhook."""

    __tablename__ = "engagement_events"
    __table_args__ = (
        Index("ix_engagement_message_type", "message_id", "type"),
        # A provider's repeat is stored once: the same event id, or without one the same
        # message, type, time and URL. Pixel and link fetches are each a person's act, each kept.
        Index("ux_engagement_provider_event", "message_id", "provider_event_id", unique=True,
              postgresql_where=text("provider_event_id IS NOT NULL")),
        Index("ux_engagement_webhook_repeat", "message_id", "type", "occurred_at", text("md5(coalesce(url, ''))"),
              unique=True, postgresql_where=text("source = 'webhook' AND provider_event_id IS NULL")),
        Index("ix_engagement_signal_due", "received_at", postgresql_where=text("signal_due")),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    message_id: uuid.UUID = Field(sa_column=Column(ForeignKey("messages.id", ondelete="CASCADE"), nullable=False))
    type: str = Field(max_length=16)  # delivered | opened | clicked | bounced | complained | unsubscribed
    url: str | None = None
    source: str = Field(max_length=16)  # pixel | link | webhook | sms_keyword
    occurred_at: datetime = _ts()
    received_at: datetime = _ts()
    # A link scanner's, not a person's (a HEAD, or a click within seconds of the send): kept
    # for reporting, never signalled, counted or matched by segments.
    automated: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=text("false")))
    provider_event_id: str | None = Field(default=None, max_length=200)  # the provider's own id for the event
    # The run has not been told of this open or click yet: signalled after the answer, and retried
    # from here until delivered (sojourn/services/engagement_signals.py).
    signal_due: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=text("false")))


class MailboxMessage(SQLModel, table=True):
    """Everything the embedded SMTP sink received (development and tests only)."""

    __tablename__ = "dev_mailbox"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    received_at: datetime = _ts()
    mail_from: str
    rcpt_to: list[str] = _json([])
    subject: str | None = None
    message_id: str | None = Field(default=None, index=True)
    raw: str


class Event(SQLModel, table=True):
    """Something a contact did, as the brand reported it; `event_id` makes ingestion idempotent."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_contact_name_time", "contact_id", "name", "occurred_at"),
        # As migration 0002 left them (its docstring says why).
        Index("ix_events_name_time_contact", "name", "occurred_at", postgresql_include=["contact_id"]),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    event_id: str = Field(max_length=200, unique=True)
    contact_id: int = Field(sa_column=Column(BigInteger, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False))
    name: str = Field(max_length=200)
    properties: dict[str, Any] = _json({})
    occurred_at: datetime = _ts()
    received_at: datetime = _ts()


class ContactTag(SQLModel, table=True):
    """A tag on a contact with a strength: segments ask for `weight >= n`."""

    __tablename__ = "contact_tags"
    __table_args__ = (Index("ix_contact_tags_tag_weight", "tag", "weight"),
                      Index("ix_contact_tags_source", "source", "contact_id"))

    contact_id: int = Field(sa_column=Column(BigInteger, ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True))
    tag: str = Field(primary_key=True, max_length=100)
    weight: float = 1.0
    source: str | None = Field(default=None, max_length=200)
    updated_at: datetime = _ts()
    change_key: str | None = Field(default=None, max_length=500)  # the last journey change, applied once


class Segment(SQLModel, table=True):
    __tablename__ = "segments"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    filter: dict[str, Any] = _json({})
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class SegmentSet(SQLModel, table=True):
    """Waterfall segmentation: each contact lands in the first listed segment it matches."""

    __tablename__ = "segment_sets"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    segments: list[str] = _json([])
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class TagRule(SQLModel, table=True):
    """Who gets `tag` (a filter), and how strong it is (a weight over their events)."""

    __tablename__ = "tag_rules"

    id: str = Field(primary_key=True, max_length=64)
    tag: str = Field(max_length=100)
    filter: dict[str, Any] = _json({})
    weight: dict[str, Any] = _json({})
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class TagRuleRun(SQLModel, table=True):
    """One rule applied for one day: how many contacts have the tag, changed, and lost it."""

    __tablename__ = "tag_rule_runs"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    rule_id: str = Field(max_length=64, index=True)
    day: str = Field(max_length=10)  # YYYY-MM-DD in the brand's time zone
    tagged: int = 0
    changed: int = 0
    removed: int = 0
    started_at: datetime = _ts()
    finished_at: datetime | None = _ts(nullable=True, default=False)


class AuditEntry(SQLModel, table=True):
    """One change to a journey, segment, tag rule, consent or contact: who, what, which, when
    (`sojourn.data.audit` records them)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_resource", "resource_type", "resource_id", "id"),
                      Index("ix_audit_log_at", "at"))

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    at: datetime = _ts()
    actor: str = Field(max_length=100)
    action: str = Field(max_length=50)  # created, updated, activated... consent_changed, erased
    resource_type: str = Field(max_length=30)  # journey, segment, segment_set, tag_rule, contact
    resource_id: str = Field(sa_column=Column(Text, nullable=False))
    summary: dict[str, Any] = _json({})
