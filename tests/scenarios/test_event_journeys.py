"""Scenarios 2 (clinic follow-up) and 6 (abandoned cart), re-entry rules and keyed runs,
end to end: events through POST /v1/events start, steer and end journeys."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from sojourn.contracts.journey import JourneyState, journey_workflow_id
from sojourn.data.models import JourneyRun

from helpers import add_contact, advance, create_active_journey, wait_for_mail


async def send_events(api, *events: dict) -> dict:
    response = await api.post("/v1/events", json={"events": list(events)})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["rejected"] == [], body
    return body


async def run_of(temporal_env, workflow_id: str, timeout: float = 20.0):
    """The handle of a run that an event is starting, once it exists."""
    handle = temporal_env.client.get_workflow_handle(workflow_id, result_type=JourneyState)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            await handle.describe()
            return handle
        except Exception:
            assert asyncio.get_running_loop().time() < deadline, f"no run {workflow_id}"
            await asyncio.sleep(0.1)


async def runs_in_db(engine, journey_id: str) -> list[JourneyRun]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(JourneyRun).where(JourneyRun.journey_id == journey_id)
                                   .order_by(JourneyRun.enrolled_at))).all()
    return [JourneyRun.model_validate(row._mapping) for row in rows]


def clinic(unique: str) -> dict:
    return {
        "name": "Laser follow-up",
        "entry": {"event": "treatment.completed", "where": [{"property": "procedure", "value": "laser-toning"}]},
        "exit_on": [{"event": "appointment.booked"}],
        "nodes": [
            {"id": "aftercare_wait", "type": "wait", "duration": "2h", "relative_to": "event", "next": "aftercare"},
            {"id": "aftercare", "type": "send", "subject": f"After-care {unique}",
             "text": "After your {{ event.properties.procedure }}: sunscreen, every day.", "next": "day7_wait"},
            {"id": "day7_wait", "type": "wait", "duration": "7d", "relative_to": "event", "next": "check_in"},
            {"id": "check_in", "type": "send", "subject": f"How does your skin feel? {unique}",
             "html": '<a href="https://clinic.example/book">Book again</a>', "next": "end"},
            {"id": "end", "type": "exit"},
        ],
    }


async def test_clinic_follow_up_counts_from_the_event_timestamp(api, worker, engine, temporal_env, unique):
    journey = f"clinic-{unique}"
    await create_active_journey(api, journey, clinic(unique))
    treated = datetime.now(timezone.utc) - timedelta(hours=1)  # reported an hour late
    for name in ("keeps", "books"):
        await add_contact(api, f"{name}-{unique}", f"{name}-{unique}@example.com")
    await send_events(api, *({"contact": f"{name}-{unique}", "name": "treatment.completed", "event_id": f"t-{name}-{unique}",
                              "properties": {"procedure": "laser-toning"}, "occurred_at": treated.isoformat()}
                             for name in ("keeps", "books")),
                      {"contact": f"keeps-{unique}", "name": "treatment.completed", "event_id": f"other-{unique}",
                       "properties": {"procedure": "facial"}, "occurred_at": treated.isoformat()})
    keeps = await run_of(temporal_env, journey_workflow_id(journey, f"keeps-{unique}"))
    books = await run_of(temporal_env, journey_workflow_id(journey, f"books-{unique}"))

    # The after-care wait ends 2 h after the treatment, so 1 h after the event reached us.
    for handle in (keeps, books):
        state = await handle.query("state", result_type=JourneyState)
        assert datetime.fromisoformat(state.wait_until) == treated + timedelta(hours=2)
        await advance(temporal_env, handle.id, timedelta(hours=1, minutes=1))
    [aftercare] = await wait_for_mail(engine, f"keeps-{unique}@example.com")
    assert aftercare["subject"] == f"After-care {unique}"
    assert "After your laser-toning" in aftercare["text"]
    await wait_for_mail(engine, f"books-{unique}@example.com")

    # Booking again on day 3 ends that run at once, in the middle of its 7-day wait.
    await advance(temporal_env, books.id, timedelta(days=2))
    await send_events(api, {"contact": f"books-{unique}", "name": "appointment.booked", "event_id": f"b-{unique}"})
    state = await books.result()
    assert state.status == "exited" and state.exit_reason == "exit_on: appointment.booked"

    state = await keeps.query("state", result_type=JourneyState)
    assert datetime.fromisoformat(state.wait_until) == treated + timedelta(days=7)
    await advance(temporal_env, keeps.id, timedelta(days=7))
    assert (await keeps.result()).status == "completed"
    keeps_mail = await wait_for_mail(engine, f"keeps-{unique}@example.com", 2)
    assert [m["subject"] for m in keeps_mail] == [f"After-care {unique}", f"How does your skin feel? {unique}"]
    books_mail = await wait_for_mail(engine, f"books-{unique}@example.com", 2, timeout=1)
    assert [m["subject"] for m in books_mail] == [f"After-care {unique}"]

    runs = {r.workflow_id: r for r in await runs_in_db(engine, journey)}
    assert len(runs) == 2  # the facial treatment did not enter
    assert runs[books.id].status == "exited" and runs[books.id].exit_reason == "exit_on: appointment.booked"
    assert runs[keeps.id].status == "completed" and runs[keeps.id].ended_at is not None


def abandoned_cart(unique: str) -> dict:
    return {
        "name": "Abandoned cart",
        "entry": {"event": "cart.abandoned", "key": "properties.cart_id"},
        "goal": {"event": "checkout.completed", "within": "7d", "exit": True},
        "nodes": [
            {"id": "hour", "type": "wait", "duration": "1h", "next": "reminder"},
            {"id": "reminder", "type": "send", "subject": f"You left something behind {unique}",
             "text": "Cart {{ event.properties.cart_id }} is waiting.", "next": "day"},
            {"id": "day", "type": "wait", "duration": "1d", "next": "coupon"},
            {"id": "coupon", "type": "send", "subject": f"10% off your cart {unique}", "text": "COUPON10", "next": "end"},
            {"id": "end", "type": "exit"},
        ],
    }


async def test_abandoned_cart_ends_at_once_on_checkout_and_converts(api, worker, engine, temporal_env, unique):
    journey = f"cart-{unique}"
    email = f"shopper-{unique}@example.com"
    await create_active_journey(api, journey, abandoned_cart(unique))
    await add_contact(api, f"shopper-{unique}", email)
    await send_events(api,
                      {"contact": f"shopper-{unique}", "name": "cart.abandoned", "event_id": f"a1-{unique}",
                       "properties": {"cart_id": "C1"}},
                      {"contact": f"shopper-{unique}", "name": "cart.abandoned", "event_id": f"a2-{unique}",
                       "properties": {"cart_id": "C2"}})
    c1 = await run_of(temporal_env, journey_workflow_id(journey, f"shopper-{unique}", "C1"))
    c2 = await run_of(temporal_env, journey_workflow_id(journey, f"shopper-{unique}", "C2"))

    for handle in (c1, c2):
        await advance(temporal_env, handle.id, timedelta(hours=1, minutes=1))
    mail = await wait_for_mail(engine, email, 2)
    assert sorted(m["text"].strip() for m in mail) == ["Cart C1 is waiting.", "Cart C2 is waiting."]

    # Checkout of cart C1 during the 1-day wait ends that run at once; C2 goes on.
    await send_events(api, {"contact": f"shopper-{unique}", "name": "checkout.completed", "event_id": f"c-{unique}",
                            "properties": {"cart_id": "C1"}})
    state = await c1.result()
    assert state.status == "exited" and state.exit_reason == "goal: checkout.completed"
    assert state.converted_at is not None
    await advance(temporal_env, c2.id, timedelta(days=1, minutes=1))
    assert (await c2.result()).status == "completed"
    mail = await wait_for_mail(engine, email, 3)
    assert sorted(m["subject"] for m in mail) == sorted(
        [f"You left something behind {unique}"] * 2 + [f"10% off your cart {unique}"])

    runs = {r.key: r for r in await runs_in_db(engine, journey)}
    assert runs["C1"].status == "exited" and runs["C1"].converted_at is not None
    assert runs["C2"].status == "completed" and runs["C2"].converted_at is None


def _reentering(event: str, unique: str, policy: dict) -> dict:
    # Every active journey with this entry event hears it: each test uses its own event name.
    return {"name": "Re-entry", "entry": {"event": event}, "reentry": policy, "nodes": [
        {"id": "hello", "type": "send", "subject": f"Welcome back {unique}", "text": "hi", "next": "end"},
        {"id": "end", "type": "exit"}]}


async def test_reentry_rules(api, worker, engine, temporal_env, unique):
    cases = {"never": {"policy": "never"}, "after": {"policy": "after_exit"},
             "cool": {"policy": "always", "cooldown": "30d"}}
    for name, policy in cases.items():
        journey = f"re-{name}-{unique}"
        contact = f"{name}-{unique}"
        await create_active_journey(api, journey, _reentering(f"visited-{contact}", unique, policy))
        await add_contact(api, contact, f"{contact}@example.com")
        await send_events(api, {"contact": contact, "name": f"visited-{contact}", "event_id": f"v1-{contact}"})
        first = await run_of(temporal_env, journey_workflow_id(journey, contact))
        await first.result()
        await wait_for_mail(engine, f"{contact}@example.com")
        await send_events(api, {"contact": contact, "name": f"visited-{contact}", "event_id": f"v2-{contact}"})
    await asyncio.sleep(2)  # let a second run, if any were (wrongly) started, send
    counts = {name: len(await wait_for_mail(engine, f"{name}-{unique}@example.com", 2, timeout=3)) for name in cases}
    assert counts == {"never": 1, "after": 2, "cool": 1}
    assert [r.status for r in await runs_in_db(engine, f"re-after-{unique}")] == ["completed", "completed"]


async def test_event_idempotency_does_not_start_twice(api, worker, engine, temporal_env, unique):
    journey = f"idem-{unique}"
    await create_active_journey(api, journey, _reentering(f"visited-{unique}", unique, {"policy": "after_exit"}))
    contact = f"idem-{unique}"
    await add_contact(api, contact, f"{contact}@example.com")
    event = {"contact": contact, "name": f"visited-{unique}", "event_id": f"same-{unique}"}
    await send_events(api, event)
    run = await run_of(temporal_env, journey_workflow_id(journey, contact))
    await run.result()
    again = await send_events(api, event)
    assert again["duplicates"] == 1 and again["accepted"] == 0
    await asyncio.sleep(1)
    assert len(await wait_for_mail(engine, f"{contact}@example.com", 2, timeout=2)) == 1


async def test_welcome_series_uses_the_signup_topic(api, worker, engine, temporal_env, unique):
    """Scenario 5, entry part: a web-form signup starts three emails, two days apart, on the chosen topic."""
    journey = f"welcome-{unique}"
    signup = f"signed_up-{unique}"
    topic_mail = {"type": "send", "subject": "{{ event.properties.topic | title }} tips, part %s",
                  "text": "Hello {{ first_name | default('there') }}, more on {{ event.properties.topic }}."}
    await create_active_journey(api, journey, {"name": "Welcome series", "entry": {"event": signup}, "nodes": [
        {"id": "one", **topic_mail, "subject": topic_mail["subject"] % 1, "next": "gap1"},
        {"id": "gap1", "type": "wait", "duration": "2d", "next": "two"},
        {"id": "two", **topic_mail, "subject": topic_mail["subject"] % 2, "next": "gap2"},
        {"id": "gap2", "type": "wait", "duration": "2d", "next": "three"},
        {"id": "three", **topic_mail, "subject": topic_mail["subject"] % 3, "next": "end"},
        {"id": "end", "type": "exit"}]})
    contact = f"new-{unique}"
    email = f"{contact}@example.com"
    await api.put(f"/v1/contacts/{contact}", json={"email": email, "first_name": "Noa"})
    await send_events(api, {"contact": contact, "name": signup, "event_id": f"s-{unique}",
                            "properties": {"topic": "skin care", "form": "footer"}})
    run = await run_of(temporal_env, journey_workflow_id(journey, contact))
    await wait_for_mail(engine, email)
    for sent in (2, 3):
        await advance(temporal_env, run.id, timedelta(days=2, minutes=1))
        await wait_for_mail(engine, email, sent)
    assert (await run.result()).status == "completed"
    mail = await wait_for_mail(engine, email, 3)
    assert [m["subject"] for m in mail] == [f"Skin Care tips, part {n}" for n in (1, 2, 3)]
    assert mail[0]["text"].strip() == "Hello Noa, more on skin care."
