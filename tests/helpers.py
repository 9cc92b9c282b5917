"""Journey definitions and HTTP helpers shared by the end-to-end tests."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime, timedelta, timezone

import httpx
from sqlalchemy import event
from temporalio.client import Client

from api.app import create_app
from sojourn.contracts.journey import JourneyState
from sojourn.delivery.tokens import webhook_signature
from sojourn.dev.mailbox import list_mailbox
from sojourn.dev.postgres import free_port

API_KEY = "test-key"

EVENT_URL = "https://shop.example/mothers-day"
FEEDBACK_URL = "https://shop.example/feedback"


def mothers_day(name: str = "Mother's Day") -> dict:
    """Scenario 1 with relative waits (the test moves each run's clock)."""
    return {
        "name": name,
        "nodes": [
            {"id": "preview", "type": "send", "subject": "Preview: our Mother's Day event starts May 1",
             "html": f'<p>Hi {{{{ first_name | default("friend") }}}}, <a href="{EVENT_URL}">see the event</a></p>',
             "text": "The event starts May 1.", "next": "wait_2d"},
            {"id": "wait_2d", "type": "wait", "duration": "2d", "next": "opened_preview"},
            {"id": "opened_preview", "type": "branch", "condition": {"opened": "preview"},
             "then": "started", "else": "reminder"},
            {"id": "reminder", "type": "send", "subject": "{{ first_name }}, our Mother's Day event starts soon",
             "html": f'<p>Dear %name%, <a href="{EVENT_URL}">the event</a> starts May 1.</p>', "next": "end"},
            {"id": "started", "type": "send", "subject": "The event has started",
             "html": f'<p><a href="{EVENT_URL}">Shop now</a></p>', "next": "wait_5d"},
            {"id": "wait_5d", "type": "wait", "duration": "P5D", "next": "opened_started"},
            {"id": "opened_started", "type": "branch", "condition": {"opened": "started"},
             "then": "last_days", "else": "end"},
            {"id": "last_days", "type": "send", "subject": "Last days: the event ends soon",
             "html": f'<p><a href="{EVENT_URL}">Last chance</a></p>', "next": "wait_3d"},
            {"id": "wait_3d", "type": "wait", "duration": "72h", "next": "thanks"},
            {"id": "thanks", "type": "send", "subject": "Thank you",
             "html": f'<p>Tell us how it went: <a href="{FEEDBACK_URL}">feedback form</a> '
                     "and earn a discount code.</p>", "next": "end"},
            {"id": "end", "type": "exit"},
        ],
    }


async def create_active_journey(api: httpx.AsyncClient, journey_id: str, definition: dict) -> dict:
    created = await api.post("/v1/journeys", json={"id": journey_id, "definition": definition})
    assert created.status_code == 201, created.text
    activated = await api.post(f"/v1/journeys/{journey_id}/activate")
    assert activated.status_code == 200, activated.text
    return activated.json()


async def add_contact(api: httpx.AsyncClient, external_id: str, email: str | None, first_name: str | None = None) -> None:
    response = await api.put(f"/v1/contacts/{external_id}", json={"email": email, "first_name": first_name})
    assert response.status_code in (200, 201), response.text


async def enroll(api: httpx.AsyncClient, journey_id: str, *external_ids: str) -> list[dict]:
    response = await api.post(f"/v1/journeys/{journey_id}/enrollments", json={"contacts": list(external_ids)})
    assert response.status_code == 200, response.text
    return response.json()["results"]


def tracking_path(html: str, kind: str) -> str:
    """The path of the first open pixel (`o`) or tracked link (`c`) in an email's HTML."""
    match = re.search(rf"http://sojourn\.test(/t/{kind}/[A-Za-z0-9_.\-]+)", html)
    assert match, f"no /t/{kind}/ URL in {html!r}"
    return match.group(1)


async def post_webhook(api: httpx.AsyncClient, secret: str, events: list[dict], signature: str | None = None,
                       signed_at: int | None = None):
    """POST engagement events signed with `secret` (at `signed_at`, unix seconds, else now), or with `signature`."""
    body = json.dumps({"events": events}).encode()
    return await api.post("/v1/webhooks/engagement", content=body, headers={
        "Content-Type": "application/json",
        "X-Sojourn-Signature": signature or webhook_signature(body, secret, signed_at)})


async def advance(temporal_env, workflow_id: str, duration: timedelta) -> None:
    """Move one run's virtual clock forward (time-skipping test server)."""
    await temporal_env.fast_forward(temporal_env.client.get_workflow_handle(workflow_id), duration)


async def wait_for_mail(engine, to: str, count: int = 1, timeout: float = 20.0) -> list[dict]:
    """The messages `to` received (oldest first), once there are at least `count`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        messages = await list_mailbox(engine, to=to, limit=100)
        if len(messages) >= count or asyncio.get_running_loop().time() > deadline:
            return list(reversed(messages))
        await asyncio.sleep(0.1)


async def put_contact(api: httpx.AsyncClient, external_id: str, **fields) -> None:
    response = await api.put(f"/v1/contacts/{external_id}", json=fields)
    assert response.status_code in (200, 201), response.text


async def finished(temporal_env, workflow_id: str) -> JourneyState:
    """The run's final state, once it has ended."""
    handle = temporal_env.client.get_workflow_handle(workflow_id, result_type=JourneyState)
    return await asyncio.wait_for(handle.result(), 60)


def zone_at(hour: int) -> str:
    """A fixed-offset zone whose local time now is `hour` o'clock (Etc/GMT signs are inverted)."""
    offset = (hour - datetime.now(timezone.utc).hour + 12) % 24 - 12
    return f"Etc/GMT{-offset:+d}" if offset else "UTC"


async def completed_firings(temporal_env, journey: str, count: int, timeout: float = 60) -> list:
    query = f'WorkflowId STARTS_WITH "enrollment/{journey}/firing" AND ExecutionStatus = "Completed"'
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = [w async for w in temporal_env.client.list_workflows(query)]
        if len(found) >= count or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.2)


