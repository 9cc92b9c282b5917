"""score_affinity against real Postgres on the planted bilingual catalogue: a contact who views
and buys sunscreen gets the sun-care topic, category and brand tags above one who viewed once;
an old purchase weighs less than recent views; weights follow the decay rule exactly; a day
scored again changes nothing; tags no longer earned go, other sources' tags stay."""

from __future__ import annotations

import json
import math
import random
from datetime import datetime, timedelta, timezone

from affinity_catalogue import CATALOGUE
from sqlalchemy import text

from sojourn.data.affinity_tags import SOURCE
from sojourn.data.db import raw_connection
from sojourn.data.product_events import product_interest
from sojourn.services.affinity import score_affinity

AS_OF = datetime(2026, 6, 1, tzinfo=timezone.utc)


async def add_catalogue(engine, unique: str) -> None:
    async with engine.begin() as conn:
        for sku, name, description, category, brand, attributes in CATALOGUE:
            await conn.execute(text(
                "INSERT INTO products (sku, name, description, category, brand, attributes)"
                " VALUES (:sku, :name, :description, :category, :brand, CAST(:attributes AS jsonb))"),
                {"sku": f"{sku}-{unique}", "name": name, "description": description, "category": category,
                 "brand": brand, "attributes": json.dumps(attributes)})


async def add_contacts(engine, unique: str, *names: str) -> dict[str, int]:
    async with engine.begin() as conn:
        return {name: (await conn.execute(text("INSERT INTO contacts (external_id) VALUES (:e) RETURNING id"),
                                          {"e": f"{name}-{unique}"})).scalar() for name in names}


async def add_events(engine, unique: str, events: list[tuple[int, str, str, timedelta]]) -> None:
    """(contact id, event name, catalogue sku, age at AS_OF) each."""
    async with engine.begin() as conn:
        for n, (contact, name, sku, age) in enumerate(events):
            await conn.execute(text(
                "INSERT INTO events (event_id, contact_id, name, properties, occurred_at)"
                " VALUES (:id, :c, :name, CAST(:p AS jsonb), :t)"),
                {"id": f"{unique}-{n}", "c": contact, "name": name, "p": json.dumps({"sku": f"{sku}-{unique}"}),
                 "t": AS_OF - age})


async def tags_of(engine, contact_id: int) -> dict[str, tuple[float, str | None]]:
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT tag, weight, source FROM contact_tags WHERE contact_id = :c"),
                                   {"c": contact_id})).all()
    return {r.tag: (r.weight, r.source) for r in rows}


def topic_of(tags: dict[str, tuple[float, str | None]], term: str) -> float:
    """The weight of the contact's topic named with `term` (0 if none)."""
    return max([w for tag, (w, _) in tags.items() if tag.startswith("affinity:topic:") and term in tag.split(":")[2]
                .split("-")], default=0.0)


