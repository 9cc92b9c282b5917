"""What the console's tests share besides fixtures: the keys, the screen sizes, and signing in
over plain HTTP. (A module of its own: `from conftest import` would find another directory's.)"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

CHROMIUM = "/usr/bin/chromium"  # Debian's (apt-get install chromium); Playwright's download is not used
EDITOR_KEY = "console-editor-key"
VIEWER_KEY = "console-viewer-key"
ARTEFACTS = Path(__file__).resolve().parents[2] / "test-artefacts" / "console"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@asynccontextmanager
async def signed_in_client(console_url: str, key: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client holding a console session for `key`, signed in through the form."""
    async with httpx.AsyncClient(base_url=console_url, follow_redirects=False, timeout=30) as client:
        form = await client.get("/console/sign-in")
        response = await client.post("/console/sign-in", data={"csrf_token": csrf_of(form.text), "api_key": key,
                                                               "next": "/console/journeys"})
        assert response.status_code == 303, response.text
        yield client


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)
