"""Event ingestion: one event, or a batch of up to 10,000, each validated on its own."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Request
from pydantic import TypeAdapter, ValidationError

from api.errors import ApiError
from api.schemas import EventIn, EventsAccepted, RejectedItem
from sojourn.data.db import raw_connection
from sojourn.data.ingest.events import EVENT_BATCH_MAX, EventRow, IngestedEvent, new_event_id, store_events
from sojourn.data.ingest.text import loads_strict, text_problem, to_json_text
from sojourn.services import triggers

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/events", tags=["events"])

_EVENT_SCHEMA = EventIn.model_json_schema()
_BODY_SCHEMA = {
    "oneOf": [
        _EVENT_SCHEMA,
        {"title": "EventBatchIn", "type": "object", "required": ["events"], "additionalProperties": False,
         "properties": {"events": {"type": "array", "items": _EVENT_SCHEMA, "maxItems": EVENT_BATCH_MAX}}},
        {"type": "array", "items": _EVENT_SCHEMA, "maxItems": EVENT_BATCH_MAX},
    ],
}


def _invalid(message: str) -> ApiError:
    return ApiError(422, "validation_error", message, [{"field": "body", "message": message, "type": "invalid_body"}])


def _items(body: bytes) -> tuple[list[Any], bool]:
    """The event items of the body, and whether it was a single event."""
    try:
        payload = loads_strict(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise _invalid(f"the body is not valid JSON: {err}") from None
    if isinstance(payload, list):
        items, single = payload, False
    elif isinstance(payload, dict) and "events" in payload:
        if set(payload) != {"events"} or not isinstance(payload["events"], list):
            raise _invalid("a batch is {\"events\": [event, ...]} and nothing else")
        items, single = payload["events"], False
    elif isinstance(payload, dict):
        items, single = [payload], True
    else:
        raise _invalid("the body must be an event object, {\"events\": [...]} or a list of events")
    if len(items) > EVENT_BATCH_MAX:
        raise _invalid(f"at most {EVENT_BATCH_MAX} events per request, got {len(items)}")
    return items, single


def _reason(err: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'event'}: {e['msg']}" for e in err.errors())


_BATCH = TypeAdapter(list[EventIn])


def _validated(items: list[Any]) -> list[EventIn | str]:
    """Each item as an EventIn, or the reason it is not one. The whole list is validated in
    one call; only a list with problems is gone through item by item."""
    try:
        return list(_BATCH.validate_python(items))
    except ValidationError:
        pass
    out: list[EventIn | str] = []
    for item in items:
        if not isinstance(item, dict):
            out.append("event: must be a JSON object")
            continue
        try:
            out.append(EventIn.model_validate(item))
        except ValidationError as err:
            out.append(_reason(err))
    return out


def _row(index: int, event: EventIn, now: datetime) -> EventRow:
    """A storable row, or ValueError with the event's reason."""
    for name in ("contact", "name", "event_id"):
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


@router.post("", response_model=EventsAccepted, openapi_extra={
    "requestBody": {"required": True, "content": {"application/json": {"schema": _BODY_SCHEMA}}}},
    responses={422: {"description": "The body is not JSON, not an event or batch, or a single event is invalid."}})
async def ingest_events(request: Request) -> EventsAccepted:
    """Store one event, or a batch (`{"events": [...]}` or a JSON list) of up to 10,000.

    Each event of a batch is validated on its own: the good ones are stored and the
    answer lists each rejected one by index with its reason. An `event_id` stored
    before, or repeated in the batch, is counted as a duplicate and stored once.
    Contacts the events name that do not exist are created with their external id
    only (setting `AUTO_CREATE_CONTACTS`), or else the event is rejected. A single
    event that is invalid is answered with 422."""
    state = request.app.state
    items, single = _items(await request.body())
    now = datetime.now(timezone.utc)
    rows: list[EventRow] = []
    rejected: list[RejectedItem] = []
    for index, event in enumerate(_validated(items)):
        try:
            if isinstance(event, str):
                raise ValueError(event)
            rows.append(_row(index, event, now))
        except ValueError as err:
            rejected.append(RejectedItem(index=index, reason=str(err)))
    stored = None
    if rows:
        async with raw_connection(state.engine) as conn:
            stored = await store_events(conn, rows, state.settings.auto_create_contacts)
        rejected += [RejectedItem(index=i, reason=reason) for i, reason in stored.rejected]
        rejected.sort(key=lambda r: r.index)
    if single and rejected:
        reason = rejected[0].reason
        raise ApiError(422, "validation_error", reason, [{"field": reason.split(":", 1)[0], "message": reason,
                                                         "type": "invalid_event"}])
    if stored is not None:
        await _notify(state, stored.created_contacts, stored.inserted)
    return EventsAccepted(accepted=len(stored.inserted) if stored else 0,
                          duplicates=stored.duplicates if stored else 0, rejected=rejected)


async def _notify(state: Any, created: list[int], inserted: list[IngestedEvent]) -> None:
    """Tell journeys, after the commit. A failing hook does not undo stored data: the client
    is told what was stored, and the failure is logged."""
    try:
        if created:
            await triggers.on_contacts_changed(state, created)
        if inserted:
            await triggers.on_events(state, inserted)
    except Exception:
        log.exception("event triggers failed for %d event(s), %d new contact(s)", len(inserted), len(created))
