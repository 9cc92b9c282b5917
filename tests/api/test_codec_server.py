"""POST /codec/decode: Temporal's codec-server protocol for operators (Web UI, `temporal` CLI)."""

from __future__ import annotations

import httpx
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from api.app import create_app
from sojourn.services.payload_codec import KEY_ID

from helpers import create_active_journey, enroll, wait_for_mail

UI = "http://127.0.0.1:8233"


def _journey() -> dict:
    return {"name": "Codec", "nodes": [
        {"id": "hello", "type": "send", "subject": "Hi", "text": "Hello {{ first_name }}", "next": "pause"},
        {"id": "pause", "type": "wait", "duration": "7d", "next": "end"},
        {"id": "end", "type": "exit"},
    ]}


async def test_decode_answers_a_runs_payloads_decoded_until_its_contact_is_erased(api, engine, worker, temporal_server,
                                                                                   unique):
    contact, email = f"codec-{unique}", f"codec-{unique}@example.com"
    assert (await api.put(f"/v1/contacts/{contact}", json={"email": email, "first_name": "Ann"})).status_code == 201
    await create_active_journey(api, f"codec-{unique}", _journey())
    [run] = await enroll(api, f"codec-{unique}", contact)
    await wait_for_mail(engine, email)
    history = await temporal_server.client.get_workflow_handle(run["workflow_id"]).fetch_history()
    sealed = [p for e in history.events for p in e.activity_task_completed_event_attributes.result.payloads]
    assert sealed and all(KEY_ID in p.metadata for p in sealed)
    body = json_format.MessageToJson(Payloads(payloads=sealed))

    response = await api.post("/codec/decode", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    decoded = json_format.Parse(response.text, Payloads()).payloads
    assert len(decoded) == len(sealed) and email.encode() in b"".join(p.data for p in decoded)

    assert (await api.delete(f"/v1/contacts/{contact}")).status_code == 204
    after = json_format.Parse((await api.post("/codec/decode", content=body)).text, Payloads()).payloads
    assert list(after) == sealed  # still sealed: nobody reads it any more


async def test_decode_refuses_what_is_not_payloads_and_callers_without_a_key(api):
    response = await api.post("/codec/decode", content=b'{"payloads": [{"data": 42}]}')
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_payloads"
    assert (await api.post("/codec/decode", content=b"\xff\xfe")).status_code == 422
    unauthenticated = await api.post("/codec/decode", content=b'{"payloads": []}', headers={"Authorization": ""})
    assert unauthenticated.status_code == 401


async def test_the_web_ui_origin_may_call_the_codec_when_configured(settings, temporal_env):
    for origins, allowed in (([UI], UI), ([], None)):
        app = create_app(settings.model_copy(update={"codec_cors_origins": origins}), temporal=temporal_env.client)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://sojourn.test") as http:
                preflight = await http.options("/codec/decode", headers={
                    "Origin": UI, "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "authorization,content-type,x-namespace"})
        assert preflight.headers.get("access-control-allow-origin") == allowed