async def test_sunscreen_buyers_get_sun_care_tags_that_decay_and_a_rerun_changes_nothing(engine, settings, unique):
    settings = settings.model_copy(update={"affinity_attributes": ["skin_type"]})
    as_of = AS_OF + timedelta(seconds=random.randrange(1, 86_400))  # its own model version
    await add_catalogue(engine, unique)
    ids = await add_contacts(engine, unique, "fan", "glance", "lapsed", "nobody")
    day = timedelta(days=1)
    await add_events(engine, unique, [
        # fan: views, a cart and a purchase of sunscreen this week, one look at a serum
        *[(ids["fan"], "viewed_product", sku, 2 * day) for sku in ("sun-1", "sun-2", "sun-4")],
        (ids["fan"], "added_to_cart", "sun-2", 2 * day), (ids["fan"], "purchase", "sun-2", day),
        (ids["fan"], "viewed_product", "moist-1", 3 * day),
        # glance: one look at sunscreen, otherwise moisturisers
        (ids["glance"], "viewed_product", "sun-1", 2 * day),
        *[(ids["glance"], "viewed_product", sku, day) for sku in ("moist-1", "moist-2", "moist-3")],
        (ids["glance"], "purchase", "moist-2", day),
        # lapsed: a sunscreen bought 90 days ago (10 x 1/8), three looks at a moisturiser yesterday
        (ids["lapsed"], "purchase", "sun-3", 90 * day),
        *[(ids["lapsed"], "viewed_product", "moist-3", day) for _ in range(3)],
        # after the cut-off, and not a product event: neither counts
        (ids["nobody"], "purchase", "sun-1", -day), (ids["nobody"], "opened", "sun-1", day)])
    async with engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO contact_tags (contact_id, tag, weight, source) VALUES"
            " (:fan, 'affinity:brand:anessa', 7, 'rule:manual'), (:fan, 'vip', 1, NULL),"
            " (:glance, 'affinity:brand:gone', 0.9, :source), (:glance, 'affinity:brand:kept', 0.9, 'import')"),
            {"fan": ids["fan"], "glance": ids["glance"], "source": SOURCE})

    run = await score_affinity(engine, as_of, settings)
    assert run.model == "affinity" and run.version is not None and run.reason is None and run.changed > 0
    assert run.metrics["topics"] >= 3 and run.metrics["contacts_tagged"] >= 3
    fan, glance, lapsed = [await tags_of(engine, ids[name]) for name in ("fan", "glance", "lapsed")]
    sun, skin_care = "affinity:category:保養/防曬", "affinity:category:保養"
    # Every level of a path is one kind: the top level holds all of its sub-levels' interest.
    assert fan[skin_care] == (1.0, SOURCE) and 0.9 < fan[sun][0] < 1 and fan[sun][1] == SOURCE
    assert fan["affinity:brand:biore"] == (1.0, SOURCE) and fan["affinity:skin-type:oily"] == (1.0, SOURCE)
    assert topic_of(fan, "sunscreen") == 1.0 and topic_of(fan, "防曬") == 1.0
    # The one-time viewer's sun care is weak (or under the threshold); moisturising is theirs.
    assert glance.get(sun, (0.0,))[0] < 0.2 and glance["affinity:category:保養/保濕"][0] > 0.8
    assert topic_of(glance, "sunscreen") < 0.2 < topic_of(fan, "sunscreen")
    # Decay: the old purchase counts 10/8 against three views of a day ago.
    views = 3 * math.exp(-math.log(2) * (as_of - (AS_OF - day)).total_seconds() / (30 * 86400))
    purchase = 10 * math.exp(-math.log(2) * (as_of - (AS_OF - 90 * day)).total_seconds() / (30 * 86400))
    assert lapsed[skin_care][0] == 1.0
    assert lapsed["affinity:category:保養/保濕"][0] == round(views / (views + purchase), 4)
    assert lapsed[sun][0] == round(purchase / (views + purchase), 4) < 0.5
    assert await tags_of(engine, ids["nobody"]) == {}
    # Other sources' tags stay, even under an affinity name; affinity's own unearned one goes.
    assert fan["affinity:brand:anessa"] == (7.0, "rule:manual") and fan["vip"] == (1.0, None)
    assert "affinity:brand:gone" not in glance and glance["affinity:brand:kept"] == (0.9, "import")
    assert all(weight >= settings.affinity_min_weight for tags in (fan, glance, lapsed)
               for weight, source in tags.values() if source == SOURCE)

    again = await score_affinity(engine, as_of, settings)
    assert (again.version, again.changed, again.metrics) == (run.version, 0, run.metrics)
    assert await tags_of(engine, ids["fan"]) == fan
    async with engine.connect() as conn:
        model = (await conn.execute(text("SELECT params, used FROM prediction_models WHERE name = 'affinity'"
                                         " AND version = :v"), {"v": run.version})).one()
    assert model.used and model.params["half_life_days"] == 30.0
    assert model.params["event_weights"] == {"viewed_product": 1.0, "added_to_cart": 3.0, "purchase": 10.0}
    assert any("sunscreen" in t["terms"] and "防曬" in t["terms"] for t in model.params["topics"])

    # A later day: the fan's sunscreen decays away under a flood of hair care; the tags follow.
    later = as_of + timedelta(days=200)
    async with engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO events (event_id, contact_id, name, properties, occurred_at)"
            " SELECT :u || g, :c, 'purchase', CAST(:p AS jsonb), :t FROM generate_series(1, 5) g"),
            {"u": f"later-{unique}-", "c": ids["fan"], "p": json.dumps({"sku": f"hair-1-{unique}"}),
             "t": later - day})
    moved = await score_affinity(engine, later, settings)
    assert moved.version != run.version and moved.changed > 0
    fan_later = await tags_of(engine, ids["fan"])
    assert sun not in fan_later and fan_later["affinity:category:美髮"] == (1.0, SOURCE)
    assert fan_later["affinity:brand:anessa"] == (7.0, "rule:manual")


async def test_product_interest_per_contact_and_product(engine, unique):
    ids = await add_contacts(engine, unique, "reader")
    await add_events(engine, unique, [(ids["reader"], "viewed_product", "sun-1", timedelta(days=10)),
                                      (ids["reader"], "purchase", "sun-1", timedelta(days=10)),
                                      (ids["reader"], "purchase", "hair-2", timedelta(0)),  # at the cut-off
                                      (ids["reader"], "viewed_product", "hair-2", timedelta(days=20))])
    async with raw_connection(engine) as conn:
        rows = await product_interest(conn, ids["reader"], ids["reader"] + 1, AS_OF,
                                      {"viewed_product": 1, "purchase": 4}, 10)
    assert list(zip(rows.contact_ids, rows.skus, [round(i, 6) for i in rows.interest])) == [
        (ids["reader"], f"hair-2-{unique}", 0.25), (ids["reader"], f"sun-1-{unique}", 2.5)]
