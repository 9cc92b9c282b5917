"""POST /v1/journeys/{id}/simulate: the journey interpreter itself, on a skipped clock, for one
contact and a script; compared with a real run of the same contact and script, and checked to
write nothing."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from sojourn.contracts.journey import JourneyState, journey_workflow_id
from sojourn.data.models import (
    Contact,
    ContactTag,
    Conversion,
    ExperimentAssignment,
    JourneyRun,
    JourneyStep,
    Message,
)
from sojourn.dsl.experiments import held_out, stable_point
from sojourn.settings import FrequencyCap
from worker.main import journey_worker

from helpers import add_contact, advance, create_active_journey, enroll, finished, tracking_path, wait_for_mail


def offers(unique: str) -> dict:
    """A welcome, an open check after two days, an offer and a booking wait of four days."""
    return {
        "name": "Offers",
        "goal": {"event": "booked", "exit": False},
        "nodes": [
            {"id": "welcome", "type": "send", "subject": "Hi {{ first_name }} " + unique,
             "html": '<p>Welcome, <a href="https://shop.example/new">see what is new</a></p>', "next": "wait_2d"},
            {"id": "wait_2d", "type": "wait", "duration": "2d", "next": "opened"},
            {"id": "opened", "type": "branch", "condition": {"opened": "welcome"}, "then": "offer",
             "else": "reminder"},
            {"id": "reminder", "type": "send", "subject": "Did you see this? " + unique, "text": "A reminder.",
             "next": "end"},
            {"id": "offer", "type": "send", "subject": "An offer for {{ first_name }} " + unique,
             "text": "Book by Friday.", "next": "booking"},
            {"id": "booking", "type": "wait_for", "event": {"event": "booked"}, "timeout": "4d",
             "on_event": "vip", "on_timeout": "nudge"},
            {"id": "vip", "type": "tag", "tag": "booked", "next": "thanks"},
            {"id": "thanks", "type": "send", "subject": "Thank you {{ first_name }} " + unique, "text": "See you.",
             "next": "end"},
            {"id": "nudge", "type": "send", "subject": "Last chance " + unique, "text": "Book now.", "next": "end"},
            {"id": "end", "type": "exit"},
        ],
    }


async def simulate(api, journey: str, **body) -> dict:
    response = await api.post(f"/v1/journeys/{journey}/simulate", json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def counts(engine) -> dict:
    async with engine.connect() as conn:
        return {model.__tablename__: await conn.scalar(select(func.count()).select_from(model))
                for model in (Message, JourneyStep, JourneyRun, Conversion, ContactTag, ExperimentAssignment)}


async def test_a_simulation_takes_the_path_and_sends_the_messages_of_a_real_run(api, worker, engine, temporal_env,
                                                                                 unique):
    journey, contact, email = f"offers-{unique}", f"ann-{unique}", f"ann-{unique}@example.com"
    await create_active_journey(api, journey, offers(unique))
    await add_contact(api, contact, email, "Ann")
    script = [{"at": "3h", "engagement": {"kind": "opened", "node": "welcome"}},
              {"at": "3d", "event": {"name": "booked", "properties": {"slot": "friday"}}}]

    simulated = await simulate(api, journey, contact_id=contact, script=script)

    assert [(s["node"], s["outcome"]) for s in simulated["path"]] == [
        ("welcome", "sent"), ("wait_2d", None), ("opened", "then"), ("offer", "sent"), ("booking", "event"),
        ("vip", "weight 1"), ("thanks", "sent"), ("end", None)]
    start = datetime.fromisoformat(simulated["started_at"])
    entered = {s["node"]: datetime.fromisoformat(s["entered_at"]) - start for s in simulated["path"]}
    assert timedelta(days=2) <= entered["opened"] < timedelta(days=2, minutes=1)
    assert timedelta(days=3) <= entered["thanks"] < timedelta(days=3, minutes=1)
    kinds = [(d["kind"], d["node"], d["outcome"]) for d in simulated["decisions"]]
    assert ("engagement", "welcome", "opened") in kinds and ("branch", "opened", "then") in kinds
    assert ("wait_for", "booking", "event") in kinds
    assert simulated["status"] == "completed" and simulated["converted_at"] is not None
    welcome = simulated["messages"][0]
    assert welcome["recipient"] == email and welcome["subject"] == f"Hi Ann {unique}"
    assert "shop.example/new" in welcome["payload"]["html"] or "/t/c/" in welcome["payload"]["html"]

    # The same contact and script, for real: the open through the pixel, the booking as an event.
    [result] = await enroll(api, journey, contact)
    workflow_id = journey_workflow_id(journey, contact)
    [mail] = await wait_for_mail(engine, email)
    assert (await api.get(tracking_path(mail["html"], "o"))).status_code == 200
    await advance(temporal_env, workflow_id, timedelta(days=2, minutes=1))
    await wait_for_mail(engine, email, 2)
    booked = await api.post("/v1/events", json={"events": [
        {"contact": contact, "name": "booked", "event_id": f"b-{unique}", "properties": {"slot": "friday"}}]})
    assert booked.status_code == 200, booked.text
    real: JourneyState = await finished(temporal_env, workflow_id)

    assert [(s.node, s.outcome) for s in real.path] == [(s["node"], s["outcome"]) for s in simulated["path"]]
    assert [(m.node, m.status, m.channel, m.recipient, m.subject) for m in real.messages] == [
        (m["node"], m["status"], m["channel"], m["recipient"], m["subject"]) for m in simulated["messages"]]
    assert [m["subject"] for m in await wait_for_mail(engine, email, 3)] == [
        m["subject"] for m in simulated["messages"]]


async def test_a_simulation_writes_nothing_and_takes_no_cap(api, engine, temporal_env, settings, unique):
    """Caps decide the simulation's sends as they would a run's (its own sends count), and leave
    no trace: no rows anywhere, and a real run right after it is not held by them."""
    capped = settings.model_copy(update={"frequency_caps": [FrequencyCap(max=1, per="1d")]})
    journey, contact, email = f"capped-{unique}", f"bo-{unique}", f"bo-{unique}@example.com"

    def mail(node_id: str, next_: str, **extra) -> dict:
        return {"id": node_id, "type": "send", "subject": f"{node_id} {unique}", "text": "News.", "next": next_,
                **extra}

    await create_active_journey(api, journey, {"name": "Capped", "nodes": [
        mail("first", "hour"), {"id": "hour", "type": "wait", "duration": "1h", "next": "flash"},
        mail("flash", "later", when_capped="skip"), {"id": "later", "type": "wait", "duration": "1h", "next": "news"},
        mail("news", "end"), {"id": "end", "type": "exit"}]})
    await add_contact(api, contact, email, "Bo")
    before = await counts(engine)

    async with journey_worker(temporal_env.client, engine, capped):
        simulated = await simulate(api, journey, contact_id=contact)
        assert [(m["node"], m["status"]) for m in simulated["messages"]] == [
            ("first", "sent"), ("flash", "skipped"), ("news", "sent")]
        assert simulated["messages"][1]["reason"].startswith("frequency cap: 1 messages per 1d; skipped")
        [deferred] = [d for d in simulated["decisions"] if d["kind"] == "deferred"]
        assert deferred["node"] == "news" and deferred["reason"] == "frequency cap: 1 messages per 1d"
        start = datetime.fromisoformat(simulated["started_at"])
        assert datetime.fromisoformat(simulated["messages"][2]["at"]) - start < timedelta(hours=3)  # asked at 2h
        news = next(s for s in simulated["path"] if s["node"] == "news")
        assert datetime.fromisoformat(news["left_at"]) - start >= timedelta(days=1)  # sent once the day is over
        assert await counts(engine) == before

        await enroll(api, journey, contact)
        [mail_] = await wait_for_mail(engine, email)
        assert mail_["subject"] == f"first {unique}"


async def test_a_profile_stored_nowhere_is_simulated_with_its_consent(api, worker, engine, unique):
    journey = f"profile-{unique}"
    await create_active_journey(api, journey, {"name": "SMS first", "nodes": [
        {"id": "hello", "type": "send", "channel": ["sms", "email"], "sms": {"text": "Hi {{ first_name }}"},
         "subject": "Hello {{ first_name }}", "text": "Hi.", "next": "end"},
        {"id": "end", "type": "exit"}]})
    before = await counts(engine)

    simulated = await simulate(api, journey, contact={"email": f"p-{unique}@example.com", "phone": "+886912345678",
                                                      "first_name": "Pia", "consent": {"sms": "unsubscribed"}})

    [message] = simulated["messages"]
    assert (message["channel"], message["recipient"], message["subject"]) == (
        "email", f"p-{unique}@example.com", "Hello Pia")
    assert simulated["contact"] == "(profile)"
    assert await counts(engine) == before


async def test_simulation_refuses_a_bad_script_precisely(api, unique):
    journey = f"bad-{unique}"
    await create_active_journey(api, journey, offers(unique))
    cases = [
        ({"contact_id": "x", "script": [{"at": "soon", "event": {"name": "booked"}}]}, "script.0.at"),
        ({"contact_id": "x", "script": [{"at": "1d"}]}, "script.0"),
        ({"script": []}, "body"),
        ({"contact_id": "x", "contact": {"email": "a@b.example"}}, "body"),
        ({"contact_id": "x", "script": [{"at": "1d", "engagement": {"kind": "viewed", "node": "welcome"}}]},
         "script.0.engagement.kind"),
    ]
    for body, field in cases:
        response = await api.post(f"/v1/journeys/{journey}/simulate", json=body)
        assert response.status_code == 422, (body, response.text)
        assert field in response.text, (field, response.text)
    response = await api.post(f"/v1/journeys/{journey}/simulate", json={"contact": {"phone": "12"}})
    assert response.status_code == 422 and response.json()["error"]["details"][0]["field"] == "phone", response.text
    await add_contact(api, f"c-{unique}", f"c-{unique}@example.com")
    response = await api.post(f"/v1/journeys/{journey}/simulate", json={
        "contact_id": f"c-{unique}", "script": [{"at": "1d", "engagement": {"kind": "opened", "node": "wait_2d"}}]})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["field"] == "script[0].engagement.node"


async def test_a_thirty_day_journey_simulates_quickly(api, worker, unique):
    journey = f"month-{unique}"
    nodes = []
    for week in range(4):
        nodes += [{"id": f"mail_{week}", "type": "send", "subject": f"Week {week}", "text": "News.",
                   "next": f"wait_{week}"},
                  {"id": f"wait_{week}", "type": "wait", "duration": "7d", "next": f"mail_{week + 1}"}]
    nodes += [{"id": "mail_4", "type": "send", "subject": "Day 30", "text": "Bye.", "next": "end"},
              {"id": "end", "type": "exit"}]
    await create_active_journey(api, journey, {"name": "A month", "nodes": nodes})
    took = []
    for _ in range(3):  # the first also loads the workflow into the worker
        started = time.perf_counter()
        simulated = await simulate(api, journey, contact={"email": f"m-{unique}@example.com"})
        took.append(time.perf_counter() - started)
        assert len(simulated["messages"]) == 5
    print(f"\nsimulated a {len(nodes)}-node, 28-day journey (5 sends, 4 waits) in "
          + ", ".join(f"{t:.3f}" for t in took) + " s")


async def test_a_simulation_of_a_stored_contact_is_sealed_with_its_key(api, worker, temporal_server, unique):
    journey, contact, email = f"sealed-{unique}", f"di-{unique}", f"di-{unique}@example.com"
    await create_active_journey(api, journey, offers(unique))
    await add_contact(api, contact, email, "Di")

    simulated = await simulate(api, journey, contact_id=contact)

    assert simulated["messages"][0]["recipient"] == email
    history = await temporal_server.client.get_workflow_handle(simulated["workflow_id"]).fetch_history()  # no codec
    stored = b"".join(event.SerializeToString() for event in history.events)
    assert b"binary/sojourn-encrypted" in stored
    assert email.encode() not in stored and f"Hi Di {unique}".encode() not in stored


async def test_a_trigger_long_past_makes_the_event_relative_wait_late(api, worker, unique):
    journey = f"clinic-{unique}"
    await create_active_journey(api, journey, {
        "name": "After-care", "entry": {"event": "treatment.completed"},
        "nodes": [
            {"id": "aftercare_wait", "type": "wait", "duration": "2h", "relative_to": "event", "next": "aftercare"},
            {"id": "aftercare", "type": "send", "subject": "After your {{ event.properties.procedure }}",
             "text": "Sunscreen.", "next": "end"},
            {"id": "end", "type": "exit"}]})
    on_time = await simulate(api, journey, contact={"email": f"t-{unique}@example.com"},
                             trigger={"name": "treatment.completed", "properties": {"procedure": "laser"}})
    [sent] = on_time["messages"]
    assert (sent["status"], sent["subject"]) == ("sent", "After your laser")
    start = datetime.fromisoformat(on_time["started_at"])
    assert abs(datetime.fromisoformat(sent["at"]) - start - timedelta(hours=2)) < timedelta(minutes=1)

    late = await simulate(api, journey, contact={"email": f"t-{unique}@example.com"}, trigger={
        "name": "treatment.completed", "properties": {"procedure": "laser"},
        "occurred_at": (datetime.now(timezone.utc) - timedelta(days=3)).isoformat()})
    [skipped] = late["messages"]
    assert skipped["status"] == "skipped" and skipped["reason"].startswith("late by 2 days, 22:")
    assert [d["kind"] for d in late["decisions"]] == ["late", "skipped"]


async def test_a_split_and_a_holdout_are_simulated_as_a_run_takes_them(api, worker, engine, temporal_env, unique):
    """The simulation's arm is the one the real run then takes, and records none; a contact the
    journey holds out gets its marketing send skipped, the transactional one sent."""
    journey = f"split-sim-{unique}"
    await create_active_journey(api, journey, {"name": "Split", "holdout": {"percent": 50}, "nodes": [
        {"id": "subject", "type": "split", "arms": [{"id": "plain", "next": "plain"}, {"id": "bold", "next": "bold"}]},
        {"id": "plain", "type": "send", "subject": f"plain {unique}", "text": "ok", "next": "receipt"},
        {"id": "bold", "type": "send", "subject": f"BOLD {unique}", "text": "ok", "next": "receipt"},
        {"id": "receipt", "type": "send", "transactional": True, "subject": f"receipt {unique}", "text": "ok",
         "next": "end"},
        {"id": "end", "type": "exit"}]})
    people = {}
    for n in range(12):  # until there is one of each: held out and treated (each 1 in 2)
        contact = f"sp{n}-{unique}"
        await add_contact(api, contact, f"{contact}@example.com", "Sam")
        async with engine.connect() as conn:
            contact_id = await conn.scalar(select(Contact.id).where(Contact.external_id == contact))
        people.setdefault(held_out(stable_point(contact_id, journey), 50), contact)
        if len(people) == 2:
            break
    for is_held_out, contact in people.items():
        before = await counts(engine)
        simulated = await simulate(api, journey, contact_id=contact)
        [split] = [d for d in simulated["decisions"] if d["kind"] == "split"]
        arm = split["outcome"]
        assert [s["node"] for s in simulated["path"]] == ["subject", arm, "receipt", "end"]
        marketing, receipt = simulated["messages"]
        assert receipt["status"] == "sent"
        if is_held_out:
            assert (marketing["status"], marketing["reason"]) == ("skipped", "held out: the journey's holdout")
        else:
            assert marketing["status"] == "sent"
        assert await counts(engine) == before  # no arm recorded, no message

        [run] = await enroll(api, journey, contact)
        state = await finished(temporal_env, run["workflow_id"])
        assert [(m.node, m.status) for m in state.messages] == [(m["node"], m["status"]) for m in simulated["messages"]]
