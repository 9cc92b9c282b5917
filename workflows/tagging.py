"""The nightly analysis as a workflow: started by the `tagging-nightly` schedule or by hand."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from sojourn.contracts.tagging import RUN_TAG_RULES_ACTIVITY, TaggingRequest, TagRuleSummary


@workflow.defn(name="TaggingWorkflow")
class TaggingWorkflow:
    @workflow.run
    async def run(self, request: TaggingRequest) -> list[TagRuleSummary]:
        # Rules are idempotent per day, so a retry (or a whole re-run) only redoes work.
        return await workflow.execute_activity(
            RUN_TAG_RULES_ACTIVITY, request, result_type=list[TagRuleSummary],
            start_to_close_timeout=timedelta(hours=2), heartbeat_timeout=timedelta(minutes=5),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=5),
                                     maximum_attempts=10))
