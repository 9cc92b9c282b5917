"""The API's /metrics, scraped over HTTP as Prometheus does: requests by route template and status
with latency histograms, events ingested by outcome, engagement by kind, each moved by exactly
what the test did; no API key needed, and off with API_METRICS_ENABLED=false."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn

from api.app import create_app
from sojourn.dev.postgres import free_port
from sojourn.settings import Settings

from helpers import API_KEY, mailed_with_a_link, tracking_path
from metrics_scrape import moved, scrape


async def _served(settings: Settings, temporal_env) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, temporal=temporal_env.client), host="127.0.0.1",
                                           port=port, log_config=None))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the API did not start"
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def api_url(settings: Settings, temporal_env) -> AsyncIterator[str]:
    async for url in _served(settings, temporal_env):
        yield url


async def test_requests_events_and_engagement_move_the_counters_by_what_was_done(
        api_url, api, worker, engine, unique):
    journey = f"metrics-{unique}"
    mail, _, contact = await mailed_with_a_link(api, engine, journey)

    before = await scrape(f"{api_url}/metrics")  # no API key
    async with httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {API_KEY}"}) as client:
        for _ in range(2):
            assert (await client.get(f"/v1/journeys/{journey}")).status_code == 200
        assert (await client.get(f"/v1/journeys/nothing-{unique}")).status_code == 404
        assert (await client.get(f"/no/such/route/{unique}")).status_code == 404
        event = {"contact": contact, "name": "browsed", "event_id": f"ev-{unique}"}
        batch = await client.post("/v1/events", json={"events": [event, {"contact": contact}]})
        assert batch.status_code == 200, batch.text
        assert (await client.post("/v1/events", json=event)).status_code == 200  # the same event_id: a duplicate
        for _ in range(2):
            assert (await client.get(tracking_path(mail["html"], "o"))).status_code == 200
        assert (await client.get(tracking_path(mail["html"], "c"))).status_code in (302, 303, 307)
    after = await scrape(f"{api_url}/metrics")

    journey_route = {"method": "GET", "route": "/v1/journeys/{journey_id}"}
    assert moved(before, after, "sojourn_http_requests_total", **journey_route, status="200") == 2
    assert moved(before, after, "sojourn_http_requests_total", **journey_route, status="404") == 1
    assert moved(before, after, "sojourn_http_request_duration_seconds_count", **journey_route) == 3
    assert moved(before, after, "sojourn_http_request_duration_seconds_bucket", **journey_route, le="+Inf") == 3
    assert moved(before, after, "sojourn_http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert moved(before, after, "sojourn_http_requests_total", method="POST", route="/v1/events", status="200") == 2
    # The first scrape is counted by the second, under its template like every route.
    assert moved(before, after, "sojourn_http_requests_total", method="GET", route="/metrics", status="200") == 1
    # Never a raw path: no id, no tracking token.
    routes = {dict(labels).get("route") for _, labels in after} - {None}
    assert not [route for route in routes if unique in route or "/t/o/" in route and "{" not in route], routes

    assert moved(before, after, "sojourn_events_ingested_total", outcome="accepted") == 1
    assert moved(before, after, "sojourn_events_ingested_total", outcome="rejected") == 1
    assert moved(before, after, "sojourn_events_ingested_total", outcome="duplicate") == 1
    assert moved(before, after, "sojourn_engagement_events_total", kind="opened", source="pixel",
                 automated="false") == 2
    assert moved(before, after, "sojourn_engagement_events_total", kind="clicked", source="link",
                 automated="false") == 1


async def test_metrics_need_no_key_and_can_be_turned_off(settings, temporal_env, engine):
    async with httpx.AsyncClient() as client:
        async for url in _served(settings, temporal_env):
            answer = await client.get(f"{url}/metrics")
            assert answer.status_code == 200 and "sojourn_http_requests_total" in answer.text
        async for url in _served(settings.model_copy(update={"api_metrics_enabled": False}), temporal_env):
            assert (await client.get(f"{url}/metrics")).status_code == 404