async def waiting_state(temporal_env, workflow_id: str) -> JourneyState:
    """The run's state once it rests in a wait (its deadline known)."""
    handle = temporal_env.client.get_workflow_handle(workflow_id)
    for _ in range(200):
        state = await handle.query("state", result_type=JourneyState)
        if state.wait_until is not None:
            return state
        await asyncio.sleep(0.05)
    raise AssertionError(f"{workflow_id} never waited")


async def progress_until(api, path: str, status: str, timeout: float = 60) -> dict:
    """The enrollment's progress once it has that status and knows its audience's size."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        body = (await api.get(path)).json()
        if (body["status"] == status and body["total"] is not None) or asyncio.get_running_loop().time() > deadline:
            return body
        await asyncio.sleep(0.1)


def single_send(subject: str, text: str = "ok", name: str | None = None) -> dict:
    """A journey that is one email and nothing else: the kind an enrollment sends in batches."""
    return {"name": name or subject, "nodes": [
        {"id": "hello", "type": "send", "subject": subject, "text": text, "next": "end"},
        {"id": "end", "type": "exit"}]}


async def segment_of(api: httpx.AsyncClient, segment: str, people: list[str]) -> None:
    """Each of `people` (with an email at example.com) in a new segment of their own."""
    for contact in people:
        await put_contact(api, contact, email=f"{contact}@example.com", attributes={"in": segment})
    response = await api.post("/v1/segments", json={"id": segment, "name": segment,
                                                    "filter": {"attribute": "in", "value": segment}})
    assert response.status_code == 201, response.text


SALE = "https://shop.example/sale"


async def mailed_with_a_link(api, engine, journey: str) -> tuple[dict, str, str]:
    """Journey `journey` mails contact `journey` a link to SALE, waits 30 days, then branches on
    whether it was opened (so its run hears of the mail's opens and clicks): the mail as the sink
    received it, the run's workflow id and the contact."""
    contact = journey
    await create_active_journey(api, journey, {"name": journey, "nodes": [
        {"id": "mail", "type": "send", "subject": f"Mail of {journey}", "html": f'<a href="{SALE}">Sale</a>',
         "next": "wait"},
        {"id": "wait", "type": "wait", "duration": "30d", "next": "opened"},
        {"id": "opened", "type": "branch", "condition": {"opened": "mail"}, "then": "end", "else": "end"},
        {"id": "end", "type": "exit"}]})
    await add_contact(api, contact, f"{contact}@example.com")
    [run] = await enroll(api, journey, contact)
    [mail] = await wait_for_mail(engine, f"{contact}@example.com")
    return mail, run["workflow_id"], contact


@asynccontextmanager
async def api_without_temporal(settings) -> AsyncIterator[httpx.AsyncClient]:
    """The API with a Temporal client that reaches no server (nothing listens on its port)."""
    nowhere = await Client.connect(f"127.0.0.1:{free_port()}", lazy=True)
    app = create_app(settings, temporal=nowhere)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sojourn.test",
                                     headers={"Authorization": f"Bearer {API_KEY}"}) as client:
            yield client


@contextmanager
def statements_run(engine) -> Iterator[list[str]]:
    """The SQL statements `engine` sends to Postgres inside the block, in order."""
    statements: list[str] = []

    def note(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", note)
