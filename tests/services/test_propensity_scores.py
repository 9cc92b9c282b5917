"""score_propensity and score_churn against real Postgres on planted shops: contacts who put a
product in their cart buy about 20 days later (something recency and frequency cannot see), so
the model beats the baseline; where every contact looks the same nothing can be learned and the
earlier scores stay; a day scored again changes nothing.

Each shop lives years before now, its contacts created before its first cut-off, so the contacts
of other tests (created today) did not exist at the training and validation cut-offs."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone

from sqlalchemy import text

from sojourn.data.db import raw_connection
from sojourn.data.predictions import record_model, store_predictions
from sojourn.services.propensity import score_churn, score_propensity

SHOP_AS_OF = datetime(2015, 6, 1, tzinfo=timezone.utc)
BLANK_AS_OF = datetime(2005, 6, 1, tzinfo=timezone.utc)


async def insert(engine, unique: str, kind: str, count: int, created: datetime,
                 events: callable) -> list[int]:
    """`count` contacts of a kind, with the events `events(rng)` gives each: (name, when, properties)."""
    rng = random.Random(f"{unique}-{kind}")
    async with engine.begin() as conn:
        ids = list((await conn.execute(text(
            "INSERT INTO contacts (external_id, created_at) SELECT :p || '-' || g, :created"
            " FROM generate_series(1, :n) g RETURNING id"),
            {"p": f"{kind}-{unique}", "n": count, "created": created})).scalars())
        rows = [(contact, *event) for contact in ids for event in events(rng)]
        await conn.execute(text(
            "INSERT INTO events (event_id, contact_id, name, occurred_at, properties)"
            " SELECT :u || '-' || n, c, e, t, p::jsonb"
            " FROM unnest(CAST(:c AS bigint[]), CAST(:e AS text[]), CAST(:t AS timestamptz[]), CAST(:p AS text[]))"
            " WITH ORDINALITY AS x(c, e, t, p, n)"),
            {"u": f"{unique}-{kind}", "c": [r[0] for r in rows], "e": [r[1] for r in rows],
             "t": [r[2] for r in rows], "p": [json.dumps(r[3]) for r in rows]})
    return ids


async def stored(engine, contact_ids: list[int], name: str) -> dict[int, tuple[float, int]]:
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT contact_id, value, model_version FROM contact_predictions"
                                        " WHERE name = :n AND contact_id = ANY(:ids)"),
                                   {"n": name, "ids": contact_ids})).all()
    return {r.contact_id: (r.value, r.model_version) for r in rows}


async def planted_shop(engine, unique: str, purchase: str) -> dict[str, list[int]]:
    start = SHOP_AS_OF - timedelta(days=400)

    def browser(rng: random.Random) -> list:
        """A cart every 25 days plus an exponential wait (mean 35), bought 20 days later."""
        events, day = [], start + timedelta(days=rng.uniform(0, 60))
        while day < SHOP_AS_OF:
            events += [("viewed_product", day - timedelta(days=1), {"sku": "serum"}),
                       ("added_to_cart", day, {"sku": "serum"}),
                       (purchase, day + timedelta(days=20), {"sku": "serum", "amount": rng.choice([30, "45.5"])})]
            day += timedelta(days=25 + rng.expovariate(1 / 35))
        return events

    def window_shopper(rng: random.Random) -> list:
        """Looks now and then, never buys."""
        return [("viewed_product", start + timedelta(days=rng.uniform(0, 400)), {"sku": "mask"}) for _ in range(12)]

    created = start - timedelta(days=30)
    return {"browsers": await insert(engine, unique, "browser", 400, created, browser),
            "window_shoppers": await insert(engine, unique, "window", 150, created, window_shopper)}


async def test_a_planted_buying_rhythm_beats_the_baseline_and_a_day_scored_again_changes_nothing(
        engine, settings, unique):
    settings.purchase_event = f"purchase-{unique}"
    as_of = SHOP_AS_OF + timedelta(seconds=random.randrange(86_400))  # its own: a version per (model, as_of)
    shop = await planted_shop(engine, unique, settings.purchase_event)
    everyone = shop["browsers"] + shop["window_shoppers"]

    run = await score_propensity(engine, as_of, settings)
    assert (run.model, run.reason) == ("purchase_30d", None) and run.version is not None
    model, baseline = run.metrics["model"], run.metrics["baseline"]
    assert model["auc"] > baseline["auc"] + 0.1, run.metrics
    assert model["top_decile_lift"] > 1.5 and 0 <= model["brier"] < baseline["brier"]
    assert run.metrics["train_contacts"] == run.metrics["validation_contacts"] == len(everyone)
    scores, deciles = await stored(engine, everyone, "purchase_30d"), await stored(engine, everyone, "purchase_30d.decile")
    assert set(scores) == set(deciles) == set(everyone)  # every contact, the window shoppers too
    assert all(0 <= value <= 1 and version == run.version for value, version in scores.values())
    assert {value for value, _ in deciles.values()} <= set(range(1, 11))

    # Those whose cart is 0 to 20 days old buy within 30 days; the model ranks them on top.
    async with engine.connect() as conn:
        carted = set((await conn.execute(text(
            "SELECT DISTINCT contact_id FROM events WHERE name = 'added_to_cart' AND contact_id = ANY(:ids)"
            " AND occurred_at >= :since AND occurred_at < :as_of"),
            {"ids": everyone, "since": as_of - timedelta(days=19), "as_of": as_of})).scalars())
    assert len(carted) > 50
    assert min(scores[c][0] for c in carted) > max(scores[c][0] for c in shop["window_shoppers"])
    assert sum(deciles[c][0] for c in carted) / len(carted) > 8

    async with engine.connect() as conn:
        before = (await conn.execute(text("SELECT max(computed_at) FROM contact_predictions"
                                          " WHERE contact_id = ANY(:ids)"), {"ids": everyone})).scalar()
    again = await score_propensity(engine, as_of, settings)
    assert (again.version, again.changed, again.metrics) == (run.version, 0, run.metrics)
    assert await stored(engine, everyone, "purchase_30d") == scores
    async with engine.connect() as conn:
        after = (await conn.execute(text("SELECT max(computed_at) FROM contact_predictions"
                                         " WHERE contact_id = ANY(:ids)"), {"ids": everyone})).scalar()
        versions = (await conn.execute(text("SELECT count(*) FROM prediction_models WHERE name = 'purchase_30d'"
                                            " AND as_of = :a"), {"a": as_of})).scalar()
    assert after == before and versions == 1

    churn = await score_churn(engine, as_of, settings)
    assert churn.model == "churn_90d"
    churned = await stored(engine, everyone, "churn_90d")
    assert not set(churned) & set(shop["window_shoppers"])  # never bought: nothing to churn from
    if churn.version is not None:
        assert set(churned) == set(shop["browsers"])
    else:
        assert churned == {} and "baseline" in churn.reason


async def test_where_nothing_can_be_learned_the_version_is_unused_and_earlier_scores_stay(engine, settings, unique):
    """At the training cut-off every contact looks the same (no history, one signup time); each buys at random."""
    settings.purchase_event = f"purchase-{unique}"
    as_of = BLANK_AS_OF + timedelta(seconds=random.randrange(86_400))

    def coin(rng: random.Random) -> list:
        return [(settings.purchase_event, as_of - timedelta(days=days), {"amount": 10})
                for days in (45, 15) if rng.random() < 0.4]

    ids = await insert(engine, unique, "coin", 300, BLANK_AS_OF - timedelta(days=400), coin)
    async with raw_connection(engine) as conn:  # an earlier day's version and its scores
        earlier = await record_model(conn, "purchase_30d", as_of - timedelta(days=1), {}, {}, True, None)
        await store_predictions(conn, "purchase_30d", earlier, {"purchase_30d": (ids, [0.25] * len(ids))})

    run = await score_propensity(engine, as_of, settings)
    assert (run.version, run.contacts, run.changed) == (None, 0, 0)
    assert run.reason.startswith("AUC 0.5000 does not beat the recency-frequency baseline's")
    async with engine.connect() as conn:
        row = (await conn.execute(text("SELECT used, reason, metrics FROM prediction_models"
                                       " WHERE name = 'purchase_30d' AND as_of = :a"), {"a": as_of})).one()
    assert row.used is False and row.reason == run.reason and row.metrics["validation_contacts"] == 300
    assert await stored(engine, ids, "purchase_30d") == {i: (0.25, earlier) for i in ids}
