"""Step records: what a run did at each node it entered, written as the run moves.

A run keeps the steps it has not written yet and hands them to the next activity it calls
anyway (the send, the run's end), or to `record_steps` just before it rests (a wait, a
`wait_for`, a deferred send), so a resting run is counted where it is.
"""

from dataclasses import dataclass, field

RECORD_STEPS_ACTIVITY = "record_steps"

# The ways out of a node besides its own: the run ended there.
EXITED = "exited"
CANCELLED = "cancelled"
LATE = "late"  # an event-relative wait reached too late
DEFERRED = "deferred"  # a send held until later; the run rests at the node
BEST_TIME = "best_time"  # a send resting until the contact's best hour (`at: best_time`)


@dataclass(kw_only=True)
class Step:
    """The run's `seq`-th node (counted from 1 over the whole run, continuations included)."""

    seq: int
    node: str
    type: str
    entered_at: str  # ISO 8601
    left_at: str | None = None  # None while the run is at the node
    # How the run left (or, while deferred, why it waits): then | else | case N | default |
    # event | timeout | sent | unconfirmed | skipped | failed | deferred | best_time | late | exited | cancelled;
    # None for a node with one way out.
    outcome: str | None = None
    reason: str | None = None  # a skip's, failure's or deferral's reason


@dataclass(kw_only=True)
class RunSteps:
    """Steps of one run not written yet; writing them again changes nothing."""

    run_id: str  # the run's first run id (journey_runs.run_id)
    journey_id: str
    version: int
    contact_id: int
    started_at: str  # when the run entered the journey: funnels select runs by it
    steps: list[Step] = field(default_factory=list)
