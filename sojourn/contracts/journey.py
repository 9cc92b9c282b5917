"""The journey workflow's interface: its id, input, state, signals and query, and message keys."""

from dataclasses import dataclass, field

from sojourn.contracts.steps import Step

ENGAGEMENT_SIGNAL = "engagement"
EVENT_SIGNAL = "event"
STATE_QUERY = "state"

# `workflow.patched()` ids of the journey workflow (workflows/node_handlers.py).
CHANNELS_PATCH = "channels"  # sends through the general `send` activity, not the email-only one
LATENESS_PATCH = "event_lateness"  # an event-relative wait reached late skips or branches
BEST_TIME_PATCH = "best-send-time"  # a send or wait with `at: best_time` rests until the contact's best hour
# The patches a run is started with (`JourneyInput.patches`): it takes their new path without
# asking, since asking writes a marker and a `TemporalChangeVersion` search attribute (a
# visibility update) into every run. A patch joins this list only once every worker that can
# pick up a run knows it (a release after the patch), or an older worker would take the old path.
PATCHES_AT_START = (CHANNELS_PATCH, LATENESS_PATCH)


def journey_workflow_id(journey_id: str, contact_external_id: str, key: str | None = None) -> str:
    """One active run per (journey, contact[, key]): enrolling twice finds the same workflow."""
    base = f"journey/{journey_id}/{contact_external_id}"
    return base if key is None else f"{base}/{key}"


SIMULATION_PREFIX = "simulation"


def contact_of_workflow_id(workflow_id: str) -> str | None:
    """The contact external id a journey run's (or a simulation's) workflow id names, or None for
    other workflows. External ids never contain `/`, so the third segment is the contact whatever
    follows it."""
    parts = workflow_id.split("/", 3)
    return parts[2] if len(parts) >= 3 and parts[0] in ("journey", SIMULATION_PREFIX) and parts[2] else None


def simulation_workflow_id(journey_id: str, contact_external_id: str | None, unique: str) -> str:
    """A simulation of a stored contact is named after it, so its payloads are sealed with the
    contact's key as its runs' are; a profile's names none (it is stored nowhere)."""
    return f"{SIMULATION_PREFIX}/{journey_id}/{contact_external_id or ''}/{unique}"


def message_key(workflow_id: str, scope: str, node_id: str, visit: int) -> str:
    """A message's idempotency key. `scope` is the run's first run id (stable across
    continue-as-new, distinct for a later re-entry), or the enrollment workflow that sent it
    in a batch (the run it hands a held message to keeps that scope, so the key is the same)."""
    return f"{message_scope(workflow_id, scope)}{node_id}/{visit}"


def message_scope(workflow_id: str, scope: str) -> str:
    """What the keys of one run's (or one batched contact's) messages begin with."""
    return f"{workflow_id}/{scope}/"


@dataclass(kw_only=True)
class ContactEvent:
    """An event the contact performed, as a journey sees it (trigger, exit, goal, wait_for)."""

    event_id: str
    name: str
    properties: dict
    occurred_at: str  # ISO 8601


@dataclass(kw_only=True)
class EngagementSignal:
    send_node: str
    kind: str  # opened | clicked
    message_id: str | None = None
    url: str | None = None
    occurred_at: str | None = None  # ISO 8601


@dataclass(kw_only=True)
class PathStep:
    node: str
    type: str
    entered_at: str
    outcome: str | None = None


@dataclass(kw_only=True)
class SentMessage:
    node: str
    message_id: str
    status: str  # sent | unconfirmed | skipped | failed
    recipient: str | None = None
    subject: str | None = None
    at: str | None = None
    reason: str | None = None
    channel: str | None = None


@dataclass(kw_only=True)
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
    unwritten_steps: list[Step] = field(default_factory=list)  # closed, not written yet
    steps_taken: int = 0


@dataclass(kw_only=True)
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
    # Runs started before step records existed (their histories have no `record_steps`) leave
    # it False; every run started now records its steps (sojourn/contracts/steps.py).
    record_steps: bool = False
    # Runs started before this field asked `workflow.patched()` as they went (their histories hold
    # the markers) and leave it empty; every run started now has `PATCHES_AT_START`.
    patches: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
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
