"""Real components for every test: embedded Postgres, a Temporal dev server with
per-workflow time skipping, the SMTP sink, the worker and the API over ASGI.

Session fixtures start the servers once; each test gets its own task queue and
its own contacts, so tests never see each other's runs or mail.
"""

from __future__ import annotations

import os
import sysconfig
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import TimeSkippingConfig, WorkflowEnvironment

from api.app import create_app
from sojourn.contracts import search_attributes
from sojourn.data import db
from sojourn.dev.postgres import EmbeddedPostgres, free_port
from sojourn.dev.smtp_sink import SmtpSink
from sojourn.dev.stack import TIME_SKIPPING_ARGS
from sojourn.services.payload_codec import with_codec
from sojourn.settings import Settings
from worker.main import journey_worker

from helpers import API_KEY
from providers import FakeTwilio


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="sojourn-test-"))
    path.chmod(0o755)
    return path


@pytest.fixture(scope="session")
def database_url(data_dir: Path):
    pg = EmbeddedPostgres(data_dir / "pg", free_port())
    pg.start()
    pg.create_database("sojourn")
    url = pg.url("sojourn")
    db.upgrade(url)
    yield url
    pg.stop()


@pytest.fixture(scope="session")
async def engine(database_url: str):
    engine = db.create_engine(database_url)
    yield engine
    await engine.dispose()


class CodecEnvironment:
    """The test server, whose `client` encrypts journey payloads with each contact's key as
    every production client does (so every test runs through the payload codec)."""

    def __init__(self, env: WorkflowEnvironment, client: Client) -> None:
        self.env = env
        self.client = client

    def __getattr__(self, name: str):
        return getattr(self.env, name)


@pytest.fixture(scope="session")
async def temporal_server() -> AsyncIterator[WorkflowEnvironment]:
    # Time skipping is off by default: a test moves a run's clock on purpose with
    # `temporal_env.fast_forward(handle, duration)`, after it has opened or clicked.
    env = await WorkflowEnvironment.start_time_skipping_v2(
        ts_config=TimeSkippingConfig(enabled=False),
        dev_server_existing_path=os.path.join(sysconfig.get_path("scripts"), "temporal"),
        dev_server_extra_args=TIME_SKIPPING_ARGS,
        search_attributes=search_attributes.ALL,
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def temporal_env(temporal_server: WorkflowEnvironment, engine, database_url: str) -> CodecEnvironment:
    return CodecEnvironment(temporal_server,
                            with_codec(temporal_server.client, engine, Settings(database_url=database_url)))


@pytest.fixture(scope="session")
async def smtp_sink(database_url: str) -> AsyncIterator[SmtpSink]:
    sink = SmtpSink(database_url, port=0)
    await sink.start()
    yield sink
    await sink.stop()


@pytest.fixture
def settings(database_url: str, smtp_sink: SmtpSink) -> Settings:
    return Settings(
        database_url=database_url,
        task_queue=f"test-{uuid.uuid4().hex[:12]}",
        smtp_host="127.0.0.1",
        smtp_port=smtp_sink.port,
        api_keys=[API_KEY],
        public_base_url="http://sojourn.test",
        tracking_secret="test-tracking-secret",
        webhook_secret="test-webhook-secret",
        max_body_bytes=200_000,
        automated_click_window=0,  # tests click at machine speed; tests/api/test_automated_clicks.py turns it on
        # The providers' stand-ins listen on 127.0.0.1 at free ports; tests/delivery/channels/test_webhook_destinations.py
        # checks what these allow.
        webhook_allow_private_networks=True, webhook_allowed_ports="*",
    )


@pytest.fixture
def start_worker(temporal_env, engine, settings):
    """`async with start_worker(): ...` runs a worker on this test's task queue."""

    @asynccontextmanager
    async def start(**options):
        async with journey_worker(temporal_env.client, engine, settings, **options) as worker:
            yield worker

    return start


@pytest.fixture
async def worker(start_worker):
    async with start_worker() as running:
        yield running


@pytest.fixture
async def api(settings: Settings, temporal_env) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, temporal=temporal_env.client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sojourn.test",
                                     headers={"Authorization": f"Bearer {API_KEY}"}) as client:
            yield client


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    """A local stand-in for Twilio's Messages API (tests/providers.py)."""
    fake = await FakeTwilio().start()
    yield fake
    await fake.stop()


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]
