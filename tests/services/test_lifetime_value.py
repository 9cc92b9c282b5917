"""score_lifetime_value against real Postgres, on generated purchase histories with planted
patterns: heavy buyers are worth more than one-time buyers and those who stopped, contacts without a purchase get a
defined value, a day scored again changes nothing, and the API shows models and predictions."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from sojourn.services.lifetime_value import score_lifetime_value
from sojourn.settings import Settings

AS_OF = datetime(2026, 6, 1, tzinfo=timezone.utc)


def ltv_settings(settings: Settings, event: str, horizon_days: int = 90, chunk_contacts: int = 50_000) -> Settings:
    """The test's settings with lifetime value reading `event` (worth its `amount`)."""
    return settings.model_copy(update={"purchase_event": event, "purchase_value_property": "amount",
                                       "ltv_horizon_days": horizon_days, "prediction_chunk_contacts": chunk_contacts})


async def shop(engine, unique: str, event: str) -> dict[str, list[int]]:
    """Contacts of four kinds, with their purchase events before AS_OF."""
    rng = random.Random(unique)
    kinds = {"heavy": 25, "lapsed": 25, "once": 25, "never": 5}
    ids: dict[str, list[int]] = {}
    events = []
    async with engine.begin() as conn:
        for kind, count in kinds.items():
            ids[kind] = list((await conn.execute(text(
                "INSERT INTO contacts (external_id, created_at) SELECT :p || '-' || g, :created"
                " FROM generate_series(1, :n) g RETURNING id"),
                {"p": f"{kind}-{unique}", "n": count, "created": AS_OF - timedelta(days=400)})).scalars())
        for contact in ids["heavy"]:  # every week or two for the last year, still buying
            day = AS_OF - timedelta(days=360 + rng.random() * 20)
            while day < AS_OF - timedelta(days=3):
                events.append((contact, day, {"sku": "serum", "amount": round(40 + rng.random() * 40, 2)}))
                day += timedelta(days=5 + rng.random() * 10)
        for contact in ids["lapsed"]:  # as often, for the half-year before last, then never again
            day = AS_OF - timedelta(days=380 + rng.random() * 20)
            while day < AS_OF - timedelta(days=200):
                events.append((contact, day, {"sku": "serum", "amount": round(40 + rng.random() * 40, 2)}))
                day += timedelta(days=5 + rng.random() * 10)
        for contact in ids["once"]:  # one purchase, long ago
            events.append((contact, AS_OF - timedelta(days=200 + rng.random() * 100), {"sku": "serum", "amount": 60}))
        for n, contact in enumerate(ids["once"][:10]):  # a few came back once, mid-way
            events.append((contact, AS_OF - timedelta(days=120 + n), {"sku": "mask", "amount": str(30 + n)}))
        events.append((ids["heavy"][0], AS_OF + timedelta(days=10), {"amount": 10_000}))  # after every cut-off
        await conn.execute(text(
            "INSERT INTO events (event_id, contact_id, name, properties, occurred_at)"
            " SELECT :u || '-' || n, c, :name, p::jsonb, t"
            " FROM unnest(CAST(:c AS bigint[]), CAST(:p AS text[]), CAST(:t AS timestamptz[]))"
            " WITH ORDINALITY AS e(c, p, t, n)"),
            {"u": unique, "name": event, "c": [e[0] for e in events], "p": [json.dumps(e[2]) for e in events],
             "t": [e[1] for e in events]})
    return ids


async def predictions(engine, contact_ids: list[int]) -> dict[int, dict[str, tuple]]:
    async with engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT contact_id, name, value, model_version, computed_at FROM contact_predictions"
            " WHERE contact_id = ANY(:ids)"), {"ids": contact_ids})).all()
    found: dict[int, dict[str, tuple]] = {}
    for row in rows:
        found.setdefault(row.contact_id, {})[row.name] = (row.value, row.model_version, row.computed_at)
    return found


