"""Usage through the real stack: messages go out through a worker (SMS to a local Twilio
stand-in, email to the SMTP sink), then GET /v1/usage counts them, their units and cost."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from sojourn.data.models import Message
from sojourn.settings import Settings

from helpers import create_active_journey, enroll, finished, put_contact
from providers import FakeTwilio

LONG_GSM = "Spring sale {{ first_name }}! " + "Every gift 20% off until Sunday. " * 6  # 2 GSM-7 segments
CHINESE = "母親節快樂！" + "全館商品八折優惠" * 9  # 78 UCS-2 characters: 2 segments
PRICES = {"sms": 0.0079, "email": 0.0001}


@pytest.fixture
def settings(settings: Settings, twilio: FakeTwilio) -> Settings:
    return settings.model_copy(update=dict(**twilio.settings(), provider_timeout=2.5, channel_prices=PRICES,
                                           usage_currency="EUR"))


def metered_journey() -> dict:
    return {"name": "metered", "nodes": [
        {"id": "sale", "type": "send", "channel": "sms", "sms": {"text": LONG_GSM}, "next": "greeting"},
        {"id": "greeting", "type": "send", "channel": "sms", "sms": {"text": CHINESE}, "next": "mail"},
        {"id": "mail", "type": "send", "subject": "Hello {{ first_name }}", "text": "A gift for you", "next": "end"},
        {"id": "end", "type": "exit"}]}


async def test_usage_counts_messages_units_and_cost(api, worker, engine, temporal_env, twilio, unique):
    assert len(CHINESE) > 70 and len("Spring sale Ada! " + "Every gift 20% off until Sunday. " * 6) > 160
    journey = f"metered-{unique}"
    await create_active_journey(api, journey, metered_journey())
    # Ada receives texts; Bo never said yes to them, so his texts are skipped (and cost nothing).
    await put_contact(api, f"ada-{unique}", first_name="Ada", email=f"ada-{unique}@example.com",
                      phone="+886912345678", consent={"sms": "subscribed"})
    await put_contact(api, f"bo-{unique}", first_name="Bo", email=f"bo-{unique}@example.com", phone="+886912345679")
    for result in await enroll(api, journey, f"ada-{unique}", f"bo-{unique}"):
        await finished(temporal_env, result["workflow_id"])
    assert twilio.problems == [] and len(twilio.received) == 2

    async with engine.connect() as conn:
        recorded = {(m.node_id, m.status): (m.units, m.cost) for m in
                    (await conn.execute(select(Message).where(Message.journey_id == journey))).all()}
    assert recorded[("sale", "sent")] == (2, Decimal("0.0158"))
    assert recorded[("greeting", "sent")] == (2, Decimal("0.0158"))
    assert recorded[("mail", "sent")] == (1, Decimal("0.0001"))

    response = await api.get("/v1/usage", params={"group_by": "journey,channel,status"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["currency"] == "EUR" and body["group_by"] == ["journey", "channel", "status"]
    assert set(body) == {"from", "to", "group_by", "currency", "rows", "total"} and body["from"] < body["to"]
    mine = {(row["channel"], row["status"]): (row["messages"], row["units"], Decimal(str(row["cost"])))
            for row in body["rows"] if row["journey"] == journey}
    assert mine == {("sms", "sent"): (2, 4, Decimal("0.0316")),
                    ("sms", "skipped"): (2, 0, Decimal(0)),
                    ("email", "sent"): (2, 2, Decimal("0.0002"))}

    by_day = (await api.get("/v1/usage", params={"group_by": "day,journey"})).json()
    [today] = [row for row in by_day["rows"] if row["journey"] == journey]
    assert (today["messages"], today["units"], Decimal(str(today["cost"]))) == (6, 6, Decimal("0.0318"))
    assert set(today) == {"day", "journey", "messages", "units", "cost"}

    # A range that ends before today holds none of them.
    earlier = (await api.get("/v1/usage", params={"group_by": "journey", "from": "2020-01-01",
                                                  "to": "2020-01-31"})).json()
    assert not [row for row in earlier["rows"] if row["journey"] == journey]


async def test_test_sends_are_not_counted(api, worker, engine, temporal_env, twilio, unique):
    journey = f"metered-test-{unique}"
    await create_active_journey(api, journey, {"name": "one mail", "nodes": [
        {"id": "mail", "type": "send", "subject": "Hi", "text": "Hello", "next": "end"}, {"id": "end", "type": "exit"}]})
    await put_contact(api, f"cy-{unique}", email=f"cy-{unique}@example.com")
    [result] = await enroll(api, journey, f"cy-{unique}")
    await finished(temporal_env, result["workflow_id"])
    async with engine.begin() as conn:
        await conn.execute(Message.__table__.update().where(Message.journey_id == journey).values(test=True))
    body = (await api.get("/v1/usage", params={"group_by": "journey"})).json()
    assert not [row for row in body["rows"] if row["journey"] == journey]


@pytest.mark.parametrize(("params", "field", "words"), [
    ({"group_by": "day,country"}, "group_by", "unknown group country"),
    ({"group_by": "day,day"}, "group_by", "named twice"),
    ({"from": "yesterday"}, "from", "is not a date"),
    ({"to": "2026-13-01"}, "to", "is not a date"),
    ({"from": "2026-11-02", "to": "2026-11-01"}, "from", "must come before"),
    ({"to": "0001-01-01T00:00:00Z"}, "from", "must come before"),
    ({"to": "9999-12-31"}, "to", "is not a date"),
])
async def test_a_bad_usage_query_is_a_422_naming_it(api, params, field, words):
    response = await api.get("/v1/usage", params=params)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["details"][0]["field"] == field and words in error["message"]
