"""The journey editor in a real browser and over HTTP: problems appear at their node and field
as the definition is typed (the API's own messages), the diagram follows the text, a fixed
definition saves as version 2, bad YAML is answered with the parser's line and column, a send
node previews for a contact, and a viewer reads but cannot save."""

from __future__ import annotations

import re

import httpx

from console_session import EDITOR_KEY, VIEWER_KEY, csrf_of, signed_in_client
from helpers import add_contact, mothers_day, single_send

BROKEN = "next: nowhere"


async def _draft(console_api: httpx.AsyncClient, journey: str, definition: dict) -> None:
    created = await console_api.post("/v1/journeys", json={"id": journey, "definition": definition})
    assert created.status_code == 201, created.text


async def _api_problems(console_api: httpx.AsyncClient, journey: str, definition: dict) -> list[dict]:
    """What PUT /v1/journeys/{id} answers for `definition`: its problems, by node and field."""
    refused = await console_api.put(f"/v1/journeys/{journey}", json={"definition": definition})
    assert refused.status_code == 422, refused.text
    return refused.json()["error"]["details"]


def _line(text: str, needle: str) -> int:
    return text[:text.index(needle)].count("\n") + 1


async def test_break_see_the_error_at_its_node_fix_and_save_version_2(open_console, console_api, unique, screenshot):
    journey = f"md-edit-{unique}"
    await _draft(console_api, journey, mothers_day())
    page = await open_console(EDITOR_KEY)
    await page.goto(f"/console/journeys/{journey}")
    await page.get_by_role("link", name="Edit the definition").click()
    await page.wait_for_selector("#diagram svg")
    editor = page.get_by_label("The journey's definition; problems are checked as you type")
    written = await editor.input_value()
    assert "next: wait_2d" in written and await page.locator(".node").count() == len(mothers_day()["nodes"])

    # Break it twice: a channel nobody has, and a `next` to a node that does not exist.
    broken = written.replace("next: wait_2d", BROKEN, 1).replace("channel: email", "channel: fax", 1)
    await editor.fill(broken)
    await page.wait_for_selector('#problems li[data-node="preview"][data-field="next"]')
    definition = mothers_day()
    definition["nodes"][0].update(next="nowhere", channel="fax")
    expected = [(p["node"] or "", p["field"], p["message"]) for p in await _api_problems(console_api, journey, definition)]
    items = page.locator("#problems li")
    assert [(await item.get_attribute("data-node"), await item.get_attribute("data-field"),
             await item.locator(".problem-message").inner_text()) for item in await items.all()] == expected
    shown = {(await item.get_attribute("data-node"), await item.get_attribute("data-field")):
             await item.get_attribute("data-line") for item in await items.all()}
    assert shown[("preview", "next")] == str(_line(broken, BROKEN))  # listed at the line of the field
    assert shown[("preview", "channel")] == str(_line(broken, "channel: fax"))
    assert "! " + str(_line(broken, BROKEN)) in await page.locator("#gutter").inner_text()
    # The diagram follows the text: the node is marked, the missing target drawn as such.
    assert "node-invalid" in await page.locator('.node[data-node-id="preview"]').get_attribute("class")
    assert await page.locator('.node-missing[data-node-id="nowhere"]').count() == 1
    assert await page.locator('.edge[data-from="preview"][data-to="nowhere"]').count() == 1
    await page.get_by_role("button", name=f"Line {_line(broken, BROKEN)}", exact=True).click()  # goes to the line
    assert await page.evaluate("(t => t.value.slice(t.selectionStart, t.selectionEnd))"
                               "(document.getElementById('definition'))") == BROKEN
    await screenshot(page, "editor-problems")

    # Fixed (and changed): no problems, saved as version 2.
    await editor.fill(written.replace("subject: The event has started", "subject: The event is on"))
    await page.wait_for_selector("#check-status:has-text('No problems')")
    assert await page.locator("#problems li").count() == 0
    assert await page.locator(".node-invalid, .node-missing").count() == 0
    await page.get_by_role("button", name="Save as version 2").click()
    await page.wait_for_url(f"**/console/journeys/{journey}")
    assert "latest version 2" in await page.locator("main").inner_text()
    saved = (await console_api.get(f"/v1/journeys/{journey}")).json()
    assert saved["latest_version"] == 2
    assert next(n for n in saved["definition"]["nodes"] if n["id"] == "started")["subject"] == "The event is on"


async def test_bad_yaml_shows_the_parsers_line_and_column(open_console, console_api, unique, screenshot):
    journey = f"yaml-{unique}"
    await _draft(console_api, journey, single_send("Hi"))
    page = await open_console(EDITOR_KEY)
    await page.goto(f"/console/journeys/{journey}/edit")
    editor = page.get_by_label("The journey's definition; problems are checked as you type")
    await editor.fill("name: [Hi\nnodes: []\n")
    await page.wait_for_selector("#problems li")
    message = await page.locator("#problems li .problem-message").inner_text()
    assert message.startswith("not valid YAML at line 2, column 6: ")
    assert await page.locator("#problems li").get_attribute("data-line") == "2"
    await screenshot(page, "editor-bad-yaml")
    # Saved anyway (without the page's script): the editor again, 422, the text kept, nothing stored.
    async with signed_in_client(page.url.split("/console")[0], EDITOR_KEY) as client:
        form = await client.get(f"/console/journeys/{journey}/edit")
        answer = await client.post(f"/console/journeys/{journey}/edit", data={
            "csrf_token": csrf_of(form.text), "based_on": "1", "definition": "name: [Hi\nnodes: []\n"})
    assert answer.status_code == 422
    assert "not valid YAML at line 2, column 6" in answer.text and "name: [Hi" in answer.text
    assert (await console_api.get(f"/v1/journeys/{journey}")).json()["latest_version"] == 1


