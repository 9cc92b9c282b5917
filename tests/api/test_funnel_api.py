"""GET /v1/journeys/{id}/funnel: its answer before any run, and precise refusals."""

from __future__ import annotations

import pytest

from helpers import create_active_journey, single_send


async def test_a_journey_nobody_entered_has_a_funnel_of_zeros(api, unique):
    journey = f"empty-{unique}"
    await create_active_journey(api, journey, single_send("Hello"))
    response = await api.get(f"/v1/journeys/{journey}/funnel", params={"version": 1, "from": "2026-01-01"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["version"], body["from"], body["to"]) == (1, "2026-01-01T00:00:00Z", None)
    assert body["journey"] == {"entered": 0, "active": 0, "completed": 0, "cancelled": 0,
                               "exited": {"total": 0, "by_reason": {}}, "converted": 0, "conversion_rate": None,
                               "revenue": None}
    assert [(n["id"], n["type"], n["entered"], n["here"], n["left"]) for n in body["nodes"]] == [
        ("hello", "send", 0, 0, {}), ("end", "exit", 0, 0, {})]
    assert body["nodes"][0]["send"]["opens"] == {"unique": 0, "total": 0}
    assert body["nodes"][1]["send"] is None


@pytest.mark.parametrize(("path", "params", "status", "words"), [
    ("missing", {}, 404, "journey 'missing"),
    ("{journey}", {"version": 2}, 404, "version 2"),
    ("{journey}", {"version": 0}, 422, "version"),
    ("{journey}", {"from": "yesterday"}, 422, "'yesterday' is not a date"),
    ("{journey}", {"from": "2026-02-01", "to": "2026-01-01"}, 422, "must come before"),
])
async def test_a_bad_funnel_query_is_refused_naming_it(api, unique, path, params, status, words):
    journey = f"refused-{unique}"
    await create_active_journey(api, journey, single_send("Hello"))
    response = await api.get(f"/v1/journeys/{path.format(journey=journey)}/funnel", params=params)
    assert response.status_code == status, response.text
    assert words in response.text
