"""Journeys over HTTP: validation errors, versions, status, enrollment, auth, limits."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx

from helpers import (
    add_contact,
    advance,
    create_active_journey,
    enroll,
    mothers_day,
    wait_for_mail,
)


def _one_send(subject: str) -> dict:
    return {"name": "One send", "nodes": [
        {"id": "hello", "type": "send", "subject": subject, "text": "Hello {{ first_name }}", "next": "pause"},
        {"id": "pause", "type": "wait", "duration": "1d", "next": "bye"},
        {"id": "bye", "type": "send", "subject": subject + " (follow-up)", "text": "Bye", "next": "end"},
        {"id": "end", "type": "exit"},
    ]}


async def test_invalid_definition_lists_every_problem(api, unique):
    definition = mothers_day()
    definition["nodes"][1]["duration"] = "two days"
    definition["nodes"][2]["then"] = "nowhere"
    response = await api.post("/v1/journeys", json={"id": f"bad-{unique}", "definition": definition})
    assert response.status_code == 422
    body = response.json()["error"]
    assert body["code"] == "invalid_definition"
    problems = {(p["node"], p["field"]) for p in body["details"]}
    assert ("wait_2d", "duration") in problems
    assert ("opened_preview", "then") in problems
    assert (await api.get(f"/v1/journeys/bad-{unique}")).status_code == 404


async def test_segments_a_journey_names_must_exist(api, unique):
    vip = f"vip-{unique}"
    assert (await api.post("/v1/segments", json={"id": vip, "name": "vip",
                                                 "filter": {"tag": "vip"}})).status_code == 201

    def definition(entry_segment: str, case_segment: str) -> dict:
        return {"name": "segments", "entry": {"segment": entry_segment}, "nodes": [
            {"id": "which", "type": "branch", "cases": [
                {"when": {"segment": vip}, "then": "end"},
                {"when": {"not": {"segment": case_segment}}, "then": "end"}], "default": "end"},
            {"id": "end", "type": "exit"}]}

    response = await api.post("/v1/journeys", json={"id": f"seg-{unique}",
                                                    "definition": definition(f"nobody-{unique}", f"gone-{unique}")})
    assert response.status_code == 422, response.text
    problems = {(p["node"], p["field"]): p["message"] for p in response.json()["error"]["details"]}
    assert set(problems) == {(None, "entry.segment"), ("which", "cases.1.when.not.segment")}
    assert f"segment 'gone-{unique}' does not exist" in problems[("which", "cases.1.when.not.segment")]

    created = await api.post("/v1/journeys", json={"id": f"seg-{unique}", "definition": definition(vip, vip)})
    assert created.status_code == 201, created.text
    updated = await api.put(f"/v1/journeys/seg-{unique}", json={"definition": definition(vip, f"gone-{unique}")})
    assert updated.status_code == 422
    assert [p["field"] for p in updated.json()["error"]["details"]] == ["cases.1.when.not.segment"]


async def test_one_answer_lists_every_problem(api, unique):
    """Schema, rules, segments and the webhook allow-list are checked in one pass."""
    definition = {
        "name": "everything wrong",
        "entry": {"schedule": {"cron": "61 25 * * *"}, "audience": f"nobody-{unique}",
                  "starts_at": "2026-06-01T00:00:00Z", "ends_at": "2026-05-01T00:00:00Z"},
        "reentry": {"policy": "never", "cooldown": "7d"},
        "nodes": [
            {"id": "mail", "type": "send", "subject": "Hi", "text": "Hi", "from": "not", "transactional": "yes",
             "next": "call"},
            {"id": "call", "type": "send", "channel": "webhook", "webhook": {"url": "https://crm.example/hook"},
             "next": "end"},
            {"id": "end", "type": "exit"}]}
    response = await api.post("/v1/journeys", json={"id": f"all-{unique}", "definition": definition})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_definition"
    assert {(p["node"], p["field"]) for p in error["details"]} == {
        (None, "entry.schedule.cron"), (None, "entry.audience"), (None, "entry.ends_at"),
        (None, "reentry.cooldown"), ("mail", "from"), ("mail", "transactional"), ("call", "webhook.url")}
    assert (await api.get(f"/v1/journeys/all-{unique}")).status_code == 404


async def test_unknown_fields_and_oversized_bodies_are_refused(api, unique):
    response = await api.post("/v1/journeys", json={"id": f"x-{unique}", "definition": mothers_day(), "colour": "red"})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "body.colour"
    response = await api.put(f"/v1/contacts/c-{unique}", json={"email": "a@example.com", "shoe_size": 42})
    assert response.status_code == 422 and "shoe_size" in response.text
    huge = {"email": "a@example.com", "attributes": {"blob": "x" * 300_000}}
    response = await api.put(f"/v1/contacts/c-{unique}", json=huge)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_calls_without_a_valid_api_key_get_401(api, unique):
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer wrong-key"}):
        response = await api.get("/v1/journeys", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
        response = await api.put(f"/v1/contacts/c-{unique}", json={"email": "a@example.com"}, headers=headers)
        assert response.status_code == 401
    assert (await api.get(f"/v1/contacts/c-{unique}")).status_code == 404  # nothing was written
    assert (await api.get("/healthz", headers={"Authorization": ""})).status_code in (200, 503)  # public


async def test_schema_is_served(api):
    schema = (await api.get("/v1/schema/journey")).json()
    assert "nodes" in schema["properties"]
    node_types = {d["properties"]["type"]["const"] for d in schema["$defs"].values() if "type" in d.get("properties", {})}
    assert node_types == {"send", "wait", "wait_for", "branch", "split", "tag", "exit"}


async def test_status_lifecycle_and_enrollment_needs_active(api, unique):
    journey = f"life-{unique}"
    created = await api.post("/v1/journeys", json={"id": journey, "definition": _one_send("Hi")})
    assert created.status_code == 201 and created.json()["status"] == "draft"
    await add_contact(api, f"c-{unique}", f"c-{unique}@example.com")
    refused = await api.post(f"/v1/journeys/{journey}/enrollments", json={"contacts": [f"c-{unique}"]})
    assert refused.status_code == 409 and "activate" in refused.json()["error"]["message"]
    assert (await api.post(f"/v1/journeys/{journey}/activate")).json()["status"] == "active"
    assert (await api.post(f"/v1/journeys/{journey}/pause")).json()["status"] == "paused"
    assert (await api.post(f"/v1/journeys/{journey}/archive")).json()["status"] == "archived"
    assert (await api.post(f"/v1/journeys/{journey}/activate")).status_code == 409
    again = await api.post("/v1/journeys", json={"id": journey, "definition": _one_send("Hi")})
    assert again.status_code == 409
    listed = (await api.get("/v1/journeys", params={"limit": 500})).json()
    assert journey in [j["id"] for j in listed["items"]]


async def test_duplicate_enrollment_returns_the_existing_run(api, worker, engine, unique):
    journey = f"dup-{unique}"
    await create_active_journey(api, journey, _one_send(f"Welcome {unique}"))
    email = f"d-{unique}@example.com"
    await add_contact(api, f"d-{unique}", email, "Dana")
    first = await enroll(api, journey, f"d-{unique}", f"ghost-{unique}")
    assert first[0]["status"] == "started"
    assert first[1] == {**first[1], "contact": f"ghost-{unique}", "status": "not_found"}
    second = await enroll(api, journey, f"d-{unique}", f"d-{unique}")
    assert [r["status"] for r in second] == ["existing"]
    assert second[0]["workflow_id"] == first[0]["workflow_id"] and second[0]["run_id"] == first[0]["run_id"]
    mail = await wait_for_mail(engine, email)
    assert [m["subject"] for m in mail] == [f"Welcome {unique}"]
    assert mail[0]["text"].strip() == "Hello Dana"


async def test_run_keeps_its_version_after_an_update(api, worker, engine, temporal_env, unique):
    journey = f"pin-{unique}"
    await create_active_journey(api, journey, _one_send("Version one"))
    await add_contact(api, f"early-{unique}", f"early-{unique}@example.com")
    [early] = await enroll(api, journey, f"early-{unique}")
    assert early["version"] == 1
    await wait_for_mail(engine, f"early-{unique}@example.com")

    updated = await api.put(f"/v1/journeys/{journey}", json={"definition": _one_send("Version two")})
    assert updated.status_code == 200 and updated.json()["latest_version"] == 2
    await add_contact(api, f"late-{unique}", f"late-{unique}@example.com")
    [late] = await enroll(api, journey, f"late-{unique}")
    assert late["version"] == 2

    await advance(temporal_env, early["workflow_id"], timedelta(days=1, minutes=1))
    early_mail = await wait_for_mail(engine, f"early-{unique}@example.com", 2)
    assert [m["subject"] for m in early_mail] == ["Version one", "Version one (follow-up)"]
    late_mail = await wait_for_mail(engine, f"late-{unique}@example.com")
    assert [m["subject"] for m in late_mail] == ["Version two"]
    v1 = (await api.get(f"/v1/journeys/{journey}/versions/1")).json()
    assert v1["definition"]["nodes"][0]["subject"] == "Version one"


async def test_cancelled_run_sends_nothing_more(api, worker, engine, temporal_env, unique):
    journey = f"cancel-{unique}"
    await create_active_journey(api, journey, _one_send("Before cancel"))
    email = f"x-{unique}@example.com"
    await add_contact(api, f"x-{unique}", email)
    [run] = await enroll(api, journey, f"x-{unique}")
    await wait_for_mail(engine, email)
    cancelled = await api.delete(f"/v1/journeys/{journey}/runs/x-{unique}")
    assert cancelled.status_code == 202
    handle = temporal_env.client.get_workflow_handle(run["workflow_id"])
    try:
        await handle.result()
    except Exception:
        pass
    state = (await api.get(f"/v1/journeys/{journey}/runs/x-{unique}")).json()
    assert state["execution_status"] == "CANCELED"
    assert state["state"]["status"] == "cancelled"
    mail = await wait_for_mail(engine, email, 2, timeout=2)
    assert [m["subject"] for m in mail] == ["Before cancel"]


async def test_contact_upsert_merges_attributes(api, unique):
    created = await api.put(f"/v1/contacts/m-{unique}", json={"email": "m@example.com", "attributes": {"a": 1}})
    assert created.status_code == 201
    updated = await api.put(f"/v1/contacts/m-{unique}", json={"first_name": "Mia", "attributes": {"b": 2}})
    assert updated.status_code == 200
    body = (await api.get(f"/v1/contacts/m-{unique}")).json()
    assert body["email"] == "m@example.com" and body["first_name"] == "Mia"
    assert body["attributes"] == {"a": 1, "b": 2}
    bad = await api.put(f"/v1/contacts/m-{unique}", json={"email": "not-an-email"})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "body.email"


async def test_openapi_docs_are_served(api: httpx.AsyncClient):
    spec = (await api.get("/openapi.json")).json()
    assert "/v1/journeys/{journey_id}/enrollments" in spec["paths"]


async def test_journeys_can_be_posted_as_yaml(api, unique):
    source = (Path(__file__).parents[2] / "examples" / "mothers-day.yaml").read_text()
    source = source.replace("id: mothers-day", f"id: yaml-{unique}", 1)
    response = await api.post("/v1/journeys", content=source, headers={"Content-Type": "application/yaml"})
    assert response.status_code == 201, response.text
    assert response.json()["definition"]["nodes"][1]["duration"] == "2d"
    broken = await api.post("/v1/journeys", content="id: [unclosed", headers={"Content-Type": "application/yaml"})
    assert broken.status_code == 422 and broken.json()["error"]["code"] == "invalid_yaml"


async def test_contacts_page_with_a_cursor(api, unique):
    for n in range(5):
        await api.put(f"/v1/contacts/page-{unique}-{n}", json={"email": f"p{n}-{unique}@example.com"})
    seen, cursor = [], f"page-{unique}"
    while True:
        params = {"limit": 2, "cursor": cursor}
        page = (await api.get("/v1/contacts", params=params)).json()
        seen += [c["external_id"] for c in page["items"] if c["external_id"].startswith(f"page-{unique}")]
        if page["next_cursor"] is None or not page["next_cursor"].startswith(f"page-{unique}"):
            break
        cursor = page["next_cursor"]
    assert seen == [f"page-{unique}-{n}" for n in range(5)]
