"""Event ingestion: a body of one event or a batch of up to 10,000, each event checked on its
own, stored in one statement, and handed to the journeys after the commit."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from sojourn.data.db import raw_connection
from sojourn.data.ingest.events import EVENT_BATCH_MAX, EventRow, IngestedEvent, new_event_id, store_events
from sojourn.data.ingest.text import external_id_problem, loads_strict, text_problem, to_json_text
from sojourn.errors import Invalid
from sojourn.services import metrics
from sojourn.services.triggers import Triggers

log = logging.getLogger(__name__)

__all__ = ["EVENT_BATCH_MAX", "Ingested", "NewEvent", "event_items", "ingest"]


class NewEvent(Protocol):
    contact: str
    name: str
    properties: dict[str, Any]
    occurred_at: datetime | None
    event_id: str | None


@dataclass(kw_only=True)
class Ingested:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (index, reason), by index


def _invalid_body(message: str) -> Invalid:
    return Invalid(message, code="validation_error",
                   details=[{"field": "body", "message": message, "type": "invalid_body"}])


def event_items(body: bytes) -> tuple[list[Any], bool]:
    """The event items of a JSON body (an event, `{"events": [...]}` or a list), and whether it
    was a single event."""
    try:
        payload = loads_strict(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise _invalid_body(f"the body is not valid JSON: {err}") from None
    if isinstance(payload, list):
        items, single = payload, False
    elif isinstance(payload, dict) and "events" in payload:
        if set(payload) != {"events"} or not isinstance(payload["events"], list):
            raise _invalid_body("a batch is {\"events\": [event, ...]} and nothing else")
        items, single = payload["events"], False
    elif isinstance(payload, dict):
        items, single = [payload], True
    else:
        raise _invalid_body("the body must be an event object, {\"events\": [...]} or a list of events")
    if len(items) > EVENT_BATCH_MAX:
        raise _invalid_body(f"at most {EVENT_BATCH_MAX} events per request, got {len(items)}")
    return items, single


def _row(index: int, event: NewEvent, now: datetime) -> EventRow:
    """A storable row, or ValueError with the event's reason."""
    if problem := external_id_problem(event.contact):
        raise ValueError(f"contact: {problem}")
    for name in ("name", "event_id"):
        value = getattr(event, name)
        if value is not None and (problem := text_problem(value)):
            raise ValueError(f"{name}: {problem}")
    try:
        properties_json = to_json_text(event.properties)
    except ValueError as err:
        raise ValueError(f"properties: {err}") from None
    return EventRow(index=index, event_id=event.event_id or new_event_id(), contact=event.contact, name=event.name,
                    properties=event.properties, properties_json=properties_json,
                    occurred_at=event.occurred_at or now)


async def ingest(engine: AsyncEngine, triggers: Triggers, auto_create_contacts: bool,
                 events: list[NewEvent | str]) -> Ingested:
    """Store the events (an item that is a string is the reason it was rejected already); an
    `event_id` stored before, or repeated, is a duplicate. Contacts the events name that do not
    exist are created when `auto_create_contacts`, else their events are rejected."""
    now = datetime.now(timezone.utc)
    rows: list[EventRow] = []
    result = Ingested()
    for index, event in enumerate(events):
        try:
            if isinstance(event, str):
                raise ValueError(event)
            rows.append(_row(index, event, now))
        except ValueError as err:
            result.rejected.append((index, str(err)))
    if not rows:
        metrics.count_ingested(0, 0, len(result.rejected))
        return result
    async with raw_connection(engine) as conn:
        stored = await store_events(conn, rows, auto_create_contacts)
    result.accepted, result.duplicates = len(stored.inserted), stored.duplicates
    result.rejected = sorted(result.rejected + list(stored.rejected), key=lambda rejected: rejected[0])
    metrics.count_ingested(result.accepted, result.duplicates, len(result.rejected))
    await _tell_journeys(triggers, stored.created_contacts, stored.inserted)
    return result


async def _tell_journeys(triggers: Triggers, created: list[int], inserted: list[IngestedEvent]) -> None:
    """After the commit. A failing hook does not undo stored data: the client is told what was
    stored, and the failure is logged."""
    try:
        if created:
            await triggers.on_contacts_changed(created)
        if inserted:
            await triggers.on_events(inserted)
    except Exception:
        log.exception("event triggers failed for %d event(s), %d new contact(s)", len(inserted), len(created))
