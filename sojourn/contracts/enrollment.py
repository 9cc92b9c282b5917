"""The enrollment workflow's interface: enrolling a segment page by page, and its progress."""

from dataclasses import dataclass, field

COUNT_AUDIENCE_ACTIVITY = "count_audience"
ENROLL_PAGE_ACTIVITY = "enroll_page"
PROGRESS_QUERY = "progress"
PAUSE_SIGNAL = "pause"
RESUME_SIGNAL = "resume"
ERRORS_PER_PAGE = 5  # an enrollment page reports at most this many failures by name


def enrollment_workflow_id(journey_id: str, enrollment_id: str) -> str:
    return f"enrollment/{journey_id}/{enrollment_id}"


@dataclass(kw_only=True)
class EnrollmentInput:
    """Enroll a segment's contacts into a journey, one run each for this enrollment."""

    journey_id: str
    segment_id: str
    enrollment_id: str  # "" for a scheduled firing: its workflow id's suffix (the firing time)
    task_queue: str  # where the journey runs are started
    page_size: int = 500
    # True: the enrollment id keys the runs (a redone page finds them). False (a scheduled
    # firing): each contact's plain run. Either way the journey's re-entry rule decides who enters.
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


@dataclass(kw_only=True)
class EnrollPage:
    journey_id: str
    segment_id: str
    enrollment_id: str
    task_queue: str
    after_id: int | None
    limit: int
    keyed: bool = True
    delivery: str = "auto"


@dataclass(kw_only=True)
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


@dataclass(kw_only=True)
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
