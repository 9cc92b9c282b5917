"""Experiment results against planted truth: 10,000 contacts through a 50/50 split whose arms
convert at 10% and 14%.

The cheapest real path: the split's own assignment service (what the `assign_arm` activity
calls) draws and records each contact's arm, runs are recorded as enrollment records them, and
goal events go through the events API, which finds the conversions; only the 10,000 workflows
are left out (each would only call that service and send one message; the scenarios in
test_experiments.py run the split through workflows). Ids are fixed (contacts 900,000,001...,
one journey id, a seeded generator), so the draw and the planted conversions are the same on
every run.
"""

from __future__ import annotations

import asyncio
import random

from scipy.stats import binom
from sqlalchemy import text

from sojourn.contracts.experiments import ArmRequest
from sojourn.services.experiments import Assignments

from helpers import create_active_journey

CONTACTS = 10_000
FIRST_ID = 900_000_001
PLANTED = {"control": 0.10, "variant": 0.14}


def planted_split() -> dict:
    return {"name": "Planted split", "goal": {"event": "purchase", "within": "30d", "value": "properties.amount",
                                              "exit": False},
            "nodes": [
                {"id": "offer", "type": "split", "arms": [{"id": "control", "weight": 1, "next": "mail_control"},
                                                          {"id": "variant", "weight": 1, "next": "mail_variant"}]},
                {"id": "mail_control", "type": "send", "subject": "Offer", "text": "10% off", "next": "end"},
                {"id": "mail_variant", "type": "send", "subject": "Offer!", "text": "15% off", "next": "end"},
                {"id": "end", "type": "exit"},
            ]}


async def enter_everyone(engine, journey: str) -> None:
    """The contacts, and a completed run of each, as enrollment records them."""
    async with engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO contacts (id, external_id, email) SELECT g, 'planted-' || g, 'planted-' || g || '@example.com'"
            " FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) g"), {"first": FIRST_ID, "last": FIRST_ID + CONTACTS - 1})
        await conn.execute(text(
            "INSERT INTO journey_runs (run_id, workflow_id, journey_id, version, contact_id, status, enrolled_at,"
            " ended_at) SELECT 'planted-run-' || g, 'journey/' || :journey || '/' || g, :journey, 1, g, 'completed',"
            " now() - interval '1 hour', now() FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) g"),
            {"journey": journey, "first": FIRST_ID, "last": FIRST_ID + CONTACTS - 1})


async def assign_everyone(engine, journey: str) -> dict[int, str]:
    assignments, gate = Assignments(engine), asyncio.Semaphore(8)

    async def assign(contact_id: int) -> tuple[int, str]:
        async with gate:
            return contact_id, await assignments.assign(ArmRequest(
                journey_id=journey, version=1, node_id="offer", contact_id=contact_id,
                weights=[("control", 1.0), ("variant", 1.0)]))

    return dict(await asyncio.gather(*(assign(FIRST_ID + i) for i in range(CONTACTS))))


async def test_ten_thousand_contacts_through_a_fifty_fifty_split_find_the_planted_difference(api, engine):
    journey = "planted-split"
    await create_active_journey(api, journey, planted_split())
    await enter_everyone(engine, journey)
    arms = await assign_everyone(engine, journey)

    rng = random.Random(20261130)
    buyers = {contact for contact, arm in sorted(arms.items()) if rng.random() < PLANTED[arm]}
    events = [{"contact": f"planted-{c}", "name": "purchase", "event_id": f"planted-buy-{c}",
               "properties": {"amount": 30}} for c in sorted(buyers)]
    for start in range(0, len(events), 1000):
        response = await api.post("/v1/events", json={"events": events[start:start + 1000]})
        assert response.status_code == 200 and response.json()["rejected"] == [], response.text

    answer = await api.get(f"/v1/journeys/{journey}/experiments")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["holdout"] is None and body["warnings"] == []
    [split] = body["splits"]
    assert split["node"] == "offer" and split["control"] == "control"
    control, variant = split["arms"]
    assert (control["group"], variant["group"]) == ("control", "variant")

    low, high = binom.interval(0.999, CONTACTS, 0.5)
    for arm in (control, variant):
        assert low <= arm["entrants"] <= high, arm
        truth = [c for c, a in arms.items() if a == arm["group"]]
        assert arm["entrants"] == len(truth)
        assert arm["conversions"] == len(buyers.intersection(truth))
        assert arm["revenue_per_entrant"] == 30 * arm["conversions"] / arm["entrants"]
        assert arm["interval"][0] < PLANTED[arm["group"]] < arm["interval"][1]
    assert control["difference"] is None and variant["against"] == "control"
    difference = variant["difference"]
    assert difference["interval"][0] < PLANTED["variant"] - PLANTED["control"] < difference["interval"][1]
    assert difference["value"] == variant["conversion_rate"] - control["conversion_rate"]
    assert difference["p_value"] < 0.001  # 4 points on 5,000 a side is no accident
