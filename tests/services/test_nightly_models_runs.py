"""The nightly models run end to end (real Temporal, worker and API): each step an activity in
order, a failed step recorded while the next still runs, progress and heartbeats while a step
runs, one run per day at a time (409), a finished day re-runnable, and the nightly tagging
starting the day's models after its rules."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import text

from activities import models as model_activities
from sojourn.contracts.models import ModelRun
from sojourn.contracts.tagging import TaggingRequest
from sojourn.data.tag_rules import day_that_ended, end_of_day
from sojourn.errors import Invalid
from sojourn.services import model_steps

CALLS: list[tuple[str, datetime]] = []
RELEASE: asyncio.Event | None = None


async def fine_step(engine, as_of: datetime, settings) -> ModelRun:
    CALLS.append(("fine", as_of))
    return ModelRun("fine", 7, 3, 2, metrics={"auc": 0.75})


async def refused_step(engine, as_of: datetime, settings) -> ModelRun:
    CALLS.append(("refused", as_of))
    raise Invalid("the planted step cannot run")


async def slow_step(engine, as_of: datetime, settings) -> ModelRun:
    CALLS.append(("slow", as_of))
    model_steps.report_progress(stage="planted", chunk=3, chunks=10)
    await RELEASE.wait()
    return ModelRun("slow", 1, 10, 0)


@pytest.fixture
def planted_steps(monkeypatch):
    """The nightly steps replaced by planted ones (this module's functions), heartbeating often."""
    global RELEASE
    RELEASE = asyncio.Event()
    CALLS.clear()
    monkeypatch.setattr(model_steps, "STEPS", {name: f"{__name__}:{name}_step" for name in ("refused", "slow", "fine")})
    monkeypatch.setattr(model_activities, "HEARTBEAT_EVERY", 0.2)


def a_day() -> str:
    """A day of its own: one run per day at a time, and other tests run models too."""
    return (date(1990, 1, 1) + timedelta(days=random.randrange(20_000))).isoformat()


async def run_of(api, day: str, status: str | None = None, timeout: float = 60) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        runs = (await api.get("/v1/models/runs", params={"day": day})).json()
        if runs and (status is None or runs[0]["status"] == status):
            return runs[0]
        assert asyncio.get_running_loop().time() < deadline, runs
        await asyncio.sleep(0.3)


async def test_a_failed_step_is_recorded_and_the_next_steps_still_run(api, worker, planted_steps, settings):
    RELEASE.set()
    day = a_day()
    started = await api.post("/v1/models/runs", json={"day": day})
    assert started.status_code == 202, started.text
    assert started.json()["id"] == f"models/{day}"
    run = await run_of(api, day, "completed_with_failures")
    assert run["planned"] == ["refused", "slow", "fine"]
    refused, slow, fine = run["steps"]
    assert (refused["step"], refused["status"], refused["result"]) == ("refused", "failed", None)
    assert "the planted step cannot run" in refused["error"]
    assert [s["status"] for s in (slow, fine)] == ["done", "done"]
    assert fine["result"] == {"model": "fine", "version": 7, "contacts": 3, "changed": 2, "reason": None,
                              "metrics": {"auc": 0.75}}
    assert all(s["seconds"] >= 0 for s in run["steps"]) and run["seconds"] >= 0 and run["current"] is None
    # Refused for good: tried once, not retried; each step fits the data up to the end of the day.
    assert [name for name, _ in CALLS] == ["refused", "slow", "fine"]
    assert {as_of for _, as_of in CALLS} == {end_of_day(date.fromisoformat(day), settings.brand_time_zone)}


async def test_a_running_day_shows_its_progress_refuses_a_second_run_and_runs_again_once_finished(
        api, worker, planted_steps):
    day = a_day()
    assert (await api.post("/v1/models/runs", json={"day": day, "steps": ["slow", "fine"]})).status_code == 202
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        run = await run_of(api, day)
        if run["current"] and run["current"]["heartbeat"]:
            break
        assert asyncio.get_running_loop().time() < deadline, run
        await asyncio.sleep(0.3)
    assert run["status"] == "running" and run["planned"] == ["slow", "fine"] and run["steps"] == []
    heartbeat = run["current"]["heartbeat"]
    assert run["current"]["step"] == "slow"
    assert (heartbeat["step"], heartbeat["stage"], heartbeat["chunk"], heartbeat["chunks"]) == (
        "slow", "planted", 3, 10)

    again = await api.post("/v1/models/runs", json={"day": day})
    assert again.status_code == 409 and day in again.json()["error"]["message"], again.text

    RELEASE.set()
    first = await run_of(api, day, "completed")
    assert [s["step"] for s in first["steps"]] == ["slow", "fine"]
    rerun = await api.post("/v1/models/runs", json={"day": day, "steps": ["fine"]})
    assert rerun.status_code == 202, rerun.text
    second = await run_of(api, day, "completed")
    assert second["run_id"] == rerun.json()["run_id"] != first["run_id"]
    assert [s["step"] for s in second["steps"]] == ["fine"]


async def test_an_unknown_step_or_a_bad_day_is_refused_before_anything_starts(api, planted_steps):
    unknown = await api.post("/v1/models/runs", json={"day": a_day(), "steps": ["fine", "nope"]})
    assert unknown.status_code == 422 and "'nope'" in unknown.text, unknown.text
    bad_day = await api.post("/v1/models/runs", json={"day": "2026-02-30"})
    assert bad_day.status_code == 422 and "day" in bad_day.text


async def test_the_nightly_tagging_starts_the_days_models_after_its_rules(api, worker, planted_steps, temporal_env,
                                                                         settings):
    RELEASE.set()
    handle = await temporal_env.client.start_workflow(
        "TaggingWorkflow", TaggingRequest(), id=f"tagging/test-{uuid.uuid4().hex[:8]}", task_queue=settings.task_queue)
    await handle.result()
    day = day_that_ended(datetime.now().astimezone(), settings.brand_time_zone).isoformat()
    run = await run_of(api, day, "completed_with_failures")
    assert [(s["step"], s["status"]) for s in run["steps"]] == [("refused", "failed"), ("slow", "done"),
                                                              ("fine", "done")]


async def test_the_ltv_step_fits_lifetime_value_on_the_data_up_to_the_end_of_the_day(engine, settings, unique):
    day = date.fromisoformat(a_day())
    mine = settings.model_copy(update={"purchase_event": f"nothing-{unique}"})
    run = await model_steps.run_step(engine, mine, "ltv", day)
    assert (run.model, run.version) == ("ltv", None) and "repeat purchase" in run.reason
    async with engine.connect() as conn:
        recorded = (await conn.execute(text("SELECT params->>'event' FROM prediction_models"
                                            " WHERE name = 'ltv' AND as_of = :a"),
                                       {"a": end_of_day(day, settings.brand_time_zone)})).scalar_one()
    assert recorded == f"nothing-{unique}"
