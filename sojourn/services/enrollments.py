"""Enrolling a whole segment into a journey: an enrollment workflow per enrollment id, its
progress, and pausing, resuming or cancelling it."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from sojourn.contracts.enrollment import (
    PAUSE_SIGNAL,
    PROGRESS_QUERY,
    RESUME_SIGNAL,
    EnrollmentInput,
    EnrollmentProgress,
    enrollment_workflow_id,
)
from sojourn.data import segments
from sojourn.errors import Conflict, NotFound, Unavailable
from sojourn.services.journeys import get_journey

_QUERY_TIMEOUT = timedelta(seconds=2)
# Each enrollment once: the runs it continued as new from are left out.
_LISTED = "WorkflowType = 'EnrollmentWorkflow' AND ExecutionStatus != 'ContinuedAsNew'"
_ENDED = {WorkflowExecutionStatus.CANCELED: "cancelled", WorkflowExecutionStatus.TERMINATED: "cancelled",
          WorkflowExecutionStatus.FAILED: "failed", WorkflowExecutionStatus.TIMED_OUT: "failed"}


class JourneyNotActive(Conflict):
    code = "journey_not_active"


class EnrollmentNotFound(NotFound):
    pass


class EnrollmentNotRunning(Conflict):
    code = "enrollment_not_running"


class NoWorker(Unavailable):
    code = "no_worker"


async def start(session: AsyncSession, client: Client, task_queue: str, journey_id: str, segment_id: str,
                enrollment_id: str | None, page_size: int, delivery: str) -> dict[str, Any]:
    """Start enrolling every contact of the segment that the journey's re-entry rule lets in; the
    enrollment as it stands. Without an id one is made; starting an id again answers with that enrollment."""
    journey = await get_journey(session, journey_id)
    if journey.status != "active":
        raise JourneyNotActive(f"journey '{journey_id}' is {journey.status}; activate it first")
    await segments.get_segment(session, segment_id)
    enrollment_id = enrollment_id or uuid.uuid4().hex[:16]
    try:
        # One enrollment per id, running or ended.
        handle = await client.start_workflow(
            "EnrollmentWorkflow",
            EnrollmentInput(journey_id=journey_id, segment_id=segment_id, enrollment_id=enrollment_id,
                            task_queue=task_queue, page_size=page_size, delivery=delivery),
            id=enrollment_workflow_id(journey_id, enrollment_id), task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
    except WorkflowAlreadyStartedError:
        return await progress(client, journey_id, enrollment_id)
    try:
        return await progress(client, journey_id, enrollment_id)
    except (EnrollmentNotFound, NoWorker):  # started, but no worker has taken it up yet
        return {"journey_id": journey_id, "segment_id": segment_id, "enrollment_id": enrollment_id,
                "workflow_id": handle.id, "status": "starting", "total": None, "enrolled": 0, "existing": 0,
                "failed": 0, "errors": [], "started_at": None, "per_second": None, "mode": None, "sent": 0,
                "skipped": 0, "held": 0}


async def progress(client: Client, journey_id: str, enrollment_id: str) -> dict[str, Any]:
    """The enrollment's progress, as its workflow reports it (and how it ended, if it did)."""
    workflow_id = enrollment_workflow_id(journey_id, enrollment_id)
    handle = client.get_workflow_handle(workflow_id)
    try:
        description = await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise EnrollmentNotFound(f"enrollment '{enrollment_id}' of journey '{journey_id}' not found") from None
        raise
    try:
        answer = await handle.query(PROGRESS_QUERY, result_type=EnrollmentProgress, rpc_timeout=_QUERY_TIMEOUT)
    except RPCError as err:
        raise NoWorker(f"no worker answered for enrollment '{enrollment_id}': {err}") from None
    fields = dataclasses.asdict(answer)
    if description.status in _ENDED:
        fields["status"] = _ENDED[description.status]
    return {"workflow_id": workflow_id, **fields}


async def pause(client: Client, journey_id: str, enrollment_id: str) -> None:
    """Stops after the page in progress (runs already started go on)."""
    await _signal(client, journey_id, enrollment_id, PAUSE_SIGNAL)


async def resume(client: Client, journey_id: str, enrollment_id: str) -> None:
    await _signal(client, journey_id, enrollment_id, RESUME_SIGNAL)


async def cancel(client: Client, journey_id: str, enrollment_id: str) -> None:
    """Enrolls nobody more; runs already started go on."""
    await progress(client, journey_id, enrollment_id)  # EnrollmentNotFound for an unknown enrollment
    await client.get_workflow_handle(enrollment_workflow_id(journey_id, enrollment_id)).cancel()


async def _signal(client: Client, journey_id: str, enrollment_id: str, name: str) -> None:
    try:
        await client.get_workflow_handle(enrollment_workflow_id(journey_id, enrollment_id)).signal(name)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise EnrollmentNotRunning(
                f"enrollment '{enrollment_id}' of journey '{journey_id}' is not running") from None
        raise


async def recent(client: Client, limit: int) -> list[dict[str, Any]]:
    """The latest segment enrollments, newest first, as Temporal lists them (no progress query:
    that takes a worker; each enrollment's own progress does)."""
    found = []
    async for execution in client.list_workflows(_LISTED, limit=limit):
        _, journey_id, enrollment_id = execution.id.split("/", 2)
        status = execution.status.name.lower() if execution.status else "unknown"
        found.append({"journey_id": journey_id, "enrollment_id": enrollment_id, "workflow_id": execution.id,
                      "status": _ENDED.get(execution.status, status), "started_at": execution.start_time,
                      "ended_at": execution.close_time})
    return found
