"""The propensity features beyond recency, frequency and counts, read from real Postgres: a
contact's purchase rhythm, the follow-on rate of the product last bought, and intent (a product
viewed twice lately, the view-to-purchase rate of the products viewed lately). The shop lives
years before now and its products are the test's own, so other tests' data change nothing."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone

from sqlalchemy import text

from sojourn.data.db import raw_connection
from sojourn.data.propensity_features import product_rates, propensity_features

CUT_OFF = datetime(2012, 3, 1, tzinfo=timezone.utc)
PURCHASE = "purchase"


async def contacts_with(engine, unique: str, histories: dict[str, list[tuple[str, int, str]]]) -> dict[str, int]:
    """A contact per name, created now (so the cut-offs of other tests' shops do not see it), with its
    events (name, days before the cut-off, sku)."""
    ids = {}
    async with engine.begin() as conn:
        for name, events in histories.items():
            ids[name] = (await conn.execute(text(
                "INSERT INTO contacts (external_id) VALUES (:e) RETURNING id"), {"e": f"{name}-{unique}"})).scalar_one()
            for n, (event, days_before, sku) in enumerate(events):
                await conn.execute(text(
                    "INSERT INTO events (event_id, contact_id, name, occurred_at, properties)"
                    " VALUES (:i, :c, :n, :t, CAST(:p AS jsonb))"),
                    {"i": f"{name}-{unique}-{n}", "c": ids[name], "n": event,
                     "t": CUT_OFF - timedelta(days=days_before), "p": json.dumps({"sku": f"{sku}-{unique}"})})
    return ids


async def test_rhythm_follow_on_rate_and_intent_are_read_as_of_the_cut_off(engine, unique):
    histories = {
        # Every 30 days, the last 20 days ago: two thirds of the way to the next; perfectly regular.
        "regular": [(PURCHASE, days, "tea") for days in (80, 50, 20)],
        # Gaps of 10 and 50 days: the same mean of 30, irregular.
        "irregular": [(PURCHASE, days, "tea") for days in (80, 70, 20)],
        "once": [(PURCHASE, 20, "tea")],
        # Two views of one product in the last 14 days, one of another; the 20-day-old views are past it.
        "browser": [("viewed_product", 3, "serum"), ("viewed_product", 10, "serum"), ("viewed_product", 5, "mask"),
                    ("viewed_product", 20, "cream"), ("viewed_product", 18, "cream")],
        # Looked at the lure lately: a product its viewers bought.
        "lured": [("viewed_product", 4, "lure")],
        # Last bought the head: its buyers buy again within the horizon. Then one who last bought the tail.
        "head_last": [(PURCHASE, 2, "head")],
        "tail_last": [(PURCHASE, 2, "tail")],
        # Each bought the head, then the tail 10 days later, before the horizon ending at the cut-off;
        # and viewed the lure, buying it 5 days later.
        **{f"pair{i}": [(PURCHASE, 100, "head"), (PURCHASE, 90, "tail"),
                        ("viewed_product", 60, "lure"), (PURCHASE, 55, "lure")] for i in range(5)},
    }
    ids = await contacts_with(engine, unique, histories)
    async with raw_connection(engine) as conn:
        rates = await product_rates(conn, CUT_OFF, 30, PURCHASE)
        got = await propensity_features(conn, min(ids.values()), max(ids.values()) + 1, CUT_OFF, 30, PURCHASE,
                                        "amount", rates)

    assert (rates.follow[f"head-{unique}"], rates.follow[f"tail-{unique}"]) == (1.0, 0.0)
    assert rates.conversion[f"lure-{unique}"] == 1.0
    assert f"serum-{unique}" not in rates.conversion  # fewer than 5 viewers: no rate

    row = {contact: i for i, contact in enumerate(got.contact_ids.tolist())}

    def value(name: str, feature: str) -> float:
        return got.column(feature)[row[ids[name]]]

    assert value("regular", "interval_days") == value("irregular", "interval_days") == 30
    assert math.isclose(value("regular", "overdue"), 20 / 30)
    assert value("regular", "interval_cv") == 0
    assert math.isclose(value("irregular", "interval_cv"), math.sqrt(800) / 30)  # sample deviation of 10 and 50
    for unknown in ("interval_days", "overdue", "interval_cv"):
        assert math.isnan(value("once", unknown)) and math.isnan(value("browser", unknown))
    assert value("browser", "repeat_viewed") == 1 and value("lured", "repeat_viewed") == 0
    assert value("browser", "viewed_product_14d") == 3
    assert value("lured", "viewed_conversion") == 1.0 and math.isnan(value("browser", "viewed_conversion"))
    assert value("head_last", "last_product_follow_rate") == 1.0
    assert value("tail_last", "last_product_follow_rate") == 0.0
    assert math.isnan(value("lured", "last_product_follow_rate"))
