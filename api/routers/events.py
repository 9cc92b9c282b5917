"""Event ingestion: one event, or a batch of up to 10,000, each validated on its own."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from pydantic import TypeAdapter, ValidationError

from api.deps import INGEST, EngineDep, SettingsDep, TriggersDep
from api.errors import ApiError
from api.routing import resource_router
from api.schemas.events import EventIn, EventsAccepted, RejectedItem
from sojourn.services import events
from sojourn.services.events import EVENT_BATCH_MAX

router = resource_router(prefix="/v1/events", tags=["events"])

_EVENT_SCHEMA = EventIn.model_json_schema()
_BODY_SCHEMA = {
    "oneOf": [
        _EVENT_SCHEMA,
        {"title": "EventBatchIn", "type": "object", "required": ["events"], "additionalProperties": False,
         "properties": {"events": {"type": "array", "items": _EVENT_SCHEMA, "maxItems": EVENT_BATCH_MAX}}},
        {"type": "array", "items": _EVENT_SCHEMA, "maxItems": EVENT_BATCH_MAX},
    ],
}


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


@router.post("", response_model=EventsAccepted, openapi_extra={
    "requestBody": {"required": True, "content": {"application/json": {"schema": _BODY_SCHEMA}}}},
    responses={422: {"description": "The body is not JSON, not an event or batch, or a single event is invalid."}},
    dependencies=[INGEST])
async def ingest_events(request: Request, engine: EngineDep, triggers: TriggersDep,
                        settings: SettingsDep) -> EventsAccepted:
    """Store one event, or a batch (`{"events": [...]}` or a JSON list) of up to 10,000.

    Each event of a batch is validated on its own: the good ones are stored and the
    answer lists each rejected one by index with its reason. An `event_id` stored
    before, or repeated in the batch, is counted as a duplicate and stored once.
    Contacts the events name that do not exist are created with their external id
    only (setting `AUTO_CREATE_CONTACTS`), or else the event is rejected. A single
    event that is invalid is answered with 422."""
    items, single = events.event_items(await request.body())
    result = await events.ingest(engine, triggers, settings.auto_create_contacts, _validated(items))
    if single and result.rejected:
        reason = result.rejected[0][1]
        raise ApiError(422, "validation_error", reason, [{"field": reason.split(":", 1)[0], "message": reason,
                                                         "type": "invalid_event"}])
    return EventsAccepted(accepted=result.accepted, duplicates=result.duplicates,
                          rejected=[RejectedItem(index=index, reason=reason) for index, reason in result.rejected])
