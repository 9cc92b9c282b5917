"""The API's Prometheus metrics: every request counted and timed by its route template (never the
raw path: ids and tracking tokens would make a series each), and `/metrics`, which serves them
with what the services count (events ingested, engagement). With several serving processes behind
one port (API_WORKERS > 1) each writes its numbers to PROMETHEUS_MULTIPROC_DIR and whichever
answers /metrics serves the sum (prometheus-client's multiprocess mode): a scrape that reached one
process would otherwise see only its share."""

from __future__ import annotations

import os
import time

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# A request that no route took: a 404, or one refused before routing (413, a body too large).
UNMATCHED = "unmatched"

REQUESTS = Counter("sojourn_http_requests", "HTTP requests answered, by method, route template and status",
                   ["method", "route", "status"])
LATENCY = Histogram("sojourn_http_request_duration_seconds", "Time to answer an HTTP request, by method and "
                    "route template", ["method", "route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))


class RequestMetrics:
    """ASGI middleware around every other layer, so the size limit's refusals count too. The route
    template is known once routing has run: FastAPI puts the matched route in the scope."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the server answers if the app raises before it started a response
        started = time.perf_counter()

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = getattr(scope.get("route"), "path", UNMATCHED)
            method = scope["method"]
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(method, route).observe(time.perf_counter() - started)


async def _metrics(request: Request) -> Response:
    registry = REGISTRY
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:  # set by `sojourn api` for its serving processes
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def install(app: FastAPI, serve: bool) -> None:
    """Count every request; serve `GET /metrics` (no API key: it names routes, channels and
    statuses, nothing of a contact) when `serve`. Added last, so it wraps every other middleware."""
    if serve:
        app.add_api_route("/metrics", _metrics, methods=["GET"], include_in_schema=False)
    app.add_middleware(RequestMetrics)
