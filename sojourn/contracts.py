"""Inputs and outputs of workflows, activities, signals and queries.

Pure dataclasses, shared by the API, the worker and the (sandboxed) workflows.
Each type only ever grows by defaulted fields, so recorded histories still decode.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ENGAGEMENT_SIGNAL = "engagement"
EVENT_SIGNAL = "event"
STATE_QUERY = "state"
SEND_ACTIVITY = "send"
SEND_EMAIL_ACTIVITY = "send_email"  # before channels; runs started then still call it
EVALUATE_CONDITIONS_ACTIVITY = "evaluate_conditions"
RECORD_RUN_END_ACTIVITY = "record_run_end"
NEXT_LOCAL_TIME_ACTIVITY = "next_local_time"
TAG_CONTACT_ACTIVITY = "tag_contact"
RUN_TAG_RULES_ACTIVITY = "run_tag_rules"
TAGGING_WORKFLOW_ID = "tagging/nightly"
COUNT_AUDIENCE_ACTIVITY = "count_audience"
ENROLL_PAGE_ACTIVITY = "enroll_page"
PROGRESS_QUERY = "progress"
PAUSE_SIGNAL = "pause"
RESUME_SIGNAL = "resume"


def enrollment_workflow_id(journey_id: str, enrollment_id: str) -> str:
    return f"enrollment/{journey_id}/{enrollment_id}"


def journey_workflow_id(journey_id: str, contact_external_id: str, key: str | None = None) -> str:
    """One active run per (journey, contact[, key]): enrolling twice finds the same workflow."""
    base = f"journey/{journey_id}/{contact_external_id}"
    return base if key is None else f"{base}/{key}"


def message_key(workflow_id: str, scope: str, node_id: str, visit: int) -> str:
    """A message's idempotency key. `scope` is the run's first run id (stable across
    continue-as-new, distinct for a later re-entry), or the enrollment workflow that sent it
    in a batch (the run it hands a held message to keeps that scope, so the key is the same)."""
    return f"{message_scope(workflow_id, scope)}{node_id}/{visit}"


def message_scope(workflow_id: str, scope: str) -> str:
    """What the keys of one run's (or one batched contact's) messages begin with."""
    return f"{workflow_id}/{scope}/"


@dataclass
class ContactEvent:
    """An event the contact performed, as a journey sees it (trigger, exit, goal, wait_for)."""

    event_id: str
    name: str
    properties: dict
    occurred_at: str  # ISO 8601


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
    status: str  # sent | unconfirmed | skipped | failed
    recipient: str | None = None
    subject: str | None = None
    at: str | None = None
    reason: str | None = None
    channel: str | None = None


@dataclass
class Carried:
    """What a run hands to its continuation when it continues as new."""

    node: str
    visits: dict[str, int] = field(default_factory=dict)
    path: list[PathStep] = field(default_factory=list)
    messages: list[SentMessage] = field(default_factory=list)
    engagements: list[EngagementSignal] = field(default_factory=list)
    events: list[ContactEvent] = field(default_factory=list)
    started_at: str | None = None
    converted_at: str | None = None


@dataclass
class JourneyInput:
    journey_id: str
    version: int
    contact_id: int
    contact_external_id: str
    definition: dict
    carried: Carried | None = None
    trigger: ContactEvent | None = None
    key: str | None = None
    # Set when a batched send handed this contact over (its message was held by quiet hours,
    # a cap or a provider's "not now"): the enrollment workflow id that scopes its message keys.
    batch: str | None = None


@dataclass
class JourneyState:
    journey_id: str
    version: int
    contact_external_id: str
    status: str  # active | completed | exited | cancelled
    current_node: str | None
    wait_until: str | None
    path: list[PathStep]
    messages: list[SentMessage]
    engagements: list[EngagementSignal]
    events: list[ContactEvent] = field(default_factory=list)
    exit_reason: str | None = None
    converted_at: str | None = None
    trigger: ContactEvent | None = None
    key: str | None = None
    batch: str | None = None  # the enrollment whose batched send handed this run its message


@dataclass
class _SendTarget:
    """Which message this is (its key) and whom it is for."""

    idempotency_key: str
    workflow_id: str
    journey_id: str
    journey_version: int
    node_id: str
    contact_id: int


@dataclass
class SendEmailRequest(_SendTarget):
    subject: str
    html: str | None = None
    text: str | None = None
    from_address: str | None = None
    track: bool = True
    event: ContactEvent | None = None  # the triggering event, for templates


@dataclass
class SendRequest(_SendTarget):
    """One send node's message for one contact, on the first channel it may receive."""

    node: dict  # the send node as written in the definition
    event: ContactEvent | None = None  # the triggering event, for templates
    # The journey's send-window settings (the brand's apply where these are unset).
    time_zone: str | None = None
    quiet_hours: dict | None = None
    priority: int = 0


