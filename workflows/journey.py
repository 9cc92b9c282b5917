"""The journey workflow: one durable run per (journey, contact[, key]).

Only the Temporal entry points live here; the interpreter they drive (workflows/interpreter.py
and the pure modules it imports) is passed through the sandbox so it is loaded once per worker.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from sojourn.contracts.journey import (
        ENGAGEMENT_SIGNAL,
        EVENT_SIGNAL,
        STATE_QUERY,
        ContactEvent,
        EngagementSignal,
        JourneyInput,
        JourneyState,
    )
    from workflows.interpreter import JourneyInterpreter


@workflow.defn(name="JourneyWorkflow")
class JourneyWorkflow(JourneyInterpreter):
    @workflow.init
    def __init__(self, input: JourneyInput) -> None:
        super().__init__(input)

    @workflow.run
    async def run(self, input: JourneyInput) -> JourneyState:
        del input  # the interpreter holds it, in its shared form
        return await self.interpret()

    @workflow.signal(name=ENGAGEMENT_SIGNAL)
    def engagement(self, signal: EngagementSignal) -> None:
        self.on_engagement(signal)

    @workflow.signal(name=EVENT_SIGNAL)
    def event(self, event: ContactEvent) -> None:
        self.on_event(event)

    @workflow.query(name=STATE_QUERY)
    def query_state(self) -> JourneyState:
        return self.state()
