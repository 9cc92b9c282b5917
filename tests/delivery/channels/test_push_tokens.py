"""FCM talks back: a token it no longer knows is removed from the contact and the send fails
for good at once; a push node's delivery options reach FCM v1's android and apns blocks."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from sojourn.data.models import Contact

from helpers import create_active_journey, enroll, finished, put_contact
from providers import Reply


def _fcm_error(status: int, code: str, message: str, field: str | None = None) -> Reply:
    details = [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}]
    if field:
        details.append({"@type": "type.googleapis.com/google.rpc.BadRequest",
                        "fieldViolations": [{"field": field, "description": message}]})
    return Reply(status, {"error": {"code": status, "message": message,
                                    "status": "NOT_FOUND" if status == 404 else "INVALID_ARGUMENT",
                                    "details": details}})


UNREGISTERED = _fcm_error(404, "UNREGISTERED", "Requested entity was not found.")
INVALID_TOKEN = _fcm_error(400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token",
                           "message.token")
INVALID_PAYLOAD = _fcm_error(400, "INVALID_ARGUMENT", "Invalid value at 'message.data[0].value'",
                             "message.data[0].value")


async def _push_token(engine, external_id: str) -> str | None:
    async with engine.connect() as conn:
        return (await conn.execute(select(Contact.push_token).where(Contact.external_id == external_id))).scalar()


async def _push_once(api, temporal_env, unique: str, name: str, push: dict):
    journey, contact = f"{name}-{unique}", f"{name}-c-{unique}"
    await put_contact(api, contact, push_token=f"fcm-{name}-{unique}")
    await create_active_journey(api, journey, {"name": name, "nodes": [
        {"id": "notify", "type": "send", "channel": "push", "push": push, "next": "end"},
        {"id": "end", "type": "exit"}]})
    [result] = await enroll(api, journey, contact)
    return contact, await finished(temporal_env, result["workflow_id"])


@pytest.mark.parametrize(("reply", "reason"), [(UNREGISTERED, "no longer registered"),
                                               (INVALID_TOKEN, "not a valid push token")])
async def test_a_dead_token_is_removed_and_not_retried(api, worker, engine, temporal_env, providers, unique,
                                                       reply, reason):
    providers.push.script.append(reply)
    contact, state = await _push_once(api, temporal_env, unique, f"dead{reply.status}", {"body": "Hi"})
    assert len(providers.push.received) == 1
    [message] = state.messages
    assert message.status == "failed" and reason in message.reason and "removed from the contact" in message.reason
    assert await _push_token(engine, contact) is None


async def test_other_refusals_keep_the_token(api, worker, engine, temporal_env, providers, unique):
    providers.push.script.append(INVALID_PAYLOAD)
    contact, state = await _push_once(api, temporal_env, unique, "payload", {"body": "Hi"})
    assert state.messages[0].status == "failed" and "Invalid value" in state.messages[0].reason
    assert await _push_token(engine, contact) == f"fcm-payload-{unique}"


async def test_push_options_reach_android_and_apns(api, worker, temporal_env, providers, unique):
    await _push_once(api, temporal_env, unique, "options",
                     {"body": "Flash sale", "ttl": "2h", "priority": "high", "collapse_key": "flash-sale"})
    await _push_once(api, temporal_env, unique, "plain", {"body": "Hi", "priority": "normal"})
    assert providers.problems() == []
    options, plain = (r.json()["message"] for r in providers.push.received)
    assert options["android"] == {"ttl": "7200s", "priority": "HIGH", "collapse_key": "flash-sale"}
    headers = options["apns"]["headers"]
    assert headers["apns-priority"] == "10" and headers["apns-collapse-id"] == "flash-sale"
    assert abs(int(headers["apns-expiration"]) - (time.time() + 7200)) < 120
    assert plain["android"] == {"priority": "NORMAL"} and plain["apns"] == {"headers": {"apns-priority": "5"}}


@pytest.mark.parametrize(("option", "value", "problem"), [
    ("priority", "urgent", "'high' or 'normal'"), ("ttl", "5w", "4 weeks"), ("ttl", 3600, "string"),
    ("collapse_key", "x" * 65, "64 bytes"), ("sound", "ding", "unknown field"),
])
async def test_push_options_are_checked_strictly(api, unique, option, value, problem):
    definition = {"name": "bad push", "nodes": [
        {"id": "notify", "type": "send", "channel": "push", "push": {"body": "Hi", option: value}, "next": "end"},
        {"id": "end", "type": "exit"}]}
    response = await api.post("/v1/journeys", json={"id": f"bad-push-{unique}", "definition": definition})
    assert response.status_code == 422, response.text
    assert problem in response.text
