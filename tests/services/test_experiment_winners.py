"""A split's winner rule and Thompson sampling, through the assignment service the `assign_arm`
activity calls, against real Postgres: new contacts go to the better arm, assigned ones keep theirs."""

from __future__ import annotations

from sqlalchemy import text

from sojourn.contracts.experiments import ArmRequest
from sojourn.services.experiments import Assignments

from helpers import create_active_journey


def split_with(unique: str, **rule) -> dict:
    return {"name": "Winner", "nodes": [
        {"id": "offer", "type": "split", "arms": [{"id": "a", "next": "mail_a"}, {"id": "b", "next": "mail_b"}],
         **rule},
        {"id": "mail_a", "type": "send", "subject": f"A {unique}", "text": "a", "next": "end"},
        {"id": "mail_b", "type": "send", "subject": f"B {unique}", "text": "b", "next": "end"},
        {"id": "end", "type": "exit"},
    ]}


async def entered(engine, journey: str, count: int) -> list[int]:
    """`count` new contacts, each with a run of the journey."""
    async with engine.begin() as conn:
        ids = list((await conn.execute(text(
            "INSERT INTO contacts (external_id) SELECT :journey || '-' || gen_random_uuid()"
            " FROM generate_series(1, :count) g RETURNING id"), {"journey": journey, "count": count})).scalars())
        await conn.execute(text(
            "INSERT INTO journey_runs (run_id, workflow_id, journey_id, version, contact_id, status, enrolled_at)"
            " SELECT 'run-' || :journey || '-' || id, 'journey/' || :journey || '/' || id, :journey, 1, id, 'active',"
            " now() - interval '1 hour' FROM unnest(CAST(:ids AS bigint[])) AS id"), {"journey": journey, "ids": ids})
    return ids


async def convert(engine, journey: str, contact_ids: list[int]) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO conversions (run_id, journey_id, version, contact_id, run_started_at, event_id, occurred_at)"
            " SELECT 'run-' || :journey || '-' || id, :journey, 1, id, now(), 'buy-' || id, now()"
            " FROM unnest(CAST(:ids AS bigint[])) AS id"), {"journey": journey, "ids": contact_ids})


def asking(journey: str, **rule):
    def request(contact_id: int) -> ArmRequest:
        return ArmRequest(journey_id=journey, version=1, node_id="offer", contact_id=contact_id,
                          weights=[("a", 1.0), ("b", 1.0)], **rule)
    return request


async def assign(assignments: Assignments, request, contact_ids: list[int]) -> dict[int, str]:
    return {contact: await assignments.assign(request(contact)) for contact in contact_ids}


async def test_past_its_sample_the_winner_takes_every_new_contact(api, engine, unique):
    journey = f"sample-{unique}"
    await create_active_journey(api, journey, split_with(unique, winner={"sample": 60}))
    first = await entered(engine, journey, 60)
    later = await entered(engine, journey, 40)
    assignments, request = Assignments(engine), asking(journey, winner={"metric": "converted", "sample": 60})
    before = await assign(assignments, request, first)
    assert set(before.values()) == {"a", "b"}  # by weight until the sample is reached
    await convert(engine, journey, [c for c, arm in before.items() if arm == "b"])

    after = await assign(assignments, request, later)
    assert set(after.values()) == {"b"}
    assert await assign(assignments, request, first) == before  # assigned contacts keep their arm
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT arm FROM experiment_winners WHERE journey_id = :j"), {"j": journey}) == "b"
    # Once decided, the winner stays even when its rate falls behind.
    await convert(engine, journey, [c for c, arm in before.items() if arm == "a"])
    newest = await entered(engine, journey, 5)
    assert set((await assign(assignments, request, newest)).values()) == {"b"}


async def test_after_its_period_the_winner_takes_every_new_contact(api, engine, unique):
    journey = f"after-{unique}"
    await create_active_journey(api, journey, split_with(unique, winner={"after": "7d"}))
    first = await entered(engine, journey, 40)
    assignments, request = Assignments(engine), asking(journey, winner={"after": "7d"})
    before = await assign(assignments, request, first)
    await convert(engine, journey, [c for c, arm in before.items() if arm == "a"])
    early = await assign(assignments, request, await entered(engine, journey, 20))
    assert set(early.values()) == {"a", "b"}, "not decided before 7 days"
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE experiment_assignments SET assigned_at = now() - interval '8 days'"
                                " WHERE journey_id = :j"), {"j": journey})
    late = await assign(assignments, request, await entered(engine, journey, 20))
    assert set(late.values()) == {"a"}


async def test_thompson_sampling_sends_new_contacts_to_the_arm_that_converts(api, engine, unique):
    journey = f"thompson-{unique}"
    await create_active_journey(api, journey, split_with(unique, allocation="thompson"))
    assignments, request = Assignments(engine), asking(journey, allocation="thompson")
    first = await assign(assignments, request, await entered(engine, journey, 20))
    assert set(first.values()) == {"a", "b"}, "with nothing known yet, both arms are drawn"
    # 100 contacts in each arm: b converted half of them, a none.
    seeded = await entered(engine, journey, 200)
    async with engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO experiment_assignments (journey_id, node_id, contact_id, arm, version)"
            " SELECT :j, 'offer', id, CASE WHEN n <= 100 THEN 'a' ELSE 'b' END, 1"
            " FROM unnest(CAST(:ids AS bigint[])) WITH ORDINALITY AS t(id, n)"), {"j": journey, "ids": seeded})
    await convert(engine, journey, seeded[100:150])
    fresh = Assignments(engine)  # counts are cached for a minute per worker; a new one counts now
    later = await assign(fresh, request, await entered(engine, journey, 50))
    assert list(later.values()).count("b") >= 48
    assert await assign(fresh, request, list(first)) == first
