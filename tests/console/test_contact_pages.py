"""The console's contact pages in a real browser: a contact enrolled in the Mother's Day journey
shows its run as a timeline of its steps with a link to Temporal's UI, its message with its
engagement, and its tags; the journey's diagram leads to the runs waiting at a node and from
there to each contact; the contact search finds a contact by the start of its email."""

from __future__ import annotations

import asyncio

import pytest
from test_pages import _LOW_CONTRAST

from console_session import DESKTOP, PHONE, VIEWER_KEY
from helpers import add_contact, create_active_journey, enroll, mothers_day, put_contact


async def _resting_at_wait(console_api, journey: str, runs: int) -> None:
    for _ in range(300):  # every run sends its preview, then rests two days at wait_2d
        funnel = (await console_api.get(f"/v1/journeys/{journey}/funnel")).json()
        if next(n for n in funnel["nodes"] if n["id"] == "wait_2d")["here"] == runs:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the runs did not reach wait_2d: {funnel['nodes']}")


async def _tagged(console_api, contact: str, unique: str) -> None:
    """`contact` carries the tag `loves-flowers` with weight 2, from a tag rule."""
    events = [{"contact": contact, "name": "flowers.viewed", "event_id": f"{contact}-{n}",
               "occurred_at": "2026-11-20T10:00:00+00:00", "properties": {}} for n in range(2)]
    sent = await console_api.post("/v1/events", json={"events": events})
    assert sent.status_code == 200 and sent.json()["rejected"] == [], sent.text
    rule = {"tag": "loves-flowers", "filter": {"attribute": "batch", "value": unique},
            "weight": {"kind": "count", "event": "flowers.viewed"}}
    assert (await console_api.put(f"/v1/tag-rules/flowers-{unique}", json=rule)).status_code == 201
    ran = await console_api.post("/v1/tag-rules/run", json={"day": "2026-11-20"})
    assert ran.status_code == 200, ran.text


async def _enrolled_contact(console_api, unique: str) -> tuple[str, str]:
    journey, contact = f"md-contact-{unique}", f"ann-{unique}"
    await create_active_journey(console_api, journey, mothers_day())
    await add_contact(console_api, contact, f"ann-{unique}@example.com", "Ann")
    await put_contact(console_api, contact, attributes={"batch": unique}, last_name="Lee")
    await _tagged(console_api, contact, unique)
    await enroll(console_api, journey, contact)
    await _resting_at_wait(console_api, journey, 1)
    return journey, contact


async def test_a_contact_shows_its_run_as_a_timeline_its_message_and_its_tags(open_console, console_api, unique,
                                                                             screenshot):
    journey, contact = await _enrolled_contact(console_api, unique)
    profile = (await console_api.get(f"/v1/contacts/{contact}")).json()
    page = await open_console(VIEWER_KEY)
    await page.goto(f"/console/contacts/{contact}")
    assert await page.locator('[data-field="email"]').inner_text() == f"ann-{unique}@example.com"
    assert await page.locator('[data-field="last_name"]').inner_text() == "Lee"
    # Its tag, with the weight and the source the rule gave.
    tag = page.locator('tr[data-tag="loves-flowers"]')
    assert await tag.locator("[data-weight]").inner_text() == "2.0"
    assert f"rule:flowers-{unique}" in await tag.inner_text()
    # Its run: the steps it took, in order, the one it rests at marked, and a link to Temporal's UI.
    run = page.locator(f'section.run[data-journey="{journey}"]')
    steps = run.locator(".timeline li")
    assert [await step.get_attribute("data-node") for step in await steps.all()] == ["preview", "wait_2d"]
    assert await steps.nth(0).locator("[data-outcome]").inner_text() == "sent"
    assert "here now" in await steps.nth(1).inner_text()
    assert await steps.nth(1).get_attribute("class") == "here"
    workflow_id, run_id = profile["journeys"][0]["workflow_id"], profile["journeys"][0]["run_id"]
    assert await run.locator("a.temporal").get_attribute("href") == (
        f"http://localhost:8233/namespaces/default/workflows/{workflow_id.replace('/', '%2F')}/{run_id}/history")
    # Its message, with its status and engagement counts, as the API has them.
    message = page.locator('tr[data-node="preview"]')
    assert "Preview: our Mother's Day event starts May 1" in await message.inner_text()
    assert await message.locator("[data-status]").inner_text() == profile["messages"][0]["status"] == "sent"
    assert int(await message.locator('[data-count="opens"]').inner_text()) == profile["messages"][0]["opens"]
    await screenshot(page, "contact")


