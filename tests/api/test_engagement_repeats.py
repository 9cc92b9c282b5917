"""A provider's repeated webhook is stored once; a person's repeated opens are each counted, and
the profile keeps unique and total counts apart."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from sojourn.contracts.journey import JourneyState
from sojourn.data.models import EngagementEvent, Message

from helpers import SALE, mailed_with_a_link, post_webhook, tracking_path


async def _stored(engine, workflow_id: str) -> list[tuple[str, str, str | None]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(EngagementEvent.type, EngagementEvent.source,
                                         EngagementEvent.provider_event_id)
                                  .join(Message).where(Message.workflow_id == workflow_id)
                                  .order_by(EngagementEvent.id))
        return [tuple(row) for row in rows]


async def _counts(api, contact: str) -> dict:
    [message] = (await api.get(f"/v1/contacts/{contact}")).json()["messages"]
    return {key: message[key] for key in ("opens", "unique_opens", "clicks", "unique_clicks")}


async def test_a_webhook_posted_50_times_is_stored_once(api, worker, engine, temporal_env, settings, unique):
    mail, workflow_id, contact = await mailed_with_a_link(api, engine, f"rep-{unique}")
    at = datetime.now(timezone.utc) + timedelta(minutes=5)
    opened = {"message_id": mail["message_id"], "type": "opened", "timestamp": at.isoformat()}

    statuses = []
    for _ in range(50):
        response = await post_webhook(api, settings.webhook_secret, [opened])
        assert response.status_code == 200, response.text
        statuses += [r["status"] for r in response.json()["results"]]
    assert statuses == ["recorded"] + ["duplicate"] * 49

    # The same again, all at once: still one row (the database decides, not a look-up first).
    clicked = {"message_id": mail["message_id"], "type": "clicked", "url": SALE,
               "timestamp": (at + timedelta(minutes=1)).isoformat()}
    responses = await asyncio.gather(*(post_webhook(api, settings.webhook_secret, [clicked]) for _ in range(50)))
    assert sorted(r.json()["results"][0]["status"] for r in responses) == ["duplicate"] * 49 + ["recorded"]
    # In one batch, and with the timestamp written another way: the same event.
    same_instant = (at + timedelta(minutes=1)).astimezone(timezone(timedelta(hours=8))).isoformat()
    batch = await post_webhook(api, settings.webhook_secret, [clicked, {**clicked, "timestamp": same_instant}])
    assert [r["status"] for r in batch.json()["results"]] == ["duplicate", "duplicate"]

    assert await _stored(engine, workflow_id) == [("opened", "webhook", None), ("clicked", "webhook", None)]
    assert await _counts(api, contact) == {"opens": 1, "unique_opens": 1, "clicks": 1, "unique_clicks": 1}
    state = await temporal_env.client.get_workflow_handle(workflow_id).query("state", result_type=JourneyState)
    assert [e.kind for e in state.engagements] == ["opened", "clicked"]

    # A person who opens the mail twice more opened it three times, once uniquely.
    for _ in range(2):
        assert (await api.get(tracking_path(mail["html"], "o"))).status_code == 200
    assert await _counts(api, contact) == {"opens": 3, "unique_opens": 1, "clicks": 1, "unique_clicks": 1}


async def test_a_provider_event_id_identifies_a_repeat(api, worker, engine, settings, unique):
    mail, workflow_id, _ = await mailed_with_a_link(api, engine, f"rep-{unique}")
    now = datetime.now(timezone.utc)
    delivered = {"message_id": mail["message_id"], "type": "delivered", "timestamp": now.isoformat(),
                 "event_id": f"evt-{unique}"}
    # A provider retrying may stamp its repeat anew: the id says it is the same event ...
    again = {**delivered, "timestamp": (now + timedelta(seconds=30)).isoformat()}
    # ... and two events of the provider's with the same content are two.
    other = {**delivered, "event_id": f"evt-{unique}-2"}
    response = await post_webhook(api, settings.webhook_secret, [delivered, again, other, delivered])
    assert [r["status"] for r in response.json()["results"]] == ["recorded", "duplicate", "recorded", "duplicate"]
    assert await _stored(engine, workflow_id) == [
        ("delivered", "webhook", f"evt-{unique}"), ("delivered", "webhook", f"evt-{unique}-2")]

    too_long = await post_webhook(api, settings.webhook_secret, [{**delivered, "event_id": "x" * 201}])
    assert too_long.status_code == 422 and "events.0.event_id" in too_long.text
