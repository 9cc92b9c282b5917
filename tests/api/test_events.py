"""POST /v1/events: partial batch rejection, idempotency, contact auto-creation, limits."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timezone

import httpx
import pytest
from sqlalchemy import func, select

from api.app import create_app
from sojourn.data.db import raw_connection
from sojourn.data.ingest import events as ingest
from sojourn.data.models import Contact, Event
from sojourn.services.triggers import Triggers

from helpers import API_KEY


@pytest.fixture
def hooks(monkeypatch) -> dict[str, list]:
    """What the API hands to the journey triggers (recorded instead of acted on)."""
    seen: dict[str, list] = {"events": [], "contacts": []}

    async def on_events(self, events):
        seen["events"].extend(events)

    async def on_contacts_changed(self, contact_ids):
        seen["contacts"].extend(contact_ids)

    monkeypatch.setattr(Triggers, "on_events", on_events)
    monkeypatch.setattr(Triggers, "on_contacts_changed", on_contacts_changed)
    return seen


async def _client(settings, temporal_env, **overrides) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update=overrides), temporal=temporal_env.client)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sojourn.test",
                                     headers={"Authorization": f"Bearer {API_KEY}"}) as client:
            yield client


@pytest.fixture
async def strict_api(settings, temporal_env):
    """The API with AUTO_CREATE_CONTACTS off."""
    async for client in _client(settings, temporal_env, auto_create_contacts=False):
        yield client


@pytest.fixture
async def small_batch_api(settings, temporal_env):
    """The API with a 300 kB allowance for event batches (the default is 20 MB)."""
    async for client in _client(settings, temporal_env, max_batch_body_bytes=300_000):
        yield client


async def _events(engine, contact: str) -> list[Event]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(Event).join(Contact, Contact.id == Event.contact_id)
                                   .where(Contact.external_id == contact).order_by(Event.event_id))).all()
    return rows


async def _count(engine, *where) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(Event).where(*where))).scalar_one()


async def test_a_batch_stores_the_good_events_and_lists_each_bad_one(api, engine, unique, hooks):
    contact = f"c-{unique}"
    await api.put(f"/v1/contacts/{contact}", json={"email": f"{contact}@example.com"})
    batch = [
        {"contact": contact, "name": "page.viewed", "event_id": f"{unique}-0", "properties": {"path": "/"},
         "occurred_at": "2024-05-01T10:00:00+02:00"},
        {"contact": contact, "event_id": f"{unique}-1"},                                    # no name
        {"contact": contact, "name": "cart.updated", "event_id": f"{unique}-2", "occurred_at": "yesterday"},
        "not an event",
        {"contact": contact, "name": "order.completed", "event_id": f"{unique}-4", "properties": {"total": 42.5}},
        {"contact": contact, "name": "x", "event_id": f"{unique}-5", "properties": ["a"]},   # not an object
        {"contact": contact, "name": "x", "event_id": f"{unique}-6", "occurred_at": "2024-05-01T10:00:00"},  # no zone
        {"contact": contact, "name": "x", "event_id": f"{unique}-7", "colour": "red"},       # unknown field
        {"contact": contact, "name": "x", "event_id": f"{unique}-8", "properties": {"s": "a\u0000b"}},
        {"contact": "", "name": "x", "event_id": f"{unique}-9"},
        {"contact": contact, "name": "signed.up"},                                          # server makes the id
    ]
    response = await api.post("/v1/events", json={"events": batch})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 3 and body["duplicates"] == 0
    rejected = {r["index"]: r["reason"] for r in body["rejected"]}
    assert sorted(rejected) == [1, 2, 3, 5, 6, 7, 8, 9]
    assert rejected[1] == "name: Field required"
    assert rejected[2].startswith("occurred_at: Input should be a valid datetime")
    assert rejected[3] == "event: must be a JSON object"
    assert rejected[5].startswith("properties: Input should be a valid dictionary")
    assert rejected[6] == "occurred_at: Input should have timezone info"
    assert rejected[7] == "colour: Extra inputs are not permitted"
    assert rejected[8] == "properties: must not contain NUL characters"
    assert rejected[9].startswith("contact: String should have at least 1 character")

    stored = await _events(engine, contact)
    assert sorted(e.name for e in stored) == ["order.completed", "page.viewed", "signed.up"]
    by_name = {e.name: e for e in stored}
    assert by_name["page.viewed"].properties == {"path": "/"}
    assert by_name["page.viewed"].occurred_at == datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc)
    assert by_name["order.completed"].properties == {"total": 42.5}
    assert len(by_name["signed.up"].event_id) == 32  # made by the server
    assert sorted(e.event_id for e in hooks["events"]) == sorted(e.event_id for e in stored)
    assert {e.contact_external_id for e in hooks["events"]} == {contact}


async def test_a_repeated_event_id_is_acknowledged_and_stored_once(api, engine, unique, hooks):
    contact = f"c-{unique}"
    batch = [{"contact": contact, "name": "page.viewed", "event_id": f"{unique}-{i}", "properties": {"i": i}}
             for i in range(5)]
    batch.append(dict(batch[2], properties={"i": "again"}))  # twice in the same batch
    first = await api.post("/v1/events", json={"events": batch})
    assert first.json() == {"accepted": 5, "duplicates": 1, "rejected": []}
    assert await _count(engine, Event.event_id.startswith(f"{unique}-")) == 5
    assert len(hooks["events"]) == 5

    again = await api.post("/v1/events", json={"events": batch})
    assert again.json() == {"accepted": 0, "duplicates": 6, "rejected": []}
    assert await _count(engine, Event.event_id.startswith(f"{unique}-")) == 5
    assert len(hooks["events"]) == 5  # journeys hear of each event once
    one = await api.post("/v1/events", json=batch[0])  # the single-event form
    assert one.status_code == 200 and one.json() == {"accepted": 0, "duplicates": 1, "rejected": []}
    stored = {e.event_id: e.properties for e in await _events(engine, contact)}
    assert stored[f"{unique}-2"] == {"i": 2}  # the first one wins


async def test_unknown_contacts_are_created_when_allowed(api, engine, unique, hooks):
    response = await api.post("/v1/events", json=[
        {"contact": f"new-{unique}", "name": "app.opened"},
        {"contact": f"new-{unique}", "name": "app.closed"},
    ])
    assert response.json()["accepted"] == 2
    profile = (await api.get(f"/v1/contacts/new-{unique}")).json()
    assert profile["email"] is None and profile["attributes"] == {}
    assert sorted(e["name"] for e in profile["events"]) == ["app.closed", "app.opened"]
    async with engine.connect() as conn:
        contact_id = (await conn.execute(select(Contact.id).where(Contact.external_id == f"new-{unique}"))).scalar_one()
    assert hooks["contacts"] == [contact_id]  # told once, though named twice


async def test_unknown_contacts_are_rejected_when_auto_create_is_off(strict_api, engine, unique, hooks):
    await strict_api.put(f"/v1/contacts/known-{unique}", json={})
    hooks["contacts"].clear()
    response = await strict_api.post("/v1/events", json={"events": [
        {"contact": f"ghost-{unique}", "name": "app.opened"},
        {"contact": f"known-{unique}", "name": "app.opened"},
    ]})
    assert response.json() == {"accepted": 1, "duplicates": 0, "rejected": [
        {"index": 0, "reason": f"contact: no contact with external id 'ghost-{unique}'"}]}
    assert (await strict_api.get(f"/v1/contacts/ghost-{unique}")).status_code == 404
    assert hooks["contacts"] == []


async def test_a_single_invalid_event_or_a_malformed_body_is_a_422(api, unique):
    single = await api.post("/v1/events", json={"contact": f"c-{unique}"})
    assert single.status_code == 422
    assert single.json()["error"] == {"code": "validation_error", "message": "name: Field required", "details": [
        {"field": "name", "message": "name: Field required", "type": "invalid_event"}]}
    for body in (b"{not json", b'"a string"', b"42", b'{"events": {"contact": "x"}}', b'{"contact": "x", "v": NaN}'):
        response = await api.post("/v1/events", content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == "validation_error"
    too_many = await api.post("/v1/events", json={"events": [{"contact": "x", "name": "y"}] * 10_001})
    assert too_many.status_code == 422 and "at most 10000" in too_many.json()["error"]["message"]


async def test_batches_have_their_own_body_limit(small_batch_api, api, engine, unique, hooks):
    # The fixture's default limit is 200 kB; event batches get their own allowance (300 kB here).
    batch = [{"contact": f"c-{unique}", "name": "page.viewed", "event_id": f"{unique}-{i}",
              "properties": {"pad": "x" * 150}} for i in range(1000)]
    body = json.dumps({"events": batch}).encode()
    assert 200_000 < len(body) < 300_000
    response = await small_batch_api.post("/v1/events", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 200 and response.json()["accepted"] == 1000
    too_big = json.dumps({"events": batch + batch[:500]}).encode()
    response = await small_batch_api.post("/v1/events", content=too_big, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert await _count(engine, Event.event_id.startswith(f"{unique}-")) == 1000

    async def chunked():  # no Content-Length: the limit is counted as the body arrives
        for start in range(0, len(too_big), 64_000):
            yield too_big[start:start + 64_000]

    response = await small_batch_api.post("/v1/events", content=chunked(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    # Elsewhere the general limit still holds.
    response = await api.put(f"/v1/contacts/c-{unique}", json={"attributes": {"blob": "x" * 250_000}})
    assert response.status_code == 413


async def test_ten_thousand_events_in_one_batch(api, engine, unique, hooks):
    batch = [{"contact": f"c-{unique}-{i % 500}", "name": "page.viewed", "event_id": f"{unique}-{i}",
              "properties": {"i": i}} for i in range(10_000)]
    response = await api.post("/v1/events", json={"events": batch})
    assert response.status_code == 200, response.text[:300]
    assert response.json() == {"accepted": 10_000, "duplicates": 0, "rejected": []}
    assert await _count(engine, Event.event_id.startswith(f"{unique}-")) == 10_000
    assert len(hooks["contacts"]) == 500


async def test_concurrent_batches_with_the_same_ids_store_each_event_once(api, engine, unique, hooks):
    batch = {"events": [{"contact": f"c-{unique}-{i % 7}", "name": "page.viewed", "event_id": f"{unique}-{i}"}
                        for i in range(300)]}
    answers = await asyncio.gather(*(api.post("/v1/events", json=batch) for _ in range(4)))
    results = [a.json() for a in answers]
    assert sum(r["accepted"] for r in results) == 300
    assert sum(r["duplicates"] for r in results) == 900
    assert await _count(engine, Event.event_id.startswith(f"{unique}-")) == 300
    assert sorted(e.event_id for e in hooks["events"]) == sorted(f"{unique}-{i}" for i in range(300))


async def test_a_batch_that_loses_a_race_falls_back_to_on_conflict(engine, unique, caplog):
    """B looks for stored ids while A's identical batch is uncommitted, so B's COPY meets A's
    rows on the unique index, waits for A and fails; B then stores with ON CONFLICT."""
    caplog.set_level(logging.INFO, logger="sojourn.data.ingest.events")
    now = datetime.now(timezone.utc)
    rows = [ingest.EventRow(index=i, event_id=f"{unique}-{i}", contact=f"c-{unique}", name="x", properties={},
                            properties_json="{}", occurred_at=now) for i in range(50)]
    async with raw_connection(engine) as a, raw_connection(engine) as b:
        await ingest.resolve_contacts(a, [f"c-{unique}"], create=True)  # committed: only the events race
        transaction = a.transaction()
        await transaction.start()
        first = await ingest._store_events(a, rows, True, bulk=True)
        second = asyncio.create_task(ingest.store_events(b, rows, True))
        await asyncio.sleep(0.5)
        assert not second.done()  # waiting on A's uncommitted rows
        await transaction.commit()
        second = await second
    assert len(first.inserted) == 50 and first.duplicates == 0
    assert second.inserted == [] and second.duplicates == 50
    assert "raced another with the same event ids" in caplog.text
    assert await _count(engine, Event.event_id.startswith(f"{unique}-")) == 50
