"""The dev mailbox route exists only when DEV_MAILBOX_ENABLED is on."""

from __future__ import annotations

import httpx
import pytest

from api.app import create_app

from helpers import API_KEY


@pytest.mark.parametrize("enabled, status", [(True, 200), (False, 404)])
async def test_the_mailbox_route_is_mounted_only_when_enabled(settings, temporal_env, enabled, status):
    app = create_app(settings.model_copy(update={"dev_mailbox_enabled": enabled}), temporal=temporal_env.client)
    assert ("/v1/dev/mailbox" in app.openapi()["paths"]) is enabled
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sojourn.test",
                                     headers={"Authorization": f"Bearer {API_KEY}"}) as client:
            response = await client.get("/v1/dev/mailbox", params={"to": "nobody@example.com"})
    assert response.status_code == status
    if not enabled:
        assert response.json()["error"]["code"] == "not_found"
