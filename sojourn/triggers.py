"""What ingested data does to journeys: events start, steer and end runs; contacts that
come to match a segment enter its journeys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass
class IngestedEvent:
    """An event as stored, handed on to journeys only once (never for a repeated event_id)."""

    event_id: str
    contact_id: int
    contact_external_id: str
    name: str
    properties: dict[str, Any]
    occurred_at: datetime


async def on_events(state: Any, events: list[IngestedEvent]) -> None:
    """Called after newly stored events are committed. `state` is the API's app.state
    (settings, sessions, temporal)."""


async def on_contacts_changed(state: Any, contact_ids: list[int]) -> None:
    """Called after contacts were created or their attributes changed (upsert, import)."""
