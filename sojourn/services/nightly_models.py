"""The nightly models runs, as Temporal knows them: started by the nightly tagging (after its
rules) or by hand, one workflow per day (`models/YYYY-MM-DD`), listed from Temporal's
visibility with each run's steps from its `progress` query (running) or its result (finished)."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timezone
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.exceptions import WorkflowAlreadyStartedError

from sojourn.contracts.models import (
    MODELS_WORKFLOW,
    PROGRESS_QUERY,
    ModelsProgress,
    ModelsRequest,
    models_workflow_id,
)
from sojourn.data.tag_rules import day_that_ended
from sojourn.errors import Conflict
from sojourn.services.model_steps import planned

RUNS_LISTED = 30


class RunAlreadyRunning(Conflict):
    def __init__(self, day: date) -> None:
        super().__init__(f"the models run for {day.isoformat()} is running; wait for it to finish, then run it again")


async def start_run(client: Client, task_queue: str, brand_time_zone: str, day: date | None,
                    steps: list[str] | None) -> dict[str, Any]:
    """Start the models run for `day` (default: the brand's day that just ended), every step or
    `steps`. A day whose run is running is refused; a finished day runs again."""
    day = day or day_that_ended(datetime.now(timezone.utc), brand_time_zone)
    planned(steps)  # an unknown step is refused here, before anything starts
    try:
        handle = await client.start_workflow(MODELS_WORKFLOW, ModelsRequest(day=day.isoformat(), steps=steps),
                                             id=models_workflow_id(day.isoformat()), task_queue=task_queue)
    except WorkflowAlreadyStartedError as err:
        raise RunAlreadyRunning(day) from err
    return {"id": handle.id, "run_id": handle.result_run_id, "day": day.isoformat(), "status": "running"}


async def list_runs(client: Client, day: date | None = None, limit: int = RUNS_LISTED) -> list[dict[str, Any]]:
    """The newest runs first (of one day, or of every day), each with its steps so far."""
    query = f"WorkflowType = '{MODELS_WORKFLOW}'"
    if day is not None:
        query += f" AND WorkflowId = '{models_workflow_id(day.isoformat())}'"
    runs = []
    async for execution in client.list_workflows(query, limit=limit):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id, result_type=ModelsProgress)
        runs.append(await _run(client, handle, execution.status, execution.start_time, execution.close_time))
    return runs


async def _run(client: Client, handle: WorkflowHandle, status: WorkflowExecutionStatus | None, started: datetime,
               closed: datetime | None) -> dict[str, Any]:
    progress: ModelsProgress | None = None
    heartbeat = None
    if status == WorkflowExecutionStatus.RUNNING:
        progress = await handle.query(PROGRESS_QUERY, result_type=ModelsProgress | None)
        heartbeat = await _heartbeat(client, handle)
    elif status == WorkflowExecutionStatus.COMPLETED:
        progress = await handle.result()
    failed = [s for s in progress.finished if s.status == "failed"] if progress else []
    return {
        "id": handle.id, "run_id": handle.run_id, "day": handle.id.removeprefix(models_workflow_id("")),
        "status": _status(status, bool(failed)), "started_at": started, "finished_at": closed,
        "seconds": round((closed - started).total_seconds(), 3) if closed else None,
        "planned": progress.steps if progress else [],
        "steps": [dataclasses.asdict(step) for step in progress.finished] if progress else [],
        "current": {"step": progress.current, "heartbeat": heartbeat} if progress and progress.current else None,
    }


def _status(status: WorkflowExecutionStatus | None, any_failed: bool) -> str:
    """running, completed, completed_with_failures (a step failed, the others ran), or how
    Temporal ended it (failed, cancelled, terminated, timed_out...)."""
    if status == WorkflowExecutionStatus.COMPLETED:
        return "completed_with_failures" if any_failed else "completed"
    return status.name.lower() if status is not None else "unknown"


async def _heartbeat(client: Client, handle: WorkflowHandle) -> Any:
    """The running step's last heartbeat details (its progress), if it sent one."""
    description = await handle.describe()
    for pending in description.raw_description.pending_activities:
        if pending.heartbeat_details.payloads:
            [details] = await client.data_converter.decode(pending.heartbeat_details.payloads)
            return details
    return None
