"""The nightly models workflow's interface: one run per day (`models/YYYY-MM-DD`), each model
step an activity, progress answered by the `progress` query."""

from dataclasses import dataclass, field
from typing import Any

MODELS_WORKFLOW = "ModelsWorkflow"
PLAN_MODELS_ACTIVITY = "plan_models"
RUN_MODEL_STEP_ACTIVITY = "run_model_step"
NIGHTLY_DAY_ACTIVITY = "nightly_day"
PROGRESS_QUERY = "progress"
# The TaggingWorkflow's change that starts the day's models once its tag rules are applied.
MODELS_AFTER_TAGGING_PATCH = "models-after-tagging"


def models_workflow_id(day: str) -> str:
    return f"models/{day}"


@dataclass(kw_only=True)
class ModelsRequest:
    """Run the model steps for `day` (YYYY-MM-DD: fitted on the data up to the end of that day in
    the brand's time zone); `steps` None: every step, in the nightly order."""

    day: str
    steps: list[str] | None = None


@dataclass(kw_only=True)
class ModelStepRequest:
    day: str
    step: str


@dataclass
class ModelRun:
    """What one model step reports, whichever model it fits: the version it stored (None when no
    version could be used, `reason` says why), how many contacts it scored and how many stored
    values changed (0 on a re-run of the same day)."""

    model: str
    version: int | None
    contacts: int
    changed: int
    reason: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class StepOutcome:
    step: str
    status: str  # "done" or "failed" (`error` says why; the next steps ran all the same)
    started_at: str
    seconds: float
    result: ModelRun | None = None
    error: str | None = None


@dataclass(kw_only=True)
class ModelsProgress:
    """The run so far (the `progress` query) or in the end (its result): the steps planned, those
    finished in order, and the one running now."""

    day: str
    steps: list[str] = field(default_factory=list)
    finished: list[StepOutcome] = field(default_factory=list)
    current: str | None = None
