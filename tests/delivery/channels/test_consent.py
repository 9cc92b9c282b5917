"""Unsubscribing (the email link, RFC 8058 one-click) and LINE follow/unfollow webhooks:
a contact who opts out gets nothing more on that channel, from any journey."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from sojourn.delivery.tokens import line_signature

from helpers import (
    advance,
    create_active_journey,
    enroll,
    finished,
    put_contact,
    wait_for_mail,
)
from providers import LINE_SECRET

UNSUBSCRIBE = re.compile(r"http://sojourn\.test(/u/[A-Za-z0-9_.\-]+)")


def two_mails(name: str, first_subject: str | None) -> dict:
    """A mail (optional), a day's wait, a mail."""
    later = {"id": "later", "type": "send", "subject": f"{name}: later", "text": "Still here.", "next": "end"}
    nodes = [{"id": "pause", "type": "wait", "duration": "1d", "next": "later"}, later, {"id": "end", "type": "exit"}]
    if first_subject:
        nodes.insert(0, {"id": "first", "type": "send", "subject": first_subject, "next": "pause",
                         "text": "Hello. Unsubscribe: {{ unsubscribe_url }}"})
    return {"name": name, "nodes": nodes}


async def test_one_click_unsubscribe_stops_this_journey_and_every_other(api, worker, engine, temporal_env, unique):
    contact, address = f"ivy-{unique}", f"ivy-{unique}@example.com"
    await put_contact(api, contact, email=address)
    await create_active_journey(api, f"news-{unique}", two_mails("news", f"Welcome {unique}"))
    await create_active_journey(api, f"tips-{unique}", two_mails("tips", None))
    [news] = await enroll(api, f"news-{unique}", contact)
    [tips] = await enroll(api, f"tips-{unique}", contact)
    [welcome] = await wait_for_mail(engine, address)

    # The headers mail clients use for their own unsubscribe button (RFC 2369, RFC 8058).
    assert welcome["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = UNSUBSCRIBE.search(welcome["headers"]["List-Unsubscribe"]).group(1)
    assert UNSUBSCRIBE.search(welcome["text"]).group(1) == link
    # Visiting the link only asks (scanners follow links); the one-click POST unsubscribes.
    page = await api.get(link)
    assert page.status_code == 200 and "<form method=\"post\">" in page.text and address in page.text
    assert (await api.get(f"/v1/contacts/{contact}")).json()["consent"] == {}
    clicked = await api.post(link, content=b"List-Unsubscribe=One-Click",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert clicked.status_code == 200 and "no more email" in clicked.text
    consent = (await api.get(f"/v1/contacts/{contact}")).json()["consent"]
    assert consent["email"]["status"] == "unsubscribed" and consent["email"]["source"] == "one_click"

    for run in (news, tips):
        await advance(temporal_env, run["workflow_id"], timedelta(days=1, minutes=1))
    states = [await finished(temporal_env, run["workflow_id"]) for run in (news, tips)]
    assert [s.messages[-1].status for s in states] == ["skipped", "skipped"]
    assert [m["subject"] for m in await wait_for_mail(engine, address, count=2, timeout=2)] == [f"Welcome {unique}"]
    assert "is unsubscribed" in (await api.get(link)).text


async def test_unsubscribe_tokens_cannot_be_forged(api, worker, engine, temporal_env, unique):
    contact, address = f"max-{unique}", f"max-{unique}@example.com"
    await put_contact(api, contact, email=address)
    await create_active_journey(api, f"one-{unique}", {"name": "one", "nodes": [
        {"id": "first", "type": "send", "subject": "Hi", "text": "Hi", "next": "end"}, {"id": "end", "type": "exit"}]})
    await enroll(api, f"one-{unique}", contact)
    [mail] = await wait_for_mail(engine, address)
    link = UNSUBSCRIBE.search(mail["headers"]["List-Unsubscribe"]).group(1)
    tracking = re.sub(r"^/u/", "/u/x", link)
    for forged in (tracking, link[:-2] + ("AA" if not link.endswith("AA") else "BB"), "/u/not-a-token"):
        assert (await api.post(forged, content=b"List-Unsubscribe=One-Click")).status_code == 404
    assert (await api.get(f"/v1/contacts/{contact}")).json()["consent"] == {}


async def line_webhook(api, events: list[dict], secret: str = LINE_SECRET):
    body = json.dumps({"destination": "Uxxxxxxxx", "events": events}).encode()
    return await api.post("/v1/webhooks/line", content=body,
                          headers={"Content-Type": "application/json", "x-line-signature": line_signature(body, secret)})


def follow_event(kind: str, user: str) -> dict:
    return {"type": kind, "timestamp": 1764064800000, "mode": "active", "webhookEventId": "01H",
            "source": {"type": "user", "userId": user}, "deliveryContext": {"isRedelivery": False}}


async def test_line_follow_and_unfollow_webhooks_keep_consent(api, unique):
    contact, user = f"rin-{unique}", "U" + unique.ljust(32, "9")
    await put_contact(api, contact, line_user_id=user)

    forged = await line_webhook(api, [follow_event("unfollow", user)], secret="not-the-channel-secret")
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "invalid_signature"
    assert (await api.get(f"/v1/contacts/{contact}")).json()["consent"] == {}

    stranger = "U" + "f" * 32
    answer = await line_webhook(api, [follow_event("unfollow", user), follow_event("follow", stranger),
                                      {"type": "message", "timestamp": 1, "source": {"type": "user", "userId": user}}])
    assert answer.status_code == 200
    # A follow from a LINE user who is not a contact makes them one (see test_line_follows.py).
    assert [r["status"] for r in answer.json()["results"]] == ["unsubscribed", "subscribed", "ignored"]
    line = (await api.get(f"/v1/contacts/{contact}")).json()["consent"]["line"]
    assert line["status"] == "unsubscribed" and line["source"] == "line_webhook"

    assert (await line_webhook(api, [follow_event("follow", user)])).json()["results"][0]["status"] == "subscribed"
    assert (await api.get(f"/v1/contacts/{contact}")).json()["consent"]["line"]["status"] == "subscribed"
