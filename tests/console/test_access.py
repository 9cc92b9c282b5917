"""The console's server side: no page or action without a session, sign-in with a key, a
viewer cannot change anything, forms without their CSRF token are refused, sessions expire."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from fastapi import Response

from api.console import sessions
from sojourn.settings import ApiKey, Settings

from console_session import EDITOR_KEY, VIEWER_KEY, csrf_of, signed_in_client
from helpers import single_send


async def _journey(console_api: httpx.AsyncClient, journey_id: str) -> None:
    created = await console_api.post("/v1/journeys", json={"id": journey_id, "definition": single_send("Hi")})
    assert created.status_code == 201, created.text
    activated = await console_api.post(f"/v1/journeys/{journey_id}/activate")
    assert activated.status_code == 200, activated.text


async def _status(console_api: httpx.AsyncClient, journey_id: str) -> str:
    return (await console_api.get(f"/v1/journeys/{journey_id}")).json()["status"]


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/console"), ("GET", "/console/journeys"), ("GET", "/console/journeys/anything?version=1"),
    ("POST", "/console/journeys/anything/status"), ("POST", "/console/sign-out"),
])
async def test_no_page_or_action_without_a_session(console_url, method, path):
    async with httpx.AsyncClient(base_url=console_url) as client:
        response = await client.request(method, path, data={"action": "pause"})
    assert response.status_code == 303
    if path != "/console":  # /console itself leads to the journeys, which lead to the sign-in
        assert response.headers["location"].startswith("/console/sign-in?next=")
    if method == "GET" and path != "/console":  # back to the page asked for, once signed in
        assert httpx.URL(response.headers["location"]).params["next"] == path


async def test_an_action_without_a_session_changes_nothing(console_url, console_api, unique):
    journey = f"nosession-{unique}"
    await _journey(console_api, journey)
    async with httpx.AsyncClient(base_url=console_url) as client:
        response = await client.post(f"/console/journeys/{journey}/status", data={"action": "pause"})
    assert response.status_code == 303
    assert await _status(console_api, journey) == "active"


async def test_a_wrong_key_does_not_sign_in(console_url):
    async with httpx.AsyncClient(base_url=console_url) as client:
        form = await client.get("/console/sign-in")
        response = await client.post("/console/sign-in", data={"csrf_token": csrf_of(form.text), "api_key": "nope"})
        assert response.status_code == 401
        assert "not a valid API key" in response.text
        assert sessions.COOKIE not in client.cookies
        assert (await client.get("/console/journeys")).status_code == 303


async def test_the_sign_in_form_needs_its_csrf_token(console_url):
    async with httpx.AsyncClient(base_url=console_url) as client:
        await client.get("/console/sign-in")
        response = await client.post("/console/sign-in", data={"api_key": VIEWER_KEY})
        assert response.status_code == 403
        assert "reload the page" in response.text
        assert sessions.COOKIE not in client.cookies


async def test_the_session_cookie_is_http_only_strict_and_names_no_key(console_url):
    async with signed_in_client(console_url, VIEWER_KEY) as client:
        page = await client.get("/console/journeys")
        assert page.status_code == 200
        assert VIEWER_KEY not in page.text
    async with httpx.AsyncClient(base_url=console_url) as fresh:
        form = await fresh.get("/console/sign-in")
        signed = await fresh.post("/console/sign-in", data={"csrf_token": csrf_of(form.text), "api_key": VIEWER_KEY})
    cookie = next(value for value in signed.headers.get_list("set-cookie") if value.startswith(f"{sessions.COOKIE}="))
    attributes = cookie.lower()
    assert "httponly" in attributes and "samesite=strict" in attributes and "path=/console" in attributes
    assert "secure" not in attributes  # PUBLIC_BASE_URL is http here
    assert VIEWER_KEY not in cookie


def test_the_session_cookie_is_secure_when_the_public_url_is_https():
    response = Response()
    settings = Settings(api_keys=[ApiKey(secret="k")], public_base_url="https://sojourn.example")
    sessions.start(response, settings, settings.api_keys[0])
    cookie = next(value for value in response.headers.getlist("set-cookie") if value.startswith(sessions.COOKIE))
    assert "secure" in cookie.lower()


async def test_a_viewer_cannot_change_a_journey(console_url, console_api, unique):
    journey = f"viewer-{unique}"
    await _journey(console_api, journey)
    async with signed_in_client(console_url, VIEWER_KEY) as client:
        page = await client.get(f"/console/journeys/{journey}")
        assert page.status_code == 200
        assert "Pause</button>" not in page.text  # a viewer is offered no change
        response = await client.post(f"/console/journeys/{journey}/status",
                                     data={"csrf_token": csrf_of(page.text), "action": "pause"})
    assert response.status_code == 403
    assert "scope admin or editor" in response.text and "viewer" in response.text
    assert await _status(console_api, journey) == "active"


async def test_an_editor_changes_a_journey_with_the_form_and_not_without_its_token(console_url, console_api, unique):
    journey = f"editor-{unique}"
    await _journey(console_api, journey)
    async with signed_in_client(console_url, EDITOR_KEY) as client:
        page = await client.get(f"/console/journeys/{journey}")
        refused = await client.post(f"/console/journeys/{journey}/status", data={"action": "pause"})
        assert refused.status_code == 403
        assert await _status(console_api, journey) == "active"
        wrong = await client.post(f"/console/journeys/{journey}/status",
                                  data={"csrf_token": "0" * 64, "action": "pause"})
        assert wrong.status_code == 403
        done = await client.post(f"/console/journeys/{journey}/status",
                                 data={"csrf_token": csrf_of(page.text), "action": "pause"})
        assert done.status_code == 303 and done.headers["location"] == f"/console/journeys/{journey}"
        assert await _status(console_api, journey) == "paused"
        # The API's refusal, in place: an archived journey cannot be activated.
        assert (await console_api.post(f"/v1/journeys/{journey}/archive")).status_code == 200
        again = await client.post(f"/console/journeys/{journey}/status",
                                  data={"csrf_token": csrf_of(page.text), "action": "activate"})
        assert again.status_code == 409
        api_says = (await console_api.post(f"/v1/journeys/{journey}/activate")).json()["error"]["message"]
        assert api_says in again.text.replace("&#39;", "'")


async def test_a_session_expires(console_url, console_settings):
    stale = sessions._fernet(console_settings).encrypt_at_time(
        json.dumps({"key": console_settings.api_keys[2].name, "id": "x"}).encode(),
        int(time.time()) - sessions.SESSION_TTL - 60)
    async with httpx.AsyncClient(base_url=console_url, cookies={sessions.COOKIE: stale.decode()}) as client:
        response = await client.get("/console/journeys")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/console/sign-in")


async def test_signing_out_ends_the_session(console_url):
    async with signed_in_client(console_url, VIEWER_KEY) as client:
        page = await client.get("/console/journeys")
        out = await client.post("/console/sign-out", data={"csrf_token": csrf_of(page.text)})
        assert out.status_code == 303
        assert (await client.get("/console/journeys")).status_code == 303
