"""Bad input gets a precise 4xx in the error shape, never a 500: nesting too deep, NUL and lone
surrogates wherever text reaches Postgres, ids and integers past their columns, a concurrent
duplicate line_user_id, and a body over the limit however it is sent."""

from __future__ import annotations

import asyncio

import pytest

NDJSON = {"Content-Type": "application/x-ndjson"}
YAML = {"Content-Type": "application/yaml"}


pytestmark = pytest.mark.usefixtures("quiet_triggers")


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


# Text Postgres refuses, and values past their columns


@pytest.mark.parametrize("body, field", [
    ({"first_name": "Ann\x00"}, "body.first_name"),
    ({"attributes": {"plan": "gold\x00"}}, "body.attributes.plan"),
    ({"attributes": {"pl\x00an": "gold"}}, "body.attributes.pl\x00an"),
    ({"attributes": {"plan": "\ud800"}}, "body.attributes.plan"),
])
async def test_nul_and_lone_surrogates_in_a_contact_body_are_refused(api, unique, body, field):
    response = await api.put(f"/v1/contacts/c-{unique}", content=__import__("json").dumps(body),
                             headers={"Content-Type": "application/json"})
    refused(response, 422, field)


@pytest.mark.parametrize("path, field", [
    ("/v1/contacts/c%00x", "path.external_id"),
    ("/v1/contacts?cursor=%00", "query.cursor"),
    ("/v1/journeys?cursor=a%00", "query.cursor"),
    ("/v1/segments/s%00/count", "path.segment_id"),
    ("/v1/contacts/c%00x/runs", "path.external_id"),
])
async def test_nul_in_a_path_or_cursor_is_refused(api, path, field):
    refused(await api.get(path), 422, field)


async def test_nul_in_a_segment_value_and_a_lone_surrogate_in_a_set_are_refused(api, unique):
    body = '{"id": "s-%s", "name": "s", "filter": {"attribute": "plan", "op": "eq", "value": "a\\u0000"}}' % unique
    refused(await api.post("/v1/segments", content=body, headers={"Content-Type": "application/json"}), 422,
            "body.filter.value")
    body = '{"id": "set-%s", "name": "s", "segments": ["\\ud800"]}' % unique
    refused(await api.post("/v1/segment-sets", content=body, headers={"Content-Type": "application/json"}), 422,
            "body.segments.0")


async def test_an_id_longer_than_its_column_is_refused(api, unique):
    refused(await api.put(f"/v1/contacts/{'x' * 10_000}", json={}), 422, "path.external_id")
    refused(await api.put(f"/v1/tag-rules/{'r' * 1000}", json={
        "tag": "t", "filter": {"attribute": "plan", "op": "eq", "value": "gold"},
        "weight": {"kind": "count", "event": "x"}}), 422, "path.rule_id")


async def test_a_version_past_int32_is_refused(api, unique):
    refused(await api.get(f"/v1/journeys/j-{unique}/versions/{2**31}"), 422, "path.version")
    refused(await api.get(f"/v1/journeys/j-{unique}/versions/{2**70}"), 422, "path.version")
    response = await api.post(f"/v1/journeys/j-{unique}/preview", json={"node": "n", "contact": "c",
                                                                       "version": 2**31})
    refused(response, 422, "body.version")


async def test_a_concurrent_duplicate_line_user_id_is_a_conflict(api, unique):
    line_user_id = "U" + unique.ljust(32, "0")
    for attempt in range(3):  # the race is won differently each time; every loser must get a 409
        puts = [api.put(f"/v1/contacts/line-{attempt}-{n}-{unique}", json={"line_user_id": line_user_id,
                                                                            "consent": {"line": "subscribed"}})
                for n in range(6)]
        responses = await asyncio.gather(*puts)
        statuses = sorted(r.status_code for r in responses)
        assert statuses.count(201) == (1 if attempt == 0 else 0), statuses
        for response in responses:
            if response.status_code != 201:
                assert refused(response, 409)["code"] == "line_user_id_taken"


