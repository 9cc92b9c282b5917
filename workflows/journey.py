"""The journey interpreter: one durable workflow per (journey, contact).

It walks the pinned definition node by node: sends through the `send_email`
activity, sleeps durably through waits, and wakes on engagement signals.
Engagement is remembered whenever it arrives, so an open during a fixed wait
still counts at the next branch.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from sojourn import search_attributes as sa
    from sojourn.contracts import (
        ENGAGEMENT_SIGNAL,
        SEND_EMAIL_ACTIVITY,
        STATE_QUERY,
        Carried,
        EngagementSignal,
        JourneyInput,
        JourneyState,
        PathStep,
        SendEmailRequest,
        SendEmailResult,
        SentMessage,
    )
    from sojourn.definition import (
        BranchNode,
        EngagementCondition,
        ExitNode,
        JourneyDefinition,
        SendNode,
        WaitForNode,
        WaitNode,
        parse_duration,
    )

# Sends retry with backoff for as long as a day of provider trouble; a message
# that cannot be built or is refused for good fails at once and the run moves on.
SEND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=["TemplateError", "PermanentDeliveryFailure", "ContactNotFound"],
)
SEND_START_TO_CLOSE = timedelta(seconds=60)
SEND_SCHEDULE_TO_CLOSE = timedelta(days=1)

# Continue as new well before Temporal's 51,200-event limit (DESIGN.md).
HISTORY_EVENTS_BEFORE_CONTINUE = 4000
PATH_KEPT_ACROSS_CONTINUE = 500


@workflow.defn(name="JourneyWorkflow")
class JourneyWorkflow:
    @workflow.init
    def __init__(self, input: JourneyInput) -> None:
        self._input = input
        self._definition = JourneyDefinition.model_validate(input.definition)
        carried = input.carried or Carried(node=self._definition.start_id)
        self._node: str | None = carried.node
        self._visits = dict(carried.visits)
        self._path = list(carried.path)
        self._messages = list(carried.messages)
        self._engagements = list(carried.engagements)
        self._status = "active"
        self._wait_until: str | None = None

    @workflow.run
    async def run(self, input: JourneyInput) -> JourneyState:
        nodes = self._definition.node_map()
        try:
            while self._node is not None:
                if self._should_continue_as_new():
                    workflow.continue_as_new(self._continuation())
                node = nodes[self._node]
                self._enter(node)
                self._node = await self._execute(node)
            self._finish("completed")
        except asyncio.CancelledError:
            self._finish("cancelled")
            raise
        return self.state()

    @workflow.signal(name=ENGAGEMENT_SIGNAL)
    def engagement(self, signal: EngagementSignal) -> None:
        if not any(self._same_engagement(signal, seen) for seen in self._engagements):
            self._engagements.append(signal)

    @workflow.query(name=STATE_QUERY)
    def state(self) -> JourneyState:
        return JourneyState(
            journey_id=self._input.journey_id,
            version=self._input.version,
            contact_external_id=self._input.contact_external_id,
            status=self._status,
            current_node=self._node,
            wait_until=self._wait_until,
            path=self._path,
            messages=self._messages,
            engagements=self._engagements,
        )

    async def _execute(self, node) -> str | None:
        if isinstance(node, SendNode):
            await self._send(node)
            return node.next
        if isinstance(node, WaitNode):
            await self._wait(node)
            return node.next
        if isinstance(node, WaitForNode):
            engaged = await self._wait_for(node)
            self._path[-1].outcome = "event" if engaged else "timeout"
            return node.on_event if engaged else node.on_timeout
        if isinstance(node, BranchNode):
            holds = self._holds(node.condition)
            self._path[-1].outcome = "then" if holds else "else"
            return node.then if holds else node.else_
        if isinstance(node, ExitNode):
            return None
        raise ApplicationError(f"unknown node type {type(node).__name__}", non_retryable=True)

    async def _send(self, node: SendNode) -> None:
        visit = self._visits.get(node.id, 0) + 1
        self._visits[node.id] = visit
        info = workflow.info()
        request = SendEmailRequest(
            # The first run id keeps the key stable across continue-as-new but
            # distinct for a later re-entry under the same workflow id.
            idempotency_key=f"{info.workflow_id}/{info.first_execution_run_id}/{node.id}/{visit}",
            workflow_id=info.workflow_id,
            journey_id=self._input.journey_id,
            journey_version=self._input.version,
            node_id=node.id,
            contact_id=self._input.contact_id,
            subject=node.subject,
            html=node.html,
            text=node.text,
            from_address=node.from_,
            track=node.track,
        )
        now = workflow.now().isoformat()
        try:
            result = await workflow.execute_activity(
                SEND_EMAIL_ACTIVITY,
                request,
                result_type=SendEmailResult,
                start_to_close_timeout=SEND_START_TO_CLOSE,
                schedule_to_close_timeout=SEND_SCHEDULE_TO_CLOSE,
                retry_policy=SEND_RETRY,
            )
        except ActivityError as err:
            reason = str(err.cause) if err.cause else str(err)
            workflow.logger.warning("send %s failed for good: %s", node.id, reason)
            self._messages.append(SentMessage(node=node.id, message_id="", status="failed", at=now, reason=reason))
            self._path[-1].outcome = "failed"
            return
        self._messages.append(
            SentMessage(
                node=node.id,
                message_id=result.message_id,
                status=result.status,
                recipient=result.recipient,
                subject=result.subject,
                at=now,
                reason=result.reason,
            )
        )
        self._path[-1].outcome = result.status

    async def _wait(self, node: WaitNode) -> None:
        if node.duration is not None:
            delay = parse_duration(node.duration)
        else:
            delay = node.until - workflow.now()
        if delay <= timedelta(0):
            return
        self._wait_until = (workflow.now() + delay).isoformat()
        await workflow.sleep(delay)
        self._wait_until = None

    async def _wait_for(self, node: WaitForNode) -> bool:
        timeout = parse_duration(node.timeout)
        self._wait_until = (workflow.now() + timeout).isoformat()
        try:
            await workflow.wait_condition(lambda: self._holds(node.event), timeout=timeout)
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            self._wait_until = None

    def _holds(self, condition: EngagementCondition) -> bool:
        for seen in self._engagements:
            if seen.send_node != condition.send_node:
                continue
            # A click proves the email was opened, even when the pixel was blocked.
            if condition.kind == "opened" and seen.kind in ("opened", "clicked"):
                return True
            if condition.kind == "clicked" and seen.kind == "clicked":
                if condition.link is None or condition.link == seen.url:
                    return True
        return False

    @staticmethod
    def _same_engagement(a: EngagementSignal, b: EngagementSignal) -> bool:
        return (a.send_node, a.kind, a.url) == (b.send_node, b.kind, b.url)

    def _enter(self, node) -> None:
        self._path.append(PathStep(node=node.id, type=node.type, entered_at=workflow.now().isoformat()))
        workflow.upsert_search_attributes([sa.JOURNEY_NODE.value_set(node.id)])

    def _finish(self, status: str) -> None:
        self._status = status
        self._wait_until = None
        workflow.upsert_search_attributes([sa.JOURNEY_STATUS.value_set(status)])

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        return info.is_continue_as_new_suggested() or info.get_current_history_length() > HISTORY_EVENTS_BEFORE_CONTINUE

    def _continuation(self) -> JourneyInput:
        return JourneyInput(
            journey_id=self._input.journey_id,
            version=self._input.version,
            contact_id=self._input.contact_id,
            contact_external_id=self._input.contact_external_id,
            definition=self._input.definition,
            carried=Carried(
                node=self._node,
                visits=self._visits,
                path=self._path[-PATH_KEPT_ACROSS_CONTINUE:],
                messages=self._messages[-PATH_KEPT_ACROSS_CONTINUE:],
                engagements=self._engagements,
            ),
        )