def send_request(key: str, workflow_id: str, journey_id: str, version: int, contact_id: int, definition: dict,
                 node_id: str, event: ContactEvent | None = None) -> SendRequest:
    """The send activity's input for one send node of a journey version (`definition` as stored)."""
    return SendRequest(
        idempotency_key=key, workflow_id=workflow_id, journey_id=journey_id, journey_version=version, node_id=node_id,
        contact_id=contact_id, node=next(raw for raw in definition["nodes"] if raw.get("id") == node_id), event=event,
        time_zone=definition.get("time_zone"), quiet_hours=definition.get("quiet_hours"),
        priority=definition.get("priority", 0))


@dataclass
class SendResult:
    status: str  # sent | unconfirmed | skipped | deferred (try again at `until`)
    channel: str | None = None
    message_id: str = ""
    recipient: str | None = None
    subject: str | None = None
    reason: str | None = None
    until: str | None = None  # ISO 8601, for `deferred`
    earlier: bool = False  # the outcome an earlier attempt recorded under the key; nothing done now


@dataclass
class TagChange:
    """A `tag` node's change to one contact; `key` makes a retried change count once."""

    contact_id: int
    tag: str
    action: str  # add | increment | remove
    weight: float
    source: str
    key: str


@dataclass
class LocalTimeRequest:
    """When it next is `at` (on one of `weekdays`) in the contact's time zone, from `now`."""

    contact_id: int
    at: str
    now: str  # ISO 8601
    weekdays: list[str] | None = None
    time_zone: str | None = None  # the journey's, for contacts without one


@dataclass
class EvaluateConditions:
    """Database-backed branch conditions (filters) for one contact, at the run's `now`."""

    contact_id: int
    filters: list[dict]
    now: str


@dataclass
class RunEnd:
    run_id: str
    workflow_id: str
    journey_id: str
    version: int
    contact_id: int
    status: str  # completed | exited | cancelled
    ended_at: str
    key: str | None = None
    exit_reason: str | None = None
    converted_at: str | None = None


@dataclass
class SendEmailResult:
    message_id: str
    status: str  # sent | skipped
    recipient: str | None = None
    subject: str | None = None
    reason: str | None = None


@dataclass
class EnrollmentInput:
    """Enroll a segment's contacts into a journey, one run each for this enrollment."""

    journey_id: str
    segment_id: str
    enrollment_id: str  # "" for a scheduled firing: its workflow id's suffix (the firing time)
    task_queue: str  # where the journey runs are started
    page_size: int = 500
    # True: the enrollment id keys the runs (one run per contact per enrollment). False (a
    # scheduled firing): each contact's plain run, so the journey's re-entry rule decides.
    keyed: bool = True
    # "auto": a journey that is a single send goes out in batches from the pages (no workflow
    # per contact); "runs": one journey run per contact whatever the journey.
    delivery: str = "auto"
    # Carried across continue-as-new:
    after_id: int | None = None
    total: int | None = None
    enrolled: int = 0
    existing: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    started_at: str | None = None
    mode: str | None = None  # how the pages went out: batch | runs
    sent: int = 0
    skipped: int = 0
    held: int = 0


@dataclass
class EnrollPage:
    journey_id: str
    segment_id: str
    enrollment_id: str
    task_queue: str
    after_id: int | None
    limit: int
    keyed: bool = True
    delivery: str = "auto"


ERRORS_PER_PAGE = 5  # an enrollment page reports at most this many failures by name


@dataclass
class EnrolledPage:
    last_id: int | None  # None: the audience is exhausted
    enrolled: int = 0
    existing: int = 0
    failed: int = 0  # runs: runs that could not start; batch: messages that failed for good
    errors: list[str] = field(default_factory=list)
    mode: str = "runs"
    # Batch only: messages sent (or unconfirmed), skipped (consent, quiet hours or cap said
    # skip), held (handed to a run that sleeps until they may go).
    sent: int = 0
    skipped: int = 0
    held: int = 0


@dataclass
class EnrollmentProgress:
    journey_id: str
    segment_id: str
    enrollment_id: str
    status: str  # counting | running | paused | completed
    total: int | None
    enrolled: int
    existing: int
    failed: int
    errors: list[str]
    started_at: str | None
    per_second: float | None = None
    mode: str | None = None
    sent: int = 0
    skipped: int = 0
    held: int = 0


@dataclass
class TaggingRequest:
    """Apply every tagging rule for `day` (YYYY-MM-DD); None: the day that just ended in the brand's zone."""

    day: str | None = None


@dataclass
class TagRuleSummary:
    rule_id: str
    tag: str
    day: str
    tagged: int
    changed: int
    removed: int