async def test_a_concurrent_first_put_of_one_contact_creates_it_once(api, unique):
    responses = await asyncio.gather(*(api.put(f"/v1/contacts/same-{unique}", json={"attributes": {"n": n}})
                                       for n in range(6)))
    assert sorted(r.status_code for r in responses) == [200] * 5 + [201], [r.text for r in responses]


# A body over the limit, however it is sent


async def chunks(total: int, size: int = 16_384):
    for start in range(0, total, size):
        yield b" " * min(size, total - start)


@pytest.mark.parametrize("path, headers", [
    ("/v1/segments", {"Content-Type": "application/json"}),
    ("/v1/journeys", YAML),
    ("/v1/contacts/x", {"Content-Type": "application/json"}),
])
async def test_a_chunked_body_over_the_limit_is_413(api, settings, path, headers):
    method = api.put if path.startswith("/v1/contacts/") else api.post
    response = await method(path, content=chunks(settings.max_body_bytes + 1), headers=headers)
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert refused(response, 413)["code"] == "payload_too_large"


# Contact ids with '/': refused wherever a contact is created, so every contact is reachable


async def test_an_external_id_with_a_slash_is_refused_everywhere_a_contact_is_created(api, unique):
    external_id = f"a/{unique}"
    response = await api.post("/v1/events", json={"contact": external_id, "name": "x"})
    assert "contact: must not contain '/'" in refused(response, 422)["message"]
    batch = await api.post("/v1/events", json={"events": [{"contact": external_id, "name": "x"}]})
    assert batch.json()["rejected"] == [{"index": 0, "reason": "contact: must not contain '/'"}]
    imported = await api.post("/v1/contacts/import", content=f'{{"external_id": "{external_id}"}}\n', headers=NDJSON)
    assert imported.json()["rejected"] == [{"line": 1, "reason": "external_id: must not contain '/'"}]
    csv = await api.post("/v1/contacts/import", content=f"external_id\n{external_id}\n",
                         headers={"Content-Type": "text/csv"})
    assert csv.json()["rejected"] == [{"line": 2, "reason": "external_id: must not contain '/'"}]
    put = await api.put(f"/v1/contacts/{external_id.replace('/', '%2F')}", json={})
    assert "external_id: must not contain '/'" in refused(put, 422)["message"]
    listed = (await api.get("/v1/contacts", params={"limit": 500, "cursor": "a/"})).json()["items"]
    assert external_id not in [item["external_id"] for item in listed]


async def test_the_contact_service_refuses_a_slash_too(engine, unique):
    from sojourn.data.db import session_factory
    from sojourn.services import contacts

    async with session_factory(engine)() as session:
        with pytest.raises(contacts.InvalidExternalId, match="must not contain '/'"):
            await contacts.upsert(session, None, f"a/{unique}", {}, {}, {})


# Signed webhooks read their bodies raw (to check the signature first): the same checks apply


async def test_signed_webhooks_with_nul_are_refused(settings, temporal_env):
    import json

    import httpx

    from api.app import create_app
    from sojourn.delivery.tokens import line_signature

    from helpers import post_webhook

    app = create_app(settings.model_copy(update={"line_channel_secret": "line-secret"}), temporal=temporal_env.client)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sojourn.test") as api:
            body = json.dumps({"events": [{"type": "follow", "timestamp": 1, "source": {"type": "user",
                                                                                        "userId": "U\x00"}}]}).encode()
            response = await api.post("/v1/webhooks/line", content=body, headers={
                "Content-Type": "application/json", "x-line-signature": line_signature(body, "line-secret")})
            refused(response, 422, "body.events.0.source.userId")
            response = await post_webhook(api, settings.webhook_secret, [
                {"message_id": "m\x00", "type": "opened", "timestamp": "2026-01-01T00:00:00Z"}])
            refused(response, 422, "body.events.0.message_id")
