"""The fast tier: the journey workflow against its activities faked under their real names.

No Postgres, no SMTP: each test runs a worker with the real `JourneyWorkflow` (as in
production) and plain functions registered as `send`, `evaluate_conditions`, `next_local_time`,
`tag_contact` and `record_run_end`, which record what the run asked and answer from a script.
Runs use the session Temporal dev server through its own client (no payload codec, so no
Postgres for its keys) and move their own clock with `fast_forward`.
Run this tier alone with `pytest -m fast`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest
from temporalio import activity
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from sojourn.contracts import search_attributes as sa
from sojourn.contracts.errors import ErrorType
from sojourn.contracts.experiments import ASSIGN_ARM_ACTIVITY, ArmRequest
from sojourn.contracts.journey import (
    CHANNELS_PATCH,
    ENGAGEMENT_SIGNAL,
    EVENT_SIGNAL,
    LATENESS_PATCH,
    PATCHES_AT_START,
    STATE_QUERY,
    ContactEvent,
    EngagementSignal,
    JourneyInput,
    JourneyState,
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
from sojourn.contracts.send import SEND_ACTIVITY, SendRequest, SendResult
from workflows.journey import JourneyWorkflow

pytestmark = pytest.mark.fast

JOURNEY = "fast-journey"
END = {"id": "end", "type": "exit"}


def send(node_id: str, next: str = "end", **fields) -> dict:
    return {"id": node_id, "type": "send", "subject": f"About {node_id}", "text": "Hello", "next": next, **fields}


def journey(*nodes: dict, **fields) -> dict:
    return {"name": "fast", "nodes": [*nodes, END], **fields}


@dataclass
class Fakes:
    """The run's activities: each records its input; answers come from the scripts."""

    sends: list[SendRequest] = field(default_factory=list)
    send_attempts: list[int] = field(default_factory=list)
    # By send node: outcomes in order (a SendResult, or an exception to raise); then "sent".
    send_script: dict[str, list[SendResult | Exception]] = field(default_factory=dict)
    evaluations: list[EvaluateConditions] = field(default_factory=list)
    answers: dict[int, list[bool]] = field(default_factory=dict)  # by contact id
    local_times: list[LocalTimeRequest] = field(default_factory=list)
    local_time_after: timedelta = timedelta(hours=5)  # next_local_time answers the run's now plus this
    tags: list[TagChange] = field(default_factory=list)
    run_ends: list[RunEnd] = field(default_factory=list)
    arm_requests: list[ArmRequest] = field(default_factory=list)
    arm: str = "b"  # what assign_arm answers

    def activities(self) -> list[Callable]:
        @activity.defn(name=SEND_ACTIVITY)
        async def send_message(request: SendRequest) -> SendResult:
            self.sends.append(request)
            self.send_attempts.append(activity.info().attempt)
            script = self.send_script.get(request.node_id)
            outcome = script.pop(0) if script else SendResult(
                status="sent", channel="email", message_id=f"m-{len(self.sends)}", recipient="ada@example.com",
                subject=request.node["subject"])
            if isinstance(outcome, Exception):
                raise outcome
            return outcome

        @activity.defn(name=EVALUATE_CONDITIONS_ACTIVITY)
        async def evaluate_conditions(request: EvaluateConditions) -> list[bool]:
            self.evaluations.append(request)
            return self.answers[request.contact_id]

        @activity.defn(name=NEXT_LOCAL_TIME_ACTIVITY)
        async def next_local_time(request: LocalTimeRequest) -> str:
            self.local_times.append(request)
            return (datetime.fromisoformat(request.now) + self.local_time_after).isoformat()

        @activity.defn(name=TAG_CONTACT_ACTIVITY)
        async def tag_contact(change: TagChange) -> float | None:
            self.tags.append(change)
            return None if change.action == "remove" else change.weight

        @activity.defn(name=RECORD_RUN_END_ACTIVITY)
        async def record_run_end(end: RunEnd) -> None:
            self.run_ends.append(end)

        @activity.defn(name=ASSIGN_ARM_ACTIVITY)
        async def assign_arm(request: ArmRequest) -> str:
            self.arm_requests.append(request)
            return self.arm

        return [send_message, evaluate_conditions, next_local_time, tag_contact, record_run_end, assign_arm]


