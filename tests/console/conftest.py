"""The console under a real server and a real browser: the API app under uvicorn on a free port
(with the session's Postgres, Temporal and a worker of its own task queue) and a headless
Chromium from the system's packages, driven by Playwright. Screenshots of the pages go to
test-artefacts/console/ (git-ignored)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.async_api import Browser, Page, async_playwright

from api.app import create_app
from sojourn.dev.postgres import free_port
from sojourn.settings import ApiKey, Settings
from worker.main import journey_worker

from console_session import ARTEFACTS, CHROMIUM, DESKTOP, EDITOR_KEY, VIEWER_KEY
from helpers import API_KEY


@pytest.fixture(scope="session")
def console_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def console_settings(database_url: str, smtp_sink, console_port: int) -> Settings:
    return Settings(
        database_url=database_url, task_queue=f"console-{uuid.uuid4().hex[:12]}",
        smtp_host="127.0.0.1", smtp_port=smtp_sink.port,
        api_keys=[ApiKey(secret=API_KEY), ApiKey(secret=EDITOR_KEY, scope="editor"),
                  ApiKey(secret=VIEWER_KEY, scope="viewer")],
        public_base_url=f"http://127.0.0.1:{console_port}",
        tracking_secret="test-tracking-secret", webhook_secret="test-webhook-secret",
        automated_click_window=0,
    )


@pytest.fixture(scope="session")
async def console_url(console_settings: Settings, console_port: int, temporal_env, engine) -> AsyncIterator[str]:
    """The base URL of the API app served by uvicorn, with a worker running its journeys."""
    app = create_app(console_settings, temporal=temporal_env.client)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=console_port, log_level="warning"))
    async with journey_worker(temporal_env.client, engine, console_settings):
        serving = asyncio.create_task(server.serve())
        while not server.started:
            assert not serving.done(), "uvicorn stopped before it started"
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{console_port}"
        server.should_exit = True
        await serving


@pytest.fixture(scope="session")
async def console_api(console_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The API over HTTP, with the admin key: to set up journeys and read what the pages must show."""
    async with httpx.AsyncClient(base_url=console_url, headers={"Authorization": f"Bearer {API_KEY}"},
                                 timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    assert os.access(CHROMIUM, os.X_OK), (
        f"the console's browser tests need Debian's chromium at {CHROMIUM}: `apt-get install -y chromium` "
        "(`make test` does it when run as root)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        await launched.close()


@pytest.fixture
async def open_console(browser: Browser, console_url: str):
    """`await open_console(key, viewport)`: a page in a fresh browser context, signed in with `key`
    through the sign-in form."""
    contexts = []

    async def signed_in(key: str = VIEWER_KEY, viewport: dict | None = None) -> Page:
        context = await browser.new_context(viewport=viewport or DESKTOP, base_url=console_url)
        contexts.append(context)
        page = await context.new_page()
        await page.goto("/console/journeys")
        assert "/console/sign-in" in page.url
        await page.get_by_label("API key").fill(key)
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url("**/console/journeys")
        return page

    yield signed_in
    for context in contexts:
        await context.close()


@pytest.fixture
def screenshot(request):
    """`await screenshot(page, "name")`: a full-page screenshot as a test artefact."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)

    async def take(page: Page, name: str) -> Path:
        path = ARTEFACTS / f"{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        return path

    return take
