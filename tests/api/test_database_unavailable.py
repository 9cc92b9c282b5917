"""With its database down the API answers 503 `database_unavailable` with Retry-After, in the
error shape, and serves again by itself once the database is back."""

from __future__ import annotations

import tempfile
from pathlib import Path

import asyncpg
import httpx
import pytest
import sqlalchemy.exc

from api.app import create_app
from api.errors import database_unavailable
from sojourn.data import db
from sojourn.dev.postgres import EmbeddedPostgres, free_port
from sojourn.settings import Settings

from helpers import API_KEY


@pytest.fixture
def own_postgres():
    """A Postgres of this test's own: the session's is shared by every other test."""
    folder = Path(tempfile.mkdtemp(prefix="sojourn-db-down-"))
    folder.chmod(0o755)
    postgres = EmbeddedPostgres(folder / "pg", free_port())
    postgres.start()
    postgres.create_database("sojourn")
    db.upgrade(postgres.url("sojourn"))
    yield postgres
    postgres.stop()


async def _requests(client: httpx.AsyncClient, unique: str) -> list[httpx.Response]:
    return [
        await client.put(f"/v1/contacts/down-{unique}", json={"email": f"down-{unique}@example.com"}),
        await client.get(f"/v1/contacts/down-{unique}"),
        await client.get("/v1/journeys"),
        await client.post("/v1/events", json={"events": [{"contact": f"down-{unique}", "name": "visited"}]}),
    ]


async def test_the_api_answers_503_while_its_database_is_down_and_recovers(
        own_postgres, settings: Settings, temporal_env, unique: str):
    settings = settings.model_copy(update={"database_url": own_postgres.url("sojourn")})
    app = create_app(settings, temporal=temporal_env.client)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sojourn.test",
                                     headers={"Authorization": f"Bearer {API_KEY}"}) as client:
            up = await _requests(client, unique)
            assert [r.status_code for r in up] == [201, 200, 200, 200]

            own_postgres.stop()
            # The first request finds its pooled connection closed by the server; the next ones
            # cannot connect at all. Each is the same 503.
            for answer in await _requests(client, unique) + await _requests(client, unique):
                assert answer.status_code == 503, answer.text
                assert answer.headers["Retry-After"] == "5"
                assert answer.json() == {"error": {
                    "code": "database_unavailable", "message": "the database is unavailable; retry shortly",
                    "details": []}}
            health = await client.get("/healthz")
            assert health.status_code == 503 and health.json()["components"]["database"] != "ok"

            own_postgres.start()
            back = await _requests(client, unique)
            assert [r.status_code for r in back] == [200, 200, 200, 200], [r.text for r in back]
            assert back[1].json()["email"] == f"down-{unique}@example.com"


@pytest.mark.parametrize("error", [
    sqlalchemy.exc.TimeoutError("QueuePool limit of size 10 overflow 10 reached"),
    asyncpg.CannotConnectNowError("the database system is starting up"),
    asyncpg.TooManyConnectionsError("sorry, too many clients already"),
])
def test_a_database_that_cannot_serve_yet_counts_as_unavailable(error: Exception):
    assert database_unavailable(error)


def test_other_errors_stay_server_errors():
    assert not database_unavailable(ConnectionRefusedError("an SMTP server, not the database"))
    assert not database_unavailable(asyncpg.UniqueViolationError("duplicate key"))
    assert not database_unavailable(sqlalchemy.exc.DBAPIError("SELECT 1", {}, ValueError("bad"),
                                                              connection_invalidated=False))
