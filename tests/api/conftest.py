"""Fixtures of the API tests."""

from __future__ import annotations

import pytest

from sojourn.services.triggers import Triggers


@pytest.fixture
def quiet_triggers(monkeypatch):
    """Nothing the API hands on to journeys (events, changed contacts) starts or steers a run:
    for tests that check each answer, not what journeys do with it."""

    async def nothing(self, *_):
        return None

    monkeypatch.setattr(Triggers, "on_events", nothing)
    monkeypatch.setattr(Triggers, "on_contacts_changed", nothing)
