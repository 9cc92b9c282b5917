"""Clicks that look automated (a HEAD request, a fetch within seconds of the send) are stored,
flagged, and count as nothing: no signal, no profile click, no segment match."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update

from sojourn.contracts.journey import JourneyState
from sojourn.data.models import EngagementEvent, Message

from helpers import add_contact, create_active_journey, enroll, post_webhook, tracking_path, wait_for_mail

SALE = "https://shop.example/sale"


@pytest.fixture
def settings(settings):
    # The shared test settings turn the window off (tests click at machine speed); here it is
    # the production default.
    return settings.model_copy(update={"automated_click_window": 10.0})


def _click_journey(unique: str) -> dict:
    return {"name": "Scanned", "nodes": [
        {"id": "offer", "type": "send", "subject": f"Offer {unique}",
         "html": f'<p><a href="{SALE}">Sale</a> <a href="https://shop.example/other">Other</a></p>',
         "next": "clicked"},
        {"id": "clicked", "type": "wait_for", "event": {"clicked": "offer"}, "timeout": "3d",
         "on_event": "thanks", "on_timeout": "end"},
        {"id": "thanks", "type": "send", "subject": f"Thanks for clicking {unique}", "text": "ok", "next": "end"},
        {"id": "end", "type": "exit"},
    ]}


async def _stored(engine, workflow_id: str) -> list[tuple[str, str, bool]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(EngagementEvent.type, EngagementEvent.source, EngagementEvent.automated)
                                  .join(Message).where(Message.workflow_id == workflow_id)
                                  .order_by(EngagementEvent.id))
        return [tuple(row) for row in rows]


async def test_head_and_instant_clicks_are_flagged_and_move_nothing(api, worker, engine, temporal_env, settings,
                                                                   unique):
    journey, contact, email = f"scan-{unique}", f"sc-{unique}", f"sc-{unique}@example.com"
    await create_active_journey(api, journey, _click_journey(unique))
    segment = await api.post("/v1/segments", json={"id": f"clickers-{unique}", "name": "clickers",
                                                   "filter": {"engagement": "clicked", "journey": journey}})
    assert segment.status_code == 201, segment.text
    await add_contact(api, contact, email)
    [run] = await enroll(api, journey, contact)
    [mail] = await wait_for_mail(engine, email)
    link = tracking_path(mail["html"], "c")

    # A scanner: HEAD first, then a GET seconds after delivery; both still reach the shop.
    head = await api.head(link)
    assert head.status_code == 302 and head.headers["location"] == SALE
    fetched = await api.get(link, follow_redirects=False)
    assert fetched.status_code == 302 and fetched.headers["location"] == SALE
    # A provider reporting a click at once says the same.
    reported = await post_webhook(api, settings.webhook_secret, [{
        "message_id": mail["message_id"], "type": "clicked", "url": SALE,
        "timestamp": datetime.now(timezone.utc).isoformat()}])
    assert reported.status_code == 200, reported.text

    assert await _stored(engine, run["workflow_id"]) == [
        ("clicked", "link", True), ("clicked", "link", True), ("clicked", "webhook", True)]
    handle = temporal_env.client.get_workflow_handle(run["workflow_id"])
    assert (await handle.query("state", result_type=JourneyState)).engagements == []
    assert (await api.get(f"/v1/segments/clickers-{unique}/contacts/{contact}")).json()["matches"] is False
    [message] = (await api.get(f"/v1/contacts/{contact}")).json()["messages"]
    assert (message["clicks"], message["unique_clicks"], message["automated_clicks"]) == (0, 0, 3)

    # A minute later the person clicks: that one counts, although the link was seen before.
    async with engine.begin() as conn:
        await conn.execute(update(Message).where(Message.workflow_id == run["workflow_id"]).values(
            sent_at=Message.sent_at - timedelta(minutes=1), created_at=Message.created_at - timedelta(minutes=1)))
    assert (await api.get(link, follow_redirects=False)).status_code == 302
    assert [m["subject"] for m in await wait_for_mail(engine, email, 2)] == [
        f"Offer {unique}", f"Thanks for clicking {unique}"]
    assert (await api.get(f"/v1/segments/clickers-{unique}/contacts/{contact}")).json()["matches"] is True
    [message, _] = (await api.get(f"/v1/contacts/{contact}")).json()["messages"][::-1]
    assert (message["clicks"], message["unique_clicks"], message["automated_clicks"]) == (1, 1, 3)


async def test_a_head_never_counts_even_with_the_window_off(api, worker, engine, settings, unique):
    settings.automated_click_window = 0
    journey, contact, email = f"noscan-{unique}", f"ns-{unique}", f"ns-{unique}@example.com"
    await create_active_journey(api, journey, _click_journey(unique))
    await add_contact(api, contact, email)
    [run] = await enroll(api, journey, contact)
    [mail] = await wait_for_mail(engine, email)
    link = tracking_path(mail["html"], "c")
    assert (await api.head(link)).status_code == 302
    assert (await api.get(link, follow_redirects=False)).status_code == 302
    assert await _stored(engine, run["workflow_id"]) == [("clicked", "link", True), ("clicked", "link", False)]
    assert len(await wait_for_mail(engine, email, 2)) == 2