@dataclass
class Run:
    handle: WorkflowHandle
    env: object

    async def state(self) -> JourneyState:
        return await self.handle.query(STATE_QUERY, result_type=JourneyState)

    async def until(self, check: Callable[[JourneyState], bool], timeout: float = 10.0) -> JourneyState:
        """The run's state once `check` holds."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            state = await self.state()
            if check(state):
                return state
            assert asyncio.get_running_loop().time() < deadline, f"never reached; last state {state}"
            await asyncio.sleep(0.05)

    async def resting_at(self, node: str) -> JourneyState:
        return await self.until(lambda state: state.current_node == node and state.wait_until is not None)

    async def advance(self, duration: timedelta) -> None:
        await self.env.fast_forward(self.handle, duration)

    async def result(self) -> JourneyState:
        return await asyncio.wait_for(self.handle.result(), 20)


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


@pytest.fixture
def start(temporal_server, fakes: Fakes):
    """`async with start() as begin: run = await begin(definition)`: a worker on a fresh task queue."""

    @asynccontextmanager
    async def running() -> AsyncIterator[Callable]:
        task_queue = f"fast-{uuid.uuid4().hex[:12]}"

        async def begin(definition: dict, contact_id: int = 7, **fields) -> Run:
            handle = await temporal_server.client.start_workflow(
                JourneyWorkflow.run,
                JourneyInput(journey_id=JOURNEY, version=3, contact_id=contact_id,
                             contact_external_id=f"contact-{contact_id}", definition=definition, **fields),
                id=f"journey/{JOURNEY}/{uuid.uuid4().hex[:12]}", task_queue=task_queue, result_type=JourneyState)
            return Run(handle, temporal_server)

        async with Worker(temporal_server.client, task_queue=task_queue, workflows=[JourneyWorkflow],
                          activities=fakes.activities()):
            yield begin

    return running


def outcomes(state: JourneyState) -> list[tuple[str, str | None]]:
    return [(step.node, step.outcome) for step in state.path]


async def test_a_run_sends_tags_and_records_its_end(start, fakes):
    tag = {"id": "mark", "type": "tag", "tag": "vip", "weight": 2, "next": "unmark"}
    untag = {"id": "unmark", "type": "tag", "tag": "trial", "action": "remove", "next": "end"}
    definition = journey(send("welcome", "mark"), tag, untag)
    async with start() as begin:
        run = await begin(definition, key="order-1")
        state = await run.result()

    workflow_id, first_run = run.handle.id, run.handle.first_execution_run_id
    assert state.status == "completed" and state.exit_reason is None
    assert outcomes(state) == [("welcome", "sent"), ("mark", "weight 2"), ("unmark", "removed"), ("end", None)]
    assert [(m.node, m.status, m.subject, m.channel) for m in state.messages] == [
        ("welcome", "sent", "About welcome", "email")]
    [request] = fakes.sends
    assert request.idempotency_key == message_key(workflow_id, first_run, "welcome", 1)
    assert (request.workflow_id, request.journey_id, request.journey_version, request.contact_id) == (
        workflow_id, JOURNEY, 3, 7)
    assert request.node == definition["nodes"][0]
    assert [(t.tag, t.action, t.weight, t.source, t.key) for t in fakes.tags] == [
        ("vip", "add", 2.0, f"journey:{JOURNEY}/mark", message_key(workflow_id, first_run, "mark", 1)),
        ("trial", "remove", 1.0, f"journey:{JOURNEY}/unmark", message_key(workflow_id, first_run, "unmark", 1))]
    [end] = fakes.run_ends
    assert (end.run_id, end.workflow_id, end.journey_id, end.version, end.contact_id, end.status, end.key,
            end.exit_reason, end.converted_at) == (
        first_run, workflow_id, JOURNEY, 3, 7, "completed", "order-1", None, None)
    described = await run.handle.describe()
    assert described.typed_search_attributes.get(sa.JOURNEY_STATUS) == "completed"
    assert described.typed_search_attributes.get(sa.JOURNEY_NODE) == "end"


def _in(hours: float) -> datetime:
    return datetime.now(timezone.utc) + timedelta(hours=hours)


@pytest.mark.parametrize("wait, after", [
    ({"duration": "2d"}, timedelta(days=2)),
    ({"until": "UNTIL"}, timedelta(days=3)),
    ({"at": "09:00", "weekdays": ["mon", "thu"]}, timedelta(hours=5)),
    ({"duration": "2d", "relative_to": "event"}, timedelta(days=1)),  # the event happened a day ago
], ids=["duration", "until", "at", "relative-to-event"])
async def test_a_wait_rests_until_its_time(start, fakes, wait, after):
    until = _in(72).astimezone(timezone(timedelta(hours=8)))
    wait = {key: until.isoformat() if value == "UNTIL" else value for key, value in wait.items()}
    trigger = ContactEvent(event_id="e1", name="signed_up", properties={},
                           occurred_at=(datetime.now(timezone.utc) - timedelta(days=1)).isoformat())
    definition = journey(send("first", "pause"), {"id": "pause", "type": "wait", "next": "second", **wait},
                         send("second"), time_zone="Asia/Taipei")
    async with start() as begin:
        run = await begin(definition, trigger=trigger)
        resting = await run.resting_at("pause")
        due = datetime.fromisoformat(resting.wait_until)
        entered = datetime.fromisoformat(resting.path[-1].entered_at)
        assert abs(due - (entered + after)) < timedelta(minutes=1)
        assert [r.node_id for r in fakes.sends] == ["first"]
        described = await run.handle.describe()
        assert described.typed_search_attributes.get(sa.JOURNEY_NODE) == "pause"  # operators find it resting
        await run.advance(after + timedelta(minutes=1))
        state = await run.result()

    assert [r.node_id for r in fakes.sends] == ["first", "second"]
    assert state.status == "completed"
    if "at" in wait:
        [asked] = fakes.local_times
        assert (asked.contact_id, asked.at, asked.weekdays, asked.time_zone) == (7, "09:00", ["mon", "thu"],
                                                                                 "Asia/Taipei")
    else:
        assert fakes.local_times == []


def _opened_or_not() -> dict:
    return journey(
        send("intro", "pause"),
        {"id": "pause", "type": "wait", "duration": "1d", "next": "opened"},
        {"id": "opened", "type": "branch", "condition": {"opened": "intro"}, "then": "yes", "else": "no"},
        send("yes"), send("no"))


async def test_an_engagement_branch_takes_then_or_else(start, fakes):
    async with start() as begin:
        engaged, silent = await begin(_opened_or_not(), contact_id=1), await begin(_opened_or_not(), contact_id=2)
        for run in (engaged, silent):
            await run.resting_at("pause")
        # A click proves the email was opened, even when the pixel was blocked.
        await engaged.handle.signal(ENGAGEMENT_SIGNAL, EngagementSignal(send_node="intro", kind="clicked",
                                                                        url="https://shop.example/"))
        await engaged.until(lambda state: len(state.engagements) == 1)
        for run in (engaged, silent):
            await run.advance(timedelta(days=1, minutes=1))
        engaged_state, silent_state = await engaged.result(), await silent.result()

    assert ("opened", "then") in outcomes(engaged_state) and ("opened", "else") in outcomes(silent_state)
    assert sorted((r.contact_id, r.node_id) for r in fakes.sends) == [
        (1, "intro"), (1, "yes"), (2, "intro"), (2, "no")]
    assert fakes.evaluations == []  # the run decides engagement itself


async def test_a_database_branch_asks_once_and_takes_the_arm_that_holds(start, fakes):
    cases = journey(
        send("intro", "choose"),
        {"id": "choose", "type": "branch", "cases": [
            {"when": {"opened": "intro"}, "then": "engaged"},
            {"when": {"tag": "vip", "min_weight": 2}, "then": "vip"},
            {"when": {"attribute": "plan", "value": "gold"}, "then": "gold"},
        ], "default": "others"},
        send("engaged"), send("vip"), send("gold"), send("others"))
    simple = journey({"id": "check", "type": "branch", "condition": {"tag": "vip"}, "then": "vip", "else": "others"},
                     send("vip"), send("others"))
    fakes.answers = {1: [False, True], 2: [False, False], 3: [True]}
    async with start() as begin:
        runs = [await begin(cases, contact_id=1), await begin(cases, contact_id=2), await begin(simple, contact_id=3)]
        states = [await run.result() for run in runs]

    assert [outcomes(state)[-2] for state in states] == [("gold", "sent"), ("others", "sent"), ("vip", "sent")]
    assert ("choose", "case 2") in outcomes(states[0]) and ("choose", "default") in outcomes(states[1])
    assert ("check", "then") in outcomes(states[2])
    asked = {request.contact_id: request.filters for request in fakes.evaluations}
    assert asked == {
        1: [{"tag": "vip", "min_weight": 2.0}, {"attribute": "plan", "op": "eq", "value": "gold"}],
        2: [{"tag": "vip", "min_weight": 2.0}, {"attribute": "plan", "op": "eq", "value": "gold"}],
        3: [{"tag": "vip"}],
    }
    assert len(fakes.evaluations) == 3  # one question per branch, every database condition in it


async def test_a_split_takes_the_arm_the_assignment_gives(start, fakes):
    split = {"id": "subject", "type": "split", "arms": [{"id": "a", "weight": 2, "next": "plain"},
                                                        {"id": "b", "next": "bold"}]}
    async with start() as begin:
        state = await (await begin(journey(split, send("plain"), send("bold")), contact_id=11)).result()
    assert outcomes(state) == [("subject", "b"), ("bold", "sent"), ("end", None)]
    [asked] = fakes.arm_requests
    assert (asked.journey_id, asked.version, asked.node_id, asked.contact_id) == (JOURNEY, 3, "subject", 11)
    assert [tuple(pair) for pair in asked.weights] == [("a", 2.0), ("b", 1.0)]


def _purchase_or_nudge() -> dict:
    return journey(
        send("offer", "bought"),
        {"id": "bought", "type": "wait_for", "timeout": "3d", "on_event": "thanks", "on_timeout": "nudge",
         "event": {"event": "purchase", "where": [{"property": "total", "op": "gte", "value": 50}]}},
        send("thanks"), send("nudge"))


def _event(name: str, **properties) -> ContactEvent:
    return ContactEvent(event_id=uuid.uuid4().hex, name=name, properties=properties,
                        occurred_at=datetime.now(timezone.utc).isoformat())


async def test_wait_for_an_event_or_its_timeout(start, fakes):
    async with start() as begin:
        buyer, idle = await begin(_purchase_or_nudge(), contact_id=1), await begin(_purchase_or_nudge(), contact_id=2)
        for run in (buyer, idle):
            await run.resting_at("bought")
        await buyer.handle.signal(EVENT_SIGNAL, _event("purchase", total=20))  # too small: still waiting
        state = await buyer.until(lambda state: len(state.events) == 1)
        assert state.current_node == "bought" and state.wait_until is not None
        await buyer.handle.signal(EVENT_SIGNAL, _event("purchase", total=80))
        buyer_state = await buyer.result()
        await idle.advance(timedelta(days=3, minutes=1))
        idle_state = await idle.result()

    assert ("bought", "event") in outcomes(buyer_state) and ("bought", "timeout") in outcomes(idle_state)
    assert sorted((r.contact_id, r.node_id) for r in fakes.sends) == [
        (1, "offer"), (1, "thanks"), (2, "nudge"), (2, "offer")]
    assert [event.properties["total"] for event in buyer_state.events] == [20, 80]


async def test_a_deferred_send_sleeps_until_then_asks_again_under_the_same_key(start, fakes):
    until = _in(8).isoformat()
    fakes.send_script["promo"] = [SendResult(status="deferred", until=until, reason="quiet hours")]
    async with start() as begin:
        run = await begin(journey(send("promo")))
        resting = await run.resting_at("promo")
        assert resting.wait_until == until
        assert resting.path[-1].outcome == f"deferred until {until}: quiet hours"
        assert len(fakes.sends) == 1
        await run.advance(timedelta(hours=8, minutes=1))
        state = await run.result()

    first, second = fakes.sends
    assert first.idempotency_key == second.idempotency_key
    assert outcomes(state)[0] == ("promo", "sent")
    assert [(m.node, m.status) for m in state.messages] == [("promo", "sent")]


async def test_a_send_failing_for_good_takes_on_failure(start, fakes):
    refused = ApplicationError("mailbox refused the message", type=ErrorType.PERMANENT_DELIVERY)
    fakes.send_script = {"offer": [refused], "notice": [refused]}
    definition = journey(
        send("offer", "notice", on_failure="bounced"),
        {"id": "bounced", "type": "tag", "tag": "bounced", "next": "notice"},
        send("notice", "end"))  # no on_failure: a failure goes on to `next`
    async with start() as begin:
        state = await (await begin(definition)).result()

    assert outcomes(state) == [("offer", "failed"), ("bounced", "weight 1"), ("notice", "failed"), ("end", None)]
    assert fakes.send_attempts == [1, 1]  # the send preset names the error final: no retry
    assert [(m.node, m.status, m.message_id) for m in state.messages] == [("offer", "failed", ""),
                                                                          ("notice", "failed", "")]
    assert "mailbox refused the message" in state.messages[0].reason
    assert state.status == "completed"


def _aftercare(**late_rule) -> dict:
    """A treatment's aftercare 2 hours after it and a follow-up 7 days after it."""
    return journey(
        {"id": "two_hours", "type": "wait", "duration": "2h", "relative_to": "event", "next": "aftercare", **late_rule},
        send("aftercare", "seven_days"),
        {"id": "seven_days", "type": "wait", "duration": "7d", "relative_to": "event", "next": "follow_up"},
        send("follow_up"), send("sorry"))


