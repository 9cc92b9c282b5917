"""GET /healthz: each component's state; 503 when any is down."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import aiosmtplib
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

router = APIRouter(tags=["health"])

_TIMEOUT = 3.0


async def _database(request: Request) -> str:
    async with request.app.state.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    return "ok"


async def _temporal(request: Request) -> str:
    await request.app.state.temporal.service_client.check_health(timeout=timedelta(seconds=_TIMEOUT))
    return "ok"


async def _worker(request: Request) -> str:
    client, settings = request.app.state.temporal, request.app.state.settings
    response = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
        namespace=client.namespace, task_queue=TaskQueue(name=settings.task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW))
    return "ok" if response.pollers else "no worker polling task queue " + settings.task_queue


async def _smtp(request: Request) -> str:
    settings = request.app.state.settings
    smtp = aiosmtplib.SMTP(hostname=settings.smtp_host, port=settings.smtp_port, use_tls=settings.smtp_use_tls,
                           start_tls=False, timeout=_TIMEOUT)
    await smtp.connect()
    await smtp.quit()
    return "ok"


async def _check(probe, request: Request) -> str:
    try:
        return await asyncio.wait_for(probe(request), _TIMEOUT + 1)
    except Exception as err:  # any failure is the answer, not an error of this endpoint
        return f"error: {type(err).__name__}: {err}"


@router.get("/healthz")
async def healthz(request: Request) -> JSONResponse:
    names = ["database", "temporal", "worker", "smtp"]
    results = await asyncio.gather(*(_check(p, request) for p in (_database, _temporal, _worker, _smtp)))
    components = dict(zip(names, results))
    healthy = all(v == "ok" for v in components.values())
    return JSONResponse({"status": "ok" if healthy else "degraded", "components": components},
                        status_code=200 if healthy else 503)
