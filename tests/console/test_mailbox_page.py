"""The console's development mailbox in a real browser: each email the SMTP sink received,
rendered in a sandboxed frame that runs no script and cannot reach the console."""

from __future__ import annotations

import asyncio

import pytest
from test_pages import _LOW_CONTRAST

from console_session import DESKTOP, PHONE, VIEWER_KEY
from helpers import add_contact, create_active_journey, enroll, mothers_day


async def _mailed(console_api, unique: str) -> str:
    journey, contact = f"mail-{unique}", f"mail-{unique}"
    address = f"{contact}@example.com"
    await create_active_journey(console_api, journey, mothers_day())
    await add_contact(console_api, contact, address, "Ann")
    await enroll(console_api, journey, contact)
    for _ in range(300):
        if (await console_api.get("/v1/dev/mailbox", params={"to": address})).json():
            return address
        await asyncio.sleep(0.1)
    raise AssertionError(f"no mail reached {address}")


async def test_the_mailbox_renders_each_email_in_a_sandboxed_frame(open_console, console_api, unique, screenshot):
    address = await _mailed(console_api, unique)
    received = (await console_api.get("/v1/dev/mailbox", params={"to": address})).json()
    page = await open_console(VIEWER_KEY)
    await page.goto("/console/mailbox")
    await page.get_by_label("Sent to").fill(address)
    await page.get_by_role("button", name="Show").click()
    await page.wait_for_url("**/console/mailbox?to=*")
    mails = page.locator("article.mail")
    assert [await mail.get_attribute("data-mail") for mail in await mails.all()] == [str(m["id"]) for m in received]
    mail = mails.first
    assert await mail.locator("h2").inner_text() == received[0]["subject"] == \
        "Preview: our Mother's Day event starts May 1"
    frame = mail.locator("iframe")
    assert await frame.get_attribute("sandbox") == ""  # no scripts, no same origin, no forms, no top navigation
    rendered = mail.frame_locator("iframe")
    assert "Hi Ann" in await rendered.locator("body").inner_text()
    link = rendered.get_by_role("link", name="see the event")
    assert await link.count() == 1  # the email's own link (tracked), as the contact sees it
    inner = next(f for f in page.frames if f != page.main_frame)
    assert await inner.evaluate("() => { try { return window.parent.document.title } catch (e) { return 'refused' } }") \
        == "refused"  # the email cannot read the console
    await screenshot(page, "mailbox")
    await page.get_by_label("Sent to").fill(f"nobody-{unique}@example.com")
    await page.get_by_role("button", name="Show").click()
    await page.wait_for_selector(".empty")
    assert f"Nothing for nobody-{unique}@example.com" in await page.locator(".empty").inner_text()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "390px"])
async def test_the_mailbox_fits_the_screen(open_console, console_api, unique, viewport, screenshot):
    address = await _mailed(console_api, unique)
    page = await open_console(VIEWER_KEY, viewport)
    await page.goto(f"/console/mailbox?to={address}")
    assert await page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    assert await page.evaluate(_LOW_CONTRAST) == []
    await screenshot(page, f"mailbox-{viewport['width']}px")
