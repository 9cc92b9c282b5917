"""The console's segment pages in a real browser: segments with the API's counts, a segment's
definition and members, enrolling it into a journey and watching the enrollment's progress move
without a reload, refusals in place, and the tag rules with their runs."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from test_pages import _LOW_CONTRAST

from console_session import DESKTOP, EDITOR_KEY, PHONE, VIEWER_KEY, csrf_of, signed_in_client
from helpers import create_active_journey, mothers_day, single_send


async def _segment(console_api, unique: str, people: int) -> tuple[str, list[str]]:
    """A segment of `people` new contacts, imported in one CSV."""
    segment = f"seg-{unique}"
    ids = [f"s-{unique}-{n:04d}" for n in range(people)]
    body = "external_id,email,first_name,cohort\n" + "".join(f"{i},{i}@example.com,Ann,{unique}\n" for i in ids)
    imported = await console_api.post("/v1/contacts/import", content=body, headers={"Content-Type": "text/csv"})
    assert imported.status_code == 200, imported.text
    created = await console_api.post("/v1/segments", json={"id": segment, "name": f"Cohort {unique}",
                                                           "filter": {"attribute": "cohort", "value": unique}})
    assert created.status_code == 201, created.text
    return segment, ids


async def test_segments_show_the_apis_counts_their_definition_and_members(open_console, console_api, unique,
                                                                          screenshot):
    segment, ids = await _segment(console_api, unique, 25)
    count = (await console_api.get(f"/v1/segments/{segment}/count")).json()["count"]
    page = await open_console(VIEWER_KEY)
    await page.goto("/console/segments?cursor=seg-" + unique[:-1])  # a page that starts near this segment
    assert int(await page.locator(f'tr[data-segment="{segment}"] [data-count="contacts"]').inner_text()) == count == 25
    await page.get_by_role("link", name=segment).click()
    await page.wait_for_url(f"**/console/segments/{segment}")
    assert unique in await page.locator(".definition").inner_text()
    members = [await row.get_attribute("data-contact") for row in await page.locator("tr[data-contact]").all()]
    assert members == ids[:20]
    assert "Enrolling needs an editor" in await page.locator("main").inner_text()  # a viewer has no form
    await screenshot(page, "segment")
    await page.get_by_role("link", name=ids[0]).click()
    await page.wait_for_url(f"**/console/contacts/{ids[0]}")


async def test_an_enrollment_shows_its_progress_moving_without_a_reload(open_console, console_api, unique, screenshot):
    journey = f"enroll-{unique}"
    await create_active_journey(console_api, journey, mothers_day())
    segment, ids = await _segment(console_api, unique, 400)
    page = await open_console(EDITOR_KEY)
    await page.goto(f"/console/segments/{segment}")
    await page.get_by_label("Journey (active)").select_option(journey)
    await page.get_by_label("Contacts per page").fill("10")
    await page.get_by_role("button", name="Enroll every contact").click()
    await page.wait_for_url(f"**/console/journeys/{journey}/segment-enrollments/*")
    await page.evaluate("window.stillTheSamePage = true")  # gone if the page reloads
    seen = []
    deadline = asyncio.get_running_loop().time() + 180
    while asyncio.get_running_loop().time() < deadline:
        status = await page.locator('[data-field="status"]').inner_text()
        done = int(await page.locator('[data-field="done"]').inner_text())
        if not seen or seen[-1] != (status, done):
            seen.append((status, done))
        if status == "completed":
            break
        await asyncio.sleep(0.2)
    assert seen[-1] == ("completed", 400), seen
    assert len({done for _, done in seen}) >= 2, seen  # read at least twice, different
    assert [done for _, done in seen] == sorted(done for _, done in seen)  # only forward
    assert await page.evaluate("window.stillTheSamePage") is True
    assert await page.locator('[data-field="total"]').inner_text() == "400"
    enrollment_id = page.url.rsplit("/", 1)[1]
    api = (await console_api.get(f"/v1/journeys/{journey}/segment-enrollments/{enrollment_id}")).json()
    assert (api["status"], api["enrolled"]) == ("completed", 400)
    await screenshot(page, "enrollment")
    await page.goto("/console/enrollments")
    row = page.locator(f'tr[data-enrollment="{enrollment_id}"]')
    assert await row.locator("[data-status]").inner_text() == "completed"
    await screenshot(page, "enrollments")


async def test_an_enrollment_the_api_refuses_shows_its_message_in_place(open_console, console_api, unique):
    journey = f"refused-{unique}"
    await create_active_journey(console_api, journey, single_send("Hi"))
    segment, _ = await _segment(console_api, unique, 3)
    page = await open_console(EDITOR_KEY)
    await page.goto(f"/console/segments/{segment}")
    await page.get_by_label("Journey (active)").select_option(journey)
    assert (await console_api.post(f"/v1/journeys/{journey}/pause")).status_code == 200  # meanwhile
    await page.get_by_role("button", name="Enroll every contact").click()
    await page.wait_for_selector(".error")
    api = await console_api.post(f"/v1/journeys/{journey}/segment-enrollments", json={"segment": segment})
    assert api.status_code == 409
    assert await page.locator(".error").inner_text() == api.json()["error"]["message"]
    await page.goto("/console/journeys/nothing-here/segment-enrollments/none")
    assert "not found" in await page.locator(".error").inner_text()


async def test_a_viewer_cannot_enroll_a_segment_nor_anyone_without_the_forms_token(console_url, console_api, unique):
    journey = f"viewer-enroll-{unique}"
    await create_active_journey(console_api, journey, single_send("Hi"))
    segment, _ = await _segment(console_api, unique, 2)
    path = f"/console/segments/{segment}/enrollments"
    async with signed_in_client(console_url, VIEWER_KEY) as client:
        page = await client.get(f"/console/segments/{segment}")
        refused = await client.post(path, data={"csrf_token": csrf_of(page.text), "journey": journey, "page_size": "5"})
        assert refused.status_code == 403 and "scope admin or editor" in refused.text
    async with signed_in_client(console_url, EDITOR_KEY) as client:
        refused = await client.post(path, data={"journey": journey, "page_size": "5"})
        assert refused.status_code == 403
        page = await client.get(f"/console/segments/{segment}")
        bad = await client.post(path, data={"csrf_token": csrf_of(page.text), "journey": journey, "page_size": "0"})
        assert bad.status_code == 422 and "page_size: a whole number from 1 to 1000" in bad.text
    async with httpx.AsyncClient(base_url=console_url) as anonymous:
        assert (await anonymous.post(path, data={"journey": journey})).status_code == 303
    assert (await console_api.get(f"/v1/journeys/{journey}/funnel")).json()["journey"]["entered"] == 0


async def test_tag_rules_are_listed_with_their_runs(open_console, console_api, unique, screenshot):
    rule = {"tag": f"vip-{unique}", "filter": {"attribute": "cohort", "value": unique},
            "weight": {"kind": "count", "event": "order.completed"}}
    assert (await console_api.put(f"/v1/tag-rules/vip-{unique}", json=rule)).status_code == 201
    await _segment(console_api, unique, 3)
    ran = await console_api.post("/v1/tag-rules/run", json={"day": "2026-11-21"})
    assert ran.status_code == 200, ran.text
    mine = next(r for r in ran.json() if r["rule_id"] == f"vip-{unique}")
    page = await open_console(VIEWER_KEY)
    await page.goto("/console/tag-rules")
    run = page.locator(f'section[data-rule="vip-{unique}"] tr[data-day="2026-11-21"]')
    assert int(await run.locator('[data-count="tagged"]').inner_text()) == mine["tagged"] == 3
    await screenshot(page, "tag-rules")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "390px"])
async def test_the_segment_pages_fit_the_screen(open_console, console_api, unique, viewport, screenshot):
    segment, _ = await _segment(console_api, unique, 3)
    page = await open_console(VIEWER_KEY, viewport)
    for path, name in (("/console/segments", "segments"), (f"/console/segments/{segment}", "segment"),
                       ("/console/enrollments", "enrollments"), ("/console/tag-rules", "tag-rules")):
        await page.goto(path)
        assert await page.evaluate("document.documentElement.scrollWidth") <= viewport["width"], path
        assert await page.evaluate(_LOW_CONTRAST) == [], path
        await screenshot(page, f"{name}-{viewport['width']}px")
