"""Every channel end to end: a journey's sends reach local provider stand-ins that check
the exact request, and provider failures follow the rules (permanent, retried, unconfirmed)."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from sqlalchemy import select

from sojourn.data.models import Message
from sojourn.delivery.tokens import webhook_signature
from worker.main import journey_worker

from helpers import (
    create_active_journey,
    enroll,
    finished,
    post_webhook,
    put_contact,
    wait_for_mail,
)
from providers import WEBHOOK_SECRET, Reply


async def messages_of(engine, journey: str) -> dict[str, Message]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(Message).where(Message.journey_id == journey))).all()
    return {row.node_id: row for row in rows}


def journey_of(*nodes: dict) -> dict:
    chained = [dict(node, next=nodes[i + 1]["id"]) if i + 1 < len(nodes) else dict(node, next="end")
               for i, node in enumerate(nodes)]
    return {"name": "channels", "nodes": [*chained, {"id": "end", "type": "exit"}]}


async def test_every_channel_sends_the_providers_exact_request(api, worker, engine, temporal_env, providers, unique):
    journey = f"all-channels-{unique}"
    contact = f"mei-{unique}"
    line_user = "U" + unique.ljust(32, "0")
    await put_contact(api, contact, first_name="Mei", phone="+886 912 345 678", push_token=f"fcm-{unique}",
                      line_user_id=line_user, consent={"sms": "subscribed"})
    flex = {"type": "flex", "altText": "Hi {{ first_name }}",
            "contents": {"type": "bubble", "body": {"type": "box", "layout": "vertical", "contents": [
                {"type": "text", "text": "Spring sale for {{ first_name }}"}]}}}
    await create_active_journey(api, journey, journey_of(
        {"id": "text", "type": "send", "channel": "sms", "sms": {"text": "Hi {{ first_name }}, 20% off today"}},
        {"id": "notify", "type": "send", "channel": "push",
         "push": {"title": "For {{ first_name }}", "body": "Your cart misses you", "data": {"cart": "{{ external_id }}"}}},
        {"id": "chat", "type": "send", "channel": "line", "line": {"text": "Hello {{ first_name }}"}},
        {"id": "card", "type": "send", "channel": "line", "line": {"messages": [flex]}},
        {"id": "crm", "type": "send", "channel": "webhook",
         "webhook": {"url": f"{providers.hook.base_url}/hooks/sojourn",
                     "body": {"contact": "{{ external_id }}", "journey": "{{ journey.id }}", "score": 3}}},
    ))
    [result] = await enroll(api, journey, contact)
    state = await finished(temporal_env, result["workflow_id"])

    assert providers.problems() == []
    assert [(m.node, m.channel, m.status) for m in state.messages] == [
        ("text", "sms", "sent"), ("notify", "push", "sent"), ("chat", "line", "sent"), ("card", "line", "sent"),
        ("crm", "webhook", "sent")]
    [sms] = providers.sms.received
    assert sms.form() == {"To": "+886912345678", "From": providers.sms.sender, "Body": "Hi Mei, 20% off today",
                          "StatusCallback": "http://sojourn.test/v1/providers/twilio/status?message="
                                            + state.messages[0].message_id}
    [push] = providers.push.received
    message = push.json()["message"]
    assert message["token"] == f"fcm-{unique}"
    assert message["notification"] == {"title": "For Mei", "body": "Your cart misses you"}
    assert message["data"]["cart"] == contact and message["data"]["sojourn_message_id"]
    text, card = providers.line.received
    assert text.json() == {"to": line_user, "messages": [{"type": "text", "text": "Hello Mei"}]}
    assert card.json()["messages"][0]["altText"] == "Hi Mei"
    assert card.json()["messages"][0]["contents"]["body"]["contents"][0]["text"] == "Spring sale for Mei"
    assert text.headers["x-line-retry-key"] != card.headers["x-line-retry-key"]
    [hook] = providers.hook.received
    assert hook.json() == {"contact": contact, "journey": journey, "score": 3}
    signed_at = int(hook.headers["x-sojourn-signature"].split(",")[0].removeprefix("t="))
    assert abs(signed_at - time.time()) < 60
    assert hook.headers["x-sojourn-signature"] == webhook_signature(hook.body, WEBHOOK_SECRET, signed_at)

    stored = await messages_of(engine, journey)
    assert stored["text"].provider_message_id.startswith("SM") and stored["text"].recipient == "+886912345678"
    assert stored["notify"].provider_message_id == f"projects/{providers.push.project}/messages/1"
    assert stored["chat"].provider_message_id == "600001"
    assert stored["crm"].provider_message_id == "hook-1"
    assert {m.status for m in stored.values()} == {"sent"}


async def test_permanent_failure_is_not_retried_and_follows_on_failure(api, worker, engine, temporal_env,
                                                                       providers, unique):
    journey = f"sms-refused-{unique}"
    contact = f"ren-{unique}"
    await put_contact(api, contact, email=f"ren-{unique}@example.com", phone="+12015554567",
                      consent={"sms": "subscribed"})
    providers.sms.script.append(Reply(400, {"code": 21211, "message": "The 'To' number is not a valid phone number."}))
    await create_active_journey(api, journey, {"name": "refused", "nodes": [
        {"id": "text", "type": "send", "channel": "sms", "sms": {"text": "Your code"}, "next": "end",
         "on_failure": "mail"},
        {"id": "mail", "type": "send", "subject": "We could not text you", "text": "Here it is by email.",
         "next": "end"},
        {"id": "end", "type": "exit"},
    ]})
    [result] = await enroll(api, journey, contact)
    state = await finished(temporal_env, result["workflow_id"])

    assert len(providers.sms.received) == 1  # 400 is permanent: no second attempt
    assert [(m.node, m.status) for m in state.messages] == [("text", "failed"), ("mail", "sent")]
    assert "not a valid phone number" in state.messages[0].reason
    assert [step.node for step in state.path] == ["text", "mail", "end"]
    stored = await messages_of(engine, journey)
    assert stored["text"].status == "failed" and "400" in stored["text"].error
    [mail] = await wait_for_mail(engine, f"ren-{unique}@example.com")
    assert mail["subject"] == "We could not text you"


async def test_a_refusal_that_quotes_the_number_is_sealed_in_the_history(api, worker, temporal_env, temporal_server,
                                                                         providers, unique):
    """Failure messages go into Temporal's history too: they are encrypted with the contact's key
    like every payload of its run (only our own client reads them)."""
    journey, contact, phone = f"sms-sealed-{unique}", f"sealed-{unique}", "+12015554568"
    await put_contact(api, contact, phone=phone, consent={"sms": "subscribed"})
    providers.sms.script.append(Reply(400, {"code": 21211, "message": f"The 'To' number {phone} is not valid."}))
    await create_active_journey(api, journey, journey_of(
        {"id": "text", "type": "send", "channel": "sms", "sms": {"text": "Your code"}}))
    [result] = await enroll(api, journey, contact)
    state = await finished(temporal_env, result["workflow_id"])
    assert phone in state.messages[0].reason

    history = await temporal_server.client.get_workflow_handle(result["workflow_id"]).fetch_history()  # no codec
    [failed] = [e.activity_task_failed_event_attributes.failure for e in history.events
                if e.HasField("activity_task_failed_event_attributes")]
    assert failed.message == "Encoded failure" and failed.encoded_attributes.metadata["sojourn-key-id"]
    assert phone.encode() not in b"".join(event.SerializeToString() for event in history.events)


def one_send(channel: str, providers) -> dict:
    content = {"sms": {"sms": {"text": "Hi {{ first_name }}"}}, "push": {"push": {"body": "Hi"}},
               "line": {"line": {"text": "Hi"}},
               "webhook": {"webhook": {"url": f"{providers.hook.base_url}/hooks/sojourn", "body": {"a": 1}}}}
    return journey_of({"id": "hello", "type": "send", "channel": channel, **content[channel]})


async def reachable_contact(api, unique: str) -> str:
    contact = f"reach-{unique}"
    await put_contact(api, contact, first_name="Ro", phone="+12015557777", consent={"sms": "subscribed"},
                      push_token=f"fcm-{unique}", line_user_id="U" + unique.ljust(32, "5"))
    return contact


CHANNELS = ["sms", "push", "line", "webhook"]


@pytest.mark.parametrize("channel", CHANNELS)
async def test_a_refusal_is_permanent(channel, api, worker, engine, temporal_env, providers, unique):
    fake = getattr(providers, "hook" if channel == "webhook" else channel)
    fake.script.append(Reply(403, {"message": "refused"}))
    await create_active_journey(api, f"refused-{unique}", one_send(channel, providers))
    [result] = await enroll(api, f"refused-{unique}", await reachable_contact(api, unique))
    state = await finished(temporal_env, result["workflow_id"])

    assert [r.status for r in fake.received] == [403]  # never retried
    assert state.messages[0].status == "failed" and "403" in state.messages[0].reason
    stored = (await messages_of(engine, f"refused-{unique}"))["hello"]
    assert stored.status == "failed" and stored.channel == channel


@pytest.mark.parametrize("channel", CHANNELS)
async def test_busy_is_retried_and_delivered_once(channel, api, worker, engine, temporal_env, providers, unique):
    fake = getattr(providers, "hook" if channel == "webhook" else channel)
    fake.script += [Reply(503, {"error": "unavailable"}), Reply(429, {"error": "slow down"}, {"Retry-After": "1"})]
    await create_active_journey(api, f"busy-{unique}", one_send(channel, providers))
    [result] = await enroll(api, f"busy-{unique}", await reachable_contact(api, unique))
    state = await finished(temporal_env, result["workflow_id"])

    assert [r.status for r in fake.received][:2] == [503, 429] and len(fake.received) == 3
    assert fake.delivered == 1 and providers.problems() == []
    assert (state.messages[0].status, state.messages[0].channel) == ("sent", channel)
    assert (await messages_of(engine, f"busy-{unique}"))["hello"].status == "sent"


@pytest.mark.parametrize(("channel", "outcome", "requests"), [
    ("sms", "unconfirmed", 1), ("push", "unconfirmed", 1),  # no idempotency key: never sent again
    ("line", "sent", 2), ("webhook", "sent", 2),            # repeated under the same key, acted on once
])
async def test_taken_but_unanswered_is_never_delivered_twice(channel, outcome, requests, api, worker, engine,
                                                            temporal_env, providers, unique):
    fake = getattr(providers, "hook" if channel == "webhook" else channel)
    fake.script.append(Reply(None, delay=5.0))  # takes the message, answers after our 2.5 s timeout
    await create_active_journey(api, f"stalled-{unique}", one_send(channel, providers))
    [result] = await enroll(api, f"stalled-{unique}", await reachable_contact(api, unique))
    state = await finished(temporal_env, result["workflow_id"])
    await asyncio.sleep(3)  # past the stalled answer: no late attempt either

    assert len(fake.received) == requests and fake.delivered == 1
    assert state.messages[0].status == outcome
    assert (await messages_of(engine, f"stalled-{unique}"))["hello"].status == outcome
    if requests == 2:
        keys = {r.headers.get("x-line-retry-key") or r.headers.get("idempotency-key") for r in fake.received}
        assert len(keys) == 1
    else:
        assert "did not answer" in state.messages[0].reason


async def test_webhook_hosts_must_be_allowed_when_written_and_when_sent(api, engine, temporal_env, settings,
                                                                        providers, unique):
    refused = await api.post("/v1/journeys", json={"id": f"hook-refused-{unique}", "definition": journey_of(
        {"id": "crm", "type": "send", "channel": "webhook",
         "webhook": {"url": f"http://localhost:{providers.hook.port}/hooks/sojourn", "body": {"a": 1}}},
        {"id": "meta", "type": "send", "channel": "webhook",
         "webhook": {"url": "http://169.254.169.254/latest/meta-data/", "body": {}}})})
    assert refused.status_code == 422
    assert [(p["node"], p["message"]) for p in refused.json()["error"]["details"]] == [
        ("crm", "node 'crm' field 'webhook.url': host 'localhost' is not in WEBHOOK_ALLOWED_HOSTS"),
        ("meta", "node 'meta' field 'webhook.url': host '169.254.169.254' is not in WEBHOOK_ALLOWED_HOSTS")]

    # Allowed when the journey was written, taken off the list before the send: not called.
    journey, contact = f"hook-removed-{unique}", f"lee-{unique}"
    await put_contact(api, contact)
    await create_active_journey(api, journey, journey_of(
        {"id": "crm", "type": "send", "channel": "webhook",
         "webhook": {"url": f"{providers.hook.base_url}/hooks/sojourn", "body": {"a": 1}}}))
    restricted = settings.model_copy(update={"webhook_allowed_hosts": ["hooks.example.com"]})
    async with journey_worker(temporal_env.client, engine, restricted):
        [result] = await enroll(api, journey, contact)
        state = await finished(temporal_env, result["workflow_id"])
    assert providers.hook.received == []
    assert state.messages[0].status == "failed"
    assert "'127.0.0.1' is not in WEBHOOK_ALLOWED_HOSTS" in state.messages[0].reason


async def test_fallback_uses_the_first_channel_the_contact_can_receive(api, worker, engine, temporal_env,
                                                                       providers, unique):
    journey = f"fallback-{unique}"
    people = {
        f"line-{unique}": dict(line_user_id="U" + unique.ljust(32, "2"), phone="+12015550001",
                               email=f"l-{unique}@example.com"),
        f"sms-{unique}": dict(phone="+12015550002", consent={"sms": "subscribed"}, email=f"s-{unique}@example.com"),
        f"no-opt-in-{unique}": dict(phone="+12015550003", email=f"n-{unique}@example.com"),
        f"line-off-{unique}": dict(line_user_id="U" + unique.ljust(32, "3"), consent={"line": "unsubscribed"},
                                   email=f"o-{unique}@example.com"),
        f"nothing-{unique}": dict(first_name="Nobody"),
    }
    for external_id, fields in people.items():
        await put_contact(api, external_id, **fields)
    await create_active_journey(api, journey, journey_of(
        {"id": "promo", "type": "send", "channel": ["line", "sms", "email"], "line": {"text": "Sale"},
         "sms": {"text": "Sale"}, "subject": "Sale", "text": "Sale on now"}))
    results = await enroll(api, journey, *people)
    states = [await finished(temporal_env, r["workflow_id"]) for r in results]

    assert [(s.messages[0].status, s.messages[0].channel) for s in states] == [
        ("sent", "line"), ("sent", "sms"), ("sent", "email"), ("sent", "email"), ("skipped", None)]
    assert states[4].messages[0].reason == ("line: contact has no LINE user id; sms: contact has no phone number; "
                                            "email: contact has no email address")
    assert len(providers.line.accepted) == 1 and len(providers.sms.accepted) == 1
    assert providers.sms.accepted[0].form()["To"] == "+12015550002"
    await wait_for_mail(engine, f"n-{unique}@example.com")
    await wait_for_mail(engine, f"o-{unique}@example.com")


async def test_consent_suppression_and_transactional(api, worker, engine, temporal_env, settings, providers, unique):
    promo, receipt = f"promo-{unique}", f"receipt-{unique}"
    out, bounced = f"out-{unique}", f"bounced-{unique}"
    await put_contact(api, out, email=f"out-{unique}@example.com", consent={"email": "unsubscribed"})
    await put_contact(api, bounced, email=f"bounced-{unique}@example.com")
    await create_active_journey(api, promo, journey_of({"id": "promo", "type": "send", "subject": "Promo", "text": "Buy"}))
    await create_active_journey(api, receipt, journey_of(
        {"id": "receipt", "type": "send", "subject": "Your receipt", "text": "Paid", "transactional": True}))

    # Transactional mail passes an unsubscribe; the bounced contact's first receipt still goes out.
    first = [await finished(temporal_env, r["workflow_id"]) for r in await enroll(api, receipt, out, bounced)]
    assert [s.messages[0].status for s in first] == ["sent", "sent"]
    # Its mailbox bounces hard: from now on nothing reaches that contact, transactional or not.
    bounce = {"message_id": first[1].messages[0].message_id, "type": "bounced", "timestamp": "2026-11-25T10:00:00Z"}
    assert (await post_webhook(api, settings.webhook_secret, [bounce])).status_code == 200
    promos = [await finished(temporal_env, r["workflow_id"]) for r in await enroll(api, promo, out, bounced)]
    await create_active_journey(api, f"{receipt}-2", journey_of(
        {"id": "receipt", "type": "send", "subject": "Your refund", "text": "Refunded", "transactional": True}))
    [refund] = [await finished(temporal_env, r["workflow_id"]) for r in await enroll(api, f"{receipt}-2", bounced)]

    assert [(s.messages[0].status, s.messages[0].reason) for s in promos] == [
        ("skipped", "email: contact unsubscribed from email"),
        ("skipped", f"email: contact is suppressed (hard bounce on message {bounce['message_id']})")]
    assert refund.messages[0].status == "skipped" and "suppressed" in refund.messages[0].reason
    assert [m["subject"] for m in await wait_for_mail(engine, f"out-{unique}@example.com")] == ["Your receipt"]
    assert [m["subject"] for m in await wait_for_mail(engine, f"bounced-{unique}@example.com")] == ["Your receipt"]
    profile = (await api.get(f"/v1/contacts/{out}")).json()
    assert profile["consent"]["email"]["status"] == "unsubscribed" and profile["consent"]["email"]["source"] == "api"
    assert {(m["status"], m["reason"]) for m in profile["messages"]} == {
        ("skipped", "email: contact unsubscribed from email"), ("sent", None)}
    suppressed = (await api.get(f"/v1/contacts/{bounced}")).json()
    assert suppressed["suppression_reason"].startswith("hard bounce") and suppressed["suppressed_at"]


async def test_email_with_non_ascii_and_long_lines_arrives_intact(api, worker, engine, temporal_env, unique):
    journey, address = f"unicode-{unique}", f"zoe-{unique}@example.com"
    await put_contact(api, f"zoe-{unique}", email=address, first_name="Zoë")
    long_line = "<p>" + "x" * 1200 + "</p>"
    await create_active_journey(api, journey, journey_of(
        {"id": "hello", "type": "send", "subject": "母親節快樂, {{ first_name }} 🌷", "from": "Café Rosé <shop@example.com>",
         "text": "Grüße, {{ first_name }}!", "html": long_line + "<p>Grüße</p>", "track": False}))
    [result] = await enroll(api, journey, f"zoe-{unique}")
    await finished(temporal_env, result["workflow_id"])
    [mail] = await wait_for_mail(engine, address)
    assert mail["subject"] == "母親節快樂, Zoë 🌷"
    assert mail["headers"]["From"] == "Café Rosé <shop@example.com>"
    assert mail["text"].strip() == "Grüße, Zoë!"
    assert mail["html"].strip() == long_line + "<p>Grüße</p>"


async def test_push_with_a_service_account_file_fetches_and_reuses_a_token(engine, settings, providers, unique,
                                                                           tmp_path, api):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from temporalio.testing import ActivityEnvironment

    from activities.send import SendActivities
    from sojourn.contracts.send import SendRequest
    from sojourn.data.models import Contact
    from sojourn.delivery.channels.registry import build_channels
    from sojourn.delivery.send import Sender

    from providers import FakeGoogleOAuth

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    oauth = await FakeGoogleOAuth(key.public_key(), "sojourn@proj.iam.gserviceaccount.com").start()
    try:
        account = tmp_path / "service-account.json"
        account.write_text(json.dumps({
            "type": "service_account", "project_id": providers.push.project, "client_email": oauth.client_email,
            "private_key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()).decode(),
            "token_uri": f"{oauth.base_url}/token"}))
        providers.push.token = oauth.access_token
        configured = settings.model_copy(update={"fcm_access_token": None, "fcm_project_id": None,
                                                 "fcm_service_account_file": account})
        await put_contact(api, f"sa-{unique}", push_token=f"fcm-sa-{unique}")
        async with engine.connect() as conn:
            contact_id = (await conn.execute(select(Contact.id).where(Contact.external_id == f"sa-{unique}"))).scalar()
        async with httpx.AsyncClient() as http:
            send = SendActivities(Sender(engine, configured, build_channels(configured, None, http)))
            for i in range(2):
                result = await ActivityEnvironment().run(send.send, SendRequest(
                    idempotency_key=f"sa/{unique}/{i}", workflow_id=f"sa/{unique}", journey_id="sa", journey_version=1,
                    node_id="n", contact_id=contact_id,
                    node={"id": "n", "type": "send", "channel": "push", "push": {"body": "hi"}, "next": "end"}))
                assert result.status == "sent"
    finally:
        await oauth.stop()
    assert oauth.problems == [] and providers.problems() == []
    assert len(oauth.accepted) == 1  # the token is reused until it nears its expiry
    assert len(providers.push.accepted) == 2
