"""Operators read node names in the Temporal UI: every timer and activity of a journey run
carries a summary, and the run's current details say where it is. Checked on a recorded
history (tests/replay/record_histories.py, `summarized()`): the summaries its events carry,
and those the current interpreter gives when it replays it."""

from __future__ import annotations

import re
from pathlib import Path

from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.worker import (
    Interceptor,
    Replayer,
    StartActivityInput,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from sojourn.contracts.journey import JourneyInput, JourneyState
from workflows.journey import JourneyWorkflow

HISTORY = Path(__file__).parent / "histories" / "summarized_wait_wait_for_send.json"
AT = r"\d{4}-\d\d-\d\d \d\d:\d\d UTC"

# What the run's events say, in order: (event type, summary).
EXPECTED = [
    ("ACTIVITY_TASK_SCHEDULED", r"send preview \(email\)"),
    ("MARKER_RECORDED", r"wait_2d: steps"),
    ("TIMER_STARTED", rf"wait_2d until {AT}"),
    ("MARKER_RECORDED", r"opened_preview: steps"),
    ("TIMER_STARTED", rf"opened_preview: wait_for opened of preview until {AT}"),
    ("ACTIVITY_TASK_SCHEDULED", r"send reminder \(sms, email\)"),
    ("MARKER_RECORDED", r"run end: completed at end"),
]


def _history() -> WorkflowHistory:
    return WorkflowHistory.from_json(HISTORY.stem, HISTORY.read_text())


def _summaries(history: WorkflowHistory) -> list[tuple[str, str]]:
    converter = DataConverter.default.payload_converter
    return [(EventType.Name(event.event_type).removeprefix("EVENT_TYPE_"),
             converter.from_payload(event.user_metadata.summary, str))
            for event in history.events if event.user_metadata.HasField("summary")]


def test_every_timer_and_activity_of_the_recorded_run_names_its_node():
    found = _summaries(_history())
    assert [kind for kind, _ in found] == [kind for kind, _ in EXPECTED], found
    for (_, summary), (_, pattern) in zip(found, EXPECTED):
        assert re.fullmatch(pattern, summary), (summary, pattern)
    # Summaries are payloads stored in every run's history: they stay one short line.
    assert max(len(summary) for _, summary in found) <= 80


# What the interpreter gives when it replays the run: activity summaries and current details.
_given: list[tuple[str, str]] = []


class _Outbound(WorkflowOutboundInterceptor):
    def start_activity(self, input: StartActivityInput):
        _given.append(("activity", input.summary or ""))
        return super().start_activity(input)

    def start_local_activity(self, input: StartLocalActivityInput):
        _given.append(("local activity", input.summary or ""))
        return super().start_local_activity(input)


class _Inbound(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_Outbound(outbound))


class _Summaries(Interceptor):
    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput):
        return _Inbound


@workflow.defn(name="JourneyWorkflow", sandboxed=False)
class _Watched(JourneyWorkflow):
    """The journey workflow, noting its current details where the run rests and as it ends."""

    @workflow.run
    async def run(self, input: JourneyInput) -> JourneyState:
        try:
            return await super().run(input)
        finally:
            _given.append(("details", workflow.get_current_details()))

    def _resting(self, summary: str) -> None:
        super()._resting(summary)
        _given.append(("details", workflow.get_current_details()))


async def test_replaying_the_run_gives_the_same_summaries_and_says_where_it_rests():
    _given.clear()
    await Replayer(workflows=[_Watched], interceptors=[_Summaries()]).replay_workflow(_history())
    recorded = [summary for kind, summary in _summaries(_history()) if kind != "TIMER_STARTED"]
    assert [summary for kind, summary in _given if kind != "details"] == recorded
    details = [summary for kind, summary in _given if kind == "details"]
    assert len(details) == 3, details
    assert re.fullmatch(rf"at wait_2d until {AT}, 1 message sent", details[0]), details
    assert re.fullmatch(rf"at opened_preview: wait_for opened of preview until {AT}, 1 message sent",
                        details[1]), details
    assert details[2] == "completed at end, 2 messages sent", details
