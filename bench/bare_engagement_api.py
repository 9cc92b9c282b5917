"""The engagement benchmark's baseline: a bare FastAPI app whose two routes each do the one
insert an engagement request must do, into a copy of `engagement_events`, through the same
engine (and pool size) and served with the same uvicorn options (and process count) as `python -m api`.

    python bench/bare_engagement_api.py   # DATABASE_URL, API_HOST, API_PORT, API_WORKERS, DATABASE_POOL_SIZE
"""

from __future__ import annotations

import uuid
from contextlib import asynccontextmanager
from datetime import datetime, timezone

import uvicorn
from fastapi import FastAPI, Request, Response
from sqlalchemy import text

from api.__main__ import server_options
from sojourn.data.db import create_engine
from sojourn.settings import get_settings

TABLE = "bare_engagement_events"
_INSERT = text(f"INSERT INTO {TABLE} (message_id, type, source, occurred_at) "  # noqa: S608 - a constant
               "VALUES (:message_id, :type, :source, :occurred_at)")


def create_bare_app(database_url: str, pool_size: int) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.engine = create_engine(database_url, pool_size=pool_size)
        yield
        await app.state.engine.dispose()

    app = FastAPI(lifespan=lifespan)

    async def insert(request: Request, message_id: uuid.UUID, kind: str, source: str) -> None:
        async with request.app.state.engine.begin() as conn:
            await conn.execute(_INSERT, {"message_id": message_id, "type": kind, "source": source,
                                         "occurred_at": datetime.now(timezone.utc)})

    @app.post("/bare/webhook")
    async def webhook(request: Request) -> dict:
        event = (await request.json())["events"][0]
        await insert(request, uuid.UUID(event["message_id"]), event["type"], "webhook")
        return {"results": [{"index": 0, "status": "recorded"}]}

    @app.get("/bare/o/{message_id}")
    async def pixel(message_id: uuid.UUID, request: Request) -> Response:
        await insert(request, message_id, "opened", "pixel")
        return Response(b"GIF89a", media_type="image/gif")

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    return app


def serving_app() -> FastAPI:
    """The app of one serving process (uvicorn calls it in each worker process)."""
    settings = get_settings()
    return create_bare_app(settings.database_url, settings.database_pool_size)


if __name__ == "__main__":
    uvicorn.run("bare_engagement_api:serving_app", factory=True, **server_options(get_settings()))
