"""The simulation workflow: the journey interpreter itself, run for one contact on a clock the
server skips forward (the caller starts it with time skipping on), with a script playing the
contact's events and engagement at their offsets.

The interpreter's code is the real runs' code; only its I/O points go elsewhere: the send,
condition, local-time and tag activities to simulation activities that decide and render with
the send path's own functions and write nothing, and the steps, the run's end and the search
attributes nowhere. What it decided is noted as it happens, for the answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from sojourn.contracts.experiments import ArmRequest
    from sojourn.contracts.journey import EngagementSignal, JourneyState
    from sojourn.contracts.journey_data import BestTime, RunEnd
    from sojourn.contracts.send import SendRequest
    from sojourn.contracts.simulation import (
        SIMULATE_ARM_ACTIVITY,
        SIMULATE_BEST_TIME_ACTIVITY,
        SIMULATE_CONDITIONS_ACTIVITY,
        SIMULATE_LOCAL_TIME_ACTIVITY,
        SIMULATE_SEND_ACTIVITY,
        SIMULATE_TAG_ACTIVITY,
        SIMULATION_WORKFLOW,
        Decision,
        ScriptStep,
        SimulateBestTime,
        SimulateConditions,
        SimulatedMessage,
        SimulatedSend,
        SimulatedSendResult,
        SimulateLocalTime,
        SimulateSend,
        SimulateTag,
        SimulationInput,
        SimulationResult,
    )
    from sojourn.contracts.statuses import MessageStatus
    from sojourn.dsl.nodes import BranchNode, TagNode, WaitForNode, WaitNode
    from workflows import summaries
    from workflows.interpreter import JourneyInterpreter
    from workflows.options import DATA_OPTIONS


@workflow.defn(name=SIMULATION_WORKFLOW)
class SimulationWorkflow(JourneyInterpreter):
    @workflow.init
    def __init__(self, input: SimulationInput) -> None:
        super().__init__(input.journey)
        self._contact = input.contact
        self._rendered: dict[str, SimulatedSendResult] = {}
        self._decisions: list[Decision] = []
        self._played = 0  # script steps played so far

    @workflow.run
    async def run(self, input: SimulationInput) -> SimulationResult:
        start = workflow.now()
        script = asyncio.ensure_future(self._play(input.script, start))
        try:
            state = await self.interpret()
        finally:
            script.cancel()
        for step in input.script[self._played:]:
            what = step.event.name if step.event else f"{step.engagement.kind} {step.engagement.send_node}"
            self._note("ignored", None, what, "the run had ended", at=start + timedelta(seconds=step.after_seconds))
        return SimulationResult(state=state, started_at=start.isoformat(), ended_at=workflow.now().isoformat(),
                                messages=self._simulated_messages(state), decisions=self._decisions)

    async def _play(self, script: list[ScriptStep], start: datetime) -> None:
        for step in script:
            delay = start + timedelta(seconds=step.after_seconds) - workflow.now()
            if delay > timedelta(0):
                await workflow.sleep(delay)
            self._played += 1
            now = workflow.now().isoformat()
            if step.event is not None:
                exit_before = self._exit_reason
                self.on_event(dataclasses.replace(step.event, occurred_at=now))
                reason = self._exit_reason if self._exit_reason != exit_before else None
                self._note("event", self._node, step.event.name, reason)
            else:
                self._engage(dataclasses.replace(step.engagement, occurred_at=now))

    def _engage(self, signal: EngagementSignal) -> None:
        """Only a message that went out can be opened or clicked: as in a real run, no signal otherwise."""
        sent = [m for m in self._messages if m.node == signal.send_node and m.status == MessageStatus.SENT]
        if not sent:
            self._note("ignored", signal.send_node, signal.kind, f"no message from {signal.send_node!r} was sent yet")
            return
        self.on_engagement(dataclasses.replace(signal, message_id=sent[-1].message_id))
        self._note("engagement", signal.send_node, signal.kind, signal.url)

    def _note(self, kind: str, node: str | None, outcome: str, reason: str | None = None,
              at: datetime | None = None) -> None:
        self._decisions.append(Decision(at=(at or workflow.now()).isoformat(), node=node, kind=kind,
                                        outcome=outcome, reason=reason))

    def _simulated_messages(self, state: JourneyState) -> list[SimulatedMessage]:
        messages = []
        for sent in state.messages:
            rendered = self._rendered.get(sent.message_id) if sent.message_id else None
            messages.append(SimulatedMessage(
                node=sent.node, at=sent.at, status=sent.status, channel=sent.channel, recipient=sent.recipient,
                subject=sent.subject, payload=rendered.payload if rendered else None, reason=sent.reason))
            if sent.status in (MessageStatus.SKIPPED, MessageStatus.FAILED):
                self._note(str(sent.status), sent.node, str(sent.status), sent.reason, at=datetime.fromisoformat(sent.at))
        self._decisions.sort(key=lambda d: d.at)  # stable: same-time decisions keep their order
        return messages

    # --- the interpreter's I/O points, to the simulation activities --------------------------

    async def _call_send(self, activity: str, request: SendRequest, result_type: type,
                         summary: str) -> SimulatedSendResult:
        result = await workflow.execute_local_activity(
            SIMULATE_SEND_ACTIVITY, SimulateSend(request=request, contact=self._contact, now=workflow.now().isoformat()),
            result_type=SimulatedSendResult, summary=summary, **DATA_OPTIONS)
        if result.status == MessageStatus.DEFERRED:
            self._note("deferred", request.node_id, f"until {result.until}", result.reason)
        elif result.status == MessageStatus.SENT:
            self._contact.sends.append(SimulatedSend(channel=result.channel, due_at=workflow.now().isoformat(),
                                                     transactional=bool(request.node.get("transactional"))))
        self._rendered[result.message_id] = result
        return result

    async def _evaluate(self, node_id: str, filters: list[dict]) -> list[bool]:
        return await workflow.execute_local_activity(
            SIMULATE_CONDITIONS_ACTIVITY,
            SimulateConditions(contact=self._contact, filters=filters, now=workflow.now().isoformat()),
            result_type=list[bool], **DATA_OPTIONS)

    async def _next_local_time(self, node: WaitNode) -> str:
        return await workflow.execute_local_activity(
            SIMULATE_LOCAL_TIME_ACTIVITY,
            SimulateLocalTime(contact=self._contact, at=node.at, now=workflow.now().isoformat(),
                              weekdays=node.weekdays, time_zone=self._definition.time_zone),
            result_type=str, **DATA_OPTIONS)

    async def _best_time(self, node_id: str, within: str) -> BestTime:
        best = await workflow.execute_local_activity(
            SIMULATE_BEST_TIME_ACTIVITY, SimulateBestTime(contact=self._contact, now=workflow.now().isoformat(),
                                                          within=within),
            result_type=BestTime, **DATA_OPTIONS)
        self._note("best_time", node_id, f"{best.local} {best.time_zone}", summaries.best_time_outcome(best))
        return best

    async def _change_tag(self, node: TagNode) -> float | None:
        self._next_key(node.id)  # counts the visit, as a real run does
        weight = await workflow.execute_local_activity(
            SIMULATE_TAG_ACTIVITY,
            SimulateTag(contact=self._contact, tag=node.tag, action=node.action, weight=node.weight),
            result_type=float | None, **DATA_OPTIONS)
        self._contact.tags[node.tag] = weight
        self._note("tag", node.id, "removed" if weight is None else f"{node.tag}: weight {weight:g}")
        return weight

    async def _assign_arm(self, request: ArmRequest) -> str:
        arm = await workflow.execute_local_activity(SIMULATE_ARM_ACTIVITY, request, result_type=str,
                                                    summary=f"{request.node_id}: arm", **DATA_OPTIONS)
        self._note("split", request.node_id, arm)
        return arm

    def _upsert(self, updates: list) -> None:
        """A simulation shows in no list of runs."""

    async def _record_run_end(self, end: RunEnd, summary: str) -> None:
        """A simulation records no run."""

    def _should_continue_as_new(self) -> bool:
        return False  # the service bounds a simulation's length instead

    # --- what the run decided, noted as it happens --------------------------------------------

    async def _branch(self, node: BranchNode) -> str:
        target = await super()._branch(node)
        self._note("branch", node.id, self._path[-1].outcome, f"to {target!r}")
        return target

    async def _wait_for(self, node: WaitForNode) -> bool:
        engaged = await super()._wait_for(node)
        self._note("wait_for", node.id, "event" if engaged else "timeout",
                   None if engaged or self._exit_reason else f"nothing matched within {node.timeout}")
        return engaged

    def _late(self, node: WaitNode, late: timedelta) -> str:
        target = super()._late(node, late)
        self._note("late", node.id, f"late by {timedelta(seconds=int(late.total_seconds()))}",
                   f"more than the {node.lateness_allowed} allowed")
        return target
