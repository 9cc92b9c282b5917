"""The editor and the simulation pages are usable: every control has a label, text has enough
contrast, everything works from the keyboard, and empty states say what to do next."""

from __future__ import annotations

import pytest
from test_pages import _LOW_CONTRAST

from console_session import EDITOR_KEY, VIEWER_KEY
from helpers import add_contact, mothers_day

_UNLABELLED = """[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
    .filter(e => !e.labels || e.labels.length === 0).map(e => e.id || e.name)"""


async def _journey(console_api, journey: str, definition: dict) -> None:
    created = await console_api.post("/v1/journeys", json={"id": journey, "definition": definition})
    assert created.status_code == 201, created.text


@pytest.mark.parametrize(("key", "page_name"), [(EDITOR_KEY, "edit"), (VIEWER_KEY, "edit"), (EDITOR_KEY, "simulate")])
async def test_labels_and_contrast(open_console, console_api, unique, key, page_name, screenshot):
    journey = f"usable-{page_name}-{unique}"
    await _journey(console_api, journey, mothers_day())
    page = await open_console(key)
    await page.goto(f"/console/journeys/{journey}/{page_name}")
    if page_name == "edit":
        await page.wait_for_selector("#diagram svg")
    assert await page.evaluate(_UNLABELLED) == []
    assert await page.evaluate(_LOW_CONTRAST) == []
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.className") == "skip"
    if page_name == "edit":
        await screenshot(page, f"editor-{'editor' if key == EDITOR_KEY else 'viewer'}")


async def test_a_simulation_from_the_keyboard_alone(open_console, console_api, unique):
    journey, person = f"keys-{unique}", f"keys-{unique}"
    await _journey(console_api, journey, mothers_day())
    await add_contact(console_api, person, f"{person}@example.com", "Ann")
    page = await open_console(EDITOR_KEY)
    await page.goto(f"/console/journeys/{journey}/simulate")
    await page.get_by_label("Contact's external id").focus()
    await page.keyboard.type(person)
    await page.keyboard.press("Tab")  # the version
    await page.keyboard.press("Tab")  # row 1's offset
    assert await page.evaluate("document.activeElement.id") == "at-1"
    await page.keyboard.type("1h")
    await page.keyboard.press("Tab")
    await page.keyboard.press("ArrowDown")  # Event -> Opened
    await page.keyboard.press("Tab")
    await page.keyboard.type("preview")
    # "Add a row" gives a fourth row, its offset focused and labelled.
    await page.get_by_role("button", name="Add a row").focus()
    await page.keyboard.press("Enter")
    assert await page.evaluate("document.activeElement.id") == "at-4"
    assert await page.get_by_label("Row 4 offset").count() == 1
    await page.get_by_role("button", name="Simulate").focus()
    await page.keyboard.press("Enter")
    await page.wait_for_selector(".timeline")
    assert await page.get_by_label("Row 1 kind").input_value() == "opened"
    assert await page.locator('.timeline > .step[data-node="started"]').count() == 1  # opened: the `then` way


async def test_the_editor_does_not_trap_the_keyboard_and_its_problems_lead_to_their_line(open_console, console_api,
                                                                                           unique):
    journey = f"keys-edit-{unique}"
    await _journey(console_api, journey, mothers_day())
    page = await open_console(EDITOR_KEY)
    await page.goto(f"/console/journeys/{journey}/edit")
    editor = page.get_by_label("The journey's definition; problems are checked as you type")
    await editor.fill((await editor.input_value()).replace("duration: 2d", "duration: two days", 1))
    await page.wait_for_selector('#problems li[data-node="wait_2d"]')
    await editor.focus()
    await page.keyboard.press("Tab")  # out of the text, to the save button
    assert await page.evaluate("document.activeElement.id") == "save"
    await page.keyboard.press("Tab")  # then the first problem's line
    assert await page.evaluate("document.activeElement.className") == "to-line"
    await page.keyboard.press("Enter")
    selected = await page.evaluate("(t => t.value.slice(t.selectionStart, t.selectionEnd))"
                                   "(document.getElementById('definition'))")
    assert selected == "duration: two days"


async def test_empty_states_say_what_to_do_next(open_console, console_api, unique):
    journey = f"empty-{unique}"
    await _journey(console_api, journey, {"name": "Only an exit", "nodes": [{"id": "done", "type": "exit"}]})
    page = await open_console(EDITOR_KEY)
    await page.goto(f"/console/journeys/{journey}/edit")
    assert "no send node to preview: add one and save" in await page.locator(".empty").inner_text()
    assert await page.locator("#no-problems").is_visible()
    await page.goto(f"/console/journeys/{journey}/simulate")
    assert "then press Simulate" in await page.locator(".empty").inner_text()