def _treated(ago: timedelta) -> ContactEvent:
    return ContactEvent(event_id="t1", name="treated", properties={},
                        occurred_at=(datetime.now(timezone.utc) - ago).isoformat())


async def test_a_late_event_skips_the_sends_it_is_too_late_for(start, fakes):
    async with start() as begin:
        # The treatment event arrives 7.5 days late: far too late for the aftercare, half a day
        # late for the follow-up (within the default day allowed).
        state = await (await begin(_aftercare(), trigger=_treated(timedelta(days=7, hours=12)))).result()

    assert [r.node_id for r in fakes.sends] == ["follow_up"]
    assert outcomes(state) == [("two_hours", "late by 7 days, 10:00:00"), ("aftercare", "skipped"),
                               ("seven_days", None), ("follow_up", "sent"), ("end", None)]
    skipped = state.messages[0]
    assert (skipped.node, skipped.status, skipped.message_id) == ("aftercare", "skipped", "")
    assert skipped.reason == "late by 7 days, 10:00:00 (more than the 1 day, 0:00:00 allowed after wait 'two_hours')"
    assert state.status == "completed"


async def test_a_run_started_with_its_patches_takes_their_path_without_asking(start, fakes):
    """Asking `workflow.patched()` writes a marker and a search-attribute update into the run."""
    async with start() as begin:
        asked = await begin(_aftercare(), trigger=_treated(timedelta(days=7, hours=12)))
        given = await begin(_aftercare(), trigger=_treated(timedelta(days=7, hours=12)),
                            patches=list(PATCHES_AT_START))
        states = [await asked.result(), await given.result()]

    assert outcomes(states[0]) == outcomes(states[1]) == [
        ("two_hours", "late by 7 days, 10:00:00"), ("aftercare", "skipped"), ("seven_days", None),
        ("follow_up", "sent"), ("end", None)]
    assert [r.node_id for r in fakes.sends] == ["follow_up", "follow_up"]

    async def patches_asked(run: Run) -> tuple[set[str], bool]:
        events = (await run.handle.fetch_history()).events
        markers = {e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data.decode()
                   for e in events if e.marker_recorded_event_attributes.marker_name == "core_patch"}
        change_version = any("TemporalChangeVersion" in e.upsert_workflow_search_attributes_event_attributes
                             .search_attributes.indexed_fields for e in events)
        return {json.loads(marker)["id"] for marker in markers}, change_version

    assert await patches_asked(asked) == ({CHANNELS_PATCH, LATENESS_PATCH}, True)
    assert await patches_asked(given) == (set(), False)


