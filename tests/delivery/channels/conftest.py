"""Channel tests run against local stand-ins for every provider (tests/providers.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from sojourn.settings import Settings

from providers import (
    LINE_SECRET,
    WEBHOOK_SECRET,
    FakeFcm,
    FakeLine,
    FakeTwilio,
    FakeWebhookReceiver,
)


@dataclass
class Providers:
    sms: FakeTwilio
    push: FakeFcm
    line: FakeLine
    hook: FakeWebhookReceiver

    def problems(self) -> list[str]:
        return [f"{name}: {problem}" for name in ("sms", "push", "line", "hook")
                for problem in getattr(self, name).problems]


@pytest.fixture
async def providers() -> AsyncIterator[Providers]:
    started = Providers(await FakeTwilio().start(), await FakeFcm().start(), await FakeLine().start(),
                        await FakeWebhookReceiver(WEBHOOK_SECRET).start())
    try:
        yield started
    finally:
        for fake in (started.sms, started.push, started.line, started.hook):
            await fake.stop()


@pytest.fixture
def settings(settings: Settings, providers: Providers) -> Settings:
    return settings.model_copy(update=dict(
        provider_timeout=2.5,  # generous: a loaded CI machine must not turn a prompt answer into a timeout
        **providers.sms.settings(),
        fcm_base_url=providers.push.base_url, fcm_project_id=providers.push.project,
        fcm_access_token=providers.push.token,
        line_base_url=providers.line.base_url, line_channel_access_token=providers.line.token,
        line_channel_secret=LINE_SECRET,
        webhook_allowed_hosts=["127.0.0.1"], outgoing_webhook_secret=WEBHOOK_SECRET,
    ))
