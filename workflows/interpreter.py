"""The journey interpreter behind `JourneyWorkflow` (workflows/journey.py).

It walks the pinned definition node by node: sends through the `send`
activity, sleeps durably through waits, and wakes on engagement and event signals.
Engagement is remembered whenever it arrives, so an open during a fixed wait
still counts at the next branch.

It lives outside `workflows/` so the sandbox imports it once per worker instead of
once per run: the workflow module's code is re-created for every cached run, and this
is most of it. It must stay deterministic: time, randomness and I/O only through
`temporalio.workflow`.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from sojourn.contracts import search_attributes as sa
from sojourn.contracts.journey import (
    Carried,
    ContactEvent,
    EngagementSignal,
    JourneyInput,
    JourneyState,
    PathStep,
    SentMessage,
    message_key,
)
from sojourn.contracts.journey_data import (
    EVALUATE_CONDITIONS_ACTIVITY,
    NEXT_LOCAL_TIME_ACTIVITY,
    RECORD_RUN_END_ACTIVITY,
    TAG_CONTACT_ACTIVITY,
    EvaluateConditions,
    LocalTimeRequest,
    RunEnd,
    TagChange,
)
from sojourn.contracts.send import (
    SEND_ACTIVITY,
    SEND_EMAIL_ACTIVITY,
    SendEmailRequest,
    SendEmailResult,
    SendResult,
    send_request,
)
from sojourn.dsl.definition import (
    BranchNode,
    EngagementCondition,
    EventCondition,
    ExitNode,
    SendNode,
    TagNode,
    WaitForNode,
    WaitNode,
    shared_definition,
)
from sojourn.dsl.durations import parse_duration
from sojourn.dsl.filters import properties_match

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

# Runs started before channels existed called the email-only activity; they still must.
CHANNELS_PATCH = "channels"

# Database reads and writes: quick local activities, retried through a database restart.
DATA_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=["InvalidFilter"],
)
DATA_START_TO_CLOSE = timedelta(seconds=30)
DATA_SCHEDULE_TO_CLOSE = timedelta(hours=1)

# JourneyNode is kept for the nodes a run rests at, where operators look for it, and set
# once at the end: upserting at every node doubled the history of a short journey.
_RESTING = ("wait", "wait_for")
# Events kept for `wait_for` and the state query; older ones are dropped first.
EVENTS_KEPT = 200

_HOLD_FLOOR = timedelta(seconds=1)

# Continue as new well before Temporal's 51,200-event limit (DESIGN.md).
HISTORY_EVENTS_BEFORE_CONTINUE = 4000
PATH_KEPT_ACROSS_CONTINUE = 500


class JourneyInterpreter:
    def __init__(self, input: JourneyInput) -> None:
        raw, self._definition = shared_definition(input.journey_id, input.version, input.definition)
        # Keep the worker's shared copy, not this run's: thousands of cached runs hold it.
        self._input = dataclasses.replace(input, definition=raw)
        carried = input.carried or Carried(node=self._definition.start_id)
        self._node: str | None = carried.node
        self._visits = dict(carried.visits)
        self._path = list(carried.path)
        self._messages = list(carried.messages)
        self._engagements = list(carried.engagements)
        self._events = list(carried.events)
        self._started_at = carried.started_at or workflow.now().isoformat()
        self._converted_at = carried.converted_at
        self._exit_reason: str | None = None
        goal = self._definition.goal
        self._can_exit_early = bool(self._definition.exit_on) or (goal is not None and goal.exit)
        self._status = "active"
        self._wait_until: str | None = None

    async def interpret(self) -> JourneyState:
        nodes = self._definition.node_map()
        try:
            while self._node is not None and self._exit_reason is None:
                if self._should_continue_as_new():
                    workflow.continue_as_new(self._continuation())
                node = nodes[self._node]
                self._enter(node)
                self._node = await self._execute(node)
            await self._finish("exited" if self._exit_reason else "completed")
        except asyncio.CancelledError:
            await self._finish("cancelled")
            raise
        return self.state()

    def on_engagement(self, signal: EngagementSignal) -> None:
        if not any(self._same_engagement(signal, seen) for seen in self._engagements):
            self._engagements.append(signal)

    def on_event(self, event: ContactEvent) -> None:
        trigger = self._input.trigger
        if any(seen.event_id == event.event_id for seen in self._events) or (trigger and trigger.event_id == event.event_id):
            return
        self._events = (self._events + [event])[-EVENTS_KEPT:]
        if self._status != "active":
            return
        goal = self._definition.goal
        if goal and self._converted_at is None and _matches(goal, event) and self._within_goal_window(goal.within):
            self._converted_at = workflow.now().isoformat()
            if goal.exit:
                self._exit_reason = f"goal: {event.name}"
        for condition in self._definition.exit_on:
            if self._exit_reason is None and _matches(condition, event):
                self._exit_reason = f"exit_on: {event.name}"

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
            events=self._events,
            exit_reason=self._exit_reason,
            converted_at=self._converted_at,
            trigger=self._input.trigger,
            key=self._input.key,
            batch=self._input.batch,
        )

    async def _execute(self, node) -> str | None:
        if isinstance(node, SendNode):
            failed = not await self._send(node)
            return node.on_failure if failed and node.on_failure else node.next
        if isinstance(node, WaitNode):
            await self._wait(node)
            return node.next
        if isinstance(node, WaitForNode):
            engaged = await self._wait_for(node)
            self._path[-1].outcome = "event" if engaged else "timeout"
            return node.on_event if engaged else node.on_timeout
        if isinstance(node, BranchNode):
            return await self._branch(node)
        if isinstance(node, TagNode):
            await self._tag(node)
            return node.next
        if isinstance(node, ExitNode):
            return None
        raise ApplicationError(f"unknown node type {type(node).__name__}", non_retryable=True)

    async def _send(self, node: SendNode) -> bool:
        """Send the node's message; False when it failed for good."""
        key = self._next_key(node.id)
        info = workflow.info()
        if workflow.patched(CHANNELS_PATCH):
            activity, result_type = SEND_ACTIVITY, SendResult
            request = send_request(key, info.workflow_id, self._input.journey_id, self._input.version,
                                   self._input.contact_id, self._input.definition, node.id, self._input.trigger)
        else:
            activity, result_type = SEND_EMAIL_ACTIVITY, SendEmailResult
            request = SendEmailRequest(
                idempotency_key=key, workflow_id=info.workflow_id, journey_id=self._input.journey_id,
                journey_version=self._input.version, node_id=node.id, contact_id=self._input.contact_id,
                subject=node.subject, html=node.html, text=node.text, from_address=node.from_, track=node.track,
                event=self._input.trigger)
        now = workflow.now().isoformat()
        try:
            while True:
                result = await workflow.execute_activity(
                    activity,
                    request,
                    result_type=result_type,
                    start_to_close_timeout=SEND_START_TO_CLOSE,
                    schedule_to_close_timeout=SEND_SCHEDULE_TO_CLOSE,
                    retry_policy=SEND_RETRY,
                )
                if result.status != "deferred":
                    break
                # Quiet hours or a frequency cap: sleep durably, then ask again under the same key.
                self._path[-1].outcome = f"deferred until {result.until}: {result.reason}"
                workflow.upsert_search_attributes([sa.JOURNEY_NODE.value_set(node.id)])
                # At least a moment, so a hold that ends "now" by a skewed clock cannot spin.
                await self._sleep_until(max(datetime.fromisoformat(result.until), workflow.now() + _HOLD_FLOOR))
                if self._exit_reason is not None:
                    return True
        except ActivityError as err:
            reason = str(err.cause) if err.cause else str(err)
            workflow.logger.warning("send %s failed for good: %s", node.id, reason)
            self._messages.append(SentMessage(node=node.id, message_id="", status="failed", at=now, reason=reason))
            self._path[-1].outcome = "failed"
            return False
        self._messages.append(
            SentMessage(
                node=node.id,
                message_id=result.message_id,
                status=result.status,
                recipient=result.recipient,
                subject=result.subject,
                at=now,
                reason=result.reason,
                channel=getattr(result, "channel", "email"),
            )
        )
        self._path[-1].outcome = result.status
        return True

    async def _wait(self, node: WaitNode) -> None:
        if node.until is not None:
            due = node.until
        elif node.at is not None:
            due = datetime.fromisoformat(await self._next_local_time(node))
        elif node.relative_to == "event" and self._input.trigger is not None:
            due = datetime.fromisoformat(self._input.trigger.occurred_at) + parse_duration(node.duration)
        else:
            due = workflow.now() + parse_duration(node.duration)
        await self._sleep_until(due)

    async def _sleep_until(self, due: datetime) -> None:
        delay = due - workflow.now()
        if delay <= timedelta(0):
            return
        self._wait_until = due.isoformat()
        try:
            if self._can_exit_early:
                # An exit event ends the wait at once.
                await workflow.wait_condition(lambda: self._exit_reason is not None, timeout=delay)
            else:
                await workflow.sleep(delay)  # lighter in memory for the many runs that sleep
        except asyncio.TimeoutError:
            pass
        finally:
            self._wait_until = None

    async def _next_local_time(self, node: WaitNode) -> str:
        return await workflow.execute_local_activity(
            NEXT_LOCAL_TIME_ACTIVITY,
            LocalTimeRequest(contact_id=self._input.contact_id, at=node.at, now=workflow.now().isoformat(),
                             weekdays=node.weekdays, time_zone=self._definition.time_zone),
            result_type=str,
            start_to_close_timeout=DATA_START_TO_CLOSE,
            schedule_to_close_timeout=DATA_SCHEDULE_TO_CLOSE,
            retry_policy=DATA_RETRY,
        )

    async def _wait_for(self, node: WaitForNode) -> bool:
        timeout = parse_duration(node.timeout)
        self._wait_until = (workflow.now() + timeout).isoformat()
        try:
            await workflow.wait_condition(
                lambda: self._holds(node.event) or self._exit_reason is not None, timeout=timeout)
            return self._holds(node.event)
        except TimeoutError:
            return False
        finally:
            self._wait_until = None

    async def _branch(self, node: BranchNode) -> str:
        arms = node.arms()
        filters = [c.model_dump(mode="json", by_alias=True, exclude_none=True) for c, _ in arms
                   if c is not None and not isinstance(c, EngagementCondition)]
        answers = iter(await self._evaluate(filters) if filters else [])
        for index, (condition, target) in enumerate(arms):
            holds = condition is None or (
                self._holds(condition) if isinstance(condition, EngagementCondition) else next(answers))
            if holds:
                last = index == len(arms) - 1
                if node.cases is None:
                    self._path[-1].outcome = "else" if last else "then"
                else:
                    self._path[-1].outcome = "default" if last else f"case {index}"
                return target
        raise ApplicationError("a branch always has a default", non_retryable=True)

    def _next_key(self, node_id: str) -> str:
        """The key of this visit to the node, under which a retried step takes effect once."""
        visit = self._visits.get(node_id, 0) + 1
        self._visits[node_id] = visit
        info = workflow.info()
        return message_key(info.workflow_id, self._input.batch or info.first_execution_run_id, node_id, visit)

    async def _tag(self, node: TagNode) -> None:
        weight = await workflow.execute_local_activity(
            TAG_CONTACT_ACTIVITY,
            TagChange(contact_id=self._input.contact_id, tag=node.tag, action=node.action, weight=node.weight,
                      source=f"journey:{self._input.journey_id}/{node.id}",
                      key=self._next_key(node.id)),
            result_type=float | None,
            start_to_close_timeout=DATA_START_TO_CLOSE,
            schedule_to_close_timeout=DATA_SCHEDULE_TO_CLOSE,
            retry_policy=DATA_RETRY,
        )
        self._path[-1].outcome = "removed" if weight is None else f"weight {weight:g}"

    async def _evaluate(self, filters: list[dict]) -> list[bool]:
        return await workflow.execute_local_activity(
            EVALUATE_CONDITIONS_ACTIVITY,
            EvaluateConditions(contact_id=self._input.contact_id, filters=filters, now=workflow.now().isoformat()),
            result_type=list[bool],
            start_to_close_timeout=DATA_START_TO_CLOSE,
            schedule_to_close_timeout=DATA_SCHEDULE_TO_CLOSE,
            retry_policy=DATA_RETRY,
        )

    def _within_goal_window(self, within: str | None) -> bool:
        if within is None:
            return True
        return workflow.now() - datetime.fromisoformat(self._started_at) <= parse_duration(within)

    def _holds(self, condition: EngagementCondition | EventCondition) -> bool:
        if isinstance(condition, EventCondition):
            return any(_matches(condition, event) for event in self._events)
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
        if node.type in _RESTING:
            workflow.upsert_search_attributes([sa.JOURNEY_NODE.value_set(node.id)])

    async def _finish(self, status: str) -> None:
        self._status = status
        self._wait_until = None
        updates = [sa.JOURNEY_STATUS.value_set(status)]
        if self._path:
            updates.append(sa.JOURNEY_NODE.value_set(self._path[-1].node))
        workflow.upsert_search_attributes(updates)
        info = workflow.info()
        await workflow.execute_local_activity(
            RECORD_RUN_END_ACTIVITY,
            RunEnd(run_id=info.first_execution_run_id, workflow_id=info.workflow_id,
                   journey_id=self._input.journey_id, version=self._input.version,
                   contact_id=self._input.contact_id, status=status, ended_at=workflow.now().isoformat(),
                   key=self._input.key, exit_reason=self._exit_reason, converted_at=self._converted_at),
            start_to_close_timeout=DATA_START_TO_CLOSE,
            schedule_to_close_timeout=DATA_SCHEDULE_TO_CLOSE,
            retry_policy=DATA_RETRY,
        )

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
                events=self._events,
                started_at=self._started_at,
                converted_at=self._converted_at,
            ),
            trigger=self._input.trigger,
            key=self._input.key,
            batch=self._input.batch,
        )


def _matches(condition: EventCondition, event: ContactEvent) -> bool:
    return condition.event == event.name and properties_match(condition.where, event.properties)
