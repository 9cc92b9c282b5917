"""A service's refusal leaves its activity as the ApplicationError type (and retryability) that
the workflows' retry policies name."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.enrollment import EnrollmentActivities
from activities.journey_data import JourneyDataActivities
from sojourn.contracts.enrollment import EnrollPage
from sojourn.contracts.errors import ErrorType
from sojourn.contracts.journey_data import EvaluateConditions, RunEnd
from sojourn.contracts.steps import RunSteps
from sojourn.data.models import Contact, JourneyRun
from sojourn.delivery.send import Sender
from sojourn.services.batch_send import BatchSender
from sojourn.services.enrollment_pages import EnrollmentPages
from sojourn.services.journey_data import ATTEMPTS_BEFORE_INSERTING, JourneyData

from helpers import create_active_journey, put_contact, single_send


def _page(journey_id: str, segment_id: str) -> EnrollPage:
    return EnrollPage(journey_id=journey_id, segment_id=segment_id, enrollment_id="e1", task_queue="unused",
                      after_id=None, limit=10)


@pytest.fixture
def enrollment(engine, settings, temporal_env) -> EnrollmentActivities:
    batches = BatchSender(Sender(engine, settings, {}), temporal_env.client)
    return EnrollmentActivities(EnrollmentPages(engine, temporal_env.client, batches))


async def _refusal(env: ActivityEnvironment, fn, arg) -> ApplicationError:
    with pytest.raises(ApplicationError) as raised:
        await env.run(fn, arg)
    return raised.value


async def test_an_unreadable_branch_condition_is_final(engine):
    data = JourneyDataActivities(JourneyData(engine))
    err = await _refusal(ActivityEnvironment(), data.evaluate_conditions,
                         EvaluateConditions(contact_id=1, filters=[{"no_such_operator": 1}],
                                            now=datetime.now(timezone.utc).isoformat()))
    assert (err.type, err.non_retryable) == (ErrorType.INVALID_FILTER, True)
    assert err.message.startswith("branch condition cannot be evaluated: ")


async def test_a_missing_segment_is_final_for_counting_and_enrolling(api, enrollment, unique):
    await create_active_journey(api, f"active-{unique}", single_send("Hi"))
    page = _page(f"active-{unique}", f"gone-{unique}")
    for fn in (enrollment.count_audience, enrollment.enroll_page):
        err = await _refusal(ActivityEnvironment(), fn, page)
        assert (err.type, err.non_retryable, err.message) == (
            ErrorType.SEGMENT_NOT_FOUND, True, f"segment 'gone-{unique}' does not exist")


async def test_a_journey_that_is_not_active_is_final(api, enrollment, unique):
    created = await api.post("/v1/journeys", json={"id": f"draft-{unique}", "definition": single_send("Hi")})
    assert created.status_code == 201, created.text
    err = await _refusal(ActivityEnvironment(), enrollment.enroll_page, _page(f"draft-{unique}", "any"))
    assert (err.type, err.non_retryable, err.message) == (
        ErrorType.JOURNEY_NOT_ACTIVE, True, f"journey 'draft-{unique}' is draft")


async def test_a_run_end_waits_for_its_record_then_writes_it(api, engine, unique):
    await put_contact(api, f"rue-{unique}")
    created = await api.post("/v1/journeys", json={"id": f"ended-{unique}", "definition": single_send("Hi")})
    assert created.status_code == 201, created.text
    async with engine.connect() as conn:
        contact_id = (await conn.execute(select(Contact.id).where(Contact.external_id == f"rue-{unique}"))).scalar()
    data = JourneyDataActivities(JourneyData(engine))
    entered = datetime.now(timezone.utc) - timedelta(days=3)
    end = RunEnd(run_id=f"run-{unique}", workflow_id=f"wf-{unique}", journey_id=f"ended-{unique}", version=1,
                 contact_id=contact_id, status="completed", ended_at=datetime.now(timezone.utc).isoformat(),
                 steps=RunSteps(run_id=f"run-{unique}", journey_id=f"ended-{unique}", version=1,
                                contact_id=contact_id, started_at=entered.isoformat()))
    env = ActivityEnvironment()
    err = await _refusal(env, data.record_run_end, end)
    assert (err.type, err.non_retryable) == (ErrorType.RUN_NOT_RECORDED_YET, False)

    env.info = dataclasses.replace(env.info, attempt=ATTEMPTS_BEFORE_INSERTING)
    await env.run(data.record_run_end, end)
    async with engine.connect() as conn:
        status, enrolled_at = (await conn.execute(select(JourneyRun.status, JourneyRun.enrolled_at)
                                                  .where(JourneyRun.run_id == f"run-{unique}"))).one()
    # Written from its end, the run still entered when it started (funnels select runs by it).
    assert (status, enrolled_at) == ("completed", entered)
