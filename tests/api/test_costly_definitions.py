"""A definition whose templates are costly to check is refused with the reason, while the API
goes on answering."""

from __future__ import annotations

import asyncio
import threading

from sojourn.dsl.validation import templates
from sojourn.services import journey_checks

NESTED_LOOPS = "{% for i in range(10**4) %}{% for j in range(10**4) %}{{ i }}{% endfor %}{% endfor %}"


def costly(unique: str) -> dict:
    return {"id": f"costly-{unique}", "definition": {"name": "Costly", "nodes": [
        {"id": "hello", "type": "send", "subject": "Hi", "text": NESTED_LOOPS, "next": "end"},
        {"id": "end", "type": "exit"}]}}


async def test_nested_loops_are_refused_with_the_reason(api, unique):
    response = await api.post("/v1/journeys", json=costly(unique))
    assert response.status_code == 422, response.text
    assert "template does more than 100,000 steps" in response.text


async def test_healthz_answers_while_a_definition_is_checked(api, unique, monkeypatch):
    checking, healthz_answered = threading.Event(), threading.Event()
    waited = []
    check = templates.check_template

    def check_until_healthz_answered(source):
        # Stands for a template that takes long to check: it waits for /healthz to answer,
        # which it can only do if the check leaves the event loop free.
        checking.set()
        waited.append(healthz_answered.wait(timeout=10))
        return check(source)

    monkeypatch.setattr(templates, "check_template", check_until_healthz_answered)
    create = asyncio.create_task(api.post("/v1/journeys", json=costly(unique)))
    while not checking.is_set():
        await asyncio.sleep(0.01)
    health = await api.get("/healthz")
    healthz_answered.set()
    response = await create

    assert health.json()["components"]["database"] == "ok"  # answered (503 here only for want of a worker)
    assert waited and all(waited)  # /healthz answered while the templates were being checked
    assert response.status_code == 422 and "template does more than 100,000 steps" in response.text


async def test_a_check_past_its_time_is_refused(api, unique, monkeypatch):
    monkeypatch.setattr(journey_checks, "VALIDATION_SECONDS", 0.0)
    response = await api.post("/v1/journeys", json=costly(unique))
    assert response.status_code == 422, response.text
    assert "checking the definition takes longer than 0 s" in response.text
