"""`sojourn api` serves from API_WORKERS processes, each with a pool of DATABASE_POOL_SIZE, and
/metrics counts what all of them answered."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import uvicorn
from prometheus_client.parser import text_string_to_metric_families

from api.__main__ import server_options
from api.app import create_app
from sojourn.dev.postgres import free_port
from sojourn.dev.temporal import terminate
from sojourn.settings import Settings

HEALTH = b"GET /healthz HTTP/1.1\r\nHost: sojourn.test\r\n\r\n"


def test_the_worker_count_reaches_uvicorn(monkeypatch):
    monkeypatch.setenv("API_WORKERS", "3")
    assert uvicorn.Config(None, **server_options(Settings())).workers == 3
    monkeypatch.delenv("API_WORKERS")
    assert uvicorn.Config(None, **server_options(Settings())).workers == 1


async def test_the_pool_size_reaches_the_engine(settings: Settings, temporal_env):
    app = create_app(settings.model_copy(update={"database_pool_size": 3}), temporal=temporal_env.client)
    async with app.router.lifespan_context(app):
        assert app.state.engine.pool.size() == 3


def _serving(pid: int, port: int) -> set[int]:
    """The processes under `pid` holding a client connection accepted on `port`."""
    return {child.pid for child in psutil.Process(pid).children(recursive=True)
            if any(c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED for c in child.net_connections("tcp"))}


async def _answered(port: int) -> tuple[asyncio.StreamWriter, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(HEALTH)
    status = (await asyncio.wait_for(reader.readuntil(b"\r\n"), 10)).strip()
    return writer, status


def _healthz_count(scrape: str) -> int:
    return sum(int(float(sample.value)) for family in text_string_to_metric_families(scrape)
               for sample in family.samples
               if sample.name == "sojourn_http_requests_total" and sample.labels.get("route") == "/healthz")


async def test_two_workers_both_serve(settings: Settings, temporal_env, tmp_path: Path):
    port = free_port()
    env = {**os.environ, "DATABASE_URL": settings.database_url, "API_HOST": "127.0.0.1", "API_PORT": str(port),
           "TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host, "API_WORKERS": "2"}
    log_path = tmp_path / "api.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "sojourn.cli", "api"], cwd=tmp_path, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    writers: list[asyncio.StreamWriter] = []
    try:
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient() as http:
            while log_path.read_text().count("Application startup complete") < 2:
                assert process.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, log_path.read_text()
                await asyncio.sleep(0.2)
            # 503: no worker polls the test's task queue; an answer from the app all the same.
            assert (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code in (200, 503)
        # Connections held open stay with the process that accepted them; open them in bursts
        # until both processes hold some (the kernel hands each to whichever is free first).
        serving: set[int] = set()
        for _ in range(20):
            answers = await asyncio.gather(*(_answered(port) for _ in range(10)))
            writers += [writer for writer, _ in answers]
            assert {status for _, status in answers} <= {b"HTTP/1.1 200 OK", b"HTTP/1.1 503 Service Unavailable"}
            serving = _serving(process.pid, port)
            if len(serving) == 2:
                break
        assert len(serving) == 2, f"only {serving} answered"
        # Every /healthz so far (the first, then ten a burst), whichever process answered it,
        # counted in what any process serves on /metrics.
        answered = 1 + len(writers)
        async with httpx.AsyncClient() as http:
            for _ in range(4):  # a new connection each: both processes answer some
                scrape = (await http.get(f"http://127.0.0.1:{port}/metrics", headers={"Connection": "close"})).text
                assert _healthz_count(scrape) == answered, scrape
    finally:
        for writer in writers:
            writer.close()
        await asyncio.to_thread(terminate, process, 30.0)