async def test_a_send_node_previews_for_a_contact(open_console, console_api, unique):
    journey = f"preview-{unique}"
    await _draft(console_api, journey, mothers_day())
    person = f"pv-{unique}"
    await add_contact(console_api, person, f"{person}@example.com", "Ann")
    page = await open_console(EDITOR_KEY)
    await page.goto(f"/console/journeys/{journey}/edit")
    await page.get_by_label("Send node", exact=True).select_option("preview")
    await page.get_by_label("Contact's external id").fill(person)
    await page.get_by_role("button", name="Preview").click()
    message = page.locator('#preview .message[data-channel="email"]')
    await message.wait_for()
    api = (await console_api.post(f"/v1/journeys/{journey}/preview", json={"node": "preview", "contact": person}))
    assert await message.locator(".message-subject").inner_text() == api.json()["messages"]["email"]["subject"]
    frame = message.locator("iframe")
    assert await frame.get_attribute("sandbox") == ""
    assert "Hi Ann" in await page.frame_locator("#preview iframe").locator("body").inner_text()
    # The service's refusal, in place.
    await page.get_by_label("Contact's external id").fill(f"nobody-{unique}")
    await page.get_by_role("button", name="Preview").click()
    await page.wait_for_selector("#preview .error")
    refused = await console_api.post(f"/v1/journeys/{journey}/preview", json={"node": "preview",
                                                                                  "contact": f"nobody-{unique}"})
    assert await page.locator("#preview .error").inner_text() == refused.json()["error"]["message"]


async def test_a_viewer_reads_the_definition_but_cannot_save(open_console, console_api, console_url, unique):
    journey = f"viewer-edit-{unique}"
    await _draft(console_api, journey, single_send("Hi"))
    page = await open_console(VIEWER_KEY)
    await page.goto(f"/console/journeys/{journey}")
    await page.get_by_role("link", name="Read the definition").click()
    await page.wait_for_selector("#diagram svg")
    assert await page.get_by_label("The journey's definition (read-only)").get_attribute("readonly") is not None
    assert await page.get_by_role("button", name=re.compile("Save")).count() == 0
    assert await page.get_by_role("button", name="Preview").count() == 0
    async with signed_in_client(console_url, VIEWER_KEY) as client:
        token = csrf_of((await client.get(f"/console/journeys/{journey}/edit")).text)
        changed = "name: Changed\nnodes:\n- {id: only, type: exit}\n"
        saved = await client.post(f"/console/journeys/{journey}/edit",
                                  data={"csrf_token": token, "based_on": "1", "definition": changed})
        checked = await client.post(f"/console/journeys/{journey}/edit/check",
                                    data={"csrf_token": token, "definition": changed})
        previewed = await client.post(f"/console/journeys/{journey}/edit/preview",
                                      data={"csrf_token": token, "node": "hello", "contact": "x"})
    assert saved.status_code == 403 and "scope admin or editor" in saved.text
    assert checked.status_code == 403 and previewed.status_code == 403
    assert (await console_api.get(f"/v1/journeys/{journey}")).json()["latest_version"] == 1


async def test_the_editors_actions_need_a_session_a_csrf_token_and_the_version_opened(console_url, console_api,
                                                                                          unique):
    journey = f"edit-access-{unique}"
    await _draft(console_api, journey, single_send("Hi"))
    changed = "name: Changed\nnodes:\n- {id: only, type: exit}\n"
    async with httpx.AsyncClient(base_url=console_url) as anonymous:
        page = await anonymous.get(f"/console/journeys/{journey}/edit")
        saved = await anonymous.post(f"/console/journeys/{journey}/edit", data={"definition": changed})
        checked = await anonymous.post(f"/console/journeys/{journey}/edit/check", data={"definition": changed})
    assert page.status_code == 303 and page.headers["location"].startswith("/console/sign-in")
    assert saved.status_code == 303 and checked.status_code == 401
    async with signed_in_client(console_url, EDITOR_KEY) as client:
        token = csrf_of((await client.get(f"/console/journeys/{journey}/edit")).text)
        no_token = await client.post(f"/console/journeys/{journey}/edit", data={"based_on": "1", "definition": changed})
        assert no_token.status_code == 403
        # Someone saved version 2 after this editor opened on version 1: refused, the text kept.
        assert (await console_api.put(f"/v1/journeys/{journey}", json={"definition": single_send("Hey")})).is_success
        stale = await client.post(f"/console/journeys/{journey}/edit",
                                  data={"csrf_token": token, "based_on": "1", "definition": changed})
        assert stale.status_code == 409 and "version 2 was saved after you opened the editor" in stale.text
        assert "name: Changed" in stale.text
        assert (await console_api.get(f"/v1/journeys/{journey}")).json()["latest_version"] == 2
        done = await client.post(f"/console/journeys/{journey}/edit",
                                 data={"csrf_token": token, "based_on": "2", "definition": changed})
        assert done.status_code == 303 and done.headers["location"] == f"/console/journeys/{journey}"
    assert (await console_api.get(f"/v1/journeys/{journey}")).json()["latest_version"] == 3
