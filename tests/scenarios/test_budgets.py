"""A journey's budget stops its marketing sends once spent, never its transactional ones, and
sends at once do not take it past the budget."""

from __future__ import annotations

import asyncio

import pytest

from sojourn.settings import Settings

from helpers import create_active_journey, enroll, finished, put_contact
from providers import FakeTwilio

PRICE = 0.0079  # per SMS segment; every text here is one segment


@pytest.fixture
def settings(settings: Settings, twilio: FakeTwilio) -> Settings:
    return settings.model_copy(update=dict(**twilio.settings(), provider_timeout=2.5, channel_prices={"sms": PRICE}))


async def texted(api, unique: str, count: int) -> list[str]:
    people = [f"p{i}-{unique}" for i in range(count)]
    for i, person in enumerate(people):
        await put_contact(api, person, phone=f"+8869123{i:05d}", consent={"sms": "subscribed"})
    return people


async def test_a_spent_budget_skips_marketing_but_not_transactional_sends(api, worker, temporal_env, twilio, unique):
    journey = f"budget-{unique}"
    await create_active_journey(api, journey, {"name": "budgeted", "budget": {"amount": 0.02, "period": "month"},
                                               "nodes": [
        {"id": "offer", "type": "send", "channel": "sms", "sms": {"text": "20% off today"}, "next": "receipt"},
        {"id": "receipt", "type": "send", "channel": "sms", "transactional": True,
         "sms": {"text": "Your order is confirmed"}, "next": "end"},
        {"id": "end", "type": "exit"}]})
    outcomes = []
    for person in await texted(api, unique, 3):  # one after another: each sees what the last one spent
        [result] = await enroll(api, journey, person)
        state = await finished(temporal_env, result["workflow_id"])
        outcomes.append([(m.node, m.status) for m in state.messages])
        run = (await api.get(f"/v1/journeys/{journey}/runs/{person}")).json()
        reasons = {m["node"]: m.get("reason") for m in run["state"]["messages"]}

    # The first contact's two texts spend 0.0158; another offer (0.0079) would pass 0.02.
    assert outcomes == [[("offer", "sent"), ("receipt", "sent")],
                        [("offer", "skipped"), ("receipt", "sent")],
                        [("offer", "skipped"), ("receipt", "sent")]]
    # The last offer's reason: the receipts went on being sent (and counted) past the budget.
    assert reasons["offer"] == "budget: 0.0237 of 0.02 USD spent this month; this message costs 0.0079", reasons
    assert reasons["receipt"] is None
    assert len(twilio.received) == 4


async def test_sends_at_once_do_not_overshoot(api, worker, temporal_env, twilio, unique):
    journey = f"budget-race-{unique}"
    await create_active_journey(api, journey, {"name": "race", "budget": {"amount": 0.04, "period": "total"},
                                               "nodes": [
        {"id": "offer", "type": "send", "channel": "sms", "sms": {"text": "20% off today"}, "next": "end"},
        {"id": "end", "type": "exit"}]})
    people = await texted(api, unique, 12)
    # Twelve runs' send activities at once, each on its own database connection, as on many workers.
    results = await enroll(api, journey, *people)
    states = await asyncio.gather(*(finished(temporal_env, r["workflow_id"]) for r in results))
    statuses = sorted(state.messages[0].status for state in states)
    # 0.04 buys five texts at 0.0079 (0.0395), not six.
    assert statuses == ["sent"] * 5 + ["skipped"] * 7
    assert len(twilio.received) == 5