async def test_a_late_event_goes_to_on_late_past_the_lateness_it_allows(start, fakes):
    async with start() as begin:
        state = await (await begin(_aftercare(max_lateness="30m", on_late="sorry"),
                                   trigger=_treated(timedelta(hours=3)))).result()

    assert [r.node_id for r in fakes.sends] == ["sorry"]
    assert outcomes(state) == [("two_hours", "late by 1:00:00"), ("sorry", "sent"), ("end", None)]


async def test_an_event_late_within_the_allowance_sends_at_once(start, fakes):
    async with start() as begin:
        run = await begin(_aftercare(max_lateness="2h", on_late="sorry"), trigger=_treated(timedelta(hours=3)))
        resting = await run.resting_at("seven_days")
        assert [r.node_id for r in fakes.sends] == ["aftercare"]
        assert outcomes(resting)[:2] == [("two_hours", None), ("aftercare", "sent")]


def _long_wait(**fields) -> dict:
    return journey(send("intro", "pause"), {"id": "pause", "type": "wait", "duration": "30d", "next": "later"},
                   send("later"), **fields)


async def test_an_exit_event_interrupts_a_wait(start, fakes):
    async with start() as begin:
        run = await begin(_long_wait(exit_on=[{"event": "unsubscribed"}]))
        await run.resting_at("pause")
        await run.handle.signal(EVENT_SIGNAL, _event("unsubscribed"))
        state = await run.result()

    assert state.status == "exited" and state.exit_reason == "exit_on: unsubscribed"
    assert [r.node_id for r in fakes.sends] == ["intro"]
    assert [(end.status, end.exit_reason) for end in fakes.run_ends] == [("exited", "exit_on: unsubscribed")]


