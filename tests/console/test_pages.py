"""The console's pages in a real browser: the journey diagram shows the funnel API's numbers,
stays readable at 40 nodes, the pages work at 1280 px and on a 390 px phone, errors and empty
states are in place, and /docs works with nothing reachable but the app."""

from __future__ import annotations

import asyncio

import pytest

from console_session import DESKTOP, PHONE, VIEWER_KEY
from helpers import add_contact, create_active_journey, enroll, mothers_day


async def _funnel(console_api, journey: str, **params) -> dict:
    response = await console_api.get(f"/v1/journeys/{journey}/funnel", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def _mothers_day_with_runs(console_api, unique: str, runs: int = 3) -> str:
    journey = f"mothers-day-{unique}"
    await create_active_journey(console_api, journey, mothers_day())
    people = [f"md-{unique}-{n}" for n in range(runs)]
    for person in people:
        await add_contact(console_api, person, f"{person}@example.com", "Ann")
    await enroll(console_api, journey, *people)
    for _ in range(300):  # every run sends its preview, then rests two days at wait_2d
        funnel = await _funnel(console_api, journey)
        if next(n for n in funnel["nodes"] if n["id"] == "wait_2d")["here"] == runs:
            return journey
        await asyncio.sleep(0.1)
    raise AssertionError(f"the runs did not reach wait_2d: {funnel['nodes']}")


def _expected_edges(definition: dict, funnel: dict) -> dict[tuple[str, str, str], int]:
    """Runs along each edge, from the funnel API: a send's `next` takes what went, was skipped
    or (without on_failure) failed; a branch's then/else and a wait's next are its ways out."""
    left = {node["id"]: node["left"] for node in funnel["nodes"]}
    expected = {}
    for node in definition["nodes"]:
        ways = left[node["id"]]
        if node["type"] == "send":
            expected[(node["id"], node["next"], "next")] = sum(
                ways.get(way, 0) for way in ("sent", "unconfirmed", "skipped", "failed"))
        elif node["type"] == "branch":
            expected[(node["id"], node["then"], "then")] = ways.get("then", 0)
            expected[(node["id"], node["else"], "else")] = ways.get("else", 0)
        elif node["type"] == "wait":
            expected[(node["id"], node["next"], "next")] = ways.get("next", 0)
    return expected


async def test_the_diagram_shows_the_funnel_apis_numbers(open_console, console_api, unique, screenshot):
    journey = await _mothers_day_with_runs(console_api, unique)
    funnel = await _funnel(console_api, journey, version=1)
    page = await open_console(VIEWER_KEY)
    await page.goto(f"/console/journeys/{journey}?version=1")
    await page.wait_for_selector("#diagram svg")
    shown = {}
    for node in funnel["nodes"]:
        box = page.locator(f'.node[data-node-id="{node["id"]}"]')
        shown[node["id"]] = (int(await box.locator('[data-count="entered"]').text_content()),
                             int(await box.locator('[data-count="here"]').text_content()))
        if node["send"] is not None:
            assert int(await box.locator('[data-count="sent"]').text_content()) == node["send"]["sent"]
            assert int(await box.locator('[data-count="opened"]').text_content()) == node["send"]["opens"]["unique"]
    assert shown == {node["id"]: (node["entered"], node["here"]) for node in funnel["nodes"]}
    assert shown["preview"] == (3, 0) and shown["wait_2d"] == (3, 3)  # the runs are really there
    expected = _expected_edges(mothers_day(), funnel)
    for (source, target, way), runs in expected.items():
        edge = page.locator(f'.edge[data-from="{source}"][data-to="{target}"][data-way="{way}"]')
        assert int(await edge.locator('[data-count="runs"]').text_content()) == runs, (source, target, way)
    assert await page.locator(".edge").count() == len(expected)
    assert await page.locator('.node[data-node-id="preview"]').get_attribute("aria-label") == \
        "preview, send (email): entered 3, here now 0"
    assert await page.locator('.node[data-node-id="wait_2d"] .node-detail').text_content() == "wait · wait 2d"
    totals = {name: int(await page.locator(f'[data-total="{name}"]').inner_text())
              for name in ("entered", "active", "completed", "converted")}
    assert totals == {name: funnel["journey"][name] for name in totals}
    await screenshot(page, "journey-mothers-day")


def _forty_nodes() -> dict:
    """40 nodes: a send, nine branches whose two sends rejoin at a wait, a tag, a split and an exit."""
    nodes = [{"id": "start", "type": "send", "subject": "Hello", "text": "hi", "next": "b0"}]
    for n in range(9):
        after = f"b{n + 1}" if n < 8 else "tagged"
        nodes += [
            {"id": f"b{n}", "type": "branch", "condition": {"opened": "start"}, "then": f"a{n}", "else": f"c{n}"},
            {"id": f"a{n}", "type": "send", "subject": f"A{n}", "text": "a", "next": f"j{n}"},
            {"id": f"c{n}", "type": "send", "channel": "email", "subject": f"C{n}", "text": "c", "next": f"j{n}"},
            {"id": f"j{n}", "type": "wait", "duration": "1d", "next": after},
        ]
    nodes += [{"id": "tagged", "type": "tag", "tag": "reached-the-end", "next": "ab"},
              {"id": "ab", "type": "split", "arms": [{"id": "x", "next": "end"}, {"id": "y", "next": "end"}]},
              {"id": "end", "type": "exit"}]
    assert len(nodes) == 40
    return {"name": "Forty nodes", "nodes": nodes}


async def test_a_forty_node_journey_is_drawn_without_overlapping_boxes(open_console, console_api, unique,
                                                                         screenshot):
    journey = f"forty-{unique}"
    created = await console_api.post("/v1/journeys", json={"id": journey, "definition": _forty_nodes()})
    assert created.status_code == 201, created.text
    page = await open_console(VIEWER_KEY)
    await page.goto(f"/console/journeys/{journey}")
    await page.wait_for_selector("#diagram svg")
    boxes = [await rect.bounding_box() for rect in await page.locator(".node rect").all()]
    labels = [await rect.bounding_box() for rect in await page.locator(".edge-label rect").all()]
    assert len(boxes) == 40 and len(labels) == 1 + 9 * 5 + 1 + 2

    def overlap(a: dict, b: dict) -> bool:
        return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and \
            a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]

    everything = boxes + labels
    assert not [(i, j) for i in range(len(everything)) for j in range(i + 1, len(everything))
                if overlap(everything[i], everything[j])]
    assert "No runs in this view" in await page.locator(".empty").inner_text()  # a draft nobody entered
    await screenshot(page, "journey-forty-nodes")


