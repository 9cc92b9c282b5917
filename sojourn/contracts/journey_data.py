"""The journey's data activities: branch conditions, local times, best send times, tag changes, run ends."""

from dataclasses import dataclass

from sojourn.contracts.steps import RunSteps

EVALUATE_CONDITIONS_ACTIVITY = "evaluate_conditions"
RECORD_RUN_END_ACTIVITY = "record_run_end"
NEXT_LOCAL_TIME_ACTIVITY = "next_local_time"
TAG_CONTACT_ACTIVITY = "tag_contact"
BEST_SEND_TIME_ACTIVITY = "best_send_time"


@dataclass(kw_only=True)
class TagChange:
    """A `tag` node's change to one contact; `key` makes a retried change count once."""

    contact_id: int
    tag: str
    action: str  # add | increment | remove
    weight: float
    source: str
    key: str


@dataclass(kw_only=True)
class LocalTimeRequest:
    """When it next is `at` (on one of `weekdays`) in the contact's time zone, from `now`."""

    contact_id: int
    at: str
    now: str  # ISO 8601
    weekdays: list[str] | None = None
    time_zone: str | None = None  # the journey's, for contacts without one


@dataclass(kw_only=True)
class BestTimeRequest:
    """When, from `now` and `within` it (a duration as written), the contact's best hour comes."""

    contact_id: int
    now: str  # ISO 8601
    within: str


@dataclass(kw_only=True)
class BestTime:
    """The instant chosen (`at`) and why: the local `hour` in `time_zone`, the contact's own or the
    brand's (`source`: contact | brand | default, the last before any model was fitted)."""

    at: str  # ISO 8601
    local: str  # the same instant on the contact's clock, YYYY-MM-DD HH:MM
    hour: int
    time_zone: str
    source: str


@dataclass(kw_only=True)
class EvaluateConditions:
    """Database-backed branch conditions (filters) for one contact, at the run's `now`."""

    contact_id: int
    filters: list[dict]
    now: str


@dataclass(kw_only=True)
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
    steps: RunSteps | None = None  # the run's steps not written yet, its last one closed
