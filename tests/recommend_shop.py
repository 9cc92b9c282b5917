"""A shop with planted baskets for the recommendation tests: products in the catalogue, contacts,
and their product events, written straight to Postgres."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import text

DAY = timedelta(days=1)


async def add_products(engine, unique: str, count: int = 20) -> list[str]:
    skus = [f"{unique}-p{i}" for i in range(count)]
    async with engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO products (sku, name, price, currency, attributes)"
            " SELECT s, 'Product ' || s, 10 + n, 'USD', jsonb_build_object('url', 'https://shop.example/' || s)"
            " FROM unnest(CAST(:s AS text[])) WITH ORDINALITY AS u(s, n)"), {"s": skus})
    return skus


async def add_contacts(engine, unique: str, kind: str, count: int) -> list[int]:
    async with engine.begin() as conn:
        return list((await conn.execute(text(
            "INSERT INTO contacts (external_id, email) SELECT :p || '-' || g, :p || '-' || g || '@example.com'"
            " FROM generate_series(1, :n) g RETURNING id"), {"p": f"{kind}-{unique}", "n": count})).scalars())


async def add_events(engine, unique: str, events: list[tuple[int, str, str, datetime]]) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO events (event_id, contact_id, name, properties, occurred_at)"
            " SELECT :u || '-' || n, c, e, jsonb_build_object('sku', s), t"
            " FROM unnest(CAST(:c AS bigint[]), CAST(:e AS text[]), CAST(:s AS text[]), CAST(:t AS timestamptz[]))"
            " WITH ORDINALITY AS x(c, e, s, t, n)"),
            {"u": unique, "c": [e[0] for e in events], "e": [e[1] for e in events], "s": [e[2] for e in events],
             "t": [e[3] for e in events]})


async def planted_shop(engine, unique: str, purchase: str, as_of: datetime) -> dict:
    """Pairs (p0, p1), (p2, p3)... always bought together; p18 bought by many, alone. Some
    contacts bought both halves long ago; others one half before the last 30 days, the other in them."""
    rng = random.Random(unique)
    skus = await add_products(engine, unique)
    early = await add_contacts(engine, unique, "early", 60)
    late = await add_contacts(engine, unique, "late", 40)
    one_buyer, newcomer = await add_contacts(engine, unique, "single", 2)
    events = []
    for contact in early + late:
        first, partner = rng.sample([(2 * i, 2 * i + 1) for i in range(9)], 1)[0][::rng.choice([1, -1])]
        if contact in early:
            when = as_of - rng.uniform(100, 300) * DAY
            after = when + rng.uniform(1, 20) * DAY
        else:
            when = as_of - rng.uniform(31, 40) * DAY
            after = as_of - rng.uniform(1, 25) * DAY
        events += [(contact, "viewed_product", skus[first], when - DAY), (contact, purchase, skus[first], when),
                   (contact, purchase, skus[partner], after)]
        if rng.random() < 0.4:
            events.append((contact, purchase, skus[18], as_of - rng.uniform(40, 300) * DAY))
    events.append((one_buyer, purchase, skus[4], as_of - 2 * DAY))
    events.append((one_buyer, purchase, skus[4], as_of + 2 * DAY))  # after as_of: never read
    await add_events(engine, unique, events)
    return {"skus": skus, "one_buyer": one_buyer, "newcomer": newcomer, "everyone": early + late,
            "bought": {(c, s) for c, e, s, t in events if e == purchase and t < as_of}}
