"""The state of each component the API relies on: database, Temporal, a worker, SMTP."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import aiosmtplib
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from sojourn.settings import Settings

_TIMEOUT = 3.0


async def components(engine: AsyncEngine, client: Client, settings: Settings) -> dict[str, str]:
    """Each component's state: "ok", or what is wrong with it."""

    async def database() -> str:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return "ok"

    async def temporal() -> str:
        await client.service_client.check_health(timeout=timedelta(seconds=_TIMEOUT))
        return "ok"

    async def worker() -> str:
        response = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueue(name=settings.task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW))
        return "ok" if response.pollers else "no worker polling task queue " + settings.task_queue

    async def smtp() -> str:
        connection = aiosmtplib.SMTP(hostname=settings.smtp_host, port=settings.smtp_port,
                                     use_tls=settings.smtp_use_tls, start_tls=False, timeout=_TIMEOUT)
        await connection.connect()
        await connection.quit()
        return "ok"

    probes = {"database": database, "temporal": temporal, "worker": worker, "smtp": smtp}
    results = await asyncio.gather(*(_check(probe) for probe in probes.values()))
    return dict(zip(probes, results))


async def _check(probe) -> str:
    try:
        return await asyncio.wait_for(probe(), _TIMEOUT + 1)
    except Exception as err:  # any failure is the answer, not an error of the check
        return f"error: {type(err).__name__}: {err}"
