"""A worker in its own process, as deployed, for the benchmarks.

    python bench/worker_process.py --kind journey|bare-enroll|bare-sleep
        [--max-cached-workflows N] [--metrics-port PORT]

`journey` is the real worker (`worker.main.journey_worker`); the `bare-*` kinds run
the baselines from `bare_workflows.py`. Settings come from the environment like
`python -m worker` (DATABASE_URL, TEMPORAL_ADDRESS, TASK_QUEUE, SMTP_HOST,
SMTP_PORT). Unlike `python -m worker` it can raise `max_cached_workflows` (the
SDK keeps 1,000 by default, fewer than the memory benchmark needs) and serve the
SDK's Prometheus metrics (`temporal_sticky_cache_size` tells how many runs are
cached). Prints `READY` on stdout once polling; stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import uuid
from contextlib import AsyncExitStack
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib
from bare_workflows import BARE_SEND_ACTIVITY, BareEnrollWorkflow, BareSend, BareSleepWorkflow
from temporalio import activity
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker

from sojourn.data.db import create_engine
from sojourn.services.payload_codec import with_codec
from sojourn.settings import Settings
from worker.main import journey_worker

log = logging.getLogger("bench.worker")

# As many pooled SMTP connections as the journey worker's SmtpPool keeps.
BARE_SMTP_CONNECTIONS = 4


class BareSender:
    """The minimal equivalent of the send activity: build one message, send it on a pooled connection."""

    def __init__(self, host: str, port: int, mail_from: str, size: int = BARE_SMTP_CONNECTIONS) -> None:
        self._host, self._port, self._from = host, port, mail_from
        self._idle: asyncio.Queue[aiosmtplib.SMTP | None] = asyncio.Queue()
        for _ in range(size):
            self._idle.put_nowait(None)

    @activity.defn(name=BARE_SEND_ACTIVITY)
    async def send(self, request: BareSend) -> str:
        message_id = f"<{uuid.uuid4()}@bench.bare>"
        email = EmailMessage()
        email["From"] = self._from
        email["To"] = request.recipient
        email["Subject"] = request.subject
        email["Message-ID"] = message_id
        email["Date"] = formatdate(localtime=False)
        email.set_content(request.text)
        email.add_alternative(request.html, subtype="html")
        client = await self._idle.get()
        try:
            if client is None or not client.is_connected:
                client = aiosmtplib.SMTP(hostname=self._host, port=self._port, timeout=10)
                await client.connect()
            await client.send_message(email)
        except BaseException:
            if client is not None:
                client.close()
            self._idle.put_nowait(None)
            raise
        self._idle.put_nowait(client)
        return message_id

    async def close(self) -> None:
        while not self._idle.empty():
            client = self._idle.get_nowait()
            if client is not None and client.is_connected:
                try:
                    await client.quit()
                except aiosmtplib.SMTPException:
                    client.close()


def bare_worker(client: Client, settings: Settings, kind: str, sender: BareSender, **options) -> Worker:
    workflow = BareEnrollWorkflow if kind == "bare-enroll" else BareSleepWorkflow
    return Worker(client, task_queue=settings.task_queue, workflows=[workflow], activities=[sender.send], **options)


async def serve(kind: str, max_cached_workflows: int | None, metrics_port: int | None) -> None:
    settings = Settings()
    runtime = None
    if metrics_port is not None:
        runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"127.0.0.1:{metrics_port}")))
    client = await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace,
                                  **({"runtime": runtime} if runtime is not None else {}))
    options = {} if max_cached_workflows is None else {"max_cached_workflows": max_cached_workflows}
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with AsyncExitStack() as stack:
        if kind == "journey":
            engine = create_engine(settings.database_url)
            stack.push_async_callback(engine.dispose)
            await stack.enter_async_context(journey_worker(with_codec(client, engine, settings), engine, settings,
                                                           **options))
        else:
            sender = BareSender(settings.smtp_host, settings.smtp_port, settings.mail_from)
            stack.push_async_callback(sender.close)
            await stack.enter_async_context(bare_worker(client, settings, kind, sender, **options))
        log.info("%s worker polling %r", kind, settings.task_queue)
        print("READY", flush=True)
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description="A benchmark worker in its own process.")
    parser.add_argument("--kind", choices=["journey", "bare-enroll", "bare-sleep"], required=True)
    parser.add_argument("--max-cached-workflows", type=int, default=None)
    parser.add_argument("--metrics-port", type=int, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(args.kind, args.max_cached_workflows, args.metrics_port))


if __name__ == "__main__":
    main()