async def test_an_invalid_period_shows_the_apis_message_in_place(open_console, console_api, unique):
    journey = f"period-{unique}"
    assert (await console_api.post("/v1/journeys", json={"id": journey, "definition": _forty_nodes()})).is_success
    api = await console_api.get(f"/v1/journeys/{journey}/funnel", params={"from": "2026-02-01", "to": "2026-01-01"})
    page = await open_console(VIEWER_KEY)
    await page.goto(f"/console/journeys/{journey}")
    await page.get_by_label("Runs that entered from").fill("2026-02-01")
    await page.get_by_label("to (its whole day)").fill("2026-01-01")
    await page.get_by_role("button", name="Show").click()
    await page.wait_for_selector(".error")
    assert await page.locator(".error").inner_text() == api.json()["error"]["message"]
    assert await page.get_by_label("Runs that entered from").input_value() == "2026-02-01"  # kept to correct


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "390px"])
async def test_the_read_only_pages_fit_the_screen_and_are_accessible(open_console, console_api, unique, viewport,
                                                                   screenshot):
    journey = await _mothers_day_with_runs(console_api, unique, runs=1)
    page = await open_console(VIEWER_KEY, viewport)
    for path, name in (("/console/journeys?period=all", "journeys"), (f"/console/journeys/{journey}", "journey")):
        await page.goto(path)
        if name == "journey":
            await page.wait_for_selector("#diagram svg")
        else:
            row = page.locator(f'tr[data-journey="{journey}"]')
            assert await row.locator('[data-count="entered"]').inner_text() == "1"
        # Nothing wider than the screen: the diagram and tables scroll inside their own boxes.
        assert await page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        # Every control has a label.
        unlabelled = await page.evaluate("""[...document.querySelectorAll('input:not([type=hidden]), select')]
            .filter(e => !e.labels || e.labels.length === 0).map(e => e.name)""")
        assert unlabelled == []
        # Text contrast: at least 4.5:1 against the background it is drawn on.
        assert await page.evaluate(_LOW_CONTRAST) == []
        # Keyboard focus is visible: the first Tab lands on the skip link, then each control shows a ring.
        await page.keyboard.press("Tab")
        assert await page.evaluate("document.activeElement.className") == "skip"
        await page.keyboard.press("Tab")
        outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline not in ("none", ""), outline
        await screenshot(page, f"{name}-{viewport['width']}px")


_LOW_CONTRAST = """(() => {
  const rgb = s => s.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => { const f = c => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
                               return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const background = e => { for (; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor);
                             if (c.length < 4 || c[3] > 0) return c.slice(0, 3); } return [255, 255, 255]; };
  const low = [];
  for (const e of document.querySelectorAll('main p, main th, main td, main a, main label, main button, main dd, main dt, header a, header span, header button')) {
    if (!e.offsetParent) continue;
    const a = lum(rgb(getComputedStyle(e).color).slice(0, 3)), b = lum(background(e));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) low.push(e.tagName + ' ' + e.textContent.trim().slice(0, 30) + ' ' + ratio.toFixed(2));
  }
  return low;
})()"""


async def test_docs_and_redoc_work_with_only_the_app_reachable(browser, console_url, screenshot):
    context = await browser.new_context(viewport=DESKTOP)
    outside = []

    async def only_the_app(route):
        if route.request.url.startswith(console_url):
            await route.continue_()
        else:
            outside.append(route.request.url)
            await route.abort()

    await context.route("**/*", only_the_app)
    try:
        page = await context.new_page()
        await page.goto(f"{console_url}/docs")
        await page.wait_for_selector(".opblock", timeout=30_000)
        assert await page.locator(".opblock").count() > 20
        assert await page.locator('.opblock-summary-path[data-path="/v1/journeys/{journey_id}/funnel"]').count() == 1
        await screenshot(page, "docs")
        assert outside == []
        await page.goto(f"{console_url}/redoc")
        await page.get_by_text("/v1/journeys/{journey_id}/funnel").first.wait_for(state="attached", timeout=30_000)
        assert outside == []  # the bundle's logo too is served by the app
    finally:
        await context.close()
