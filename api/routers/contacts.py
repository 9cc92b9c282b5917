from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import case, delete, func, select
from sqlalchemy.exc import IntegrityError
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.deps import SessionDep, TemporalDep
from api.errors import ApiError, not_found
from api.pagination import keyset_page
from api.schemas import ContactIn, ContactOut, ContactProfile, ImportResult, Page
from sojourn.data import consent
from sojourn.data.ingest.contact_import import import_contacts
from sojourn.data.ingest.contact_rows import ImportFormatError
from sojourn.data.models import (
    Contact,
    ContactConsent,
    ContactTag,
    EngagementEvent,
    Event,
    JourneyRun,
    Message,
    utcnow,
)
from sojourn.services import triggers

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/contacts", tags=["contacts"])

PROFILE_EVENTS = 50
PROFILE_MESSAGES = 50
PROFILE_RUNS = 100
_CANCEL_CONCURRENCY = 20

_IMPORT_TYPES = {"text/csv": "csv", "application/csv": "csv", "application/x-ndjson": "ndjson",
                 "application/ndjson": "ndjson", "application/jsonl": "ndjson", "application/x-jsonlines": "ndjson"}


async def _contacts_changed(state: Any, ids: list[int]) -> None:
    """Tell journeys after the commit; a failing hook is logged, the stored data stands."""
    try:
        await triggers.on_contacts_changed(state, ids)
    except Exception:
        log.exception("contact triggers failed for %d contact(s)", len(ids))


