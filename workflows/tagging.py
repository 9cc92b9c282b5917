"""The nightly analysis as a workflow: started by the `tagging-nightly` schedule or by hand. The
nightly one then starts the day's models run (`ModelsWorkflow`, `models/YYYY-MM-DD`), which goes
on by itself: tagging is done when its rules are."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from sojourn.contracts.models import (
        MODELS_AFTER_TAGGING_PATCH,
        MODELS_WORKFLOW,
        NIGHTLY_DAY_ACTIVITY,
        ModelsRequest,
        models_workflow_id,
    )
    from sojourn.contracts.tagging import RUN_TAG_RULES_ACTIVITY, TaggingRequest, TagRuleSummary
    from workflows.options import MODEL_PLAN_OPTIONS, TAG_RULES_OPTIONS


@workflow.defn(name="TaggingWorkflow")
class TaggingWorkflow:
    @workflow.run
    async def run(self, request: TaggingRequest) -> list[TagRuleSummary]:
        summaries = await workflow.execute_activity(
            RUN_TAG_RULES_ACTIVITY, request, result_type=list[TagRuleSummary], **TAG_RULES_OPTIONS)
        # Only the nightly run (no day given): a day re-tagged by hand leaves its models alone.
        if request.day is None and workflow.patched(MODELS_AFTER_TAGGING_PATCH):
            await self._start_models()
        return summaries

    async def _start_models(self) -> None:
        # The day the tag rules were applied for: the one that ended before this run started,
        # however long the rules took.
        started = workflow.info().workflow_start_time.isoformat()
        day = await workflow.execute_local_activity(NIGHTLY_DAY_ACTIVITY, started, result_type=str,
                                                    **MODEL_PLAN_OPTIONS)
        try:
            await workflow.start_child_workflow(
                MODELS_WORKFLOW, ModelsRequest(day=day), id=models_workflow_id(day),
                parent_close_policy=workflow.ParentClosePolicy.ABANDON)
        except WorkflowAlreadyStartedError:
            workflow.logger.info("the models run for %s is already running", day)
