"""Issue 11: the journey's re-entry rule holds across every way into it (direct and segment
enrollment, a scheduled firing, a batched send, an event or segment trigger), counting every
earlier run of the contact whatever enrollment or key made it, and two ways in at once cannot
both let a contact in."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from sojourn.contracts.enrollment import EnrollmentInput, EnrollmentProgress
from sojourn.contracts.journey import journey_workflow_id
from sojourn.data.db import session_factory
from sojourn.data.models import Contact, JourneyRun, Message
from sojourn.services.journeys import enter, get_version

from helpers import (
    advance,
    create_active_journey,
    enroll,
    put_contact,
    segment_of,
    single_send,
    wait_for_mail,
)


async def segment_enrollment(api, journey: str, segment: str, delivery: str = "auto") -> dict:
    """A segment enrollment without an id (`sojourn enroll-segment JOURNEY SEGMENT`), once done."""
    path = f"/v1/journeys/{journey}/segment-enrollments"
    started = await api.post(path, json={"segment": segment, "delivery": delivery})
    assert started.status_code == 202, started.text
    for _ in range(600):
        # A busy worker may miss the progress query's deadline (a 503): ask again.
        done = await api.get(f"{path}/{started.json()['enrollment_id']}")
        if done.status_code == 200 and done.json()["status"] == "completed":
            return done.json()
        await asyncio.sleep(0.1)
    raise AssertionError(f"the enrollment never completed: {done.text}")


async def firing(temporal_env, settings, journey: str, segment: str, n: int) -> EnrollmentProgress:
    """What a schedule's firing starts: an unkeyed enrollment."""
    return await temporal_env.client.execute_workflow(
        "EnrollmentWorkflow", EnrollmentInput(journey_id=journey, segment_id=segment, enrollment_id="",
                                              task_queue=settings.task_queue, keyed=False),
        id=f"enrollment/{journey}/firing-{n}", task_queue=settings.task_queue, result_type=EnrollmentProgress)


async def send_event(api, contact: str, name: str, event_id: str, **properties) -> None:
    response = await api.post("/v1/events", json={"events": [
        {"contact": contact, "name": name, "event_id": event_id, "properties": properties}]})
    assert response.status_code == 200 and response.json()["rejected"] == [], response.text


async def mail_count(engine, to: str) -> int:
    await asyncio.sleep(0.5)  # let a second run, if one were (wrongly) started, send
    return len(await wait_for_mail(engine, to, 99, timeout=1.5))


async def counts(engine, journey: str) -> tuple[int, int]:
    """(journey_runs rows, messages) of the journey."""
    async with engine.connect() as conn:
        runs = await conn.scalar(select(func.count()).select_from(JourneyRun).where(JourneyRun.journey_id == journey))
        messages = await conn.scalar(select(func.count()).select_from(Message).where(Message.journey_id == journey))
    return runs, messages


async def run_ended(engine, journey: str, contact: str) -> None:
    """Wait until the contact's run of the journey is recorded as ended."""
    for _ in range(200):
        async with engine.connect() as conn:
            statuses = list((await conn.execute(select(JourneyRun.status).join(
                Contact, Contact.id == JourneyRun.contact_id).where(
                JourneyRun.journey_id == journey, Contact.external_id == contact))).scalars())
        if statuses and "active" not in statuses:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the run of {contact} in {journey} never ended")


def send_then_wait(subject: str, reentry: dict, entry: dict | None = None) -> dict:
    """A send, then an hour's wait: the run stays active until its clock is moved on."""
    return {"name": subject, "reentry": reentry, **({"entry": entry} if entry else {}), "nodes": [
        {"id": "hello", "type": "send", "subject": subject, "text": "hi", "next": "hour"},
        {"id": "hour", "type": "wait", "duration": "1h", "next": "end"},
        {"id": "end", "type": "exit"}]}


@pytest.mark.parametrize("delivery", ["runs", "auto"])
async def test_segment_enrollment_twice_without_an_id_reaches_nobody_twice(api, worker, engine, delivery, unique):
    """The reported bug: `sojourn enroll-segment flash kaohsiung` run twice mailed everyone twice.
    `auto` sends this single-send journey in batches; `runs` starts a run per contact."""
    people = [f"flash{n}-{unique}" for n in range(3)]
    await segment_of(api, f"khh-{unique}", people)
    journey = f"flash-{unique}"
    await create_active_journey(api, journey, single_send(f"Flash sale {unique}"))

    first = await segment_enrollment(api, journey, f"khh-{unique}", delivery)
    second = await segment_enrollment(api, journey, f"khh-{unique}", delivery)
    assert (first["enrolled"], first["existing"]) == (3, 0), first
    assert (second["enrolled"], second["existing"], second["sent"]) == (0, 3, 0), second
    for person in people:
        assert await mail_count(engine, f"{person}@example.com") == 1
    assert await counts(engine, journey) == (3, 3)


