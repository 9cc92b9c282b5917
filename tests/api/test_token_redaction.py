"""Tracking and unsubscribe tokens never reach the logs: the real server's access log shows
`/t/o/<token>`, `/t/c/<token>` and `/u/<token>`."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import uuid

import httpx
import pytest

from api.log_redaction import redact
from sojourn.delivery.tokens import sign


@pytest.mark.parametrize(("text", "logged"), [
    ("/t/o/b2s6YWJj.q1w2e3", "/t/o/<token>"),
    ("/t/c/b2s6YWJj.q1w2e3?utm=x", "/t/c/<token>?utm=x"),
    ('"GET /u/dTphYmM.Zm9v HTTP/1.1" 200', '"GET /u/<token> HTTP/1.1" 200'),
    ("see https://mail.example/u/dTphYmM.Zm9v now", "see https://mail.example/u/<token> now"),
    ("/v1/contacts/u/runs", "/v1/contacts/u/runs"),  # a contact named "u" is not a token
    ("/v1/journeys/t/o/x", "/v1/journeys/t/o/x"),
])
def test_tokens_are_replaced_and_nothing_else(text, logged):
    assert redact(text) == logged


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_the_access_log_of_the_real_server_has_no_token(database_url, temporal_env, settings, tmp_path):
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "API_PORT": str(port), "API_HOST": "127.0.0.1",
           "TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host,
           "TRACKING_SECRET": settings.tracking_secret, "API_KEYS": "redaction-test-key"}
    server = await asyncio.create_subprocess_exec(sys.executable, "-m", "api", cwd=tmp_path, env=env,
                                                  stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    message = uuid.uuid4()
    tokens = [sign(f"o:{message}", settings.tracking_secret), sign(f"c:{message}:0", settings.tracking_secret),
              sign(f"u:{message}", settings.tracking_secret)]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(300):
                try:
                    if (await client.get("/healthz")).status_code:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            answers = [(await client.get(path)).status_code
                       for path in (f"/t/o/{tokens[0]}", f"/t/c/{tokens[1]}?utm_source=mail", f"/u/{tokens[2]}")]
    finally:
        server.terminate()
        output = (await asyncio.wait_for(server.stdout.read(), 30)).decode()
        await server.wait()
    assert answers == [404, 404, 404], output
    assert not [token for token in tokens if token in output], output
    for logged in ('"GET /t/o/<token> HTTP/1.1" 404', '"GET /t/c/<token>?utm_source=mail HTTP/1.1" 404',
                   '"GET /u/<token> HTTP/1.1" 404'):
        assert logged in output, output
