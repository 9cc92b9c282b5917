"""The production topology in small, for fault tests: two `sojourn worker` and two `sojourn api`
processes on one Temporal dev server (SQLite file) and one Postgres, with the SMTP sink. All of
it is this module's own, so killing or restarting a part leaves every other test alone."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sysconfig
import tempfile
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from sojourn.contracts.journey import JourneyState
from sojourn.data import db
from sojourn.data.models import MailboxMessage, Message
from sojourn.dev.postgres import EmbeddedPostgres, free_port
from sojourn.dev.temporal import TemporalDevServer
from sojourn.services import payload_codec
from sojourn.settings import Settings

from helpers import API_KEY

_SOJOURN = Path(sysconfig.get_path("scripts")) / "sojourn"
TASK_QUEUE = "faults"


@dataclass
class Process:
    """One `sojourn worker`, `sojourn api` or `sojourn smtp-sink` subprocess, logging to its own file."""

    command: str
    env: dict[str, str]
    folder: Path
    name: str
    args: list[str] = field(default_factory=list)
    starts: int = 0
    popen: subprocess.Popen | None = None

    @property
    def log(self) -> Path:
        return self.folder / f"{self.name}.{self.starts}.log"

    def start(self) -> None:
        self.starts += 1
        with open(self.log, "wb") as out:
            self.popen = subprocess.Popen([str(_SOJOURN), self.command, *self.args], env=self.env, stdout=out,
                                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, in-flight work is lost mid-step."""
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait()

    def terminate(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()

    def stop(self) -> None:
        self.terminate()
        try:
            self.popen.wait(30)
        except subprocess.TimeoutExpired:
            self.kill()

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Topology:
    folder: Path
    postgres: EmbeddedPostgres
    temporal: TemporalDevServer
    client: Client
    engine: AsyncEngine
    sink: Process
    sink_port: int
    workers: list[Process] = field(default_factory=list)
    apis: list[Process] = field(default_factory=list)
    api_urls: list[str] = field(default_factory=list)

    def api(self, which: int = 0) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.api_urls[which], timeout=30,
                                 headers={"Authorization": f"Bearer {API_KEY}"})

    async def kill_worker(self, which: int) -> None:
        """SIGKILL one worker, then start a new one in its place (the other kept working throughout)."""
        worker = self.workers[which]
        worker.kill()
        worker.start()
        await _until_polling(worker)

    async def restart_temporal(self) -> None:
        """Stop the server and start it on the same port and SQLite file."""
        await asyncio.to_thread(self.temporal.stop)
        self.temporal.start()
        await self.temporal.wait_ready()

    async def restart_postgres(self) -> None:
        await asyncio.to_thread(self.postgres.stop)
        await asyncio.to_thread(self.postgres.start)
        await self.engine.dispose()  # the test's own connections died with the server

    async def stop_smtp(self) -> None:
        """The SMTP server dies: its port refuses connections, and open ones are cut."""
        self.sink.kill()

    async def start_smtp(self) -> None:
        self.sink.start()
        await _until_listening(self.sink, self.sink_port)

    async def mail_to(self, recipients: list[str]) -> dict[str, list[str]]:
        """The subjects each recipient received, oldest first."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(MailboxMessage.rcpt_to, MailboxMessage.subject)
                                       .order_by(MailboxMessage.id))).all()
        wanted = set(recipients)
        received: dict[str, list[str]] = {r: [] for r in recipients}
        for rcpt_to, subject in rows:
            for recipient in rcpt_to:
                if recipient in wanted:
                    received[recipient].append(subject)
        return received

    async def statuses(self, journey: str) -> Counter:
        async with self.engine.connect() as conn:
            return Counter((await conn.execute(select(Message.status).where(Message.journey_id == journey)))
                           .scalars())

    async def results(self, workflow_ids: list[str], timeout: float = 150) -> list[JourneyState]:
        async def one(workflow_id: str) -> JourneyState:
            handle = self.client.get_workflow_handle(workflow_id, result_type=JourneyState)
            return await handle.result()

        return await asyncio.wait_for(asyncio.gather(*(one(w) for w in workflow_ids)), timeout)

    def logs(self) -> str:
        return "\n\n".join(f"--- {p.log.name}\n{p.tail()}" for p in self.processes())

    def processes(self) -> list[Process]:
        return [*self.workers, *self.apis, self.sink]


async def _until_listening(process: Process, port: int, timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        assert process.popen.poll() is None, f"{process.name} exited: {process.tail()}"
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            assert asyncio.get_running_loop().time() < deadline, f"{process.name} never listened: {process.tail()}"
            await asyncio.sleep(0.1)


async def _until_polling(worker: Process, timeout: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while "worker polling task queue" not in worker.log.read_text(errors="replace"):
        assert worker.popen.poll() is None, f"worker exited: {worker.tail()}"
        assert asyncio.get_running_loop().time() < deadline, f"worker never polled: {worker.tail()}"
        await asyncio.sleep(0.2)


async def _until_healthy(url: str, api: Process, timeout: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient(base_url=url, timeout=5) as client:
        while True:
            assert api.popen.poll() is None, f"api exited: {api.tail()}"
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert asyncio.get_running_loop().time() < deadline, f"api never healthy: {api.tail()}"
            await asyncio.sleep(0.2)


@pytest.fixture(scope="module")
async def topology() -> AsyncIterator[Topology]:
    folder = Path(tempfile.mkdtemp(prefix="sojourn-faults-"))
    folder.chmod(0o755)  # the embedded Postgres runs as another user when we are root
    postgres = EmbeddedPostgres(folder / "pg", free_port())
    await asyncio.to_thread(postgres.start)
    await asyncio.to_thread(postgres.create_database, "sojourn")
    url = postgres.url("sojourn")
    await asyncio.to_thread(db.upgrade, url)
    temporal = TemporalDevServer(db_path=folder / "temporal.db", port=free_port(), ui_port=None,
                                 log_path=folder / "temporal.log")
    temporal.start()
    engine = db.create_engine(url, pool_size=8)
    # Journey payloads are sealed with each contact's key (the processes' default master key).
    client = payload_codec.with_codec(await temporal.wait_ready(), engine, Settings(_env_file=None))
    smtp_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "SMTP_", "API_", "DATABASE_"))}
    env.update(DATABASE_URL=url, TEMPORAL_ADDRESS=temporal.address, TASK_QUEUE=TASK_QUEUE, SMTP_HOST="127.0.0.1",
               SMTP_PORT=str(smtp_port), API_KEYS=API_KEY, PUBLIC_BASE_URL="http://sojourn.test",
               TRACKING_SECRET="faults-tracking-secret", WEBHOOK_SECRET="faults-webhook-secret",
               AUTOMATED_CLICK_WINDOW="0", PYTHONUNBUFFERED="1",
               WORKER_METRICS_PORT="0", WORKER_TEMPORAL_METRICS_PORT="0")  # two workers on one host
    sink = Process("smtp-sink", env, folder, "smtp-sink", ["--port", str(smtp_port), "--database-url", url])
    topology = Topology(folder, postgres, temporal, client, engine, sink, smtp_port)
    for n in range(2):
        topology.workers.append(Process("worker", env, folder, f"worker-{n}"))
        port = free_port()
        topology.apis.append(Process("api", {**env, "API_PORT": str(port)}, folder, f"api-{n}"))
        topology.api_urls.append(f"http://127.0.0.1:{port}")
    try:
        for process in topology.processes():
            process.start()
        await _until_listening(sink, smtp_port)
        for worker in topology.workers:
            await _until_polling(worker)
        for url_, api in zip(topology.api_urls, topology.apis):
            await _until_healthy(url_, api)
        yield topology
    finally:
        for process in topology.processes():
            process.terminate()  # all at once: each worker gives its sends up to 20 s to finish
        for process in topology.processes():
            await asyncio.to_thread(process.stop)
        await engine.dispose()
        await asyncio.to_thread(temporal.stop)
        await asyncio.to_thread(postgres.stop)
        shutil.rmtree(folder, ignore_errors=True)
