"""Inputs and outputs of workflows, activities, signals and queries.

Pure dataclasses, shared by the API, the worker and the (sandboxed) workflows.
Each type only ever grows by defaulted fields, so recorded histories still decode.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ENGAGEMENT_SIGNAL = "engagement"
STATE_QUERY = "state"
SEND_EMAIL_ACTIVITY = "send_email"


def journey_workflow_id(journey_id: str, contact_external_id: str) -> str:
    """One run per (journey, contact): enrolling twice finds the same workflow."""
    return f"journey/{journey_id}/{contact_external_id}"


@dataclass
class EngagementSignal:
    send_node: str
    kind: str  # opened | clicked
    message_id: str | None = None
    url: str | None = None
    occurred_at: str | None = None  # ISO 8601


@dataclass
class PathStep:
    node: str
    type: str
    entered_at: str
    outcome: str | None = None


@dataclass
class SentMessage:
    node: str
    message_id: str
    status: str  # sent | skipped | failed
    recipient: str | None = None
    subject: str | None = None
    at: str | None = None
    reason: str | None = None


@dataclass
class Carried:
    """What a run hands to its continuation when it continues as new."""

    node: str
    visits: dict[str, int] = field(default_factory=dict)
    path: list[PathStep] = field(default_factory=list)
    messages: list[SentMessage] = field(default_factory=list)
    engagements: list[EngagementSignal] = field(default_factory=list)


@dataclass
class JourneyInput:
    journey_id: str
    version: int
    contact_id: int
    contact_external_id: str
    definition: dict
    carried: Carried | None = None


@dataclass
class JourneyState:
    journey_id: str
    version: int
    contact_external_id: str
    status: str  # active | completed | cancelled
    current_node: str | None
    wait_until: str | None
    path: list[PathStep]
    messages: list[SentMessage]
    engagements: list[EngagementSignal]


@dataclass
class SendEmailRequest:
    idempotency_key: str
    workflow_id: str
    journey_id: str
    journey_version: int
    node_id: str
    contact_id: int
    subject: str
    html: str | None = None
    text: str | None = None
    from_address: str | None = None
    track: bool = True


@dataclass
class SendEmailResult:
    message_id: str
    status: str  # sent | skipped
    recipient: str | None = None
    subject: str | None = None
    reason: str | None = None
