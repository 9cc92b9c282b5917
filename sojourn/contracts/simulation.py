"""Simulating a journey for one contact: the simulation workflow's input and result, and the
activities it calls instead of the run's (they decide and render, and write nothing)."""

from dataclasses import dataclass, field

from sojourn.contracts.journey import ContactEvent, EngagementSignal, JourneyInput, JourneyState
from sojourn.contracts.send import SendRequest, SendResult

SIMULATION_WORKFLOW = "SimulationWorkflow"
SIMULATE_SEND_ACTIVITY = "simulate_send"
SIMULATE_CONDITIONS_ACTIVITY = "simulate_conditions"
SIMULATE_LOCAL_TIME_ACTIVITY = "simulate_next_local_time"
SIMULATE_TAG_ACTIVITY = "simulate_tag"
SIMULATE_ARM_ACTIVITY = "simulate_arm"
SIMULATE_BEST_TIME_ACTIVITY = "simulate_best_send_time"


@dataclass(kw_only=True)
class SimulatedSend:
    """A message sent earlier in the simulation: the caps of a later send count it."""

    channel: str
    due_at: str  # ISO 8601, the virtual time of the send
    transactional: bool = False


@dataclass(kw_only=True)
class SimulatedContact:
    """The contact as the simulation sees it now: a stored one (`contact_id`) or a profile that is
    stored nowhere, with the tag changes and sends the simulation made so far."""

    contact_id: int | None = None
    profile: dict | None = None  # contact fields (email, phone, time_zone, attributes...) and `consent`
    tags: dict[str, float | None] = field(default_factory=dict)  # tag: weight after the change, None removed
    sends: list[SimulatedSend] = field(default_factory=list)


@dataclass(kw_only=True)
class SimulateSend:
    request: SendRequest
    contact: SimulatedContact
    now: str  # ISO 8601, the simulation's time


@dataclass(kw_only=True)
class SimulatedSendResult(SendResult):
    """The send path's decision, with the message as its channel would carry it."""

    payload: dict | None = None  # what the provider would receive (email: from, html, text)


@dataclass(kw_only=True)
class SimulateConditions:
    contact: SimulatedContact
    filters: list[dict]
    now: str


@dataclass(kw_only=True)
class SimulateLocalTime:
    contact: SimulatedContact
    at: str
    now: str
    weekdays: list[str] | None = None
    time_zone: str | None = None


@dataclass(kw_only=True)
class SimulateBestTime:
    contact: SimulatedContact
    now: str
    within: str


@dataclass(kw_only=True)
class SimulateTag:
    contact: SimulatedContact
    tag: str
    action: str  # add | increment | remove
    weight: float


@dataclass(kw_only=True)
class ScriptStep:
    """At `after_seconds` from the start, the contact performs `event` or engages (`engagement`)."""

    after_seconds: float
    event: ContactEvent | None = None
    engagement: EngagementSignal | None = None


@dataclass(kw_only=True)
class SimulationInput:
    journey: JourneyInput  # as a real run would get it (record_steps off: a simulation writes no steps)
    contact: SimulatedContact
    script: list[ScriptStep] = field(default_factory=list)


@dataclass(kw_only=True)
class SimulatedMessage:
    node: str
    at: str
    status: str  # sent | skipped | failed: what a real send would have done
    channel: str | None = None
    recipient: str | None = None
    subject: str | None = None
    payload: dict | None = None
    reason: str | None = None


@dataclass(kw_only=True)
class Decision:
    at: str
    node: str | None
    kind: str  # branch | wait_for | deferred | skipped | failed | late | best_time | tag | event | engagement | exit
    outcome: str
    reason: str | None = None


@dataclass(kw_only=True)
class SimulationResult:
    state: JourneyState
    started_at: str
    ended_at: str
    messages: list[SimulatedMessage] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
