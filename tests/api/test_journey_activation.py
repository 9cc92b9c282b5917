"""Activation is all or nothing: the status changes only once Temporal holds the journey's schedule."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import update
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Schedule, ScheduleActionStartWorkflow, ScheduleSpec
from temporalio.service import RPCError

from sojourn.data.models import JourneyVersion
from sojourn.services.schedules import schedule_id

from helpers import api_without_temporal


def _scheduled(audience: str, cron: str = "0 11 * * 3") -> dict:
    return {"name": "Member day", "entry": {"schedule": {"cron": cron}, "audience": audience},
        "nodes": [{"id": "promo", "type": "send", "subject": "Hi", "text": "Hi", "next": "end"},
                  {"id": "end", "type": "exit"}]}


async def _scheduled_draft(api: httpx.AsyncClient, unique: str) -> str:
    audience = f"all-{unique}"
    response = await api.post("/v1/segments", json={"id": audience, "name": "all",
                                                 "filter": {"attribute": "club", "value": unique}})
    assert response.status_code == 201, response.text
    journey = f"sched-{unique}"
    response = await api.post("/v1/journeys", json={"id": journey, "definition": _scheduled(audience)})
    assert response.status_code == 201, response.text
    return journey


async def test_a_schedule_temporal_refuses_leaves_the_journey_as_it_was(api, engine, temporal_env, unique):
    journey = await _scheduled_draft(api, unique)
    # A definition stored before its cron was checked, which Temporal refuses.
    async with AsyncSession(engine) as session:
        await session.execute(update(JourneyVersion).where(JourneyVersion.journey_id == journey).values(
        definition=_scheduled(f"all-{unique}", cron="61 25 * * *")))
        await session.commit()

    response = await api.post(f"/v1/journeys/{journey}/activate")
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_definition"
    [problem] = error["details"]
    assert (problem["node"], problem["field"]) == (None, "entry.schedule")
    assert "Minute is not in range" in problem["message"]
    assert (await api.get(f"/v1/journeys/{journey}")).json()["status"] == "draft"
    with pytest.raises(RPCError):
        await temporal_env.client.get_schedule_handle(schedule_id(journey)).describe()


async def test_temporal_out_of_reach_answers_503_and_changes_nothing(api, settings, unique):
    journey = await _scheduled_draft(api, unique)
    async with api_without_temporal(settings) as cut_off:
        response = await cut_off.post(f"/v1/journeys/{journey}/activate")
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "temporal_unavailable"
        updated = await cut_off.put(f"/v1/journeys/{journey}",
                                    json={"definition": _scheduled(f"all-{unique}", cron="0 9 * * 1")})
        assert updated.status_code == 200, updated.text  # a draft has no schedule to keep in step
    assert (await api.get(f"/v1/journeys/{journey}")).json()["status"] == "draft"

    assert (await api.post(f"/v1/journeys/{journey}/activate")).status_code == 200
    async with api_without_temporal(settings) as cut_off:
        response = await cut_off.put(f"/v1/journeys/{journey}",
                                     json={"definition": _scheduled(f"all-{unique}", cron="0 10 * * 2")})
        assert response.status_code == 503, response.text
        response = await cut_off.post(f"/v1/journeys/{journey}/pause")
        assert response.status_code == 503, response.text
    journey_now = (await api.get(f"/v1/journeys/{journey}")).json()
    assert (journey_now["status"], journey_now["latest_version"]) == ("active", 2)


# Expressions the journey language accepts (tests/dsl/test_cron.py has the whole list).
@pytest.mark.parametrize("cron", ["59 23 31 12 7", "0 0 * jan mon", "0 0 * * sun-sat", "5/15 * * * *",
                                  "0-30/5 * * * mo,Th", "0 0 1-31/2 * *"])
async def test_temporal_accepts_every_cron_the_language_accepts(temporal_env, cron, unique):
    schedule = Schedule(action=ScheduleActionStartWorkflow("Nothing", id=f"nothing-{unique}", task_queue="none"),
                    spec=ScheduleSpec(cron_expressions=[cron]))
    handle = await temporal_env.client.create_schedule(f"cron-check-{unique}", schedule)
    await handle.delete()
