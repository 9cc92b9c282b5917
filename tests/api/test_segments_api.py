"""Segments and waterfall segment sets through the HTTP API, on the real Postgres.

Every segment here is restricted to this test's contacts (an attribute `batch` equal to
the test's unique id), so the counts do not depend on what other tests stored.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import insert, select

from sojourn.data.models import Contact, ContactTag


async def _contact(api, external_id: str, **attributes) -> None:
    response = await api.put(f"/v1/contacts/{external_id}", json={"attributes": attributes})
    assert response.status_code in (200, 201), response.text


async def _events(api, *events: dict) -> None:
    response = await api.post("/v1/events", json={"events": list(events)})
    assert response.status_code == 200 and response.json()["rejected"] == [], response.text


async def _tag(engine, external_id: str, tag: str, weight: float) -> None:
    async with engine.begin() as connection:
        contact_id = (await connection.execute(select(Contact.id).where(Contact.external_id == external_id))).scalar_one()
        await connection.execute(insert(ContactTag.__table__).values(contact_id=contact_id, tag=tag, weight=weight))


async def _segment(api, segment_id: str, filter: dict, name: str | None = None):
    return await api.post("/v1/segments", json={"id": segment_id, "name": name or segment_id, "filter": filter})


async def test_create_read_update_count_page_and_match(api, engine, unique):
    batch = {"attribute": "batch", "value": unique}
    for n in range(5):
        await _contact(api, f"c{n}-{unique}", batch=unique, score=n, city="Taipei" if n % 2 == 0 else "Tainan")
    await _tag(engine, f"c0-{unique}", "vip", 3)
    await _tag(engine, f"c2-{unique}", "vip", 1)

    taipei = {"and": [batch, {"attribute": "city", "op": "eq", "value": "Taipei"}]}
    created = await _segment(api, f"taipei-{unique}", taipei, name="Lives in Taipei")
    assert created.status_code == 201, created.text
    assert created.json()["filter"] == {"and": [batch, {"attribute": "city", "value": "Taipei"}]}
    again = await _segment(api, f"taipei-{unique}", taipei)
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"

    got = await api.get(f"/v1/segments/taipei-{unique}")
    assert got.status_code == 200 and got.json()["name"] == "Lives in Taipei"
    assert (await api.get(f"/v1/segments/taipei-{unique}/count")).json() == {"segment": f"taipei-{unique}", "count": 3}

    # Keyset paging over the matching contacts, 2 at a time.
    seen, cursor = [], None
    while True:
        page = (await api.get(f"/v1/segments/taipei-{unique}/contacts",
                              params={"limit": 2, **({"cursor": cursor} if cursor else {})})).json()
        seen += [c["external_id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"c0-{unique}", f"c2-{unique}", f"c4-{unique}"]

    match = await api.get(f"/v1/segments/taipei-{unique}/contacts/c2-{unique}")
    assert match.json() == {"segment": f"taipei-{unique}", "contact": f"c2-{unique}", "matches": True}
    assert (await api.get(f"/v1/segments/taipei-{unique}/contacts/c1-{unique}")).json()["matches"] is False
    assert (await api.get(f"/v1/segments/taipei-{unique}/contacts/nobody-{unique}")).status_code == 404

    # A segment built on another one, and a change that the count follows at once.
    vip = await _segment(api, f"vip-taipei-{unique}", {"and": [{"segment": f"taipei-{unique}"},
                                                               {"tag": "vip", "min_weight": 2}]})
    assert vip.status_code == 201, vip.text
    assert (await api.get(f"/v1/segments/vip-taipei-{unique}/count")).json()["count"] == 1
    updated = await api.put(f"/v1/segments/taipei-{unique}", json={
        "filter": {"and": [batch, {"attribute": "score", "op": "gte", "value": 2}]}})
    assert updated.status_code == 200 and updated.json()["name"] == "Lives in Taipei"
    assert (await api.get(f"/v1/segments/taipei-{unique}/count")).json()["count"] == 3  # c2, c3, c4
    assert (await api.get(f"/v1/segments/vip-taipei-{unique}/count")).json()["count"] == 0  # c0 has score 0

    listed, cursor = [], None
    while True:
        page = (await api.get("/v1/segments", params={"limit": 50, **({"cursor": cursor} if cursor else {})})).json()
        listed += [s["id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert {f"taipei-{unique}", f"vip-taipei-{unique}"} <= set(listed) and listed == sorted(listed)

    assert (await api.get(f"/v1/segments/none-{unique}")).status_code == 404
    assert (await api.get(f"/v1/segments/none-{unique}/count")).json()["error"]["code"] == "not_found"
    assert (await api.put(f"/v1/segments/none-{unique}", json={"filter": batch})).status_code == 404


async def test_did_not_do_includes_contacts_without_any_event(api, unique):
    batch = {"attribute": "batch", "value": unique}
    for name in ("buyer", "browser", "idle"):
        await _contact(api, f"{name}-{unique}", batch=unique)
    now = datetime.now(timezone.utc)
    await _events(api,
                  {"contact": f"buyer-{unique}", "name": f"purchase-{unique}", "event_id": f"p1-{unique}",
                   "properties": {"sku": "rope"}, "occurred_at": (now - timedelta(days=2)).isoformat()},
                  {"contact": f"browser-{unique}", "name": f"view-{unique}", "event_id": f"v1-{unique}",
                   "occurred_at": now.isoformat()})
    never = await _segment(api, f"never-bought-{unique}", {"and": [batch, {"event": f"purchase-{unique}",
                                                                           "min_count": 0, "max_count": 0}]})
    assert never.status_code == 201, never.text
    assert (await api.get(f"/v1/segments/never-bought-{unique}/count")).json()["count"] == 2
    assert (await api.get(f"/v1/segments/never-bought-{unique}/contacts/idle-{unique}")).json()["matches"] is True
    assert (await api.get(f"/v1/segments/never-bought-{unique}/contacts/buyer-{unique}")).json()["matches"] is False


async def test_an_invalid_filter_is_refused_with_every_problem(api, unique):
    response = await _segment(api, f"bad-{unique}", {"and": [
        {"attribute": "age", "op": "gt", "value": "thirty"},
        {"event": "purchase", "min_count": 3, "max_count": 1},
        {"tag": "vip", "colour": "red"},
    ]})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_filter"
    fields = [d["field"] for d in error["details"]]
    assert len(fields) >= 3 and all(f.startswith("filter.and.") for f in fields), fields
    assert any(".0." in f for f in fields) and any(".1." in f for f in fields) and any(".2." in f for f in fields)

    unknown = await _segment(api, f"bad2-{unique}", {"segment": f"missing-{unique}"})
    assert unknown.status_code == 422 and unknown.json()["error"]["details"][0]["type"] == "segment_not_found"
    no_kind = await _segment(api, f"bad3-{unique}", {"attribute": "a", "tag": "b"})
    assert no_kind.status_code == 422 and no_kind.json()["error"]["code"] == "invalid_filter"
    assert (await api.get(f"/v1/segments/bad-{unique}")).status_code == 404
    bad_id = await _segment(api, "Not An Id", {"tag": "x"})
    assert bad_id.status_code == 422 and bad_id.json()["error"]["code"] == "validation_error"


async def test_a_value_that_does_not_fit_its_operator_is_refused_naming_the_operator(api, unique):
    response = await _segment(api, f"misfit-{unique}", {"and": [
        {"attribute": "a", "op": "in", "value": 1},
        {"attribute": "a", "op": "gte", "value": "2025-01-01T00:00:00Z"},
        {"attribute": "a", "op": "between", "value": [None, None]},
        {"event": "e", "where": [{"property": "p", "op": "between", "value": [1, "soon"]}]},
        {"attribute": "a", "op": "exists", "value": "yes"},
        {"attribute": "a", "op": "like", "value": "x"},
    ]})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_filter"
    assert [d["message"] for d in error["details"]] == [
        "Value error, `in` needs a list value",
        "Value error, `gte` needs a number value; use `between` for dates",
        "Value error, `between` needs [low, high]; either end may be null",
        "Value error, `between` ends must be numbers or ISO 8601 datetimes with a time zone",
        "Value error, `exists` takes no value (or true / false)",
        "Input should be 'eq', 'ne', 'in', 'not_in', 'gt', 'gte', 'lt', 'lte', 'contains', 'exists' or 'between'",
    ]


async def test_a_segment_reference_cycle_is_refused(api, unique):
    assert (await _segment(api, f"a-{unique}", {"tag": "x"})).status_code == 201
    assert (await _segment(api, f"b-{unique}", {"or": [{"segment": f"a-{unique}"}, {"tag": "y"}]})).status_code == 201
    assert (await _segment(api, f"c-{unique}", {"not": {"segment": f"b-{unique}"}})).status_code == 201

    closing = await api.put(f"/v1/segments/a-{unique}", json={"filter": {"segment": f"c-{unique}"}})
    assert closing.status_code == 422, closing.text
    error = closing.json()["error"]
    assert error["code"] == "segment_cycle"
    assert error["details"][0]["path"] == [f"a-{unique}", f"c-{unique}", f"b-{unique}", f"a-{unique}"]
    assert (await api.get(f"/v1/segments/a-{unique}")).json()["filter"] == {"tag": "x"}  # unchanged

    itself = await _segment(api, f"self-{unique}", {"and": [{"tag": "x"}, {"segment": f"self-{unique}"}]})
    assert itself.status_code == 422 and itself.json()["error"]["code"] == "segment_cycle"


async def test_waterfall_segmentation_scenario_7(api, unique):
    """Demographics first, then behaviour; each contact lands in the first segment it matches."""
    batch = {"attribute": "batch", "value": unique}
    people = {  # name: (age, city, browsed categories)
        "ann": (25, "Taipei", ["climbing"] * 3),             # young Taipei, though she climbs
        "bob": (67, "Tainan", ["hiking"]),                   # senior
        "cat": (40, "Taipei", ["hiking", "hiking"]),         # hiker
        "dan": (35, "Kaohsiung", ["camping", "camping", "climbing", "climbing"]),  # campers come before climbers
        "eve": (30, "Taichung", ["climbing", "climbing"]),   # climber
        "fay": (45, "Hualien", ["hiking"]),                  # browsed once: nowhere
        "gus": (52, "Taipei", []),                           # nothing at all: nowhere
    }
    now = datetime.now(timezone.utc)
    events = []
    for name, (age, city, browsed) in people.items():
        await _contact(api, f"{name}-{unique}", batch=unique, age=age, city=city)
        events += [{"contact": f"{name}-{unique}", "name": "product.browsed", "event_id": f"{name}{n}-{unique}",
                    "properties": {"category": category, "sku": f"{category}-{n}"},
                    "occurred_at": (now - timedelta(days=n + 1)).isoformat()} for n, category in enumerate(browsed)]
    # An old visit does not count within 30 days.
    events.append({"contact": f"fay-{unique}", "name": "product.browsed", "event_id": f"fay-old-{unique}",
                   "properties": {"category": "hiking"}, "occurred_at": (now - timedelta(days=90)).isoformat()})
    await _events(api, *events)

    def browsed(category: str) -> dict:
        return {"event": "product.browsed", "where": [{"property": "category", "value": category}],
                "min_count": 2, "within": "30d"}

    definitions = {
        "young-taipei": {"and": [batch, {"attribute": "age", "op": "between", "value": [18, 29]},
                                 {"attribute": "city", "value": "Taipei"}]},
        "seniors": {"and": [batch, {"attribute": "age", "op": "gte", "value": 65}]},
        "hikers": {"and": [batch, browsed("hiking")]},
        "campers": {"and": [batch, browsed("camping")]},
        "climbers": {"and": [batch, browsed("climbing")]},
    }
    order = [f"{name}-{unique}" for name in definitions]
    for segment_id, (name, filter) in zip(order, definitions.items()):
        assert (await _segment(api, segment_id, filter, name=name)).status_code == 201

    created = await api.post("/v1/segment-sets", json={"id": f"waterfall-{unique}", "name": "Visitors",
                                                       "segments": order})
    assert created.status_code == 201, created.text
    assert (await api.get(f"/v1/segment-sets/waterfall-{unique}")).json()["segments"] == order
    duplicate = await api.post("/v1/segment-sets", json={"id": f"waterfall-{unique}", "name": "x", "segments": order})
    assert duplicate.status_code == 409
    unknown = await api.post("/v1/segment-sets", json={"id": f"w2-{unique}", "name": "x",
                                                       "segments": [order[0], f"ghost-{unique}", order[0]]})
    assert unknown.status_code == 422 and len(unknown.json()["error"]["details"]) == 2

    expected = {"ann": "young-taipei", "bob": "seniors", "cat": "hikers", "dan": "campers", "eve": "climbers",
                "fay": None, "gus": None}
    for name, segment in expected.items():
        placed = await api.get(f"/v1/segment-sets/waterfall-{unique}/contacts/{name}-{unique}")
        assert placed.status_code == 200, placed.text
        assert placed.json()["segment"] == (f"{segment}-{unique}" if segment else None), name

    counts = (await api.get(f"/v1/segment-sets/waterfall-{unique}/counts")).json()
    assert [(c["segment"], c["count"]) for c in counts["segments"]] == [(s, 1) for s in order]
    assert counts["unplaced"] >= 2 and counts["total"] == counts["unplaced"] + 5

    # The climbing segment on its own also holds Ann and Dan: the waterfall is what places them elsewhere.
    assert (await api.get(f"/v1/segments/climbers-{unique}/count")).json()["count"] == 3
    assert (await api.get(f"/v1/segment-sets/nothing-{unique}/counts")).status_code == 404
    assert (await api.get(f"/v1/segment-sets/waterfall-{unique}/contacts/nobody-{unique}")).status_code == 404
