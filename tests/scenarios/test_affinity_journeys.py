"""Affinity tags in use: after a night's scoring, a segment selects the contacts with a strong
sun-care affinity and a journey's branch on `{"tag": "affinity:...", "min_weight": 0.5}` sends
them the sunscreen offer and everyone else the other arm."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from affinity_catalogue import CATALOGUE

from sojourn.services.affinity import score_affinity

from helpers import create_active_journey, enroll, finished, put_contact

SUN = "affinity:category:保養/防曬"


async def test_a_segment_and_a_branch_read_affinity_tags(api, worker, engine, temporal_env, settings, unique):
    for sku, name, description, category, brand, attributes in CATALOGUE:
        put = await api.put(f"/v1/products/{sku}-{unique}", json={
            "name": name, "description": description, "category": category, "brand": brand, "attributes": attributes})
        assert put.status_code == 201, put.text
    for person in ("fan", "glance"):
        await put_contact(api, f"{person}-{unique}", email=f"{person}-{unique}@example.com",
                          attributes={"batch": unique})
    now = datetime.now(timezone.utc)
    yesterday = (now - timedelta(days=1)).isoformat()

    def event(person: str, name: str, sku: str, n: int) -> dict:
        return {"contact": f"{person}-{unique}", "name": name, "event_id": f"{person}-{name}-{sku}-{n}-{unique}",
                "occurred_at": yesterday, "properties": {"sku": f"{sku}-{unique}"}}

    posted = await api.post("/v1/events", json={"events": [
        event("fan", "viewed_product", "sun-1", 0), event("fan", "purchase", "sun-2", 0),
        event("glance", "viewed_product", "sun-1", 0), event("glance", "purchase", "moist-2", 0),
        *(event("glance", "viewed_product", "moist-1", n) for n in range(3))]})
    assert posted.status_code == 200 and posted.json()["rejected"] == [], posted.text

    run = await score_affinity(engine, now, settings)
    assert run.version is not None

    strong = {"and": [{"attribute": "batch", "value": unique}, {"tag": SUN, "min_weight": 0.6}]}
    created = await api.post("/v1/segments", json={"id": f"sun-{unique}", "name": "sun care fans", "filter": strong})
    assert created.status_code == 201, created.text
    assert (await api.get(f"/v1/segments/sun-{unique}/count")).json()["count"] == 1

    journey = f"sun-offer-{unique}"
    await create_active_journey(api, journey, {"name": "Sun care offer", "nodes": [
        {"id": "who", "type": "branch", "cases": [{"when": {"tag": SUN, "min_weight": 0.5}, "then": "sun"}],
         "default": "other"},
        {"id": "sun", "type": "send", "subject": f"Sunscreen for your summer {unique}", "text": "SUN15", "next": "end"},
        {"id": "other", "type": "send", "subject": f"New this week {unique}", "text": "NEW", "next": "end"},
        {"id": "end", "type": "exit"}]})
    runs = {r["contact"]: r for r in await enroll(api, journey, f"fan-{unique}", f"glance-{unique}")}
    fan = await finished(temporal_env, runs[f"fan-{unique}"]["workflow_id"])
    glance = await finished(temporal_env, runs[f"glance-{unique}"]["workflow_id"])
    assert [(s.node, s.outcome) for s in fan.path][0] == ("who", "case 0")
    assert [m.subject for m in fan.messages] == [f"Sunscreen for your summer {unique}"]
    assert [(s.node, s.outcome) for s in glance.path][0] == ("who", "default")
    assert [m.subject for m in glance.messages] == [f"New this week {unique}"]
