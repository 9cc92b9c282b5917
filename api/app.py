"""The FastAPI application factory."""

from __future__ import annotations

import gc
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from temporalio.client import Client

from api import console, errors, log_redaction, metrics
from api.limits import BodySizeLimit
from api.routers import every_router
from api.yaml_bodies import YamlBodies
from sojourn.data.db import create_engine, session_factory
from sojourn.services import payload_codec
from sojourn.services.engagement_signals import EngagementSignals
from sojourn.services.preview import Previewer
from sojourn.services.triggers import Triggers
from sojourn.settings import Settings, get_settings


def create_app(settings: Settings | None = None, temporal: Client | None = None) -> FastAPI:
    """Build the app; `temporal` lets tests hand in the client of their own test server."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        log_redaction.install()  # here: the server has configured its logging by now
        engine = create_engine(settings.database_url, pool_size=settings.database_pool_size)
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessions = session_factory(engine)
        app.state.previewer = Previewer(settings)
        app.state.temporal = temporal or await payload_codec.connect(settings, engine)
        app.state.triggers = Triggers(app.state.sessions, app.state.temporal, settings.task_queue)
        app.state.engagement_signals = EngagementSignals(
            engine, app.state.temporal, timedelta(seconds=settings.engagement_signal_retry))
        await app.state.engagement_signals.start()
        # Startup leaves ~160k long-lived objects; freezing them keeps full collections from
        # rescanning them and pausing every request (a quarter of the API's CPU under ingest).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await app.state.engagement_signals.stop()
            await engine.dispose()

    app = FastAPI(
        title="Sojourn",
        version="0.1.0",
        description="Customer journeys as durable, exactly-once Temporal workflows.",
        lifespan=lifespan,
        docs_url=None, redoc_url=None,  # console.install serves them from vendored assets (offline)
    )
    errors.install(app)
    for router in every_router(dev_mailbox=settings.dev_mailbox_enabled):
        app.include_router(router)
    console.install(app)
    app.add_middleware(YamlBodies)
    if settings.codec_cors_origins:  # the Web UI's codec calls come from the browser (Bearer key, no cookies)
        app.add_middleware(CORSMiddleware, allow_origins=settings.codec_cors_origins, allow_methods=["POST"],
                           allow_headers=["Authorization", "Content-Type", "X-Namespace"])
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes,  # outermost but metrics: raw bytes
                       allowances={"/v1/events": settings.max_batch_body_bytes,
                                   "/v1/contacts/import": settings.max_import_body_bytes,
                                   "/v1/products/import": settings.max_import_body_bytes})
    metrics.install(app, serve=settings.api_metrics_enabled)
    return app
