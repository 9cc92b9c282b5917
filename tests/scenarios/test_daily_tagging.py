"""Scenario 4: every night, anyone who bought oil-control face wash or blotting paper is tagged
`oily-skin`, stronger with each such purchase; segments ask for `oily-skin >= 3`; running the
same day again changes nothing."""

from __future__ import annotations

import asyncio
import json
import random

from sqlalchemy import text

from helpers import put_contact

OILY = [{"property": "sku", "op": "in", "value": ["oil-control-wash", "blotting-paper"]}]


async def buy(api, contact: str, sku: str, when: str, n: int) -> None:
    response = await api.post("/v1/events", json={"events": [
        {"contact": contact, "name": "order.completed", "event_id": f"{contact}-{sku}-{when}-{i}",
         "occurred_at": when, "properties": {"sku": sku, "price": 9.5}} for i in range(n)]})
    assert response.status_code == 200 and response.json()["rejected"] == [], response.text


async def tags_of(api, contact: str) -> dict[str, tuple[float, str]]:
    return {t["tag"]: (t["weight"], t["source"]) for t in (await api.get(f"/v1/contacts/{contact}")).json()["tags"]}


async def test_nightly_oily_skin_tags(api, worker, unique):
    wash, paper, other = f"wash-{unique}", f"paper-{unique}", f"other-{unique}"
    for contact in (wash, paper, other):
        await put_contact(api, contact, attributes={"batch": unique})
    await buy(api, wash, "oil-control-wash", "2026-11-20T10:00:00+00:00", 2)
    await buy(api, paper, "blotting-paper", "2026-11-20T12:00:00+00:00", 1)
    await buy(api, other, "lip-balm", "2026-11-20T12:00:00+00:00", 4)
    rule = {"tag": "oily-skin", "filter": {"and": [{"attribute": "batch", "value": unique},
                                                   {"event": "order.completed", "where": OILY}]},
            "weight": {"kind": "count", "event": "order.completed", "where": OILY}}
    created = await api.put(f"/v1/tag-rules/oily-{unique}", json=rule)
    assert created.status_code == 201, created.text

    day1 = {r["rule_id"]: r for r in (await api.post("/v1/tag-rules/run", json={"day": "2026-11-20"})).json()}
    assert (day1[f"oily-{unique}"]["tagged"], day1[f"oily-{unique}"]["changed"]) == (2, 2)
    source = f"rule:oily-{unique}"
    assert await tags_of(api, wash) == {"oily-skin": (2.0, source)}
    assert await tags_of(api, paper) == {"oily-skin": (1.0, source)}
    assert await tags_of(api, other) == {}

    # The next day: one more face wash; a purchase after the day's end is not counted yet.
    await buy(api, wash, "oil-control-wash", "2026-11-21T09:00:00+00:00", 1)
    await buy(api, paper, "blotting-paper", "2026-11-22T09:00:00+00:00", 5)
    day2 = (await api.post("/v1/tag-rules/run", json={"day": "2026-11-21"})).json()
    assert [(r["tagged"], r["changed"], r["removed"]) for r in day2 if r["rule_id"] == f"oily-{unique}"] == [(2, 1, 0)]
    assert await tags_of(api, wash) == {"oily-skin": (3.0, source)}
    again = (await api.post("/v1/tag-rules/run", json={"day": "2026-11-21"})).json()
    assert [(r["tagged"], r["changed"], r["removed"]) for r in again if r["rule_id"] == f"oily-{unique}"] == [(2, 0, 0)]

    strong = {"and": [{"attribute": "batch", "value": unique}, {"tag": "oily-skin", "min_weight": 3}]}
    assert (await api.post("/v1/segments", json={"id": f"oily3-{unique}", "name": "oily 3+", "filter": strong})
            ).status_code == 201
    assert (await api.get(f"/v1/segments/oily3-{unique}/count")).json()["count"] == 1
    runs = (await api.get(f"/v1/tag-rules/oily-{unique}")).json()["runs"]
    assert [(r["day"], r["changed"]) for r in runs] == [("2026-11-21", 0), ("2026-11-21", 1), ("2026-11-20", 2)]

    refused = await api.put(f"/v1/tag-rules/bad-{unique}", json={**rule, "weight": {"kind": "sum", "event": "x"}})
    assert refused.status_code == 422
    assert (await api.delete(f"/v1/tag-rules/oily-{unique}")).status_code == 204
    assert await tags_of(api, wash) == {}


async def test_sum_and_decayed_weights(api, worker, unique):
    spender = f"spender-{unique}"
    await put_contact(api, spender, attributes={"batch": unique})
    await buy(api, spender, "serum", "2026-11-10T00:00:00+00:00", 1)  # 10 days before the end of the 19th
    await buy(api, spender, "serum", "2026-11-19T23:59:00+00:00", 2)  # at the end of the day
    who = {"and": [{"attribute": "batch", "value": unique}, {"event": "order.completed"}]}
    await api.put(f"/v1/tag-rules/spend-{unique}", json={
        "tag": "big-spender", "filter": who, "weight": {"kind": "sum", "event": "order.completed", "property": "price"}})
    await api.put(f"/v1/tag-rules/recent-{unique}", json={
        "tag": "recent-buyer", "filter": who, "weight": {"kind": "decayed", "event": "order.completed",
                                                         "half_life": "10d"}})
    await api.post("/v1/tag-rules/run", json={"day": "2026-11-19"})
    tags = await tags_of(api, spender)
    assert tags["big-spender"][0] == 28.5  # 3 x 9.5
    # Two events a minute old (~1 each) and one 10 days old (1/2): about 2.5.
    assert abs(tags["recent-buyer"][0] - 2.5) < 0.01, tags
    for rule in (f"spend-{unique}", f"recent-{unique}"):
        assert (await api.delete(f"/v1/tag-rules/{rule}")).status_code == 204


async def test_a_contact_far_apart_by_id_is_tagged_in_a_range_of_contacts(api, worker, engine, unique):
    """Ranges are counted in contacts, not ids: a contact numbered a trillion past the others is
    one more statement (ranges of 50,000 ids never reached it)."""
    far, person = 10**12 + random.randrange(10**6), f"far-{unique}"
    await put_contact(api, f"near-{unique}", attributes={"batch": unique})  # an id from the sequence: small
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO contacts (id, external_id, attributes) VALUES"
                                " (:id, :ext, CAST(:attributes AS jsonb))"),
                           {"id": far, "ext": person, "attributes": json.dumps({"batch": unique})})
    try:
        await buy(api, person, "oil-control-wash", "2026-11-20T10:00:00+00:00", 1)
        rule = {"tag": "far-oily", "filter": {"and": [{"attribute": "batch", "value": unique},
                                                      {"event": "order.completed", "where": OILY}]},
                "weight": {"kind": "count", "event": "order.completed", "where": OILY}}
        assert (await api.put(f"/v1/tag-rules/far-{unique}", json=rule)).status_code == 201
        ran = await asyncio.wait_for(api.post("/v1/tag-rules/run", json={"day": "2026-11-20"}), 300)
        assert [(r["tagged"], r["changed"]) for r in ran.json() if r["rule_id"] == f"far-{unique}"] == [(1, 1)]
        assert await tags_of(api, person) == {"far-oily": (1.0, f"rule:far-{unique}")}
    finally:
        await api.delete(f"/v1/tag-rules/far-{unique}")
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM contacts WHERE id = :id"), {"id": far})
