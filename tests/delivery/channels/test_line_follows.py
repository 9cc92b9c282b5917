"""LINE talks back: a follow from someone who is not a contact yet makes them one, and follows
and unfollows apply in the order they happened, whatever order LINE delivers them in."""

from __future__ import annotations

import json

from sqlalchemy import select

from sojourn.data.models import Contact, ContactConsent
from sojourn.delivery.tokens import line_signature
from sojourn.services.triggers import Triggers

from providers import LINE_SECRET

T0 = 1_764_064_800_000  # ms since the epoch, as LINE stamps its events


def _event(kind: str, user: str, at: int) -> dict:
    return {"type": kind, "timestamp": at, "mode": "active", "webhookEventId": f"01H{kind}{at}",
            "source": {"type": "user", "userId": user}, "deliveryContext": {"isRedelivery": False}}


async def _deliver(api, *events: dict) -> list[str]:
    body = json.dumps({"destination": "U" + "0" * 32, "events": list(events)}).encode()
    response = await api.post("/v1/webhooks/line", content=body, headers={
        "Content-Type": "application/json", "x-line-signature": line_signature(body, LINE_SECRET)})
    assert response.status_code == 200, response.text
    return [r["status"] for r in response.json()["results"]]


async def _line_state(engine, user: str) -> tuple[str, str | None]:
    async with engine.connect() as conn:
        contact = (await conn.execute(select(Contact).where(Contact.line_user_id == user))).one_or_none()
        if contact is None:
            return None, None
        consent = (await conn.execute(select(ContactConsent.status).where(
            ContactConsent.contact_id == contact.id, ContactConsent.channel == "line"))).scalar()
    return contact.external_id, consent


async def test_a_follow_from_a_stranger_creates_a_subscribed_contact(api, engine, unique, monkeypatch):
    told: list[int] = []

    async def contacts_changed(self, contact_ids):
        told.extend(contact_ids)

    monkeypatch.setattr(Triggers, "on_contacts_changed", contacts_changed)
    user = "U" + unique.ljust(32, "a")
    assert await _deliver(api, _event("follow", user, T0)) == ["subscribed"]
    assert await _line_state(engine, user) == (f"line:{user}", "subscribed")
    async with engine.connect() as conn:
        contact_id = (await conn.execute(select(Contact.id).where(Contact.line_user_id == user))).scalar()
    assert told == [contact_id]  # journeys hear of the new contact, as of any other
    profile = (await api.get(f"/v1/contacts/line:{user}")).json()
    assert profile["line_user_id"] == user and profile["consent"]["line"]["source"] == "line_webhook"
    # Delivered again (LINE redelivers): still one contact, new to no journey.
    assert await _deliver(api, _event("follow", user, T0)) == ["subscribed"]
    assert told == [contact_id]
    # An unfollow from someone we never knew creates nothing.
    stranger = "U" + unique.ljust(32, "b")
    assert await _deliver(api, _event("unfollow", stranger, T0)) == ["unknown_user"]
    assert await _line_state(engine, stranger) == (None, None)


async def test_events_apply_in_their_own_time_order_within_a_batch(api, engine, unique):
    user = "U" + unique.ljust(32, "c")
    # Listed newest first: the unfollow happened last, so it is the state.
    statuses = await _deliver(api, _event("unfollow", user, T0 + 2000), _event("follow", user, T0 + 1000))
    assert statuses == ["unsubscribed", "subscribed"]  # each event's own outcome, in the batch's order
    assert (await _line_state(engine, user))[1] == "unsubscribed"


async def test_an_older_event_in_a_later_batch_does_not_override(api, engine, unique):
    user = "U" + unique.ljust(32, "d")
    assert await _deliver(api, _event("follow", user, T0 + 5000)) == ["subscribed"]
    assert await _deliver(api, _event("unfollow", user, T0 + 1000)) == ["stale"]  # delivered late
    assert (await _line_state(engine, user))[1] == "subscribed"
    assert await _deliver(api, _event("unfollow", user, T0 + 9000)) == ["unsubscribed"]
    assert await _deliver(api, _event("follow", user, T0 + 6000)) == ["stale"]
    assert (await _line_state(engine, user))[1] == "unsubscribed"


async def test_a_timestamp_past_any_date_is_a_422(api, unique):
    body = json.dumps({"events": [_event("follow", "U" + unique.ljust(32, "e"), 10**20)]}).encode()
    response = await api.post("/v1/webhooks/line", content=body, headers={
        "Content-Type": "application/json", "x-line-signature": line_signature(body, LINE_SECRET)})
    assert response.status_code == 422 and "timestamp" in response.text