async def test_a_node_lists_the_runs_waiting_there_one_click_from_each_contact(open_console, console_api, unique,
                                                                               screenshot):
    journey, contact = await _enrolled_contact(console_api, unique)
    page = await open_console(VIEWER_KEY)
    await page.goto(f"/console/journeys/{journey}")
    await page.wait_for_selector("#diagram svg")
    await page.locator('.node[data-node-id="wait_2d"]').click()
    await page.wait_for_url(f"**/console/journeys/{journey}/nodes/wait_2d/runs")
    assert [await row.get_attribute("data-contact") for row in await page.locator("tr[data-contact]").all()] == [contact]
    await screenshot(page, "node-runs")
    await page.get_by_role("link", name=contact).click()
    await page.wait_for_url(f"**/console/contacts/{contact}")
    # The count of runs here now in the nodes table leads to the same list; a node nobody rests at says so.
    await page.goto(f"/console/journeys/{journey}?version=1")
    await page.get_by_role("link", name="1 runs waiting at wait_2d").click()
    await page.wait_for_url(f"**/console/journeys/{journey}/nodes/wait_2d/runs?version=1")
    assert await page.locator("tr[data-contact]").count() == 1
    await page.goto(f"/console/journeys/{journey}/nodes/preview/runs")
    assert "No run is waiting here" in await page.locator(".empty").inner_text()


async def test_the_contact_search_finds_a_contact_by_the_start_of_its_email(open_console, console_api, unique):
    await add_contact(console_api, f"zed-{unique}", f"Zed.{unique}@Example.com")
    page = await open_console(VIEWER_KEY)
    await page.goto("/console/contacts")
    await page.get_by_label("Contact id or email starts with").fill(f"zed.{unique}")
    await page.get_by_role("button", name="Find").click()
    await page.wait_for_url("**/console/contacts?q=*")
    assert [await row.get_attribute("data-contact") for row in await page.locator("tr[data-contact]").all()] == \
        [f"zed-{unique}"]
    await page.get_by_label("Contact id or email starts with").fill(f"nobody-{unique}")
    await page.get_by_role("button", name="Find").click()
    await page.wait_for_selector(".empty")
    assert "No contact matches" in await page.locator(".empty").inner_text()
    await page.goto(f"/console/contacts/nobody-{unique}")
    assert await page.locator(".error").inner_text() == \
        (await console_api.get(f"/v1/contacts/nobody-{unique}")).json()["error"]["message"]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "390px"])
async def test_the_contact_pages_fit_the_screen(open_console, console_api, unique, viewport, screenshot):
    journey, contact = await _enrolled_contact(console_api, unique)
    page = await open_console(VIEWER_KEY, viewport)
    for path, name in ((f"/console/contacts?q={contact}", "contacts"), (f"/console/contacts/{contact}", "contact"),
                       (f"/console/journeys/{journey}/nodes/wait_2d/runs", "node-runs")):
        await page.goto(path)
        assert await page.evaluate("document.documentElement.scrollWidth") <= viewport["width"], path
        unlabelled = await page.evaluate("""[...document.querySelectorAll('input:not([type=hidden]), select')]
            .filter(e => !e.labels || e.labels.length === 0).map(e => e.name)""")
        assert unlabelled == [], path
        assert await page.evaluate(_LOW_CONTRAST) == [], path
        await screenshot(page, f"{name}-{viewport['width']}px")
