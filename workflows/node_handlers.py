"""What each node type does when a run reaches it: the interpreter's `_execute` dispatches on
the node's class, and each handler returns where the run goes next.

Part of the journey interpreter (workflows/interpreter.py), so the same rules hold: it is
passed through the sandbox, and time, randomness and I/O go only through `temporalio.workflow`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import assert_never

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

# Passed through the sandbox: pure modules, loaded once per worker (not once per cached run).
with workflow.unsafe.imports_passed_through():
    from sojourn.contracts import search_attributes as sa
    from sojourn.contracts.experiments import ASSIGN_ARM_ACTIVITY, ArmRequest
    from sojourn.contracts.journey import (
        BEST_TIME_PATCH,
        CHANNELS_PATCH,
        LATENESS_PATCH,
        ContactEvent,
        EngagementSignal,
        JourneyInput,
        PathStep,
        SentMessage,
        message_key,
    )
    from sojourn.contracts.journey_data import (
        BEST_SEND_TIME_ACTIVITY,
        EVALUATE_CONDITIONS_ACTIVITY,
        NEXT_LOCAL_TIME_ACTIVITY,
        TAG_CONTACT_ACTIVITY,
        BestTime,
        BestTimeRequest,
        EvaluateConditions,
        LocalTimeRequest,
        TagChange,
    )
    from sojourn.contracts.send import (
        SEND_ACTIVITY,
        SEND_EMAIL_ACTIVITY,
        SendEmailRequest,
        SendEmailResult,
        SendRequest,
        SendResult,
        send_request,
    )
    from sojourn.contracts.statuses import MessageStatus
    from sojourn.dsl.conditions import EngagementCondition, EventCondition
    from sojourn.dsl.definition import JourneyDefinition
    from sojourn.dsl.durations import parse_duration
    from sojourn.dsl.filters import properties_match
    from sojourn.dsl.nodes import (
        BEST_TIME,
        AnyNode,
        BranchNode,
        ExitNode,
        SendNode,
        SplitNode,
        TagNode,
        WaitForNode,
        WaitNode,
    )
    from workflows import summaries
    from workflows.options import DATA_OPTIONS, SEND_OPTIONS
    from workflows.steps import StepRecording

# A deferred send sleeps at least this long, so a hold that ends "now" by a skewed clock cannot spin.
_HOLD_FLOOR = timedelta(seconds=1)


class NodeHandlers(StepRecording):
    """The node steps of `JourneyInterpreter`, which owns the run's memory declared here."""

    _input: JourneyInput
    _definition: JourneyDefinition
    _visits: dict[str, int]
    _path: list[PathStep]
    _messages: list[SentMessage]
    _engagements: list[EngagementSignal]
    _events: list[ContactEvent]
    _exit_reason: str | None
    _can_exit_early: bool
    _wait_until: str | None

    async def _execute(self, node: AnyNode) -> str | None:
        """Do what the node does; the id of the node the run goes to next, None at the end."""
        match node:
            case SendNode():
                failed = not await self._send(node)
                return node.on_failure if failed and node.on_failure else node.next
            case WaitNode():
                return await self._wait(node)
            case WaitForNode():
                engaged = await self._wait_for(node)
                self._path[-1].outcome = "event" if engaged else "timeout"
                return node.on_event if engaged else node.on_timeout
            case BranchNode():
                return await self._branch(node)
            case SplitNode():
                return await self._split(node)
            case TagNode():
                await self._tag(node)
                return node.next
            case ExitNode():
                return None
            case _:
                assert_never(node)

    async def _send(self, node: SendNode) -> bool:
        """Send the node's message (at the contact's best time if it asks); False when it failed for good."""
        if node.at == BEST_TIME and self._patched(BEST_TIME_PATCH):
            self._upsert([sa.JOURNEY_NODE.value_set(node.id)])
            await self._sleep_until_best_time(node.id, node.best_time_window)
            if self._exit_reason is not None:
                return True
        key = self._next_key(node.id)
        info = workflow.info()
        # Runs started before channels existed called the email-only activity; they still must.
        if self._patched(CHANNELS_PATCH):
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
                if isinstance(request, SendRequest):
                    request.steps = self._take_steps()
                result = await self._call_send(activity, request, result_type, summaries.send(node))
                if result.status != MessageStatus.DEFERRED:
                    break
                # Quiet hours or a frequency cap: sleep durably, then ask again under the same key.
                self._path[-1].outcome = f"deferred until {result.until}: {result.reason}"
                self._upsert([sa.JOURNEY_NODE.value_set(node.id)])
                await self._sleep_until(node.id, max(datetime.fromisoformat(result.until), workflow.now() + _HOLD_FLOOR))
                if self._exit_reason is not None:
                    return True
        except ActivityError as err:
            reason = str(err.cause) if err.cause else str(err)
            workflow.logger.warning("send %s failed for good: %s", node.id, reason)
            self._messages.append(
                SentMessage(node=node.id, message_id="", status=MessageStatus.FAILED, at=now, reason=reason))
            self._path[-1].outcome = MessageStatus.FAILED
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

    async def _call_send(self, activity: str, request: SendRequest | SendEmailRequest,
                         result_type: type, summary: str) -> SendResult | SendEmailResult:
        """The send path's answer for this message (a simulation asks its own activity)."""
        return await workflow.execute_activity(activity, request, result_type=result_type, summary=summary,
                                               **SEND_OPTIONS)

    def _upsert(self, updates: list) -> None:
        """Search attributes that show where the run is (a simulation shows none)."""
        workflow.upsert_search_attributes(updates)

    async def _wait(self, node: WaitNode) -> str:
        """Rest until the node's time; where the run goes next."""
        if node.until is not None:
            due = node.until
        elif node.at == BEST_TIME and self._patched(BEST_TIME_PATCH):
            await self._sleep_until_best_time(node.id, node.best_time_window)
            return node.next
        elif node.at is not None:
            due = datetime.fromisoformat(await self._next_local_time(node))
        elif node.relative_to == "event" and self._input.trigger is not None:
            due = datetime.fromisoformat(self._input.trigger.occurred_at) + parse_duration(node.duration)
            late = workflow.now() - due
            # Runs that reached it late before the lateness rule sent at once; replays do.
            if late > node.lateness_allowed and self._patched(LATENESS_PATCH):
                return self._late(node, late)
        else:
            due = workflow.now() + parse_duration(node.duration)
        await self._sleep_until(node.id, due)
        return node.next

    def _late(self, node: WaitNode, late: timedelta) -> str:
        """The event came too late for this wait: go to `on_late`, else skip the send right after."""
        late_by = f"late by {timedelta(seconds=int(late.total_seconds()))}"
        self._path[-1].outcome = late_by
        following = self._definition.node_map()[node.next]
        if node.on_late is not None or not isinstance(following, SendNode):
            return node.on_late or node.next
        self._enter(following)
        reason = f"{late_by} (more than the {node.lateness_allowed} allowed after wait {node.id!r})"
        self._messages.append(SentMessage(node=following.id, message_id="", status=MessageStatus.SKIPPED,
                                          at=workflow.now().isoformat(), reason=reason))
        self._path[-1].outcome = MessageStatus.SKIPPED
        return following.next

    async def _sleep_until_best_time(self, node_id: str, within: str) -> None:
        """Rest until the contact's best hour within the window; the run's path says which hour and why."""
        best = await self._best_time(node_id, within)
        due = datetime.fromisoformat(best.at)
        self._path[-1].outcome = summaries.best_time_outcome(best)
        await self._sleep_until(node_id, due, summaries.best_time(node_id, best))

    async def _best_time(self, node_id: str, within: str) -> BestTime:
        """The moment to go, asked once and recorded in history (a replay reads it, not the database)."""
        return await workflow.execute_local_activity(
            BEST_SEND_TIME_ACTIVITY,
            BestTimeRequest(contact_id=self._input.contact_id, now=workflow.now().isoformat(), within=within),
            result_type=BestTime,
            summary=f"{node_id}: best time within {within}",
            **DATA_OPTIONS,
        )

    async def _sleep_until(self, node_id: str, due: datetime, summary: str | None = None) -> None:
        delay = due - workflow.now()
        if delay <= timedelta(0):
            return
        await self._before_rest(node_id)
        self._wait_until = due.isoformat()
        summary = summary or summaries.rest(node_id, due)
        self._resting(summary)
        try:
            if self._can_exit_early:
                # An exit event ends the wait at once.
                await workflow.wait_condition(lambda: self._exit_reason is not None, timeout=delay,
                                              timeout_summary=summary)
            else:
                await workflow.sleep(delay, summary=summary)  # lighter in memory for the many runs that sleep
        except TimeoutError:
            pass
        finally:
            self._wait_until = None

    async def _next_local_time(self, node: WaitNode) -> str:
        return await workflow.execute_local_activity(
            NEXT_LOCAL_TIME_ACTIVITY,
            LocalTimeRequest(contact_id=self._input.contact_id, at=node.at, now=workflow.now().isoformat(),
                             weekdays=node.weekdays, time_zone=self._definition.time_zone),
            result_type=str,
            summary=f"{node.id}: next {node.at} local",
            **DATA_OPTIONS,
        )

    async def _wait_for(self, node: WaitForNode) -> bool:
        timeout = parse_duration(node.timeout)
        await self._before_rest(node.id)
        due = workflow.now() + timeout
        self._wait_until = due.isoformat()
        summary = summaries.wait_for(node.id, node.event, due)
        self._resting(summary)
        try:
            await workflow.wait_condition(
                lambda: self._holds(node.event) or self._exit_reason is not None, timeout=timeout,
                timeout_summary=summary)
            return self._holds(node.event)
        except TimeoutError:
            return False
        finally:
            self._wait_until = None

    async def _branch(self, node: BranchNode) -> str:
        arms = node.arms()
        filters = [c.model_dump(mode="json", by_alias=True, exclude_none=True) for c, _ in arms
                   if c is not None and not isinstance(c, EngagementCondition)]
        answers = iter(await self._evaluate(node.id, filters) if filters else [])
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

    async def _split(self, node: SplitNode) -> str:
        arm = await self._assign_arm(
            ArmRequest(journey_id=self._input.journey_id, version=self._input.version, node_id=node.id,
                       contact_id=self._input.contact_id, weights=node.weights(),
                       winner=node.winner.model_dump(exclude_none=True) if node.winner else None,
                       allocation=node.allocation))
        self._path[-1].outcome = arm
        return node.target(arm)

    async def _assign_arm(self, request: ArmRequest) -> str:
        """The contact's arm, drawn and recorded by an activity, so it is the contact's for good
        (re-entries and later versions take it too) and a replay reads it from history."""
        return await workflow.execute_local_activity(ASSIGN_ARM_ACTIVITY, request, result_type=str,
                                                     summary=f"{request.node_id}: arm", **DATA_OPTIONS)

    async def _evaluate(self, node_id: str, filters: list[dict]) -> list[bool]:
        return await workflow.execute_local_activity(
            EVALUATE_CONDITIONS_ACTIVITY,
            EvaluateConditions(contact_id=self._input.contact_id, filters=filters, now=workflow.now().isoformat()),
            result_type=list[bool],
            summary=f"{node_id}: conditions",
            **DATA_OPTIONS,
        )

    async def _tag(self, node: TagNode) -> None:
        weight = await self._change_tag(node)
        self._path[-1].outcome = "removed" if weight is None else f"weight {weight:g}"

    async def _change_tag(self, node: TagNode) -> float | None:
        """Apply the node's tag change; the tag's weight after it (None once removed)."""
        return await workflow.execute_local_activity(
            TAG_CONTACT_ACTIVITY,
            TagChange(contact_id=self._input.contact_id, tag=node.tag, action=node.action, weight=node.weight,
                      source=f"journey:{self._input.journey_id}/{node.id}",
                      key=self._next_key(node.id)),
            result_type=float | None,
            summary=f"{node.id}: tag {node.tag} ({node.action})",
            **DATA_OPTIONS,
        )

    def _patched(self, patch: str) -> bool:
        return patch in self._input.patches or workflow.patched(patch)

    def _resting(self, summary: str) -> None:
        workflow.set_current_details(summaries.details(f"at {summary}", self._messages_sent()))

    def _messages_sent(self) -> int:
        return sum(message.status == MessageStatus.SENT for message in self._messages)

    def _next_key(self, node_id: str) -> str:
        """The key of this visit to the node, under which a retried step takes effect once."""
        visit = self._visits.get(node_id, 0) + 1
        self._visits[node_id] = visit
        info = workflow.info()
        return message_key(info.workflow_id, self._input.batch or info.first_execution_run_id, node_id, visit)

    def _holds(self, condition: EngagementCondition | EventCondition) -> bool:
        if isinstance(condition, EventCondition):
            return any(matches(condition, event) for event in self._events)
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


def matches(condition: EventCondition, event: ContactEvent) -> bool:
    return condition.event == event.name and properties_match(condition.where, event.properties)
