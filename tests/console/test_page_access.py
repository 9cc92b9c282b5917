"""The contact, segment, enrollment, tag rule, usage and mailbox pages: none without a session
(back to the page once signed in), and a viewer cannot start an enrollment."""

from __future__ import annotations

import httpx
import pytest

from console_session import VIEWER_KEY, signed_in_client

READ_ONLY_PAGES = ["/console/contacts", "/console/contacts/anyone", "/console/journeys/any/nodes/wait/runs",
                   "/console/segments", "/console/segments/none", "/console/enrollments",
                   "/console/journeys/any/segment-enrollments/none",
                   "/console/journeys/any/segment-enrollments/none/progress", "/console/tag-rules", "/console/usage", "/console/mailbox"]


@pytest.mark.parametrize("path", READ_ONLY_PAGES)
async def test_no_page_without_a_session(console_url, path):
    async with httpx.AsyncClient(base_url=console_url) as client:
        response = await client.get(path)
    assert response.status_code == 303
    assert httpx.URL(response.headers["location"]).params["next"] == path


@pytest.mark.parametrize("path", READ_ONLY_PAGES)
async def test_a_viewer_sees_every_page(console_url, path):
    async with signed_in_client(console_url, VIEWER_KEY) as client:
        response = await client.get(path)
    assert response.status_code in (200, 404), response.text  # 404: a named thing that does not exist, in place
    if path.endswith("/progress"):  # what the enrollment page polls: the API's error, as JSON
        assert "not found" in response.json()["error"]["message"]
    else:
        assert "Sign out" in response.text
