"""Journeys driven by segments: entry when a contact comes to match (through an attribute
change, an import or an event) and scenario 7's one-time offer decided by segment membership."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from sojourn.contracts.journey import JourneyState, journey_workflow_id

from helpers import create_active_journey, wait_for_mail


async def _segment(api, segment_id: str, filter: dict) -> None:
    response = await api.post("/v1/segments", json={"id": segment_id, "name": segment_id, "filter": filter})
    assert response.status_code == 201, response.text


async def _events(api, *events: dict) -> None:
    response = await api.post("/v1/events", json={"events": list(events)})
    assert response.status_code == 200 and response.json()["rejected"] == [], response.text


def _greeting(subject: str, entry: dict) -> dict:
    return {"name": subject, "entry": entry, "nodes": [
        {"id": "hello", "type": "send", "subject": subject, "text": "Welcome, {{ first_name }}", "next": "end"},
        {"id": "end", "type": "exit"}]}


async def test_contacts_enter_when_they_come_to_match_the_segment(api, worker, engine, unique):
    city = f"Kaohsiung-{unique}"
    await _segment(api, f"k-{unique}", {"attribute": "city", "value": city})
    await create_active_journey(api, f"store-{unique}", _greeting(f"New store {unique}", {"segment": f"k-{unique}"}))

    moves = f"moves-{unique}"
    assert (await api.put(f"/v1/contacts/{moves}", json={"email": f"{moves}@example.com", "first_name": "Mo",
                                                          "attributes": {"city": "Taipei"}})).status_code == 201
    assert await wait_for_mail(engine, f"{moves}@example.com", timeout=1.5) == []
    await api.put(f"/v1/contacts/{moves}", json={"attributes": {"city": city}})
    [mail] = await wait_for_mail(engine, f"{moves}@example.com")
    assert mail["subject"] == f"New store {unique}" and mail["text"].strip() == "Welcome, Mo"

    csv = f"external_id,email,first_name,city\nimp-{unique},imp-{unique}@example.com,Ivy,{city}\n" \
          f"far-{unique},far-{unique}@example.com,Fay,Tainan\n"
    imported = await api.post("/v1/contacts/import", content=csv, headers={"Content-Type": "text/csv"})
    assert imported.status_code == 200 and imported.json()["inserted"] == 2
    assert [m["subject"] for m in await wait_for_mail(engine, f"imp-{unique}@example.com")] == [f"New store {unique}"]

    # Changing again does not enter again (re-entry `never`), and the non-matching contact never entered.
    await api.put(f"/v1/contacts/{moves}", json={"attributes": {"floor": 3}})
    await asyncio.sleep(1)
    assert len(await wait_for_mail(engine, f"{moves}@example.com", 2, timeout=1)) == 1
    assert await wait_for_mail(engine, f"far-{unique}@example.com", timeout=0.5) == []


async def test_segment_entry_only_inside_its_window(api, worker, engine, unique):
    await _segment(api, f"all-{unique}", {"attribute": "batch", "value": unique})
    closed = (datetime.now(timezone.utc) - timedelta(days=1)).isoformat()
    await create_active_journey(api, f"closed-{unique}", _greeting(f"Too late {unique}", {
        "segment": f"all-{unique}", "starts_at": "2022-04-29T00:00:00+08:00", "ends_at": closed}))
    await api.put(f"/v1/contacts/late-{unique}", json={"email": f"late-{unique}@example.com",
                                                        "attributes": {"batch": unique}})
    assert await wait_for_mail(engine, f"late-{unique}@example.com", timeout=1.5) == []


async def test_a_climber_about_to_buy_a_rope_gets_a_one_time_offer(api, worker, engine, temporal_env, unique):
    """Scenario 7: behaviour segments decide, at the moment of the event, who gets the offer."""
    browsed = f"browsed-{unique}"
    await _segment(api, f"climbers-{unique}", {"event": browsed, "where": [{"property": "category", "value": "climbing"}],
                                               "min_count": 2, "within": "30d"})
    viewed = f"product.viewed-{unique}"
    await create_active_journey(api, f"rope-{unique}", {
        "name": "Rope offer", "entry": {"event": viewed, "where": [{"property": "product", "value": "rope"}]},
        "nodes": [
            {"id": "who", "type": "branch", "cases": [{"when": {"segment": f"climbers-{unique}"}, "then": "offer"}],
             "default": "end"},
            {"id": "offer", "type": "send", "subject": f"15% off your rope today {unique}", "text": "ROPE15", "next": "end"},
            {"id": "end", "type": "exit"}]})
    for name in ("climber", "hiker"):
        await api.put(f"/v1/contacts/{name}-{unique}", json={"email": f"{name}-{unique}@example.com"})
    await _events(api, *({"contact": f"climber-{unique}", "name": browsed, "event_id": f"c{n}-{unique}",
                          "properties": {"category": "climbing"}} for n in range(2)),
                  {"contact": f"hiker-{unique}", "name": browsed, "event_id": f"h-{unique}",
                   "properties": {"category": "hiking"}})
    await _events(api, *({"contact": f"{name}-{unique}", "name": viewed, "event_id": f"v-{name}-{unique}",
                          "properties": {"product": "rope"}} for name in ("climber", "hiker")))

    [offer] = await wait_for_mail(engine, f"climber-{unique}@example.com")
    assert offer["subject"] == f"15% off your rope today {unique}"
    hiker = temporal_env.client.get_workflow_handle(journey_workflow_id(f"rope-{unique}", f"hiker-{unique}"),
                                                    result_type=JourneyState)
    for _ in range(100):
        try:
            state = await hiker.result()
            break
        except Exception:
            await asyncio.sleep(0.1)
    assert [(s.node, s.outcome) for s in state.path] == [("who", "default"), ("end", None)]

    # One time only: viewing the rope again makes no second offer.
    await _events(api, {"contact": f"climber-{unique}", "name": viewed, "event_id": f"again-{unique}",
                        "properties": {"product": "rope"}})
    await asyncio.sleep(1)
    assert len(await wait_for_mail(engine, f"climber-{unique}@example.com", 2, timeout=1)) == 1
    assert await wait_for_mail(engine, f"hiker-{unique}@example.com", timeout=0.2) == []
