"""The console's usage page in a real browser: charts of units and cost per channel per day, and
beside them a table whose numbers are GET /v1/usage's; a bad period is the API's message in place."""

from __future__ import annotations

import asyncio

import pytest
from test_pages import _LOW_CONTRAST

from console_session import DESKTOP, PHONE, VIEWER_KEY
from helpers import add_contact, create_active_journey, enroll, single_send


async def _mails_sent(console_api, unique: str, people: int) -> None:
    journey = f"usage-{unique}"
    await create_active_journey(console_api, journey, single_send("Your receipt"))
    ids = [f"u-{unique}-{n}" for n in range(people)]
    for contact in ids:
        await add_contact(console_api, contact, f"{contact}@example.com")
    await enroll(console_api, journey, *ids)
    for _ in range(300):
        usage = (await console_api.get("/v1/usage", params={"group_by": "journey"})).json()
        if any(row["journey"] == journey and row["units"] == people for row in usage["rows"]):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the mails of {journey} were not counted: {usage}")


def _rows(usage: dict) -> dict[tuple[str, str], tuple[int, int, float]]:
    return {(row["day"], row["channel"]): (row["messages"], row["units"], row["cost"]) for row in usage["rows"]}


async def _rows_on_the_page(page) -> dict[tuple[str, str], tuple[int, int, float]]:
    rows = {}
    for row in await page.locator("table.usage tbody tr").all():
        cells = [await row.locator(f'[data-count="{name}"]').inner_text() for name in ("messages", "units", "cost")]
        rows[(await row.get_attribute("data-day"), await row.get_attribute("data-channel"))] = \
            (int(cells[0]), int(cells[1]), float(cells[2]))
    return rows


async def test_the_usage_page_charts_the_apis_numbers_per_channel_per_day(open_console, console_api, unique,
                                                                          screenshot):
    await _mails_sent(console_api, unique, 3)
    page = await open_console(VIEWER_KEY)
    for _ in range(5):  # other tests' runs may still be sending: the page and the API are read together
        await page.goto("/console/usage")
        api = (await console_api.get("/v1/usage")).json()
        shown = await _rows_on_the_page(page)
        if shown == _rows(api):
            break
        await asyncio.sleep(1)
    assert shown == _rows(api)
    email_today = [key for key in shown if key[1] == "email"]
    assert email_today and shown[email_today[-1]][2] > 0  # priced: CHANNEL_PRICES has email
    totals = {name: await page.locator(f'[data-total="{name}"]').inner_text() for name in ("messages", "units", "cost")}
    assert (int(totals["messages"]), int(totals["units"]), float(totals["cost"])) == \
        (api["total"]["messages"], api["total"]["units"], api["total"]["cost"])
    # Drawn by the vendored uPlot: a chart of units and one of cost, with a series per channel.
    await page.wait_for_selector("#units-chart .uplot canvas")
    await page.wait_for_selector("#cost-chart .uplot canvas")
    legend = await page.locator("#units-chart .u-legend").inner_text()
    assert all(channel in legend for _, channel in shown)
    await screenshot(page, "usage")


async def test_a_bad_period_shows_the_apis_message_in_place(open_console, console_api):
    page = await open_console(VIEWER_KEY)
    await page.goto("/console/usage")
    await page.get_by_label("Sent from").fill("2026-02-01")
    await page.get_by_label("to (its whole day)").fill("2026-01-01")
    await page.get_by_role("button", name="Show").click()
    await page.wait_for_selector(".error")
    api = await console_api.get("/v1/usage", params={"from": "2026-02-01", "to": "2026-01-01"})
    assert api.status_code == 422
    assert await page.locator(".error").inner_text() == api.json()["error"]["message"]
    await page.goto("/console/usage?from=2001-01-01&to=2001-01-02")
    assert "Nothing sent in this period" in await page.locator(".empty").inner_text()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "390px"])
async def test_the_usage_page_fits_the_screen(open_console, console_api, unique, viewport, screenshot):
    await _mails_sent(console_api, unique, 1)
    page = await open_console(VIEWER_KEY, viewport)
    await page.goto("/console/usage")
    await page.wait_for_selector("#cost-chart .uplot canvas")
    assert await page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    assert await page.evaluate(_LOW_CONTRAST) == []
    await screenshot(page, f"usage-{viewport['width']}px")