@router.post("/import", response_model=ImportResult, openapi_extra={"requestBody": {"required": True, "content": {
    "text/csv": {"schema": {"type": "string"}, "example": "external_id,email,first_name,plan\nc-1,ann@example.com,Ann,gold\n"},
    "application/x-ndjson": {"schema": {"type": "string"},
                             "example": '{"external_id": "c-1", "email": "ann@example.com", "plan": "gold", "visits": 3}\n'},
}}}, responses={415: {"description": "Not CSV or NDJSON."}, 422: {"description": "No usable CSV header."}})
async def import_contact_file(request: Request) -> dict:
    """Upsert contacts from a CSV (`text/csv`, first line names the columns) or NDJSON
    (`application/x-ndjson`, one object per line) body, streamed: 100,000s of rows are fine.

    Rows are matched by `external_id`; `email`, `phone`, `first_name`, `last_name` and
    `time_zone` are contact fields, every other column is merged into the attributes (CSV
    values are strings and empty cells are skipped; NDJSON keeps JSON types). An absent
    or empty value leaves the stored one as it is. Bad rows are listed by line number and
    reason; the others are loaded, committed in chunks of 10,000 (re-running is safe)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fmt = _IMPORT_TYPES.get(content_type)
    if fmt is None:
        raise ApiError(415, "unsupported_media_type",
                       f"send the file as text/csv or application/x-ndjson, not '{content_type or 'nothing'}'")
    state = request.app.state
    try:
        summary = await import_contacts(state.engine, request.stream(), fmt,
                                        on_chunk=lambda ids: _contacts_changed(state, ids))
    except ImportFormatError as err:
        raise ApiError(422, "invalid_import", str(err)) from None
    return summary.as_dict()


@router.put("/{external_id}", response_model=ContactOut, responses={201: {"model": ContactOut}})
async def upsert_contact(external_id: str, body: ContactIn, session: SessionDep, request: Request,
                         response: Response) -> Contact:
    """Create the contact, or update the fields given and merge the attributes."""
    contact = (await session.execute(
        select(Contact).where(Contact.external_id == external_id).with_for_update())).scalar_one_or_none()
    if contact is None:
        contact = Contact(external_id=external_id)
        response.status_code = 201
    for field in body.model_fields_set - {"attributes", "consent"}:
        setattr(contact, field, getattr(body, field))
    contact.attributes = {**contact.attributes, **body.attributes}
    contact.updated_at = utcnow()
    session.add(contact)
    if body.consent:
        await session.flush()  # a new contact needs its id
        for channel, status in body.consent.items():
            await consent.set_consent(session, contact.id, channel, status, source="api")
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise ApiError(409, "line_user_id_taken",
                       f"line_user_id {body.line_user_id!r} belongs to another contact") from None
    await _contacts_changed(request.app.state, [contact.id])
    return contact


async def _find(session, external_id: str) -> Contact:
    contact = (await session.execute(select(Contact).where(Contact.external_id == external_id))).scalar_one_or_none()
    if contact is None:
        raise not_found(f"contact '{external_id}'")
    return contact


@router.get("/{external_id}", response_model=ContactProfile)
async def get_contact(external_id: str, session: SessionDep) -> dict:
    """The contact's profile: fields and attributes, tags with weights, the latest events and
    messages (with open and click counts), and its journeys, active and past."""
    contact = await _find(session, external_id)
    tags = (await session.execute(select(ContactTag).where(ContactTag.contact_id == contact.id)
                                  .order_by(ContactTag.weight.desc(), ContactTag.tag))).scalars().all()
    events = (await session.execute(select(Event).where(Event.contact_id == contact.id)
                                    .order_by(Event.occurred_at.desc(), Event.id.desc())
                                    .limit(PROFILE_EVENTS))).scalars().all()
    latest = (select(Message).where(Message.contact_id == contact.id)
              .order_by(Message.created_at.desc()).limit(PROFILE_MESSAGES).subquery())
    engagement = (select(EngagementEvent.message_id,
                         func.count().filter(EngagementEvent.type == "opened").label("opens"),
                         func.count().filter(EngagementEvent.type == "clicked").label("clicks"))
                  .where(EngagementEvent.message_id.in_(select(latest.c.id)))
                  .group_by(EngagementEvent.message_id).subquery())
    messages = (await session.execute(
        select(latest, func.coalesce(engagement.c.opens, 0).label("opens"),
               func.coalesce(engagement.c.clicks, 0).label("clicks"))
        .outerjoin(engagement, engagement.c.message_id == latest.c.id)
        .order_by(latest.c.created_at.desc()))).mappings().all()
    consents = (await session.execute(select(ContactConsent).where(ContactConsent.contact_id == contact.id))).scalars()
    runs = (await session.execute(select(JourneyRun).where(JourneyRun.contact_id == contact.id)
                                  .order_by(case((JourneyRun.status == "active", 0), else_=1),
                                            JourneyRun.enrolled_at.desc())
                                  .limit(PROFILE_RUNS))).scalars().all()
    return {
        **contact.model_dump(exclude={"id"}),
        "consent": {c.channel: {"status": c.status, "source": c.source, "changed_at": c.changed_at} for c in consents},
        "tags": [{"tag": t.tag, "weight": t.weight, "source": t.source, "updated_at": t.updated_at} for t in tags],
        "events": [{"event_id": e.event_id, "name": e.name, "properties": e.properties, "occurred_at": e.occurred_at,
                    "received_at": e.received_at} for e in events],
        "messages": [{"id": m["id"], "journey": m["journey_id"], "journey_version": m["journey_version"],
                      "node": m["node_id"], "channel": m["channel"], "recipient": m["recipient"],
                      "subject": m["subject"], "status": m["status"], "reason": m["error"],
                      "provider_message_id": m["provider_message_id"],
                      "created_at": m["created_at"], "sent_at": m["sent_at"], "opens": m["opens"],
                      "clicks": m["clicks"]} for m in messages],
        "journeys": [{"journey": r.journey_id, "version": r.version, "key": r.key, "status": r.status,
                      "enrolled_at": r.enrolled_at, "ended_at": r.ended_at, "exit_reason": r.exit_reason,
                      "converted_at": r.converted_at, "workflow_id": r.workflow_id, "run_id": r.run_id,
                      "batch": r.batch}
                     for r in runs],
    }


@router.delete("/{external_id}", status_code=204, responses={404: {"description": "No such contact."},
                                                            502: {"description": "A run could not be cancelled."}})
async def erase_contact(external_id: str, session: SessionDep, client: TemporalDep) -> Response:
    """Right to be forgotten: cancel the contact's active runs, then delete the contact and,
    by cascade, its events, tags, messages, engagement and runs. If a run cannot be
    cancelled (Temporal unreachable) nothing is deleted and the call can be repeated."""
    contact_id = (await _find(session, external_id)).id
    runs = (await session.execute(select(JourneyRun.workflow_id, JourneyRun.run_id).where(
        JourneyRun.contact_id == contact_id, JourneyRun.status == "active"))).all()
    await session.rollback()  # hold no snapshot or lock while Temporal answers
    gate = asyncio.Semaphore(_CANCEL_CONCURRENCY)

    async def cancel(workflow_id: str, run_id: str) -> None:
        async with gate:
            await _cancel_run(client, workflow_id, run_id)

    await asyncio.gather(*(cancel(r.workflow_id, r.run_id) for r in runs))
    await session.execute(delete(Contact).where(Contact.id == contact_id))
    await session.commit()
    log.info("erased contact %s (%d active run(s) cancelled)", contact_id, len(runs))
    return Response(status_code=204)


async def _cancel_run(client: Client, workflow_id: str, run_id: str) -> None:
    try:
        await client.get_workflow_handle(workflow_id, run_id=run_id).cancel()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:  # closed already (or gone): nothing to stop
            return
        raise ApiError(502, "temporal_error", f"could not cancel run {workflow_id}: {err.message}") from err


@router.get("", response_model=Page[ContactOut])
async def list_contacts(session: SessionDep, limit: Annotated[int, Query(ge=1, le=500)] = 50,
                        cursor: str | None = None) -> dict:
    return await keyset_page(session, select(Contact), Contact.external_id, limit, cursor)
