"""Bad input gets a precise 4xx in the error shape, never a 500: nesting too deep, NUL and lone
surrogates wherever text reaches Postgres, ids and integers past their columns, a concurrent
duplicate line_user_id, and a body over the limit however it is sent."""

from __future__ import annotations

import asyncio

import pytest

from sojourn.services.triggers import Triggers

NDJSON = {"Content-Type": "application/x-ndjson"}
YAML = {"Content-Type": "application/yaml"}


@pytest.fixture(autouse=True)
def quiet_triggers(monkeypatch):
    """No journeys listen here: what the API hands on is not what these tests check."""

    async def nothing(self, *_):
        return None

    monkeypatch.setattr(Triggers, "on_events", nothing)
    monkeypatch.setattr(Triggers, "on_contacts_changed", nothing)


def refused(response, status: int, field: str | None = None) -> dict:
    """The response is `status` in the error shape; with `field`, its details name it."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    if field is not None:
        named = [d.get("field") for d in error["details"] if isinstance(d, dict)]
        assert field in named or field in error["message"], error
    return error


def deep_json(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def deep_yaml(depth: int) -> str:
    return "[" * depth + "]" * depth


# Nesting


async def test_deep_json_event_is_refused(api, unique):
    body = '{"contact": "c-%s", "name": "x", "properties": %s}' % (unique, deep_json(10_000))
    refused(await api.post("/v1/events", content=body, headers={"Content-Type": "application/json"}), 422)


async def test_moderately_deep_properties_are_refused_per_event(api, unique):
    """Deep enough to parse, too deep to keep: the event is rejected with its reason, the others stored."""
    deep = {"contact": f"c-{unique}", "name": "x", "properties": {"p": __import__("json").loads(deep_json(100))}}
    ok = {"contact": f"c-{unique}", "name": "x"}
    response = await api.post("/v1/events", json={"events": [deep, ok]})
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1
    [rejected] = response.json()["rejected"]
    assert rejected["index"] == 0 and "properties" in rejected["reason"] and "deep" in rejected["reason"]


async def test_deep_json_journey_and_segment_bodies_are_refused(api, unique):
    journey = '{"id": "j-%s", "definition": %s}' % (unique, deep_json(10_000))
    refused(await api.post("/v1/journeys", content=journey, headers={"Content-Type": "application/json"}), 422)
    segment = '{"id": "s-%s", "name": "s", "filter": %s}' % (unique, deep_json(200))
    refused(await api.post("/v1/segments", content=segment, headers={"Content-Type": "application/json"}), 422,
            "body.filter")


async def test_deep_yaml_journey_is_refused(api, unique):
    body = f"id: j-{unique}\ndefinition:\n  name: x\n  nodes: {deep_yaml(10_000)}\n"
    error = refused(await api.post("/v1/journeys", content=body, headers=YAML), 422)
    assert error["code"] == "invalid_yaml"


async def test_deep_json_import_line_is_rejected_by_line(api, unique):
    body = (f'{{"external_id": "d-{unique}", "x": {deep_json(10_000)}}}\n'
            f'{{"external_id": "e-{unique}", "x": {deep_json(100)}}}\n'
            f'{{"external_id": "ok-{unique}"}}\n')
    response = await api.post("/v1/contacts/import", content=body, headers=NDJSON)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["inserted"] == 1
    assert [r["line"] for r in result["rejected"]] == [1, 2]
    assert all("deep" in r["reason"] for r in result["rejected"])


def test_deep_yaml_definition_file_is_a_definition_error(tmp_path):
    from sojourn.dsl.validation import DefinitionError
    from sojourn.dsl.validation.files import load_definition_file

    path = tmp_path / "deep.yaml"
    path.write_text(f"name: x\nnodes: {deep_yaml(10_000)}\n")
    with pytest.raises(DefinitionError, match="deep"):
        load_definition_file(path)
    path = tmp_path / "deep.json"
    path.write_text(deep_json(10_000))
    with pytest.raises(DefinitionError, match="deep"):
        load_definition_file(path)
