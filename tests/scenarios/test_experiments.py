"""Experiments end to end: split arms kept for good, a journey's holdout and the brand's control group."""

from __future__ import annotations

from sqlalchemy import select, text
from test_event_journeys import send_events

from sojourn.data.models import Contact, ExperimentAssignment, JourneyStep, Message
from sojourn.delivery.holdouts import GLOBAL_CONTROL, JOURNEY_HOLDOUT
from sojourn.dsl.experiments import arm_at, held_out, stable_point
from worker.main import journey_worker

from helpers import add_contact, create_active_journey, enroll, finished, wait_for_mail


def subject_test(unique: str, weights: tuple[float, float] = (1, 1), **fields) -> dict:
    return {"name": "Subject test", "reentry": {"policy": "after_exit"}, **fields, "nodes": [
        {"id": "subject", "type": "split", "arms": [{"id": "plain", "weight": weights[0], "next": "mail_plain"},
                                                    {"id": "bold", "weight": weights[1], "next": "mail_bold"}]},
        {"id": "mail_plain", "type": "send", "subject": f"plain {unique}", "text": "Hello", "next": "end"},
        {"id": "mail_bold", "type": "send", "subject": f"BOLD {unique}", "text": "Hello", "next": "end"},
        {"id": "end", "type": "exit"},
    ]}


async def contact_ids(engine, external_ids: list[str]) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(Contact.external_id, Contact.id).where(Contact.external_id.in_(external_ids)))
    return dict(rows.all())


async def run_all(api, temporal_env, journey: str, people: list[str]) -> None:
    for run in await enroll(api, journey, *people):
        await finished(temporal_env, run["workflow_id"])


async def subjects(engine, address: str) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT subject FROM dev_mailbox WHERE recipient = :to ORDER BY id"),
                                  {"to": address})
    return [row.subject for row in rows]


async def test_a_contact_keeps_its_arm_on_reentry_and_on_a_new_version(api, worker, engine, temporal_env, unique):
    journey = f"subjects-{unique}"
    people = [f"p{i}-{unique}" for i in range(8)]
    for person in people:
        await add_contact(api, person, f"{person}@example.com")
    ids = await contact_ids(engine, people)
    await create_active_journey(api, journey, subject_test(unique))
    await run_all(api, temporal_env, journey, people)

    drawn = {p: arm_at(stable_point(ids[p], journey, "subject"), [("plain", 1), ("bold", 1)]) for p in people}
    assert set(drawn.values()) == {"plain", "bold"}, "eight contacts should land in both arms"
    async with engine.connect() as conn:
        recorded = {row.contact_id: (row.arm, row.version) for row in await conn.execute(
            select(ExperimentAssignment).where(ExperimentAssignment.journey_id == journey))}
        ways = {row.contact_id: row.outcome for row in await conn.execute(
            select(JourneyStep).where(JourneyStep.journey_id == journey, JourneyStep.node_id == "subject"))}
    assert recorded == {ids[p]: (drawn[p], 1) for p in people}
    assert ways == {ids[p]: drawn[p] for p in people}  # the funnel's way out is the arm
    for person in people:
        expected = f"{'plain' if drawn[person] == 'plain' else 'BOLD'} {unique}"
        assert [m["subject"] for m in await wait_for_mail(engine, f"{person}@example.com")] == [expected]

    # Version 2 weighs the arms 1:1000, yet everyone re-entering takes the arm it had.
    updated = await api.put(f"/v1/journeys/{journey}", json={"definition": subject_test(unique, (1, 1000))})
    assert updated.status_code == 200, updated.text
    await run_all(api, temporal_env, journey, people)
    for person in people:
        mails = await wait_for_mail(engine, f"{person}@example.com", count=2)
        assert len({m["subject"] for m in mails}) == 1, mails
    async with engine.connect() as conn:
        versions = (await conn.execute(text("SELECT DISTINCT version FROM journey_runs WHERE journey_id = :j"),
                                       {"j": journey})).scalars().all()
        again = {row.contact_id: (row.arm, row.version) for row in await conn.execute(
            select(ExperimentAssignment).where(ExperimentAssignment.journey_id == journey))}
    assert sorted(versions) == [1, 2] and again == recorded