async def test_never_holds_across_every_way_in(api, worker, engine, temporal_env, settings, unique):
    """One `never` journey entered directly, by two segment enrollments (runs, then a batch),
    a scheduled firing and its entry event: each contact gets one run and one message."""
    ann, bo = f"ann-{unique}", f"bo-{unique}"
    segment, journey, visited = f"both-{unique}", f"once-{unique}", f"visited-{unique}"
    await segment_of(api, segment, [ann, bo])
    definition = {**single_send(f"Once {unique}"), "entry": {"event": visited}}
    await create_active_journey(api, journey, definition)

    [direct] = await enroll(api, journey, ann)
    assert direct["status"] == "started"
    runs = await segment_enrollment(api, journey, segment, delivery="runs")
    assert (runs["enrolled"], runs["existing"]) == (1, 1), runs  # Bo only
    batch = await segment_enrollment(api, journey, segment)
    assert (batch["mode"], batch["sent"], batch["existing"]) == ("batch", 0, 2), batch
    fired = await firing(temporal_env, settings, journey, segment, 1)
    assert (fired.enrolled, fired.existing, fired.sent) == (0, 2, 0), fired
    await send_event(api, bo, visited, f"v-{unique}")
    [again] = await enroll(api, journey, bo)
    assert (again["status"], again["workflow_id"]) == ("existing", runs_workflow(journey, bo, runs))

    for person in (ann, bo):
        assert await mail_count(engine, f"{person}@example.com") == 1
    assert await counts(engine, journey) == (2, 2)


def runs_workflow(journey: str, contact: str, enrollment: dict) -> str:
    return journey_workflow_id(journey, contact, enrollment["enrollment_id"])


async def test_a_segment_entered_journey_counts_enrollments_too(api, worker, engine, unique):
    """Entered by a segment enrollment first, a contact who then comes to match the journey's
    entry segment does not enter again; nor does one entered that way and then enrolled."""
    early, late = f"early-{unique}", f"late-{unique}"
    journey, entry, listed = f"seg-{unique}", f"vip-{unique}", f"listed-{unique}"
    await segment_of(api, listed, [early])
    assert (await api.post("/v1/segments", json={"id": entry, "name": entry, "filter": {
        "attribute": "vip", "value": unique}})).status_code == 201
    await create_active_journey(api, journey, {**single_send(f"VIP {unique}"), "entry": {"segment": entry}})

    assert (await segment_enrollment(api, journey, listed, delivery="runs"))["enrolled"] == 1
    await put_contact(api, early, attributes={"in": listed, "vip": unique})  # now matches the entry segment
    await put_contact(api, late, email=f"{late}@example.com", attributes={"vip": unique, "in": listed})
    await wait_for_mail(engine, f"{late}@example.com")
    again = await segment_enrollment(api, journey, listed)
    assert (again["enrolled"], again["existing"]) == (0, 2), again
    for person in (early, late):
        assert await mail_count(engine, f"{person}@example.com") == 1


async def test_after_exit_lets_a_contact_in_again_only_once_its_run_ended(api, worker, engine, temporal_env, unique):
    ann, segment, journey = f"ann-{unique}", f"one-{unique}", f"again-{unique}"
    await segment_of(api, segment, [ann])
    await create_active_journey(api, journey, send_then_wait(f"Again {unique}", {"policy": "after_exit"}))

    first = await segment_enrollment(api, journey, segment)
    assert (first["mode"], first["enrolled"]) == ("runs", 1)
    await wait_for_mail(engine, f"{ann}@example.com")
    # Its run waits: no second enrollment, direct or by segment, lets Ann in meanwhile.
    [direct] = await enroll(api, journey, ann)
    assert (direct["status"], direct["workflow_id"]) == ("existing", runs_workflow(journey, ann, first))
    second = await segment_enrollment(api, journey, segment)
    assert (second["enrolled"], second["existing"]) == (0, 1), second
    assert await mail_count(engine, f"{ann}@example.com") == 1

    await advance(temporal_env, runs_workflow(journey, ann, first), timedelta(hours=1, minutes=1))
    await run_ended(engine, journey, ann)
    [after] = await enroll(api, journey, ann)
    assert after["status"] == "started"
    assert len(await wait_for_mail(engine, f"{ann}@example.com", 2)) == 2
    assert await counts(engine, journey) == (2, 2)


