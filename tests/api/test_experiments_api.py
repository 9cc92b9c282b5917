"""GET /v1/journeys/{id}/experiments: viewer scope, 404 for an unknown journey, zeros before anyone entered."""

from __future__ import annotations

from helpers import create_active_journey


def with_holdout_and_split(unique: str) -> dict:
    return {"name": "Experiment", "holdout": {"percent": 10}, "nodes": [
        {"id": "subject", "type": "split", "arms": [{"id": "a", "next": "mail_a"}, {"id": "b", "next": "mail_b"}]},
        {"id": "mail_a", "type": "send", "subject": f"A {unique}", "text": "a", "next": "end"},
        {"id": "mail_b", "type": "send", "subject": f"B {unique}", "text": "b", "next": "end"},
        {"id": "end", "type": "exit"},
    ]}


async def test_an_unknown_journey_is_404(api):
    response = await api.get("/v1/journeys/no-such-journey/experiments")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


async def test_before_anyone_entered_every_group_is_empty_and_too_small(api, unique):
    journey = f"experiment-{unique}"
    await create_active_journey(api, journey, with_holdout_and_split(unique))
    body = (await api.get(f"/v1/journeys/{journey}/experiments")).json()
    assert body["holdout"]["percent"] == 10
    assert body["holdout"]["control"]["entrants"] == 0 and body["holdout"]["treated"]["difference"] is None
    [split] = body["splits"]
    assert split["node"] == "subject" and split["control"] == "holdout"
    assert [(arm["group"], arm["entrants"], arm["conversion_rate"], arm["too_small"]) for arm in split["arms"]] == [
        ("a", 0, None, True), ("b", 0, None, True)]
    assert len(body["warnings"]) == 4 and "too few to rely on" in body["warnings"][0]
