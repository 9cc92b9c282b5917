"""Funnels end to end: runs write their steps as they move, and a journey's funnel counts them."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from sojourn.data.models import JourneyStep

from helpers import add_contact, advance, create_active_journey, enroll, finished, tracking_path, wait_for_mail


def follow_up(unique: str) -> dict:
    """Welcome, a day's pause, then thanks for those who opened it and a reminder for the others."""
    return {
        "name": "Follow-up",
        "nodes": [
            {"id": "welcome", "type": "send", "subject": f"Welcome {unique}",
             "html": '<p><a href="https://shop.example/">Shop</a></p>', "next": "pause"},
            {"id": "pause", "type": "wait", "duration": "1d", "next": "opened"},
            {"id": "opened", "type": "branch", "condition": {"opened": "welcome"}, "then": "thanks",
             "else": "reminder"},
            {"id": "thanks", "type": "send", "subject": f"Thanks {unique}", "text": "Thank you.", "next": "end"},
            {"id": "reminder", "type": "send", "subject": f"Reminder {unique}", "text": "Still there?", "next": "end"},
            {"id": "end", "type": "exit"},
        ],
    }


async def steps_of(engine, run_id: str) -> list[JourneyStep]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(JourneyStep).where(JourneyStep.run_id == run_id)
                                   .order_by(JourneyStep.seq))).all()
    return [JourneyStep.model_validate(row._mapping) for row in rows]


async def steps_until(engine, run_id: str, count: int, timeout: float = 20.0) -> list[JourneyStep]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        steps = await steps_of(engine, run_id)
        if len(steps) >= count or asyncio.get_running_loop().time() > deadline:
            return steps
        await asyncio.sleep(0.1)


def ways(steps: list[JourneyStep]) -> list[tuple]:
    return [(s.seq, s.node_id, s.node_type, s.outcome, s.left_at is not None) for s in steps]


async def test_runs_write_their_steps_as_they_move(api, worker, engine, temporal_env, unique):
    journey = f"follow-up-{unique}"
    await create_active_journey(api, journey, follow_up(unique))
    for name in ("opens", "ignores"):
        await add_contact(api, f"{name}-{unique}", f"{name}-{unique}@example.com")
    results = await enroll(api, journey, f"opens-{unique}", f"ignores-{unique}")
    runs = {name: r for name, r in zip(("opens", "ignores"), results)}

    welcome = (await wait_for_mail(engine, f"opens-{unique}@example.com"))[0]
    assert (await api.get(tracking_path(welcome["html"], "o"))).status_code == 200
    # Resting in the pause, each run is counted there: the welcome left as sent, the pause not left.
    for run in runs.values():
        resting = await steps_until(engine, run["run_id"], 2)
        assert ways(resting) == [(1, "welcome", "send", "sent", True), (2, "pause", "wait", None, False)]
        assert resting[0].left_at == resting[1].entered_at
        assert (resting[0].journey_id, resting[0].version) == (journey, 1)

    for run in runs.values():
        await advance(temporal_env, run["workflow_id"], timedelta(days=1, minutes=1))
        await finished(temporal_env, run["workflow_id"])
    opened, ignored = [await steps_of(engine, runs[name]["run_id"]) for name in ("opens", "ignores")]
    assert ways(opened)[1:] == [(2, "pause", "wait", None, True), (3, "opened", "branch", "then", True),
                                (4, "thanks", "send", "sent", True), (5, "end", "exit", None, True)]
    assert ways(ignored)[2:] == [(3, "opened", "branch", "else", True), (4, "reminder", "send", "sent", True),
                                 (5, "end", "exit", None, True)]
    assert opened[1].left_at - opened[1].entered_at >= timedelta(days=1)
    assert {s.contact_id for s in opened} != {s.contact_id for s in ignored}
