"""API keys carry a scope (admin, editor, viewer, ingest); a key without the scope a route needs
gets 403 naming the scopes that may."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from sojourn.settings import ApiKey, Scope, Settings

from helpers import API_KEY, mothers_day

KEYS = {"admin": API_KEY, "editor": "edit-key", "viewer": "view-key", "ingest": "ingest-key"}

# (method, path, body) -> the scopes that may call it. Every other scope gets 403.
ROUTES = [
    (("GET", "/v1/journeys", None), {"admin", "editor", "viewer"}),
    (("GET", "/v1/contacts/nobody", None), {"admin", "editor", "viewer"}),
    (("POST", "/v1/journeys", {}), {"admin", "editor"}),
    (("POST", "/v1/segments", {}), {"admin", "editor"}),
    (("DELETE", "/v1/tag-rules/nothing", None), {"admin", "editor"}),
    (("PUT", "/v1/contacts/someone", {"first_name": "Ann"}), {"admin", "editor", "ingest"}),
    (("POST", "/v1/events", {"contact": "someone", "name": "viewed"}), {"admin", "editor", "ingest"}),
    (("POST", "/v1/contacts/import", None), {"admin", "editor", "ingest"}),
    (("DELETE", "/v1/contacts/nobody", None), {"admin"}),
]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    keys = [ApiKey(secret=API_KEY)] + [ApiKey(secret=KEYS[s], scope=Scope(s)) for s in ("editor", "viewer", "ingest")]
    return settings.model_copy(update={"api_keys": keys})


@pytest.mark.parametrize("scope", list(KEYS))
@pytest.mark.parametrize(("route", "allowed"), ROUTES, ids=[f"{m} {p}" for (m, p, _), _ in ROUTES])
async def test_each_scope_reaches_only_its_routes(api: httpx.AsyncClient, quiet_triggers, scope: str,
                                                  route: tuple, allowed: set[str]) -> None:
    method, path, body = route
    answer = await api.request(method, path, json=body, headers={"Authorization": f"Bearer {KEYS[scope]}"})
    if scope in allowed:
        assert answer.status_code not in (401, 403), answer.text
        return
    assert answer.status_code == 403, answer.text
    error = answer.json()["error"]
    needed = sorted(allowed, key=list(Scope).index)
    assert error["code"] == "forbidden"
    assert f"scope {' or '.join(needed)}" in error["message"]
    assert error["details"] == [{"field": "scope", "needed": needed, "scope": scope}]


async def test_an_editor_works_a_journey_but_cannot_erase(api: httpx.AsyncClient, quiet_triggers, unique) -> None:
    editor = {"Authorization": f"Bearer {KEYS['editor']}"}
    created = await api.post("/v1/journeys", json={"id": f"scoped-{unique}", "definition": mothers_day()},
                             headers=editor)
    assert created.status_code == 201, created.text
    assert (await api.post(f"/v1/journeys/scoped-{unique}/activate", headers=editor)).status_code == 200
    assert (await api.put(f"/v1/contacts/c-{unique}", json={"email": "c@example.com"}, headers=editor)).status_code == 201
    assert (await api.delete(f"/v1/contacts/c-{unique}", headers=editor)).status_code == 403
    assert (await api.delete(f"/v1/contacts/c-{unique}")).status_code == 204  # the admin key


async def test_every_route_behind_a_key_documents_403_with_its_scopes(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    secured = [op for operations in spec["paths"].values() for op in operations.values() if op.get("security")]
    assert len(secured) > 30
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            if operation.get("security"):  # behind the API key (signed webhooks answer 401 too, never 403)
                assert "needs" in responses["403"]["description"], (method, path)
                assert responses["403"]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ErrorOut"}
            else:
                assert "403" not in responses, (method, path)
    erase = spec["paths"]["/v1/contacts/{external_id}"]["delete"]["responses"]["403"]["description"]
    assert erase.endswith("needs admin.")


def test_a_key_without_a_scope_is_admin_and_a_wrong_scope_is_refused() -> None:
    keys = Settings(_env_file=None, api_keys="old-key, new:key:ingest, viewer-key:viewer").api_keys
    assert [(k.secret, k.scope) for k in keys] == [("old-key", "admin"), ("new:key", "ingest"),
                                                   ("viewer-key", "viewer")]
    with pytest.raises(ValidationError, match="not a scope") as refused:
        Settings(_env_file=None, api_keys="secret-value:admn")
    assert "secret-value" not in str(refused.value.errors()[0]["msg"])


def test_the_audit_name_of_a_key_is_a_fingerprint() -> None:
    key = ApiKey(secret="very-secret")
    assert key.name.startswith("key:") and "very-secret" not in key.name
    assert key.name == ApiKey(secret="very-secret", scope=Scope.viewer).name
