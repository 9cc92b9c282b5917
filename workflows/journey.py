"""The journey workflow: one durable run per (journey, contact[, key]).

Only the Temporal entry points live here; the interpreter they drive (workflows/interpreter.py
and the pure modules it imports) is loaded once per worker.

Journey runs are not sandboxed. The sandbox checks only code it imports itself, and the
interpreter is passed through it (the sandbox let `datetime.now()` and `random.random()` in a
passed-through module run unchecked), so it guarded these few entry points and nothing else,
at a price paid per run: the module re-executed for every run, and every payload of every
command (inputs, results, summaries) entering the sandbox for its serialization context.
Determinism rests on the rules in workflows/interpreter.py and on the replay tests.
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


@workflow.defn(name="JourneyWorkflow", sandboxed=False)
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
