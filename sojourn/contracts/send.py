"""The send activity's input and result."""

from dataclasses import dataclass

from sojourn.contracts.journey import ContactEvent
from sojourn.contracts.steps import RunSteps

SEND_ACTIVITY = "send"
SEND_EMAIL_ACTIVITY = "send_email"  # before channels; runs started then still call it


@dataclass(kw_only=True)
class _SendTarget:
    """Which message this is (its key) and whom it is for."""

    idempotency_key: str
    workflow_id: str
    journey_id: str
    journey_version: int
    node_id: str
    contact_id: int


@dataclass(kw_only=True)
class SendEmailRequest(_SendTarget):
    subject: str
    html: str | None = None
    text: str | None = None
    from_address: str | None = None
    track: bool = True
    event: ContactEvent | None = None  # the triggering event, for templates


@dataclass(kw_only=True)
class SendRequest(_SendTarget):
    """One send node's message for one contact, on the first channel it may receive."""

    node: dict  # the send node as written in the definition
    event: ContactEvent | None = None  # the triggering event, for templates
    # The journey's send-window settings (the brand's apply where these are unset).
    time_zone: str | None = None
    quiet_hours: dict | None = None
    priority: int = 0
    budget: dict | None = None  # the journey's: {"amount", "period"}
    holdout: dict | None = None  # the journey's: {"percent"}
    steps: RunSteps | None = None  # the run's steps not written yet, this send's own included


def send_request(key: str, workflow_id: str, journey_id: str, version: int, contact_id: int, definition: dict,
                 node_id: str, event: ContactEvent | None = None) -> SendRequest:
    """The send activity's input for one send node of a journey version (`definition` as stored)."""
    return SendRequest(
        idempotency_key=key, workflow_id=workflow_id, journey_id=journey_id, journey_version=version, node_id=node_id,
        contact_id=contact_id, node=next(raw for raw in definition["nodes"] if raw.get("id") == node_id), event=event,
        time_zone=definition.get("time_zone"), quiet_hours=definition.get("quiet_hours"),
        priority=definition.get("priority", 0), budget=definition.get("budget"),
        holdout=definition.get("holdout"))


@dataclass(kw_only=True)
class SendResult:
    status: str  # sent | unconfirmed | skipped | deferred (try again at `until`)
    channel: str | None = None
    message_id: str = ""
    recipient: str | None = None
    subject: str | None = None
    reason: str | None = None
    until: str | None = None  # ISO 8601, for `deferred`
    earlier: bool = False  # the outcome an earlier attempt recorded under the key; nothing done now


@dataclass(kw_only=True)
class SendEmailResult:
    message_id: str
    status: str  # sent | skipped
    recipient: str | None = None
    subject: str | None = None
    reason: str | None = None