async def test_always_with_a_cooldown_refuses_every_way_in_within_it(api, worker, engine, temporal_env, settings,
                                                                     unique):
    ann, segment, journey, visited = f"ann-{unique}", f"one-{unique}", f"weekly-{unique}", f"visited-{unique}"
    await segment_of(api, segment, [ann])
    await create_active_journey(api, journey, {**single_send(f"Weekly {unique}"), "entry": {"event": visited},
                                               "reentry": {"policy": "always", "cooldown": "6d"}})

    batch = await segment_enrollment(api, journey, segment)
    assert (batch["mode"], batch["sent"]) == ("batch", 1), batch
    [direct] = await enroll(api, journey, ann)
    assert direct["status"] == "existing"
    runs = await segment_enrollment(api, journey, segment, delivery="runs")
    assert (runs["enrolled"], runs["existing"]) == (0, 1), runs
    fired = await firing(temporal_env, settings, journey, segment, 1)
    assert (fired.enrolled, fired.existing) == (0, 1), fired
    await send_event(api, ann, visited, f"v-{unique}")
    assert await mail_count(engine, f"{ann}@example.com") == 1

    # A week on (the cooldown is kept in Postgres, whose clock does not skip): in again.
    async with engine.begin() as conn:
        await conn.execute(JourneyRun.__table__.update().where(JourneyRun.journey_id == journey)
                           .values(enrolled_at=JourneyRun.enrolled_at - timedelta(days=7)))
    [later] = await enroll(api, journey, ann)
    assert later["status"] == "started"
    assert len(await wait_for_mail(engine, f"{ann}@example.com", 2)) == 2


async def test_a_keyed_event_journey_counts_each_key_apart(api, worker, engine, temporal_env, unique):
    """`never` with `entry.key`: once per key (a cart abandoned again does not re-enter, another
    cart does); entering any other way counts every run of the contact."""
    shopper, journey, abandoned = f"shopper-{unique}", f"cart-{unique}", f"abandoned-{unique}"
    await put_contact(api, shopper, email=f"{shopper}@example.com")
    await create_active_journey(api, journey, {
        **single_send("Cart {{ event.properties.cart_id }}"),
        "entry": {"event": abandoned, "key": "properties.cart_id"}})

    await send_event(api, shopper, abandoned, f"a1-{unique}", cart_id="C1")
    await wait_for_mail(engine, f"{shopper}@example.com")
    await run_ended(engine, journey, shopper)
    await send_event(api, shopper, abandoned, f"a2-{unique}", cart_id="C1")
    await send_event(api, shopper, abandoned, f"a3-{unique}", cart_id="C2")
    mail = await wait_for_mail(engine, f"{shopper}@example.com", 2)
    [direct] = await enroll(api, journey, shopper)
    assert direct["status"] == "existing"
    assert await mail_count(engine, f"{shopper}@example.com") == 2
    assert sorted(m["subject"] for m in mail) == ["Cart C1", "Cart C2"]


async def test_two_enrollments_at_once_let_each_contact_in_once(api, worker, engine, unique):
    """Two segment enrollments started together (one in batches, one in runs) overlap page by page."""
    people = [f"rush{n}-{unique}" for n in range(30)]
    await segment_of(api, f"rush-{unique}", people)
    journey = f"rush-{unique}"
    await create_active_journey(api, journey, single_send(f"Rush {unique}"))
    done = await asyncio.gather(segment_enrollment(api, journey, f"rush-{unique}"),
                                segment_enrollment(api, journey, f"rush-{unique}", delivery="runs"),
                                segment_enrollment(api, journey, f"rush-{unique}", delivery="runs"))
    assert sum(d["enrolled"] for d in done) == 30 and sum(d["existing"] for d in done) == 60, done
    await asyncio.sleep(1)
    assert await counts(engine, journey) == (30, 30)
    for person in people:
        assert len(await wait_for_mail(engine, f"{person}@example.com", timeout=0.2)) == 1


async def test_concurrent_entries_under_different_keys_admit_one(api, worker, engine, temporal_env, settings, unique):
    """The admission lock: two entries racing under different keys (two enrollments) start one run."""
    contact, journey = f"race-{unique}", f"race-{unique}"
    await put_contact(api, contact, email=f"{contact}@example.com")
    await create_active_journey(api, journey, single_send(f"Race {unique}"))
    sessions = session_factory(engine)

    async def one(key: str) -> str:
        async with sessions() as session:
            version = await get_version(session, journey, 1)
            person = (await session.execute(select(Contact).where(Contact.external_id == contact))).scalar_one()
            [result] = await enter(session, temporal_env.client, settings.task_queue, journey, version, [person],
                                   key=key)
            return result.status

    assert sorted(await asyncio.gather(one("first"), one("second"))) == ["existing", "started"]
    assert await mail_count(engine, f"{contact}@example.com") == 1
