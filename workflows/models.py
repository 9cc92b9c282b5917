"""The nightly models run for one day: each model step an activity, in order. A step that fails
(after its retries) is recorded as failed with its error and the next steps still run; steps
finished in this run are never redone (they are in its history), and each step is idempotent
for its day, so a whole run started again for the same day changes nothing that did not change."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from sojourn.contracts.models import (
        MODELS_WORKFLOW,
        PLAN_MODELS_ACTIVITY,
        PROGRESS_QUERY,
        RUN_MODEL_STEP_ACTIVITY,
        ModelRun,
        ModelsProgress,
        ModelsRequest,
        ModelStepRequest,
        StepOutcome,
    )
    from workflows.options import MODEL_PLAN_OPTIONS, MODEL_STEP_OPTIONS


@workflow.defn(name=MODELS_WORKFLOW)
class ModelsWorkflow:
    def __init__(self) -> None:
        self._progress: ModelsProgress | None = None

    @workflow.run
    async def run(self, request: ModelsRequest) -> ModelsProgress:
        self._progress = progress = ModelsProgress(day=request.day)
        progress.steps = await workflow.execute_activity(PLAN_MODELS_ACTIVITY, request, result_type=list[str],
                                                         **MODEL_PLAN_OPTIONS)
        for step in progress.steps:
            progress.current = step
            started = workflow.now()
            outcome = StepOutcome(step=step, status="done", started_at=started.isoformat(), seconds=0.0)
            try:
                outcome.result = await workflow.execute_activity(
                    RUN_MODEL_STEP_ACTIVITY, ModelStepRequest(day=request.day, step=step),
                    result_type=ModelRun, **MODEL_STEP_OPTIONS)
            except ActivityError as err:
                # The cause's own words (ApplicationError, TimeoutError...), its type aside.
                outcome.status, outcome.error = "failed", getattr(err.cause, "message", None) or str(err)
                workflow.logger.warning("model step %s failed for %s: %s", step, request.day, outcome.error)
            outcome.seconds = round((workflow.now() - started).total_seconds(), 3)
            progress.finished.append(outcome)
        progress.current = None
        return progress

    @workflow.query(name=PROGRESS_QUERY)
    def progress(self) -> ModelsProgress | None:
        return self._progress
