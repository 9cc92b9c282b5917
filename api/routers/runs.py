from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

from fastapi import APIRouter
from sqlalchemy import select
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from api.deps import SessionDep, TemporalDep
from api.errors import ApiError, not_found
from api.schemas import RunOut
from sojourn.contracts import STATE_QUERY, JourneyState, journey_workflow_id
from sojourn.models import Contact, JourneyRun

router = APIRouter(tags=["runs"])

_QUERY_TIMEOUT = timedelta(seconds=10)


async def _run_out(client, run: JourneyRun, external_id: str) -> RunOut:
    handle = client.get_workflow_handle(run.workflow_id, run_id=run.run_id)
    try:
        description = await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return RunOut(workflow_id=run.workflow_id, run_id=run.run_id, journey_id=run.journey_id,
                          version=run.version, contact=external_id, execution_status="UNKNOWN", state=None)
        raise
    state = None
    try:
        state = dataclasses.asdict(await handle.query(STATE_QUERY, result_type=JourneyState,
                                                      rpc_timeout=_QUERY_TIMEOUT))
    except RPCError:
        pass  # no worker to answer right now: the execution status still tells the story
    status = description.status.name if isinstance(description.status, WorkflowExecutionStatus) else "UNKNOWN"
    return RunOut(workflow_id=run.workflow_id, run_id=run.run_id, journey_id=run.journey_id,
                  version=run.version, contact=external_id, execution_status=status, state=state)


async def _find_run(session, journey_id: str, external_id: str) -> JourneyRun:
    run = (await session.execute(select(JourneyRun).where(
        JourneyRun.workflow_id == journey_workflow_id(journey_id, external_id))
        .order_by(JourneyRun.enrolled_at.desc()).limit(1))).scalar_one_or_none()
    if run is None:
        raise not_found(f"run of contact '{external_id}' in journey '{journey_id}'")
    return run


@router.get("/v1/journeys/{journey_id}/runs/{external_id}", response_model=RunOut)
async def get_run(journey_id: str, external_id: str, session: SessionDep, client: TemporalDep) -> RunOut:
    """Where the contact is in the journey: current node, path with times, wait deadline, messages."""
    return await _run_out(client, await _find_run(session, journey_id, external_id), external_id)


@router.delete("/v1/journeys/{journey_id}/runs/{external_id}", status_code=202, response_model=RunOut)
async def cancel_run(journey_id: str, external_id: str, session: SessionDep, client: TemporalDep) -> RunOut:
    """Stop the run; nothing more is sent to the contact by it."""
    run = await _find_run(session, journey_id, external_id)
    try:
        await client.get_workflow_handle(run.workflow_id).cancel()
    except RPCError as err:
        raise ApiError(409, "conflict", f"run cannot be cancelled: {err.message}") from err
    return await _run_out(client, run, external_id)


@router.get("/v1/contacts/{external_id}/runs", response_model=list[RunOut])
async def contact_runs(external_id: str, session: SessionDep, client: TemporalDep) -> list[RunOut]:
    """Every journey the contact was enrolled in, newest first."""
    contact = (await session.execute(select(Contact).where(Contact.external_id == external_id))).scalar_one_or_none()
    if contact is None:
        raise not_found(f"contact '{external_id}'")
    runs = (await session.execute(select(JourneyRun).where(JourneyRun.contact_id == contact.id)
                                  .order_by(JourneyRun.enrolled_at.desc()).limit(100))).scalars()
    return list(await asyncio.gather(*(_run_out(client, run, external_id) for run in runs)))
