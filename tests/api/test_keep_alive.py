"""The served API keeps an idle connection open longer than clients do (5 s is common)."""

from __future__ import annotations

import asyncio

import uvicorn

from api.__main__ import server_options
from api.app import create_app
from sojourn.dev.postgres import free_port
from sojourn.settings import Settings

REQUEST = b"GET /no-such-page HTTP/1.1\r\nHost: sojourn.test\r\n\r\n"


async def _answer(reader: asyncio.StreamReader) -> bytes:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    await reader.readexactly(length)
    return head.split(b"\r\n")[0]


def test_the_keep_alive_setting_reaches_uvicorn(monkeypatch):
    monkeypatch.setenv("API_KEEP_ALIVE", "120")
    assert Settings().api_keep_alive == 120
    assert uvicorn.Config(None, **server_options(Settings())).timeout_keep_alive == 120
    monkeypatch.delenv("API_KEEP_ALIVE")
    assert Settings().api_keep_alive == 75


async def test_an_idle_connection_is_still_open_after_six_seconds(settings: Settings, temporal_env):
    settings = settings.model_copy(update={"api_port": free_port()})
    options = {**server_options(settings), "log_level": "warning"}
    server = uvicorn.Server(uvicorn.Config(create_app(settings, temporal=temporal_env.client), **options))
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.05)
        reader, writer = await asyncio.open_connection("127.0.0.1", settings.api_port)
        writer.write(REQUEST)
        assert await _answer(reader) == b"HTTP/1.1 404 Not Found"
        await asyncio.sleep(6)  # idle past uvicorn's default keep-alive (5 s)
        assert not reader.at_eof(), "the server closed the idle connection"
        writer.write(REQUEST)
        assert await _answer(reader) == b"HTTP/1.1 404 Not Found"
        writer.close()
    finally:
        server.should_exit = True
        await serving
