"""Rotating the tracking secret (TRACKING_SECRETS: the first signs, all verify) keeps links
already sent working until their secret is removed; the same holds for the webhook secret."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from api.app import create_app
from sojourn.settings import Settings

from helpers import add_contact, create_active_journey, enroll, post_webhook, tracking_path, wait_for_mail


@asynccontextmanager
async def _api_with(settings: Settings, temporal_env, **secrets) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update=secrets), temporal=temporal_env.client)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sojourn.test") as client:
            yield client


async def _links(api, engine, unique: str) -> list[str]:
    """The pixel, the tracked link and the unsubscribe page of an email signed with today's secret."""
    await create_active_journey(api, f"rot-{unique}", {"name": "Rotation", "nodes": [
        {"id": "mail", "type": "send", "subject": "Rotation",
         "html": '<a href="https://shop.example/a">a</a> <a href="{{ unsubscribe_url }}">leave</a>', "next": "wait"},
        {"id": "wait", "type": "wait", "duration": "30d", "next": "end"},
        {"id": "end", "type": "exit"}]})
    await add_contact(api, f"r-{unique}", f"r-{unique}@example.com")
    await enroll(api, f"rot-{unique}", f"r-{unique}")
    [mail] = await wait_for_mail(engine, f"r-{unique}@example.com")
    unsubscribe = mail["html"].split('href="http://sojourn.test')[-1].split('"')[0]
    assert unsubscribe.startswith("/u/")
    return [tracking_path(mail["html"], "o"), tracking_path(mail["html"], "c"), unsubscribe]


async def test_links_signed_before_a_rotation_still_work(api, worker, engine, temporal_env, settings, unique):
    links = await _links(api, engine, unique)
    old = settings.tracking_secret
    async with _api_with(settings, temporal_env, tracking_secret="new-secret",
                         tracking_secrets=["new-secret", old]) as rotated:
        assert [(await rotated.get(path)).status_code for path in links] == [200, 302, 200]
    async with _api_with(settings, temporal_env, tracking_secret="new-secret",
                         tracking_secrets=["new-secret"]) as removed:
        assert [(await removed.get(path)).status_code for path in links] == [404, 404, 404]


async def test_webhooks_signed_with_a_rotated_secret(api, settings, temporal_env):
    event = {"message_id": "<nobody@nowhere.example>", "type": "opened", "timestamp": "2026-05-01T00:00:00Z"}
    async with _api_with(settings, temporal_env, webhook_secret="new", webhook_secrets=["new", "old"]) as rotated:
        rotated.headers["Authorization"] = api.headers["Authorization"]
        assert (await post_webhook(rotated, "old", [event])).status_code == 200
        assert (await post_webhook(rotated, "new", [event])).status_code == 200
        assert (await post_webhook(rotated, "older", [event], signed_at=int(time.time()))).status_code == 401


def test_one_secret_or_a_list(monkeypatch):
    monkeypatch.delenv("TRACKING_SECRETS", raising=False)
    monkeypatch.setenv("TRACKING_SECRET", "only")
    single = Settings(_env_file=None)
    assert (single.tracking_secret, single.tracking_secrets) == ("only", ["only"])

    monkeypatch.delenv("TRACKING_SECRET")
    monkeypatch.setenv("TRACKING_SECRETS", "newest, older ,oldest")
    rotating = Settings(_env_file=None)
    assert (rotating.tracking_secret, rotating.tracking_secrets) == ("newest", ["newest", "older", "oldest"])

    monkeypatch.setenv("TRACKING_SECRET", "something-else")
    with pytest.raises(ValueError, match="TRACKING_SECRETS or TRACKING_SECRET, not both"):
        Settings(_env_file=None)
    monkeypatch.setenv("WEBHOOK_SECRETS", "w2,w1")
    monkeypatch.delenv("TRACKING_SECRET")
    assert Settings(_env_file=None).webhook_secret == "w2"