async def test_heavy_buyers_are_worth_more_and_a_day_scored_again_changes_nothing(engine, settings, unique):
    event = f"purchase-{unique}"
    as_of = AS_OF + timedelta(seconds=random.randrange(86_400))  # its own: a version per (model, as_of)
    ids = await shop(engine, unique, event)
    run = await score_lifetime_value(engine, as_of, ltv_settings(settings, event, chunk_contacts=500))
    assert run.version is not None and run.reason is None and run.changed > 0
    everyone = [i for group in ids.values() for i in group]
    stored = await predictions(engine, everyone)
    assert set(stored) == set(everyone)

    def mean(kind: str, name: str) -> float:
        return sum(stored[i][name][0] for i in ids[kind]) / len(ids[kind])

    assert mean("heavy", "ltv.expected_value") > 5 * mean("once", "ltv.expected_value") > 0
    assert mean("heavy", "ltv.expected_purchases") > 5 * mean("once", "ltv.expected_purchases")
    assert mean("heavy", "rfm.frequency") > 20 and mean("heavy", "rfm.monetary") == pytest.approx(60, abs=10)
    assert max(stored[i]["rfm.monetary"][0] for i in ids["heavy"]) < 100  # the event after as_of is not counted
    for contact in ids["never"]:
        values = {name: value for name, (value, _, _) in stored[contact].items()}
        assert values["rfm.frequency"] == 0 and values["rfm.monetary"] == 0
        assert values["rfm.age_days"] == pytest.approx(400, abs=1.01)
        assert values["ltv.expected_value"] >= 0 and values["ltv.p_alive"] == 1
    # Buyers who stopped long ago are likely gone, and expected to buy far less than those still buying.
    assert mean("lapsed", "ltv.p_alive") < 0.2 < 0.8 < mean("heavy", "ltv.p_alive")
    assert mean("heavy", "ltv.expected_value") > 5 * mean("lapsed", "ltv.expected_value")

    again = await score_lifetime_value(engine, as_of, ltv_settings(settings, event, chunk_contacts=77))
    assert (again.version, again.changed) == (run.version, 0)
    assert await predictions(engine, everyone) == stored
    async with engine.connect() as conn:
        versions = (await conn.execute(text("SELECT count(*) FROM prediction_models WHERE name = 'ltv'"
                                            " AND as_of = :a"), {"a": as_of})).scalar()
    assert versions == 1


async def test_the_api_lists_model_versions_and_shows_a_contacts_predictions(api, engine, settings, unique):
    event = f"purchase-{unique}"
    as_of = AS_OF + timedelta(days=1, seconds=random.randrange(86_400))
    ids = await shop(engine, unique, event)
    run = await score_lifetime_value(engine, as_of, ltv_settings(settings, event, horizon_days=30))
    models = (await api.get("/v1/models", params={"name": "ltv"})).json()
    mine = next(m for m in models if m["version"] == run.version)
    assert mine["used"] and set(mine["params"]["bg_nbd"]) == {"r", "alpha", "a", "b"}
    assert mine["params"]["horizon_days"] == 30 and mine["metrics"]["repeat_buyers"] >= 25
    profile = (await api.get(f"/v1/contacts/heavy-{unique}-1")).json()
    assert profile["predictions"]["ltv.expected_value"]["model_version"] == run.version
    assert profile["predictions"]["ltv.expected_value"]["value"] > 0
    assert ids["heavy"]


async def test_no_purchases_records_an_unused_model_and_stores_nothing(engine, settings, unique):
    as_of = AS_OF + timedelta(days=2, seconds=random.randrange(86_400))
    run = await score_lifetime_value(engine, as_of, ltv_settings(settings, f"nothing-{unique}"))
    assert run.version is None and "repeat purchase" in run.reason
    async with engine.connect() as conn:
        row = (await conn.execute(text("SELECT used, reason FROM prediction_models WHERE name = 'ltv' AND as_of = :a"),
                                  {"a": as_of})).one()
    assert row.used is False and "repeat purchase" in row.reason


async def test_contacts_far_apart_by_id_are_scored_in_chunks_of_contacts_not_of_ids(engine, settings, unique):
    """Ids need not be dense (imports, restored dumps, another system's numbers): chunks are the
    next N contacts, so a gap of a trillion ids costs nothing (by id ranges it never ended)."""
    event, far = f"purchase-{unique}", 10**12 + random.randrange(10**6)
    await shop(engine, unique, event)
    as_of = AS_OF + timedelta(days=2, seconds=random.randrange(86_400))
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO contacts (id, external_id) VALUES (:id, :ext)"),
                           {"id": far, "ext": f"far-{unique}"})
        await conn.execute(text(
            "INSERT INTO events (event_id, contact_id, name, occurred_at, properties)"
            " VALUES (:ext, :id, :name, :at, '{\"amount\": 12}')"),
            {"ext": f"far-{unique}", "id": far, "name": event, "at": AS_OF - timedelta(days=30)})
    try:
        scored = score_lifetime_value(engine, as_of, ltv_settings(settings, event, chunk_contacts=100))
        run = await asyncio.wait_for(scored, 300)
        assert run.reason is None
        values = {name: value for name, (value, _, _) in (await predictions(engine, [far]))[far].items()}
        assert values["rfm.frequency"] == 0 and values["rfm.age_days"] == pytest.approx(32.5, abs=0.51)
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM contacts WHERE id = :id"), {"id": far})
