"""Experiments end to end: split arms kept for good, a journey's holdout and the brand's control group."""

from __future__ import annotations

from sqlalchemy import select, text

from sojourn.data.models import Contact, ExperimentAssignment, JourneyStep
from sojourn.dsl.experiments import arm_at, stable_point

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
