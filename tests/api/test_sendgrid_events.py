"""SendGrid's Event Webhook: signed with ECDSA as SendGrid signs it, each event recorded against
the email it names (by our Message-ID, or a `sojourn_message_id` custom argument)."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from sqlalchemy import select

from sojourn.data.models import Contact, ContactConsent, EngagementEvent, Message
from sojourn.settings import Settings

from helpers import create_active_journey, enroll, finished, put_contact
from providers import SendGridSigner

URL = "/v1/providers/sendgrid/events"


@pytest.fixture(scope="module")
def sendgrid() -> SendGridSigner:
    return SendGridSigner()


@pytest.fixture
def settings(settings: Settings, sendgrid: SendGridSigner) -> Settings:
    return settings.model_copy(update={"sendgrid_webhook_public_key": sendgrid.public_key})


async def _emailed(api, engine, temporal_env, unique: str, name: str) -> Message:
    contact, journey = f"{name}-{unique}", f"{name}-j-{unique}"
    await put_contact(api, contact, email=f"{name}-{unique}@example.com")
    await create_active_journey(api, journey, {"name": name, "nodes": [
        {"id": "hello", "type": "send", "subject": "Hello", "html": '<a href="https://shop.example/a">a</a>',
         "next": "end"}, {"id": "end", "type": "exit"}]})
    [result] = await enroll(api, journey, contact)
    await finished(temporal_env, result["workflow_id"])
    async with engine.connect() as conn:
        return (await conn.execute(select(Message).where(Message.journey_id == journey))).one()


def _event(message: Message, kind: str, **fields) -> dict:
    return {"email": message.recipient, "timestamp": int(time.time()), "event": kind,
            "sg_event_id": uuid.uuid4().hex, "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
            "smtp-id": message.message_id_header, "category": ["journeys"], **fields}


async def _post(api, sendgrid, events: list[dict], **signing):
    body = json.dumps(events).encode()
    return await api.post(URL, content=body, headers=sendgrid.headers(body, **signing))


async def _recorded(engine, message: Message) -> list[tuple]:
    async with engine.connect() as conn:
        return [tuple(r) for r in (await conn.execute(
            select(EngagementEvent.type, EngagementEvent.url, EngagementEvent.automated)
            .where(EngagementEvent.message_id == message.id).order_by(EngagementEvent.id))).all()]


async def _contact(engine, message: Message) -> tuple[Contact, dict[str, str]]:
    async with engine.connect() as conn:
        contact = (await conn.execute(select(Contact).where(Contact.id == message.contact_id))).one()
        consents = (await conn.execute(select(ContactConsent).where(ContactConsent.contact_id == contact.id))).all()
    return contact, {c.channel: c.status for c in consents}


async def test_events_are_recorded_on_the_email_and_a_bounce_suppresses(api, worker, engine, temporal_env,
                                                                        sendgrid, unique):
    message = await _emailed(api, engine, temporal_env, unique, "sg")
    delivered = _event(message, "delivered")
    events = [_event(message, "processed"), delivered, _event(message, "open", sg_machine_open=True),
              _event(message, "open", sg_machine_open=False),
              _event(message, "click", url="https://shop.example/a"),
              _event(message, "bounce", type="bounce", reason="550 5.1.1 no such user"),
              _event(message, "delivered", **{"smtp-id": "<someone-else@elsewhere.example>"})]
    response = await _post(api, sendgrid, events)
    assert response.status_code == 200, response.text
    assert [r["status"] for r in response.json()["results"]] == [
        "ignored", "recorded", "recorded", "recorded", "recorded", "recorded", "unknown_message"]
    assert await _recorded(engine, message) == [
        ("delivered", None, False), ("opened", None, True), ("opened", None, False),
        ("clicked", "https://shop.example/a", False), ("bounced", None, False)]
    contact, _ = await _contact(engine, message)
    assert contact.suppressed_at is not None and "hard bounce" in contact.suppression_reason
    # SendGrid retries a post it got no 2xx for: each event is stored once.
    again = await _post(api, sendgrid, [delivered])
    assert again.json()["results"] == [{"index": 0, "status": "duplicate"}]
    assert len(await _recorded(engine, message)) == 5


async def test_spam_reports_unsubscribes_and_custom_args(api, worker, engine, temporal_env, sendgrid, unique):
    message = await _emailed(api, engine, temporal_env, unique, "sgc")
    by_arg = {"smtp-id": None, "sojourn_message_id": str(message.id)}
    response = await _post(api, sendgrid, [_event(message, "unsubscribe", **by_arg),
                                           _event(message, "spamreport"),
                                           _event(message, "bounce", type="blocked")])
    assert [r["status"] for r in response.json()["results"]] == ["recorded"] * 3
    repeated = await _post(api, sendgrid, [_event(message, "group_unsubscribe")])  # once per message
    assert [r["status"] for r in repeated.json()["results"]] == ["duplicate"]
    assert await _recorded(engine, message) == [("unsubscribed", None, False), ("complained", None, False),
                                                ("undelivered", None, False)]
    contact, consents = await _contact(engine, message)
    assert consents["email"] == "unsubscribed"
    assert "spam complaint" in contact.suppression_reason


async def test_forged_stale_or_unconfigured_posts_are_refused(api, settings, worker, engine, temporal_env,
                                                              sendgrid, unique):
    message = await _emailed(api, engine, temporal_env, unique, "sgf")
    events = [_event(message, "spamreport")]
    body = json.dumps(events).encode()
    other = SendGridSigner()
    tampered = sendgrid.headers(body)
    for content, headers in ((body, other.headers(body)),  # another key
                             (body, sendgrid.headers(body, timestamp=int(time.time()) - 3600)),  # replayed later
                             (body.replace(b"spamreport", b"delivered"), tampered),  # body changed
                             (body, {"Content-Type": "application/json"})):  # unsigned
        response = await api.post(URL, content=content, headers=headers)
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == "invalid_signature"
    assert await _recorded(engine, message) == []
    settings.sendgrid_webhook_public_key = None
    response = await api.post(URL, content=body, headers=sendgrid.headers(body))
    assert response.status_code == 503 and response.json()["error"]["code"] == "sendgrid_not_configured"


async def test_malformed_events_are_a_422(api, sendgrid):
    response = await _post(api, sendgrid, [{"event": "open"}])
    assert response.status_code == 422 and "timestamp" in response.text
