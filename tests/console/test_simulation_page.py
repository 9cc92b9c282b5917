"""Simulating a journey in the console: the timeline is POST /v1/journeys/{id}/simulate's path with
its messages rendered, the page shows it is busy meanwhile, a bad script entry shows the API's
message at its row, and only an editor may simulate."""

from __future__ import annotations

import httpx

from console_session import EDITOR_KEY, VIEWER_KEY, csrf_of, signed_in_client
from helpers import add_contact, mothers_day


async def _journey_and_contact(console_api: httpx.AsyncClient, unique: str) -> tuple[str, str]:
    journey, person = f"md-sim-{unique}", f"sim-{unique}"
    created = await console_api.post("/v1/journeys", json={"id": journey, "definition": mothers_day()})
    assert created.status_code == 201, created.text
    await add_contact(console_api, person, f"{person}@example.com", "Ann")
    return journey, person


async def _fill_row(page, row: int, at: str, kind: str, target: str, properties: str = "") -> None:
    await page.get_by_label(f"Row {row} offset").fill(at)
    await page.get_by_label(f"Row {row} kind").select_option(kind)
    await page.get_by_label(f"Row {row} event name or send node").fill(target)
    await page.get_by_label(f"Row {row} properties as JSON").fill(properties)


async def test_simulate_a_contact_who_opens_the_first_email(open_console, console_api, unique, screenshot):
    journey, person = await _journey_and_contact(console_api, unique)
    page = await open_console(EDITOR_KEY)
    await page.goto(f"/console/journeys/{journey}")
    await page.get_by_role("link", name="Simulate a contact").click()
    assert "No simulation yet" in await page.locator(".empty").inner_text()
    await page.get_by_label("Contact's external id").fill(person)
    await _fill_row(page, 1, "1h", "opened", "preview")

    # What the page shows once the form is sent, while the answer is awaited (read as it is sent:
    # the browser then waits on the navigation).
    shown = []
    page.on("console", lambda message: shown.append(message.text))
    await page.evaluate("""document.getElementById('simulation-form').addEventListener('submit', () => console.log(
        JSON.stringify([!document.getElementById('simulation-busy').hidden, document.getElementById('run').disabled,
                        document.getElementById('result').getAttribute('aria-busy')])))""")
    await page.get_by_role("button", name="Simulate").click()
    await page.wait_for_selector(".timeline")
    assert shown == ['[true,true,"true"]']

    api = await console_api.post(f"/v1/journeys/{journey}/simulate", json={
        "contact_id": person, "script": [{"at": "1h", "engagement": {"kind": "opened", "node": "preview"}}]})
    assert api.status_code == 200, api.text
    expected = api.json()
    steps = page.locator(".timeline > .step")
    assert [await step.get_attribute("data-node") for step in await steps.all()] == [s["node"] for s in expected["path"]]
    assert [s["node"] for s in expected["path"]][:4] == ["preview", "wait_2d", "opened_preview", "started"]
    first = steps.nth(0)
    assert (await first.locator(".step-offset").inner_text()) == "+0s"
    assert (await steps.nth(2).locator(".step-offset").inner_text()) == "+2d"  # after the two days' wait
    assert (await steps.nth(2).locator(".step-outcome").inner_text()) == "then"  # opened: the `then` way
    message = first.locator(".message")
    assert await message.locator(".message-subject").inner_text() == expected["messages"][0]["subject"]
    assert await message.locator("iframe").get_attribute("sandbox") == ""
    assert "Hi Ann" in await page.frame_locator(".timeline > .step >> nth=0 >> iframe").locator("body").inner_text()
    rendered = await page.locator(".timeline .message .message-subject").all_inner_texts()
    assert rendered == [m["subject"] for m in expected["messages"]]
    # The form is kept to change and run again.
    assert await page.get_by_label("Row 1 offset").input_value() == "1h"
    await screenshot(page, "simulation-timeline")


