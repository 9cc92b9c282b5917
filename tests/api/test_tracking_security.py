"""Forged, altered or misused tracking tokens and webhook signatures change nothing."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from sqlalchemy import func, select

from sojourn.contracts.journey import JourneyState
from sojourn.data.models import EngagementEvent, Message
from sojourn.delivery.tokens import sign

from helpers import (
    add_contact,
    create_active_journey,
    enroll,
    post_webhook,
    tracking_path,
    wait_for_mail,
)


async def _events(engine, workflow_id: str) -> int:
    async with engine.connect() as conn:
        return await conn.scalar(select(func.count()).select_from(EngagementEvent).join(Message)
                                 .where(Message.workflow_id == workflow_id))


async def _sent_email(api, engine, unique: str) -> tuple[dict, str]:
    journey = f"sec-{unique}"
    await create_active_journey(api, journey, {"name": "Security", "nodes": [
        {"id": "mail", "type": "send", "subject": f"Tracked {unique}",
         "html": '<a href="https://shop.example/a">a</a>', "next": "wait"},
        {"id": "wait", "type": "wait", "duration": "30d", "next": "opened"},
        # The run listens for the mail's opens, so a refused token's missing signal would show.
        {"id": "opened", "type": "branch", "condition": {"opened": "mail"}, "then": "end", "else": "end"},
        {"id": "end", "type": "exit"}]})
    await add_contact(api, f"s-{unique}", f"s-{unique}@example.com")
    [run] = await enroll(api, journey, f"s-{unique}")
    [mail] = await wait_for_mail(engine, f"s-{unique}@example.com")
    return mail, run["workflow_id"]


async def test_forged_and_altered_tokens_get_404(api, worker, engine, temporal_env, settings, unique):
    mail, workflow_id = await _sent_email(api, engine, unique)
    pixel = tracking_path(mail["html"], "o")
    link = tracking_path(mail["html"], "c")
    token = pixel.rsplit("/", 1)[1]
    altered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    message_id = (await api.get(f"/v1/journeys/sec-{unique}/runs/s-{unique}")).json()["state"]["messages"][0]["message_id"]
    attempts = [
        f"/t/o/{altered}",
        "/t/o/not-a-token",
        f"/t/o/{sign(f'o:{message_id}', 'some-other-secret')}",
        f"/t/c/{token}",  # an open token used as a click
        f"/t/c/{sign(f'c:{message_id}:7', settings.tracking_secret)}",  # a URL that was never in the message
        f"/t/o/{sign('o:00000000-0000-0000-0000-000000000000', settings.tracking_secret)}",  # unknown message
    ]
    for path in attempts:
        response = await api.get(path, follow_redirects=False)
        assert response.status_code == 404, path
        assert "location" not in response.headers
    assert await _events(engine, workflow_id) == 0
    state = await temporal_env.client.get_workflow_handle(workflow_id).query("state", result_type=JourneyState)
    assert state.engagements == []

    assert (await api.get(link, follow_redirects=False)).headers["location"] == "https://shop.example/a"
    assert (await api.get(pixel)).status_code == 200
    assert await _events(engine, workflow_id) == 2


async def test_webhook_signature_is_required(api, worker, engine, temporal_env, settings, unique):
    mail, workflow_id = await _sent_email(api, engine, unique)
    event = {"message_id": mail["message_id"], "type": "opened", "timestamp": datetime.now(timezone.utc).isoformat()}
    bad = await post_webhook(api, settings.webhook_secret, [event], signature=f"t={int(time.time())},v1=" + "0" * 64)
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "invalid_signature"
    wrong_secret = await post_webhook(api, "not-the-secret", [event])
    assert wrong_secret.status_code == 401
    unsigned = await api.post("/v1/webhooks/engagement", json={"events": [event]})
    assert unsigned.status_code == 401
    assert await _events(engine, workflow_id) == 0

    malformed = await post_webhook(api, settings.webhook_secret, [{**event, "type": "teleported"}])
    assert malformed.status_code == 422 and "events.0.type" in malformed.text
    mixed = await post_webhook(api, settings.webhook_secret, [
        event, {**event, "message_id": "<nobody@nowhere>"}, {**event, "type": "bounced"}])
    assert mixed.status_code == 200
    assert [r["status"] for r in mixed.json()["results"]] == ["recorded", "unknown_message", "recorded"]
    assert await _events(engine, workflow_id) == 2
    repeat = await post_webhook(api, settings.webhook_secret, [event])
    assert repeat.status_code == 200 and repeat.json()["results"][0]["status"] == "duplicate"
    state = await temporal_env.client.get_workflow_handle(workflow_id).query("state", result_type=JourneyState)
    assert [(e.send_node, e.kind) for e in state.engagements] == [("mail", "opened")]
    assert await _events(engine, workflow_id) == 2  # a provider's repeat is stored once
