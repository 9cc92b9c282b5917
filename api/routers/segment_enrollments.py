"""Enrolling a whole segment into a journey: an enrollment workflow, with its progress."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta

from fastapi import APIRouter, Response
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import SessionDep, SettingsDep, TemporalDep
from api.errors import ApiError, not_found
from api.schemas import (
    EnrollmentControlOut,
    SegmentEnrollmentOut,
    SegmentEnrollmentRequest,
)
from sojourn.contracts.enrollment import (
    PAUSE_SIGNAL,
    PROGRESS_QUERY,
    RESUME_SIGNAL,
    EnrollmentInput,
    EnrollmentProgress,
    enrollment_workflow_id,
)
from sojourn.data import segments
from sojourn.services import journeys

router = APIRouter(prefix="/v1/journeys/{journey_id}/segment-enrollments", tags=["journeys"])

_QUERY_TIMEOUT = timedelta(seconds=2)
_ENDED = {WorkflowExecutionStatus.CANCELED: "cancelled", WorkflowExecutionStatus.TERMINATED: "cancelled",
          WorkflowExecutionStatus.FAILED: "failed", WorkflowExecutionStatus.TIMED_OUT: "failed"}


async def _out(client: Client, journey_id: str, enrollment_id: str) -> SegmentEnrollmentOut:
    workflow_id = enrollment_workflow_id(journey_id, enrollment_id)
    handle = client.get_workflow_handle(workflow_id)
    try:
        description = await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise not_found(f"enrollment '{enrollment_id}' of journey '{journey_id}'") from None
        raise
    try:
        progress = await handle.query(PROGRESS_QUERY, result_type=EnrollmentProgress, rpc_timeout=_QUERY_TIMEOUT)
    except RPCError as err:
        raise ApiError(503, "no_worker", f"no worker answered for enrollment '{enrollment_id}': {err}") from None
    fields = dataclasses.asdict(progress)
    if description.status in _ENDED:
        fields["status"] = _ENDED[description.status]
    return SegmentEnrollmentOut(workflow_id=workflow_id, **fields)


@router.post("", status_code=202, response_model=SegmentEnrollmentOut)
async def enroll_segment(journey_id: str, body: SegmentEnrollmentRequest, session: SessionDep, client: TemporalDep,
                         settings: SettingsDep) -> SegmentEnrollmentOut:
    """Enroll every contact of a segment, in pages, by an enrollment workflow; one run per contact
    per enrollment. Answers at once; follow it with GET."""
    journey = await journeys.get_journey(session, journey_id)
    if journey.status != "active":
        raise ApiError(409, "journey_not_active", f"journey '{journey_id}' is {journey.status}; activate it first")
    try:
        await segments.get_segment(session, body.segment)
    except segments.SegmentNotFound:
        raise not_found(f"segment '{body.segment}'") from None
    enrollment_id = body.enrollment_id or uuid.uuid4().hex[:16]
    try:
        # One enrollment per id, running or ended: posting it again answers with that one.
        handle = await client.start_workflow(
            "EnrollmentWorkflow",
            EnrollmentInput(journey_id=journey_id, segment_id=body.segment, enrollment_id=enrollment_id,
                            task_queue=settings.task_queue, page_size=body.page_size, delivery=body.delivery),
            id=enrollment_workflow_id(journey_id, enrollment_id), task_queue=settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
    except WorkflowAlreadyStartedError:
        return await _out(client, journey_id, enrollment_id)
    try:
        return await _out(client, journey_id, enrollment_id)
    except ApiError:  # started, but no worker has taken it up yet
        return SegmentEnrollmentOut(journey_id=journey_id, segment_id=body.segment, enrollment_id=enrollment_id,
                                    workflow_id=handle.id, status="starting", total=None, enrolled=0, existing=0,
                                    failed=0, errors=[], started_at=None, per_second=None, mode=None, sent=0,
                                    skipped=0, held=0)


@router.get("/{enrollment_id}", response_model=SegmentEnrollmentOut)
async def get_enrollment(journey_id: str, enrollment_id: str, client: TemporalDep) -> SegmentEnrollmentOut:
    return await _out(client, journey_id, enrollment_id)


@router.post("/{enrollment_id}/pause", status_code=202, response_model=EnrollmentControlOut)
async def pause(journey_id: str, enrollment_id: str, client: TemporalDep) -> EnrollmentControlOut:
    """Stops after the page in progress (runs already started go on); GET shows `paused`."""
    await _signal(client, journey_id, enrollment_id, PAUSE_SIGNAL)
    return EnrollmentControlOut(enrollment_id=enrollment_id, requested="pause")


@router.post("/{enrollment_id}/resume", status_code=202, response_model=EnrollmentControlOut)
async def resume(journey_id: str, enrollment_id: str, client: TemporalDep) -> EnrollmentControlOut:
    await _signal(client, journey_id, enrollment_id, RESUME_SIGNAL)
    return EnrollmentControlOut(enrollment_id=enrollment_id, requested="resume")


@router.delete("/{enrollment_id}", status_code=204)
async def cancel(journey_id: str, enrollment_id: str, client: TemporalDep) -> Response:
    """Enrolls nobody more; runs already started go on (cancel those one by one)."""
    await _out(client, journey_id, enrollment_id)  # 404 for an unknown enrollment
    await client.get_workflow_handle(enrollment_workflow_id(journey_id, enrollment_id)).cancel()
    return Response(status_code=204)


async def _signal(client: Client, journey_id: str, enrollment_id: str, name: str) -> None:
    try:
        await client.get_workflow_handle(enrollment_workflow_id(journey_id, enrollment_id)).signal(name)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise ApiError(409, "enrollment_not_running",
                           f"enrollment '{enrollment_id}' of journey '{journey_id}' is not running") from None
        raise