async def test_a_goal_converts_and_exits_within_its_window_only(start, fakes):
    goal = {"event": "purchase", "within": "7d", "exit": True}
    async with start() as begin:
        converted, late = await begin(_long_wait(goal=goal), contact_id=1), await begin(_long_wait(goal=goal),
                                                                                        contact_id=2)
        await converted.resting_at("pause")
        await converted.handle.signal(EVENT_SIGNAL, _event("purchase"))
        converted_state = await converted.result()

        await late.resting_at("pause")
        await late.advance(timedelta(days=8))
        await late.handle.signal(EVENT_SIGNAL, _event("purchase"))  # after the window: not a conversion
        state = await late.until(lambda state: len(state.events) == 1)
        assert state.status == "active" and state.converted_at is None
        await late.advance(timedelta(days=23))
        late_state = await late.result()

    assert converted_state.status == "exited" and converted_state.exit_reason == "goal: purchase"
    assert converted_state.converted_at is not None
    assert late_state.status == "completed" and late_state.converted_at is None
    ends = {end.contact_id: end for end in fakes.run_ends}
    assert (ends[1].status, ends[1].exit_reason, ends[1].converted_at) == (
        "exited", "goal: purchase", converted_state.converted_at)
    assert (ends[2].status, ends[2].converted_at) == ("completed", None)
    assert sorted((r.contact_id, r.node_id) for r in fakes.sends) == [(1, "intro"), (2, "intro"), (2, "later")]


async def test_a_cancelled_run_records_its_end(start, fakes):
    async with start() as begin:
        run = await begin(_long_wait())
        await run.resting_at("pause")
        await run.handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await run.result()

    assert [end.status for end in fakes.run_ends] == ["cancelled"]
    assert [r.node_id for r in fakes.sends] == ["intro"]
