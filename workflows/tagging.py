"""The nightly analysis as a workflow: started by the `tagging-nightly` schedule or by hand."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from sojourn.contracts.tagging import RUN_TAG_RULES_ACTIVITY, TaggingRequest, TagRuleSummary
    from workflows.options import TAG_RULES_OPTIONS


@workflow.defn(name="TaggingWorkflow")
class TaggingWorkflow:
    @workflow.run
    async def run(self, request: TaggingRequest) -> list[TagRuleSummary]:
        return await workflow.execute_activity(
            RUN_TAG_RULES_ACTIVITY, request, result_type=list[TagRuleSummary], **TAG_RULES_OPTIONS)
