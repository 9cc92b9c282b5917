"""A journey's experiments on its page: the holdout and each split's arms, with the numbers of
GET /v1/journeys/{id}/experiments, and the split's box on the diagram pointing at them."""

from __future__ import annotations

import asyncio

from console_session import VIEWER_KEY
from helpers import add_contact, create_active_journey, enroll

PEOPLE = 24


def _holdout_and_split(unique: str) -> dict:
    return {"name": "Subject test", "holdout": {"percent": 25},
            "goal": {"event": "purchase", "within": "30d", "value": "properties.amount", "exit": False},
            "nodes": [
                {"id": "subject", "type": "split", "arms": [{"id": "plain", "next": "mail_plain"},
                                                            {"id": "emoji", "next": "mail_emoji"}]},
                {"id": "mail_plain", "type": "send", "subject": f"Sale {unique}", "text": "a", "next": "end"},
                {"id": "mail_emoji", "type": "send", "subject": f"Sale! {unique}", "text": "b", "next": "end"},
                {"id": "end", "type": "exit"},
            ]}


async def _experiments(console_api, journey: str) -> dict:
    response = await console_api.get(f"/v1/journeys/{journey}/experiments")
    assert response.status_code == 200, response.text
    return response.json()


async def _until(console_api, journey: str, done) -> dict:
    for _ in range(300):
        body = await _experiments(console_api, journey)
        if done(body):
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"not reached: {body}")


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}\xa0%"


async def test_the_journey_page_shows_its_experiments_as_the_api_counts_them(open_console, console_api, unique,
                                                                             screenshot):
    journey = f"subject-test-{unique}"
    await create_active_journey(console_api, journey, _holdout_and_split(unique))
    people = [f"xp-{unique}-{n}" for n in range(PEOPLE)]
    for person in people:
        await add_contact(console_api, person, f"{person}@example.com")
    await enroll(console_api, journey, *people)
    entered = await _until(console_api, journey, lambda body: body["holdout"]["control"]["entrants"]
                           + body["holdout"]["treated"]["entrants"] == PEOPLE)
    buyers = people[::3]
    response = await console_api.post("/v1/events", json={"events": [
        {"contact": person, "name": "purchase", "event_id": f"buy-{person}", "properties": {"amount": 20}}
        for person in buyers]})
    assert response.status_code == 200 and response.json()["rejected"] == [], response.text
    body = await _until(console_api, journey, lambda body: body["holdout"]["control"]["conversions"]
                        + body["holdout"]["treated"]["conversions"] == len(buyers))
    assert entered["holdout"]["treated"]["entrants"] == body["holdout"]["treated"]["entrants"]

    page = await open_console(VIEWER_KEY)
    await page.goto(f"/console/journeys/{journey}")
    await page.wait_for_selector("#diagram svg")
    groups = [("experiment-holdout", g) for g in (body["holdout"]["control"], body["holdout"]["treated"])]
    groups += [("experiment-subject", arm) for arm in body["splits"][0]["arms"]]
    assert sum(arm["entrants"] for arm in body["splits"][0]["arms"]) == body["holdout"]["treated"]["entrants"]
    for section, group in groups:
        row = page.locator(f'#{section} tr[data-group="{group["group"]}"]')
        cell = lambda field: row.locator(f'[data-field="{field}"]').inner_text()  # noqa: E731
        assert int(await cell("entrants")) == group["entrants"], group
        assert int(await cell("conversions")) == group["conversions"], group
        assert await cell("conversion_rate") == _percent(group["conversion_rate"]), group
        if group["difference"] is None:
            assert await cell("p_value") == "–"
        else:
            assert await cell("p_value") == f'{group["difference"]["p_value"]:.3g}', group
            assert await cell("difference") == f'{group["difference"]["value"] * 100:+.1f} pts vs {group["against"]}'
    # 24 people are too few: every group says so, in words.
    assert await page.locator("#experiment-subject .badge").count() == 2
    assert len(body["warnings"]) == await page.locator(".warnings li").count() > 0
    # The split's box on the diagram leads to its results.
    link = page.locator('.node[data-node-id="subject"] a')
    assert await link.get_attribute("href") == "#experiment-subject"
    await screenshot(page, "journey-experiments")


async def test_a_journey_without_an_experiment_has_no_experiments_section(open_console, console_api, unique):
    journey = f"no-experiment-{unique}"
    await create_active_journey(console_api, journey, {"name": "Plain", "nodes": [
        {"id": "hello", "type": "send", "subject": "Hi", "text": "hi", "next": "end"}, {"id": "end", "type": "exit"}]})
    page = await open_console(VIEWER_KEY)
    await page.goto(f"/console/journeys/{journey}")
    await page.wait_for_selector("#diagram svg")
    assert await page.locator("#experiments-title").count() == 0
    assert await page.locator(".node a").count() == 0
