"""The journey interpreter behind `JourneyWorkflow` (workflows/journey.py).

It walks the pinned definition node by node (each node's step is in node_handlers.py),
remembers engagement and events whenever they arrive (an open during a fixed wait still
counts at the next branch), ends the run on an exit event or a goal, records how it ended,
and continues as new before its history grows too long.

The workflow module passes it through the sandbox, so it is imported once per worker instead
of once per run. It must stay deterministic: time, randomness and I/O only through
`temporalio.workflow`.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime

from temporalio import workflow

# Passed through the sandbox: pure modules, loaded once per worker (not once per cached run).
with workflow.unsafe.imports_passed_through():
    from sojourn.contracts import search_attributes as sa
    from sojourn.contracts.journey import (
        Carried,
        ContactEvent,
        EngagementSignal,
        JourneyInput,
        JourneyState,
        PathStep,
    )
    from sojourn.contracts.journey_data import RECORD_RUN_END_ACTIVITY, RunEnd
    from sojourn.contracts.statuses import RunStatus
    from sojourn.dsl.definition import shared_definition
    from sojourn.dsl.durations import parse_duration
    from sojourn.dsl.nodes import AnyNode
    from workflows import summaries
    from workflows.node_handlers import NodeHandlers, matches
    from workflows.options import DATA_OPTIONS

# Events kept for `wait_for` and the state query; older ones are dropped first.
EVENTS_KEPT = 200

# Continue as new well before Temporal's 51,200-event limit.
HISTORY_EVENTS_BEFORE_CONTINUE = 4000
PATH_KEPT_ACROSS_CONTINUE = 500


class JourneyInterpreter(NodeHandlers):
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
        self._exit_reason = None
        goal = self._definition.goal
        self._can_exit_early = bool(self._definition.exit_on) or (goal is not None and goal.exit)
        self._status = RunStatus.ACTIVE
        self._wait_until = None
        self._init_steps(carried.unwritten_steps, carried.steps_taken)

    async def interpret(self) -> JourneyState:
        nodes = self._definition.node_map()
        try:
            while self._node is not None and self._exit_reason is None:
                if self._should_continue_as_new():
                    workflow.continue_as_new(self._continuation())
                node = nodes[self._node]
                self._enter(node)
                self._node = await self._execute(node)
            await self._finish(RunStatus.EXITED if self._exit_reason else RunStatus.COMPLETED)
        except asyncio.CancelledError:
            await self._finish(RunStatus.CANCELLED)
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
        if self._status != RunStatus.ACTIVE:
            return
        goal = self._definition.goal
        if goal and self._converted_at is None and matches(goal, event) and self._within_goal_window(goal.within):
            self._converted_at = workflow.now().isoformat()
            if goal.exit:
                self._exit_reason = f"goal: {event.name}"
        for condition in self._definition.exit_on:
            if self._exit_reason is None and matches(condition, event):
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

    def _within_goal_window(self, within: str | None) -> bool:
        if within is None:
            return True
        return workflow.now() - datetime.fromisoformat(self._started_at) <= parse_duration(within)

    @staticmethod
    def _same_engagement(a: EngagementSignal, b: EngagementSignal) -> bool:
        return (a.send_node, a.kind, a.url) == (b.send_node, b.kind, b.url)

    def _enter(self, node: AnyNode) -> None:
        self._open(node.id, node.type)
        self._path.append(PathStep(node=node.id, type=node.type, entered_at=workflow.now().isoformat()))
        workflow.set_current_details(summaries.details(f"at {node.id} ({node.type})", self._messages_sent()))
        # JourneyNode is kept for the nodes a run rests at, where operators look for it, and set
        # once at the end: upserting at every node doubled the history of a short journey.
        if node.rests:
            self._upsert([sa.JOURNEY_NODE.value_set(node.id)])

    async def _finish(self, status: RunStatus) -> None:
        self._status = status
        self._wait_until = None
        updates = [sa.JOURNEY_STATUS.value_set(status)]
        if self._path:
            updates.append(sa.JOURNEY_NODE.value_set(self._path[-1].node))
        self._upsert(updates)
        where = f" at {self._path[-1].node}" if self._path else ""
        workflow.set_current_details(summaries.details(f"{status}{where}", self._messages_sent()))
        info = workflow.info()
        await self._record_run_end(
            RunEnd(run_id=info.first_execution_run_id, workflow_id=info.workflow_id,
                   journey_id=self._input.journey_id, version=self._input.version,
                   contact_id=self._input.contact_id, status=status, ended_at=workflow.now().isoformat(),
                   key=self._input.key, exit_reason=self._exit_reason, converted_at=self._converted_at,
                   steps=self._end_steps(status)),
            summary=f"run end: {status}{where}")

    async def _record_run_end(self, end: RunEnd, summary: str) -> None:
        await workflow.execute_local_activity(RECORD_RUN_END_ACTIVITY, end, summary=summary, **DATA_OPTIONS)

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
                unwritten_steps=self._steps_to_carry(),
                steps_taken=self._steps_taken,
            ),
            trigger=self._input.trigger,
            key=self._input.key,
            batch=self._input.batch,
            record_steps=self._input.record_steps,
            patches=self._input.patches,
        )
