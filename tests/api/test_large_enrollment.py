"""Enrolling 1,000 contacts in one call: accepted at once (202), every contact's result at the
Location, and the same call again answers with the same results and starts nothing."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, insert, select

from sojourn.data.models import Contact, JourneyRun

from helpers import create_active_journey

WAITS_A_MONTH = {"name": "Long wait", "nodes": [
    {"id": "wait", "type": "wait", "duration": "30d", "next": "end"}, {"id": "end", "type": "exit"}]}


async def _completed(api, location: str, timeout: float = 180) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        response = await api.get(location)
        if response.status_code == 200 and response.json()["status"] == "completed":
            return response.json()
        assert asyncio.get_running_loop().time() < deadline, response.text
        await asyncio.sleep(0.5)


async def _runs(engine, journey: str) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(JourneyRun)
                                   .where(JourneyRun.journey_id == journey))).scalar_one()


async def test_a_thousand_contacts_are_accepted_and_each_gets_its_run_once(api, worker, engine, unique):
    journey = f"big-{unique}"
    await create_active_journey(api, journey, WAITS_A_MONTH)
    contacts = [f"big-{unique}-{i:04d}" for i in range(1000)]
    async with engine.begin() as conn:
        await conn.execute(insert(Contact), [{"external_id": c, "email": f"{c}@example.com", "attributes": {}}
                                             for c in contacts])
    path = f"/v1/journeys/{journey}/enrollments"

    accepted = await api.post(path, json={"contacts": contacts})
    assert accepted.status_code == 202, accepted.text
    location = accepted.headers["location"]
    assert location == f"{path}/{accepted.json()['enrollment_id']}"
    assert accepted.json()["total"] == 1000

    done = await _completed(api, location)
    assert [r["contact"] for r in done["results"]] == contacts
    assert {r["status"] for r in done["results"]} == {"started"}
    assert len({r["run_id"] for r in done["results"]}) == 1000
    assert await _runs(engine, journey) == 1000

    again = await api.post(path, json={"contacts": contacts})  # a client retrying after a timeout
    assert again.status_code == 202 and again.headers["location"] == location
    assert again.json()["results"] == done["results"]

    other = await api.post(path, json={"contacts": contacts, "enrollment_id": f"second-{unique}"})
    assert other.status_code == 202
    second = await _completed(api, other.headers["location"])
    assert {r["status"] for r in second["results"]} == {"existing"}
    assert [r["run_id"] for r in second["results"]] == [r["run_id"] for r in done["results"]]
    assert await _runs(engine, journey) == 1000


async def test_an_unknown_enrollment_is_404(api, unique):
    response = await api.get(f"/v1/journeys/nope-{unique}/enrollments/nothing")
    assert response.status_code == 404
