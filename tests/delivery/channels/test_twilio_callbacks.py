"""Twilio talks back: each text's StatusCallback records its delivery, and texts people send
(STOP, START, HELP) set their SMS consent. Callbacks are Twilio's form posts, signed as Twilio
signs them (tests/providers.py computes X-Twilio-Signature on its own)."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from sojourn.data.models import Contact, ContactConsent, EngagementEvent, Message

from helpers import create_active_journey, enroll, finished, put_contact
from providers import twilio_signature

INBOUND_URL = "http://sojourn.test/v1/providers/twilio/inbound"


async def _text(api, temporal_env, providers, unique: str, name: str, phone: str) -> Message:
    """Send one text to a new contact; the message as recorded."""
    journey, contact = f"{name}-{unique}", f"{name}-c-{unique}"
    await put_contact(api, contact, phone=phone, consent={"sms": "subscribed"})
    await create_active_journey(api, journey, {"name": name, "nodes": [
        {"id": "text", "type": "send", "channel": "sms", "sms": {"text": "Your order shipped"}, "next": "end"},
        {"id": "end", "type": "exit"}]})
    [result] = await enroll(api, journey, contact)
    await finished(temporal_env, result["workflow_id"])
    return next(r for r in providers.sms.accepted if r.form()["To"] == phone)


async def _events(engine, sid: str) -> list[tuple[str, str | None]]:
    async with engine.connect() as conn:
        return [tuple(row) for row in (await conn.execute(
            select(EngagementEvent.type, EngagementEvent.provider_event_id).join(
                Message, Message.id == EngagementEvent.message_id).where(Message.provider_message_id == sid)
            .order_by(EngagementEvent.id))).all()]


async def _message(engine, sid: str) -> Message:
    async with engine.connect() as conn:
        return (await conn.execute(select(Message).where(Message.provider_message_id == sid))).one()


async def _contact(engine, external_id: str) -> tuple[Contact, dict[str, str]]:
    async with engine.connect() as conn:
        contact = (await conn.execute(select(Contact).where(Contact.external_id == external_id))).one()
        consents = (await conn.execute(select(ContactConsent).where(ContactConsent.contact_id == contact.id))).all()
    return contact, {c.channel: c.status for c in consents}


async def _post(api, url: str, form: dict, headers: dict):
    return await api.post(url.removeprefix("http://sojourn.test"), data=form, headers=headers)


async def test_delivery_statuses_are_recorded_once_on_the_message(api, worker, engine, temporal_env, providers,
                                                                  unique):
    sent = await _text(api, temporal_env, providers, unique, "shipped", "+12015550101")
    sid = providers.sms.sid_of(sent)
    message = await _message(engine, sid)
    assert sent.form()["StatusCallback"] == f"http://sojourn.test/v1/providers/twilio/status?message={message.id}"
    for status in ("queued", "sent", "delivered", "delivered"):  # Twilio may repeat a callback
        response = await _post(api, *providers.sms.status_callback(sent, status))
        assert response.status_code == 204, response.text
    assert response.headers["x-sojourn-outcome"] == "duplicate"
    assert await _events(engine, sid) == [("delivered", f"{sid}:delivered")]


async def test_a_status_that_comes_before_the_send_is_recorded_is_kept(api, worker, engine, temporal_env, providers,
                                                                        unique):
    """Twilio may call back before its answer to the send is recorded, and does not call again."""
    sent = await _text(api, temporal_env, providers, unique, "early", "+12015550106")
    sid = providers.sms.sid_of(sent)
    message = await _message(engine, sid)
    async with engine.begin() as conn:  # the row as it is between the `sending` mark and Twilio's answer
        await conn.execute(update(Message).where(Message.id == message.id)
                           .values(status="sending", provider_message_id=None, sent_at=None))
    response = await _post(api, *providers.sms.status_callback(sent, "delivered"))
    assert response.status_code == 204 and response.headers["x-sojourn-outcome"] == "recorded"
    async with engine.connect() as conn:
        kinds = (await conn.execute(select(EngagementEvent.type).where(EngagementEvent.message_id == message.id))).all()
    assert [k for (k,) in kinds] == ["delivered"]


@pytest.mark.parametrize(("error", "kind", "suppressed", "sms_consent"), [
    ("30005", "bounced", True, "subscribed"),  # unknown handset: the number cannot receive texts
    ("30003", "undelivered", False, "subscribed"),  # handset off: the next text may arrive
    ("21610", "undelivered", False, "unsubscribed"),  # the person texted STOP to the carrier
])
async def test_failed_deliveries_bounce_only_numbers_that_cannot_receive(api, worker, engine, temporal_env, providers,
                                                                        unique, error, kind, suppressed, sms_consent):
    phone = {"30005": "+12015550102", "30003": "+12015550103", "21610": "+12015550104"}[error]
    sent = await _text(api, temporal_env, providers, unique, f"fail{error}", phone)
    response = await _post(api, *providers.sms.status_callback(sent, "undelivered", error))
    assert response.status_code == 204 and response.headers["x-sojourn-outcome"] == "recorded"
    sid = providers.sms.sid_of(sent)
    assert await _events(engine, sid) == [(kind, f"{sid}:undelivered")]
    contact, consents = await _contact(engine, f"fail{error}-c-{unique}")
    assert (contact.suppressed_at is not None) is suppressed
    assert consents["sms"] == sms_consent


async def test_forged_or_missing_signatures_are_refused(api, worker, engine, temporal_env, providers, unique):
    sent = await _text(api, temporal_env, providers, unique, "forged", "+12015550105")
    url, form, headers = providers.sms.status_callback(sent, "delivered")
    forged = {"X-Twilio-Signature": twilio_signature("not-the-auth-token", url, form)}
    tampered = {**form, "MessageStatus": "undelivered", "ErrorCode": "30005"}
    for attempt_form, attempt_headers in ((form, forged), (form, {}), (tampered, headers)):
        response = await _post(api, url, attempt_form, attempt_headers)
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == "invalid_signature"
    assert await _events(engine, providers.sms.sid_of(sent)) == []
    inbound_form, _ = providers.sms.inbound(INBOUND_URL, "+12015550105", "STOP")
    response = await _post(api, INBOUND_URL, inbound_form, forged)
    assert response.status_code == 401
    assert (await _contact(engine, f"forged-c-{unique}"))[1]["sms"] == "subscribed"


async def test_stop_start_and_help_keywords_set_sms_consent(api, providers, engine, unique):
    phone = "+12015550106"
    for contact in (f"kw-a-{unique}", f"kw-b-{unique}"):  # two contacts share the number
        await put_contact(api, contact, phone="+1 201-555-0106", consent={"sms": "subscribed"})

    async def text_in(body: str):
        form, headers = providers.sms.inbound(INBOUND_URL, phone, body)
        response = await _post(api, INBOUND_URL, form, headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/xml")
        return response

    async def consents() -> set[str]:
        return {(await _contact(engine, c))[1]["sms"] for c in (f"kw-a-{unique}", f"kw-b-{unique}")}

    stopped = await text_in("  stop ")
    assert stopped.headers["x-sojourn-outcome"] == "unsubscribed"
    assert stopped.text == '<?xml version="1.0" encoding="UTF-8"?><Response />'
    assert await consents() == {"unsubscribed"}
    started = await text_in("Unstop")
    assert started.headers["x-sojourn-outcome"] == "subscribed" and await consents() == {"subscribed"}
    await text_in("QUIT")
    assert await consents() == {"unsubscribed"}
    helped = await text_in("HELP")
    assert "<Message>Reply STOP to unsubscribe, START to subscribe again.</Message>" in helped.text
    assert await consents() == {"unsubscribed"}
    chatter = await text_in("stop sending me deals please")  # not a keyword: the whole text must be one
    assert chatter.headers["x-sojourn-outcome"] == "ignored" and await consents() == {"unsubscribed"}


async def test_a_stop_reply_is_an_unsubscribe_through_the_last_text(api, worker, engine, temporal_env, providers,
                                                                   unique):
    phone = "+12015550107"
    sent = await _text(api, temporal_env, providers, unique, "stopped", phone)
    sid = providers.sms.sid_of(sent)
    for body in ("STOP", "stop"):  # repeated: once per message
        form, headers = providers.sms.inbound(INBOUND_URL, phone, body)
        response = await _post(api, INBOUND_URL, form, headers)
        assert response.headers["x-sojourn-outcome"] == "unsubscribed", response.text
    assert await _events(engine, sid) == [("unsubscribed", None)]
