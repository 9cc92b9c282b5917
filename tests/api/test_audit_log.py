"""Every change to journeys, segments, tag rules, consent and contacts is in the audit log, with
who made it (a key's fingerprint, never the key), in the same transaction as the change."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
import pytest

from sojourn.settings import ApiKey, Scope, Settings

from helpers import API_KEY, mothers_day

EDITOR = "audit-editor-key"
INGEST = "audit-ingest-key"
VIEWER = "audit-viewer-key"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    keys = [ApiKey(secret=API_KEY), ApiKey(secret=EDITOR, scope=Scope.editor),
            ApiKey(secret=INGEST, scope=Scope.ingest), ApiKey(secret=VIEWER, scope=Scope.viewer)]
    return settings.model_copy(update={"api_keys": keys})


def _as(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _entries(api: httpx.AsyncClient, **params: str) -> list[dict]:
    answer = await api.get("/v1/audit", params={"limit": 500, **params})
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


async def test_journey_changes_are_recorded_with_who_made_them(api: httpx.AsyncClient, unique: str) -> None:
    journey = f"audited-{unique}"
    assert (await api.post("/v1/journeys", json={"id": journey, "definition": mothers_day()},
                           headers=_as(EDITOR))).status_code == 201
    assert (await api.put(f"/v1/journeys/{journey}", json={"definition": mothers_day("Again")},
                          headers=_as(EDITOR))).status_code == 200
    for action in ("activate", "activate", "pause", "archive"):  # the second activate changes nothing
        assert (await api.post(f"/v1/journeys/{journey}/{action}", headers=_as(EDITOR))).status_code == 200
    # Refused changes leave no entry: the id is taken; archived is final.
    assert (await api.post("/v1/journeys", json={"id": journey, "definition": mothers_day()})).status_code == 409
    assert (await api.post(f"/v1/journeys/{journey}/activate")).status_code == 409

    entries = await _entries(api, resource_type="journey", resource_id=journey)
    editor = ApiKey(secret=EDITOR).name
    assert [(e["action"], e["actor"]) for e in entries] == [
        ("created", editor), ("updated", editor), ("activated", editor), ("paused", editor), ("archived", editor)]
    assert entries[0]["summary"] == {"version": 1, "name": "Mother's Day"}
    assert entries[1]["summary"] == {"version": 2, "name": "Again"}
    assert entries[3]["summary"] == {"from": "active", "to": "paused"}
    assert all(EDITOR not in str(e) for e in entries)
    assert all(e["resource_type"] == "journey" and e["resource_id"] == journey for e in entries)


async def test_segments_and_tag_rules_are_recorded(api: httpx.AsyncClient, unique: str) -> None:
    segment, rule = f"seg-{unique}", f"rule-{unique}"
    plan = {"attribute": "plan", "op": "eq", "value": "gold"}
    assert (await api.post("/v1/segments", json={"id": segment, "name": "Gold", "filter": plan})).status_code == 201
    assert (await api.post("/v1/segments", json={"id": f"bad-{unique}", "name": "Bad",
                                                 "filter": {"attribute": "plan", "op": "nope"}})).status_code == 422
    assert (await api.put(f"/v1/segments/{segment}", json={"filter": plan})).status_code == 200
    assert (await api.post("/v1/segment-sets", json={"id": f"set-{unique}", "name": "Tiers",
                                                     "segments": [segment]})).status_code == 201
    body = {"tag": "gold", "filter": plan, "weight": {"kind": "count", "event": "order.completed"}}
    assert (await api.put(f"/v1/tag-rules/{rule}", json=body)).status_code == 201
    assert (await api.put(f"/v1/tag-rules/{rule}", json=body)).status_code == 200
    assert (await api.delete(f"/v1/tag-rules/{rule}")).status_code == 204

    admin = ApiKey(secret=API_KEY).name
    assert [(e["action"], e["actor"]) for e in await _entries(api, resource_type="segment", resource_id=segment)] == [
        ("created", admin), ("updated", admin)]
    assert await _entries(api, resource_type="segment", resource_id=f"bad-{unique}") == []
    [tiers] = await _entries(api, resource_type="segment_set", resource_id=f"set-{unique}")
    assert tiers["summary"] == {"name": "Tiers", "segments": [segment]}
    assert [e["action"] for e in await _entries(api, resource_type="tag_rule", resource_id=rule)] == [
        "created", "updated", "deleted"]


async def test_consent_changes_and_erasure_are_recorded(api: httpx.AsyncClient, quiet_triggers, unique: str) -> None:
    contact = f"audit-{unique}"
    for consent in ({"sms": "subscribed"}, {"sms": "subscribed"}, {"sms": "unsubscribed", "email": "subscribed"}):
        answer = await api.put(f"/v1/contacts/{contact}", json={"phone": "+886912345678", "consent": consent},
                               headers=_as(INGEST))
        assert answer.status_code in (200, 201), answer.text
    assert (await api.delete(f"/v1/contacts/{contact}")).status_code == 204

    entries = await _entries(api, resource_type="contact", resource_id=contact)
    ingest = ApiKey(secret=INGEST).name
    consent_changes = [(e["actor"], e["summary"]["channel"], e["summary"]["previous"], e["summary"]["status"])
                       for e in entries if e["action"] == "consent_changed"]
    assert sorted(consent_changes, key=str) == sorted([  # the repeat changed nothing, so is not there
        (ingest, "sms", None, "subscribed"), (ingest, "sms", "subscribed", "unsubscribed"),
        (ingest, "email", None, "subscribed")], key=str)
    assert entries[-1]["action"] == "erased" and entries[-1]["actor"] == ApiKey(secret=API_KEY).name


async def test_the_audit_log_is_admin_only_and_pages(api: httpx.AsyncClient, unique: str) -> None:
    for key in (EDITOR, VIEWER, INGEST):
        refused = await api.get("/v1/audit", headers=_as(key))
        assert refused.status_code == 403 and "scope admin" in refused.json()["error"]["message"]
    for n in range(3):
        body = {"id": f"paged-{n}-{unique}", "name": "P", "filter": {"attribute": "plan", "op": "eq", "value": n}}
        assert (await api.post("/v1/segments", json=body)).status_code == 201
    started = datetime.now(timezone.utc) - timedelta(minutes=5)
    seen, cursor = [], None
    while True:
        answer = (await api.get("/v1/audit", params={"resource_type": "segment", "limit": 1,
                                                     "since": started.isoformat(),
                                                     **({"cursor": cursor} if cursor else {})})).json()
        seen += [e["resource_id"] for e in answer["items"]]
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert [s for s in seen if s.endswith(unique)] == [f"paged-{n}-{unique}" for n in range(3)]
    future = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    assert await _entries(api, resource_type="segment", since=future) == []
    assert (await api.get("/v1/audit", params={"since": "2026-11-20T00:00:00"})).status_code == 422  # no zone
    assert (await api.get("/v1/audit", params={"resource_type": "planet"})).status_code == 422
