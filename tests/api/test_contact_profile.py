"""GET /v1/contacts/{id}: the profile; DELETE: the right to be forgotten, runs cancelled."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select, text
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError

from sojourn.data.models import Contact, ContactTag
from sojourn.services.triggers import Triggers

from helpers import create_active_journey, enroll, single_send, tracking_path, wait_for_mail

LINK = "https://shop.example/spring"


def _journey(subject: str) -> dict:
    return {"name": "Profile", "nodes": [
        {"id": "hello", "type": "send", "subject": subject,
         "html": f'<p>Hello {{{{ first_name }}}}, <a href="{LINK}">the spring collection</a></p>', "next": "pause"},
        {"id": "pause", "type": "wait", "duration": "7d", "next": "bye"},
        {"id": "bye", "type": "send", "subject": subject + " (bye)", "text": "Bye", "next": "end"},
        {"id": "end", "type": "exit"},
    ]}


@pytest.fixture(autouse=True)
def quiet_triggers(monkeypatch):
    """Events and contact changes here start nothing: these tests are about the profile."""

    async def nothing(self, items):
        return None

    monkeypatch.setattr(Triggers, "on_events", nothing)
    monkeypatch.setattr(Triggers, "on_contacts_changed", nothing)


async def _contact_with_history(api, engine, unique: str) -> tuple[str, dict]:
    """A contact with attributes, two tags, three events and a run that sent a message (opened)."""
    contact, email = f"p-{unique}", f"p-{unique}@example.com"
    put = await api.put(f"/v1/contacts/{contact}", json={
        "email": email, "first_name": "Ann", "time_zone": "Europe/Paris", "attributes": {"plan": "gold"}})
    assert put.status_code == 201
    async with engine.begin() as conn:
        contact_id = (await conn.execute(select(Contact.id).where(Contact.external_id == contact))).scalar_one()
        await conn.execute(ContactTag.__table__.insert(), [
            {"contact_id": contact_id, "tag": "vip", "weight": 3.0, "source": "import"},
            {"contact_id": contact_id, "tag": "newsletter", "weight": 1.0, "source": None}])
    events = [{"contact": contact, "name": name, "event_id": f"{unique}-{i}", "properties": {"i": i},
               "occurred_at": f"2024-05-0{i + 1}T09:00:00Z"} for i, name in enumerate(["a", "b", "c"])]
    assert (await api.post("/v1/events", json={"events": events})).json()["accepted"] == 3
    journey = f"profile-{unique}"
    await create_active_journey(api, journey, _journey(f"Spring {unique}"))
    [run] = await enroll(api, journey, contact)
    [mail] = await wait_for_mail(engine, email)
    assert (await api.get(tracking_path(mail["html"], "o"))).status_code == 200
    return contact, {"journey": journey, "run": run, "contact_id": contact_id, "email": email}


async def test_profile_lists_fields_tags_events_messages_and_journeys(api, engine, worker, unique):
    contact, known = await _contact_with_history(api, engine, unique)
    response = await api.get(f"/v1/contacts/{contact}")
    assert response.status_code == 200, response.text
    profile = response.json()
    assert (profile["external_id"], profile["email"], profile["first_name"], profile["time_zone"]) == (
        contact, known["email"], "Ann", "Europe/Paris")
    assert profile["attributes"] == {"plan": "gold"}
    assert [(t["tag"], t["weight"], t["source"]) for t in profile["tags"]] == [
        ("vip", 3.0, "import"), ("newsletter", 1.0, None)]
    assert [(e["name"], e["event_id"], e["properties"]) for e in profile["events"]] == [
        ("c", f"{unique}-2", {"i": 2}), ("b", f"{unique}-1", {"i": 1}), ("a", f"{unique}-0", {"i": 0})]
    [message] = profile["messages"]
    assert (message["journey"], message["journey_version"], message["node"], message["subject"]) == (
        known["journey"], 1, "hello", f"Spring {unique}")
    assert message["status"] == "sent" and message["sent_at"] is not None
    assert (message["opens"], message["clicks"]) == (1, 0)
    [run] = profile["journeys"]
    assert (run["journey"], run["version"], run["status"], run["run_id"]) == (
        known["journey"], 1, "active", known["run"]["run_id"])
    assert run["ended_at"] is None and run["exit_reason"] is None and run["converted_at"] is None
    assert "id" not in profile  # the internal key stays inside

    many = [{"contact": contact, "name": "page.viewed", "event_id": f"{unique}-many-{i}",
             "occurred_at": f"2024-06-01T10:{i // 60:02d}:{i % 60:02d}Z"} for i in range(60)]
    await api.post("/v1/events", json=many)
    events = (await api.get(f"/v1/contacts/{contact}")).json()["events"]
    assert len(events) == 50 and events[0]["event_id"] == f"{unique}-many-59"
    assert (await api.get(f"/v1/contacts/nobody-{unique}")).status_code == 404


async def test_erasing_a_contact_cancels_its_runs_and_leaves_nothing(api, engine, worker, temporal_env, unique):
    contact, known = await _contact_with_history(api, engine, unique)
    contact_id = known["contact_id"]
    async with engine.connect() as conn:
        message_ids = list((await conn.execute(text("SELECT id FROM messages WHERE contact_id = :id"),
                                               {"id": contact_id})).scalars())
        opens = (await conn.execute(text("SELECT count(*) FROM engagement_events WHERE message_id = ANY(:ids)"),
                                    {"ids": message_ids})).scalar_one()
    assert len(message_ids) == 1 and opens == 1
    response = await api.delete(f"/v1/contacts/{contact}")
    assert response.status_code == 204 and response.content == b""

    # The run is cancelled; recording its end accepts that the contact is gone.
    handle = temporal_env.client.get_workflow_handle(known["run"]["workflow_id"], run_id=known["run"]["run_id"])
    with pytest.raises(WorkflowFailureError):
        await asyncio.wait_for(handle.result(), 20)
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED

    async with engine.connect() as conn:
        left = {table: (await conn.execute(text(f"SELECT count(*) FROM {table} WHERE contact_id = :id"),
                                           {"id": contact_id})).scalar_one()
                for table in ("events", "contact_tags", "messages", "journey_runs")}
        left["engagement_events"] = (await conn.execute(text(
            "SELECT count(*) FROM engagement_events WHERE message_id = ANY(:ids)"), {"ids": message_ids})).scalar_one()
        left["contacts"] = (await conn.execute(select(func.count()).select_from(Contact).where(
            (Contact.id == contact_id) | (Contact.external_id == contact)))).scalar_one()
        left["events by id"] = (await conn.execute(text("SELECT count(*) FROM events WHERE event_id LIKE :p"),
                                                   {"p": f"{unique}-%"})).scalar_one()
    assert left == dict.fromkeys(left, 0)
    assert (await api.get(f"/v1/contacts/{contact}")).status_code == 404
    assert (await api.delete(f"/v1/contacts/{contact}")).status_code == 404
    # The event ids are free again: the contact is gone, not hidden.
    again = await api.post("/v1/events", json={"contact": contact, "name": "a", "event_id": f"{unique}-0"})
    assert again.json()["accepted"] == 1


async def test_erasing_a_contact_whose_run_already_ended(api, engine, worker, temporal_env, unique):
    contact, known = await _contact_with_history(api, engine, unique)
    handle = temporal_env.client.get_workflow_handle(known["run"]["workflow_id"], run_id=known["run"]["run_id"])
    await handle.terminate("ended before the erasure")
    response = await api.delete(f"/v1/contacts/{contact}")
    assert response.status_code == 204
    assert (await handle.describe()).status == WorkflowExecutionStatus.TERMINATED
    assert (await api.get(f"/v1/contacts/{contact}")).status_code == 404


async def test_a_contact_whose_id_has_a_slash_is_reachable_and_erasable(api, engine, unique):
    """Events created contacts with '/' in their ids before such ids were refused: they are read
    and erased with the id percent-encoded (a new one is still refused: tests/api/test_bad_input.py)."""
    legacy, other = f"shop/{unique}", f"plain-{unique}"
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO contacts (external_id, email, attributes, created_at, updated_at) "
                                "VALUES (:id, :email, '{}', now(), now())"),
                           {"id": legacy, "email": f"legacy-{unique}@example.com"})
    assert (await api.put(f"/v1/contacts/{other}", json={"email": f"{other}@example.com"})).status_code == 201
    encoded = legacy.replace("/", "%2F")

    profile = await api.get(f"/v1/contacts/{encoded}")
    assert profile.status_code == 200, profile.text
    assert profile.json()["external_id"] == legacy
    # The longer routes under /v1/contacts/{id}/ still answer for ids without a '/'.
    assert (await api.get(f"/v1/contacts/{other}/runs")).json() == []
    # Its runs and segment membership are reachable as well.
    journey = f"legacy-{unique}"
    await create_active_journey(api, journey, single_send("for a legacy id"))
    [started] = await enroll(api, journey, legacy)
    assert started["status"] == "started", started
    runs = await api.get(f"/v1/contacts/{encoded}/runs")
    assert [r["journey_id"] for r in runs.json()] == [journey], runs.text
    assert (await api.get(f"/v1/journeys/{journey}/runs/{encoded}")).status_code == 200
    segment = {"id": f"legacy-{unique}", "name": "legacy", "filter": {"attribute": "email", "op": "exists"}}
    assert (await api.post("/v1/segments", json=segment)).status_code == 201
    member = await api.get(f"/v1/segments/legacy-{unique}/contacts/{encoded}")
    assert member.status_code == 200 and member.json()["matches"] is True, member.text

    assert (await api.delete(f"/v1/contacts/{encoded}")).status_code == 204
    assert (await api.get(f"/v1/contacts/{encoded}")).status_code == 404
    assert (await api.get(f"/v1/contacts/{other}")).status_code == 200
