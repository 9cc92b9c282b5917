"""score_recommendations against real Postgres on planted baskets: the partner of a pair always
bought together comes first, bought products never come, a contact without product events has
no rows (templates show them the popular products), the version beats popularity on the later
window and is used, a day scored again changes nothing, and a shop without co-occurrence is
stored as popularity only with the reason."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from recommend_shop import DAY, add_contacts, add_events, add_products, planted_shop
from sqlalchemy import text

from sojourn.services.recommendations import score_recommendations

AS_OF = datetime(2026, 7, 1, tzinfo=timezone.utc)


async def stored(engine, contact_ids: list[int]) -> dict[int, list[tuple]]:
    async with engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT contact_id, rank, sku, score, model_version, computed_at FROM contact_recommendations"
            " WHERE contact_id = ANY(:ids) ORDER BY contact_id, rank"), {"ids": contact_ids})).all()
    found: dict[int, list[tuple]] = {}
    for row in rows:
        found.setdefault(row.contact_id, []).append((row.sku, row.score, row.model_version, row.computed_at))
    return found


async def test_planted_pairs_are_recommended_and_a_day_scored_again_changes_nothing(engine, unique, settings):
    purchase = f"purchase-{unique}"
    as_of = AS_OF + timedelta(seconds=random.randrange(86_400))  # its own: a version per (model, as_of)
    shop = await planted_shop(engine, unique, purchase, as_of)
    settings = settings.model_copy(update={"purchase_event": purchase, "prediction_chunk_contacts": 40})
    run = await score_recommendations(engine, as_of, settings)
    assert run.version is not None and run.reason is None and run.changed > 0, run
    assert run.metrics["cooccurrence_precision_at_5"] > run.metrics["popularity_precision_at_5"]
    assert run.metrics["evaluated_contacts"] >= 30

    everyone = shop["everyone"] + [shop["one_buyer"], shop["newcomer"]]
    first = await stored(engine, everyone)
    skus = shop["skus"]
    single = [sku for sku, *_ in first[shop["one_buyer"]]]
    assert single[0] == skus[5] and skus[4] not in single and len(single) == 10
    assert shop["newcomer"] not in first  # templates show the popular products instead
    for contact in shop["everyone"]:
        assert len(first[contact]) == 10
        assert not {(contact, sku) for sku, *_ in first[contact]} & shop["bought"]
    async with engine.connect() as conn:
        popular = (await conn.execute(text("SELECT sku, model_version FROM popular_products ORDER BY rank"))).all()
        model = (await conn.execute(text("SELECT used, reason, metrics FROM prediction_models"
                                         " WHERE name = 'recommendations' AND version = :v"), {"v": run.version})).one()
    assert popular[0] == (skus[18], run.version)
    assert model.used and model.reason is None and model.metrics["popularity_recall_at_5"] >= 0

    again = await score_recommendations(engine, as_of, settings)
    assert (again.version, again.changed) == (run.version, 0)
    assert await stored(engine, everyone) == first


async def test_without_co_occurrence_popularity_is_stored_with_the_reason(engine, unique, settings):
    purchase = f"purchase-{unique}"
    as_of = AS_OF + timedelta(days=3, seconds=random.randrange(86_400))
    rng = random.Random(unique)
    skus = await add_products(engine, unique, 10)
    contacts = await add_contacts(engine, unique, "random", 80)
    weights = [2**-i for i in range(10)]  # p0 most bought, then p1...
    events = [(c, purchase, rng.choices(skus, weights)[0], as_of - rng.uniform(1, 200) * DAY) for c in contacts]
    await add_events(engine, unique, events)
    settings = settings.model_copy(update={"purchase_event": purchase})
    run = await score_recommendations(engine, as_of, settings)
    assert run.reason and "did not beat popularity" in run.reason and run.version is not None
    found = await stored(engine, contacts)
    bought = {c: s for c, _, s, _ in events}
    buyers = {sku: list(bought.values()).count(sku) for sku in set(bought.values())}
    popular = sorted(buyers, key=lambda sku: (-buyers[sku], sku))  # ties: by sku
    for contact in contacts:
        expected = [s for s in popular if s != bought[contact]]
        assert [sku for sku, *_ in found[contact]] == expected
        assert all(score == 0 for _, score, *_ in found[contact])
    async with engine.connect() as conn:
        model = (await conn.execute(text("SELECT used, reason, params FROM prediction_models"
                                         " WHERE name = 'recommendations' AND version = :v"), {"v": run.version})).one()
    assert not model.used and model.reason == run.reason and model.params["method"] == "popularity"