def welcome_and_receipt(unique: str, **fields) -> dict:
    """A marketing welcome, then a transactional receipt; the goal is a purchase."""
    return {"name": "Welcome", "goal": {"event": "purchase", "value": "properties.amount", "exit": False}, **fields,
            "nodes": [
                {"id": "welcome", "type": "send", "subject": f"Welcome {unique}", "text": "Hi", "next": "receipt"},
                {"id": "receipt", "type": "send", "subject": f"Receipt {unique}", "text": "Paid", "transactional": True,
                 "next": "end"},
                {"id": "end", "type": "exit"},
            ]}


async def outcomes_of(engine, journey: str) -> dict[tuple[int, str], tuple[str, str | None]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(Message.contact_id, Message.node_id, Message.status, Message.error)
                                  .where(Message.journey_id == journey))
    return {(m.contact_id, m.node_id): (m.status, m.error) for m in rows}


async def test_a_held_out_contact_gets_no_marketing_yet_its_goal_counts(api, worker, engine, temporal_env, unique):
    journey = f"held-{unique}"
    people = [f"h{i}-{unique}" for i in range(10)]
    for person in people:
        await add_contact(api, person, f"{person}@example.com")
    ids = await contact_ids(engine, people)
    out = {p for p in people if held_out(stable_point(ids[p], journey), 50)}
    assert out and out != set(people), "ten contacts should fall on both sides of a 50% holdout"
    await create_active_journey(api, journey, welcome_and_receipt(unique, holdout={"percent": 50}))
    await run_all(api, temporal_env, journey, people)
    await send_events(api, *({"contact": p, "name": "purchase", "event_id": f"buy-{p}", "properties": {"amount": 20}}
                             for p in people))

    recorded = await outcomes_of(engine, journey)
    for person in people:
        mails = [m["subject"] for m in await wait_for_mail(engine, f"{person}@example.com")]
        welcome = recorded[ids[person], "welcome"]
        if person in out:
            assert mails == [f"Receipt {unique}"]
            assert welcome == ("skipped", JOURNEY_HOLDOUT)
        else:
            assert sorted(mails) == [f"Receipt {unique}", f"Welcome {unique}"]
            assert welcome == ("sent", None)
        assert recorded[ids[person], "receipt"][0] == "sent"
    async with engine.connect() as conn:
        converted = set((await conn.execute(text("SELECT contact_id FROM conversions WHERE journey_id = :j"),
                                            {"j": journey})).scalars())
    assert converted == set(ids.values())  # the holdout's goals count too
    funnel = (await api.get(f"/v1/journeys/{journey}/funnel")).json()
    [welcome_node] = [n for n in funnel["nodes"] if n["id"] == "welcome"]
    assert welcome_node["send"]["skipped"] == {"total": len(out), "by_reason": {JOURNEY_HOLDOUT: len(out)}}
    results = (await api.get(f"/v1/journeys/{journey}/experiments")).json()["holdout"]
    assert (results["percent"], results["control"]["entrants"], results["control"]["conversions"]) == (
        50, len(out), len(out))
    assert (results["treated"]["entrants"], results["treated"]["against"]) == (len(people) - len(out), "holdout")
    assert results["control"]["revenue_per_entrant"] == 20 and results["treated"]["difference"]["value"] == 0


async def test_the_brands_control_group_gets_no_marketing_from_any_journey(api, engine, temporal_env, settings,
                                                                          unique):
    controlled = settings.model_copy(update={"global_control_percent": 50.0})
    people = [f"g{i}-{unique}" for i in range(10)]
    for person in people:
        await add_contact(api, person, f"{person}@example.com")
    ids = await contact_ids(engine, people)
    control = {p for p in people if held_out(stable_point(ids[p]), 50)}
    assert control and control != set(people)
    journeys = [f"brand-{n}-{unique}" for n in range(2)]
    async with journey_worker(temporal_env.client, engine, controlled):
        for journey in journeys:
            await create_active_journey(api, journey, welcome_and_receipt(unique))
            await run_all(api, temporal_env, journey, people)
    for journey in journeys:
        recorded = await outcomes_of(engine, journey)
        for person in people:
            expected = ("skipped", GLOBAL_CONTROL) if person in control else ("sent", None)
            assert recorded[ids[person], "welcome"] == expected
            assert recorded[ids[person], "receipt"][0] == "sent"
    for person in people:
        mails = [m["subject"] for m in await wait_for_mail(engine, f"{person}@example.com", count=2)]
        assert mails.count(f"Receipt {unique}") == 2
        assert mails.count(f"Welcome {unique}") == (0 if person in control else 2)
