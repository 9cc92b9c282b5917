"""`LOG_FORMAT=json` as an operator runs it: the real worker and API processes write nothing but
JSON lines on stderr, and the line of a send names its journey, contact, message, workflow, run
and activity."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import select

from sojourn.contracts.send import SEND_ACTIVITY
from sojourn.data.models import Message
from sojourn.dev.postgres import free_port
from sojourn.settings import Settings

from helpers import API_KEY


def _environment(settings: Settings, temporal_address: str, api_port: int) -> dict[str, str]:
    return {**os.environ, "LOG_FORMAT": "json", "DATABASE_URL": settings.database_url,
            "TEMPORAL_ADDRESS": temporal_address, "TASK_QUEUE": settings.task_queue,
            "SMTP_HOST": settings.smtp_host, "SMTP_PORT": str(settings.smtp_port), "API_KEYS": API_KEY,
            "API_HOST": "127.0.0.1", "API_PORT": str(api_port), "PUBLIC_BASE_URL": f"http://127.0.0.1:{api_port}"}


def _output(logs: dict[str, Path]) -> str:
    return "\n".join(f"--- {name}:\n{path.read_text()}" for name, path in logs.items())


def _json_lines(path: Path) -> list[dict]:
    """Every line the process wrote to stderr, each parsed as one JSON object (fails on any other)."""
    lines = path.read_text().splitlines()
    assert lines, "nothing was logged"
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            raise AssertionError(f"not a JSON line on stderr: {line!r}") from None
    return parsed


def _send_lines(path: Path) -> list[dict]:
    return [line for line in _json_lines(path) if line.get("activity") == SEND_ACTIVITY]


async def test_worker_and_api_write_json_lines_naming_the_message(settings, temporal_env, smtp_sink, engine,
                                                                  tmp_path: Path, unique: str):
    api_port = free_port()
    env = _environment(settings, temporal_env.client.service_client.config.target_host, api_port)
    logs = {name: tmp_path / f"{name}.log" for name in ("worker", "api")}
    processes = {name: await asyncio.create_subprocess_exec(
        sys.executable, "-m", name, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=path.open("w"))
        for name, path in logs.items()}
    journey_id = f"logs-{unique}"
    try:
        # Async all along: the SMTP sink the worker sends to runs on this test's event loop.
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}",
                                     headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10) as api:
            deadline = time.monotonic() + 60
            health = None
            while health is None or health.status_code != 200:  # up once a worker polls the task queue
                assert all(p.returncode is None for p in processes.values()), _output(logs)
                assert time.monotonic() < deadline, f"not up in 60 s: {health and health.text}\n{_output(logs)}"
                await asyncio.sleep(0.3)
                try:
                    health = await api.get("/healthz")
                except httpx.TransportError:
                    pass
            definition = {"name": "Logs", "nodes": [
                {"id": "hello", "type": "send", "subject": "Hello", "text": "Hi", "next": "end"},
                {"id": "end", "type": "exit"}]}
            created = await api.post("/v1/journeys", json={"id": journey_id, "definition": definition})
            assert created.status_code == 201, created.text
            assert (await api.post(f"/v1/journeys/{journey_id}/activate")).status_code == 200
            contact = f"ada-{unique}"
            (await api.put(f"/v1/contacts/{contact}", json={"email": f"{contact}@example.com"})).raise_for_status()
            (await api.post(f"/v1/journeys/{journey_id}/enrollments", json={"contacts": [contact]})).raise_for_status()
            deadline = time.monotonic() + 30
            while not _send_lines(logs["worker"]):
                assert time.monotonic() < deadline, _output(logs)
                await asyncio.sleep(0.3)
    finally:
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(asyncio.gather(*(process.wait() for process in processes.values())), 30)

    async with engine.connect() as conn:
        message_id, workflow_id, contact_id = (await conn.execute(
            select(Message.id, Message.workflow_id, Message.contact_id).where(Message.journey_id == journey_id))).one()
    [send] = _send_lines(logs["worker"])
    assert send["level"] == "INFO" and send["logger"] == "temporalio.activity" and send["time"]
    assert send["status"] == "sent" and send["message"].startswith("send hello to contact ")
    assert send["journey_id"] == journey_id and send["message_id"] == str(message_id)
    assert send["workflow_id"] == workflow_id and send["run_id"] and send["attempt"] == 1
    assert send["contact_id"] == contact_id

    api_lines = _json_lines(logs["api"])
    assert {"time", "level", "logger", "message"} <= set(api_lines[0])
    assert any(line["logger"] == "uvicorn.access" for line in api_lines)  # uvicorn's own lines too