async def test_a_bad_script_entry_shows_the_apis_message_at_its_row(open_console, console_api, unique, screenshot):
    journey, person = await _journey_and_contact(console_api, unique)
    page = await open_console(EDITOR_KEY)
    await page.goto(f"/console/journeys/{journey}/simulate")
    await page.get_by_label("Contact's external id").fill(person)
    await _fill_row(page, 1, "1h", "event", "browsed", '{"page": "shoes"}')
    await _fill_row(page, 3, "soon", "opened", "preview")  # row 2 left empty: left out
    await page.get_by_role("button", name="Simulate").click()
    await page.wait_for_selector("#simulation-error")
    api = await console_api.post(f"/v1/journeys/{journey}/simulate", json={"contact_id": person, "script": [
        {"at": "1h", "event": {"name": "browsed", "properties": {"page": "shoes"}}},
        {"at": "soon", "engagement": {"kind": "opened", "node": "preview"}}]})
    assert api.status_code == 422
    assert await page.locator("#simulation-error .error-message").inner_text() == api.json()["error"]["message"]
    assert (await page.locator("#simulation-error").inner_text()).startswith("Row 3: ")
    assert "row-error" in await page.locator('.script-row[data-row="3"]').get_attribute("class")
    await screenshot(page, "simulation-bad-script")

    # A node that is not a send: the service's refusal, in place, at its row.
    await page.get_by_label("Row 3 offset").fill("2h")
    await page.get_by_label("Row 3 event name or send node").fill("wait_2d")
    await page.get_by_role("button", name="Simulate").click()
    await page.wait_for_selector("#simulation-error")
    api = await console_api.post(f"/v1/journeys/{journey}/simulate", json={"contact_id": person, "script": [
        {"at": "1h", "event": {"name": "browsed", "properties": {"page": "shoes"}}},
        {"at": "2h", "engagement": {"kind": "opened", "node": "wait_2d"}}]})
    assert await page.locator("#simulation-error .error-message").inner_text() == api.json()["error"]["message"]
    assert (await page.locator("#simulation-error").inner_text()).startswith("Row 3: ")  # the second line sent

    # Properties that are not JSON are named before anything is asked.
    await page.get_by_label("Row 1 properties as JSON").fill("{page: shoes")
    await page.get_by_role("button", name="Simulate").click()
    await page.wait_for_selector("#simulation-error")
    assert "row 1 properties: not JSON" in await page.locator("#simulation-error").inner_text()


async def test_a_profile_can_be_simulated_and_an_unknown_contact_is_the_apis_message(open_console, console_api,
                                                                                       unique):
    journey, _ = await _journey_and_contact(console_api, unique)
    page = await open_console(EDITOR_KEY)
    await page.goto(f"/console/journeys/{journey}/simulate")
    await page.get_by_label("Contact's external id").fill(f"nobody-{unique}")
    await page.get_by_role("button", name="Simulate").click()
    await page.wait_for_selector("#simulation-error")
    api = await console_api.post(f"/v1/journeys/{journey}/simulate", json={"contact_id": f"nobody-{unique}"})
    assert await page.locator("#simulation-error .error-message").inner_text() == api.json()["error"]["message"]
    await page.get_by_label("A profile (stored nowhere)").check()
    assert await page.get_by_label("Contact's external id").is_hidden()
    await page.get_by_label("Profile as JSON").fill('{"email": "bo@example.com", "first_name": "Bo"}')
    await page.get_by_role("button", name="Simulate").click()
    await page.wait_for_selector(".timeline")
    assert "Hi Bo" in await page.frame_locator(".timeline > .step >> nth=0 >> iframe").locator("body").inner_text()


async def test_only_an_editor_simulates(console_url, console_api, unique):
    journey, person = await _journey_and_contact(console_api, unique)
    async with httpx.AsyncClient(base_url=console_url) as anonymous:
        page = await anonymous.get(f"/console/journeys/{journey}/simulate")
        posted = await anonymous.post(f"/console/journeys/{journey}/simulate", data={"contact_id": person})
    assert page.status_code == 303 and posted.status_code == 303
    async with signed_in_client(console_url, VIEWER_KEY) as viewer:
        refused = await viewer.get(f"/console/journeys/{journey}/simulate")
        assert refused.status_code == 403 and "scope admin or editor" in refused.text
        token = csrf_of((await viewer.get("/console/journeys")).text)
        posted = await viewer.post(f"/console/journeys/{journey}/simulate",
                                   data={"csrf_token": token, "contact_id": person})
        assert posted.status_code == 403
        journey_page = await viewer.get(f"/console/journeys/{journey}")
        assert "Simulate a contact" not in journey_page.text
    async with signed_in_client(console_url, EDITOR_KEY) as editor:
        no_token = await editor.post(f"/console/journeys/{journey}/simulate", data={"contact_id": person})
        assert no_token.status_code == 403
        missing = await editor.get(f"/console/journeys/nothing-{unique}/simulate")
        assert missing.status_code == 404
