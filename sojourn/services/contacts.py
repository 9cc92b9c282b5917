"""Contacts: upsert, import, the profile, the list, and erasure (the right to be forgotten)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable
from datetime import timedelta
from typing import Any

from sqlalchemy import case, delete, distinct, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from sojourn.data import audit, consent, contact_keys
from sojourn.data.ingest.contact_fields import e164_phone, email_problem
from sojourn.data.ingest.contact_import import import_contacts
from sojourn.data.ingest.contact_rows import ImportFormatError, ImportSummary
from sojourn.data.ingest.text import external_id_problem
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
from sojourn.data.predictions import ContactPrediction
from sojourn.errors import Conflict, Invalid, NotFound, UpstreamFailed
from sojourn.services import payload_codec
from sojourn.services.pagination import keyset_page
from sojourn.services.triggers import Triggers

log = logging.getLogger(__name__)

PROFILE_EVENTS = 50
PROFILE_MESSAGES = 50
PROFILE_RUNS = 100
_CANCEL_CONCURRENCY = 20
# How long an erased contact's cancelled run may take to finish (record its end) before it is terminated.
ERASE_GRACE = timedelta(seconds=10)


class ContactNotFound(NotFound):
    def __init__(self, external_id: str) -> None:
        super().__init__(f"contact '{external_id}' not found")


class LineUserIdTaken(Conflict):
    code = "line_user_id_taken"


class InvalidExternalId(Invalid):
    code = "invalid_external_id"


class InvalidContactField(Invalid):
    code = "invalid_contact_field"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}", details=[{"field": field, "message": problem, "type": self.code}])


class InvalidImport(Invalid):
    code = "invalid_import"


class RunNotCancelled(UpstreamFailed):
    code = "temporal_error"


async def find(session: AsyncSession, external_id: str) -> Contact:
    contact = (await session.execute(select(Contact).where(Contact.external_id == external_id))).scalar_one_or_none()
    if contact is None:
        raise ContactNotFound(external_id)
    return contact


async def find_id(session: AsyncSession, external_id: str) -> int:
    contact_id = (await session.execute(select(Contact.id).where(Contact.external_id == external_id))).scalar()
    if contact_id is None:
        raise ContactNotFound(external_id)
    return contact_id


async def page(session: AsyncSession, limit: int, cursor: str | None) -> dict[str, Any]:
    return await keyset_page(session, select(Contact), Contact.external_id, limit, cursor)


async def tell_journeys(triggers: Triggers, contact_ids: list[int]) -> None:
    """Tell journeys about contacts created or changed, after the commit; a failing hook is
    logged, the stored data stands."""
    try:
        await triggers.on_contacts_changed(contact_ids)
    except Exception:
        log.exception("contact triggers failed for %d contact(s)", len(contact_ids))


def checked_fields(fields: dict[str, Any], phone_region: str | None) -> dict[str, Any]:
    """`fields` with the phone number in E.164; InvalidContactField if the phone number or the
    email address is not one (see `sojourn.data.ingest.contact_fields` for the rule)."""
    if fields.get("email") is not None and (problem := email_problem(fields["email"])):
        raise InvalidContactField("email", problem)
    if fields.get("phone") is not None:
        try:
            return {**fields, "phone": e164_phone(fields["phone"], phone_region)}
        except ValueError as err:
            raise InvalidContactField("phone", str(err)) from None
    return fields


async def upsert(session: AsyncSession, triggers: Triggers, external_id: str, fields: dict[str, Any],
                 attributes: dict[str, Any], consents: dict[str, str],
                 phone_region: str | None = None, *,
                 actor: str = audit.SYSTEM) -> tuple[Contact, bool]:
    """Create the contact, or set `fields` and merge `attributes`; the contact and whether it is new.
    A phone number without a country code is read in `phone_region`."""
    if problem := external_id_problem(external_id):
        raise InvalidExternalId(f"external_id: {problem}", details=[
            {"field": "external_id", "message": problem, "type": "invalid_external_id"}])
    fields = checked_fields(fields, phone_region)
    try:
        # Insert-or-nothing first: concurrent first writes of one id create it once, and each
        # then waits for the row lock in turn.
        created = (await session.execute(
            insert(Contact).values(external_id=external_id).on_conflict_do_nothing(index_elements=["external_id"])
            .returning(Contact.id))).scalar() is not None
        contact = (await session.execute(
            select(Contact).where(Contact.external_id == external_id).with_for_update())).scalar_one()
        for field, value in fields.items():
            setattr(contact, field, value)
        contact.attributes = {**contact.attributes, **attributes}
        contact.updated_at = utcnow()
        session.add(contact)
        await session.flush()
        for channel, status in consents.items():
            await consent.set_consent(session, contact.id, channel, status, source="api", actor=actor)
        await session.commit()
    except IntegrityError as err:
        await session.rollback()
        if "line_user_id" not in str(err.orig):
            raise
        raise LineUserIdTaken(f"line_user_id {fields.get('line_user_id')!r} belongs to another contact", details=[
            {"field": "line_user_id", "message": "belongs to another contact", "type": "conflict"}]) from None
    await tell_journeys(triggers, [contact.id])
    return contact, created


async def import_file(engine: AsyncEngine, triggers: Triggers, stream: AsyncIterable[bytes], fmt: str,
                      phone_region: str | None = None) -> ImportSummary:
    """Upsert contacts from a streamed CSV or NDJSON body, telling journeys after each committed chunk."""
    try:
        return await import_contacts(engine, stream, fmt, on_chunk=lambda ids: tell_journeys(triggers, ids),
                                     phone_region=phone_region)
    except ImportFormatError as err:
        raise InvalidImport(str(err)) from None


_PERSON = EngagementEvent.automated.is_(False)
_OPENED, _CLICKED = EngagementEvent.type == "opened", EngagementEvent.type == "clicked"
# Per message: every open and click a person made (a pixel fetched three times is three opens),
# the distinct ones (opened at all: 0 or 1; links clicked), and the clicks set aside as a link
# scanner's. A provider's repeated webhook is stored once, so it is never counted twice.
_ENGAGEMENT_COUNTS = [
    func.count().filter(_OPENED, _PERSON).label("opens"),
    func.count(distinct(EngagementEvent.type)).filter(_OPENED, _PERSON).label("unique_opens"),
    func.count().filter(_CLICKED, _PERSON).label("clicks"),
    func.count(distinct(func.coalesce(EngagementEvent.url, ""))).filter(_CLICKED, _PERSON).label("unique_clicks"),
    func.count().filter(_CLICKED, EngagementEvent.automated).label("automated_clicks"),
]


async def profile(session: AsyncSession, external_id: str) -> dict[str, Any]:
    """Fields and attributes, consent, tags with weights, the latest events and messages (with
    open and click counts), and the contact's journeys, active and past."""
    contact = await find(session, external_id)
    tags = (await session.execute(select(ContactTag).where(ContactTag.contact_id == contact.id)
                                  .order_by(ContactTag.weight.desc(), ContactTag.tag))).scalars().all()
    events = (await session.execute(select(Event).where(Event.contact_id == contact.id)
                                    .order_by(Event.occurred_at.desc(), Event.id.desc())
                                    .limit(PROFILE_EVENTS))).scalars().all()
    latest = (select(Message).where(Message.contact_id == contact.id)
              .order_by(Message.created_at.desc()).limit(PROFILE_MESSAGES).subquery())
    engagement = (select(EngagementEvent.message_id, *_ENGAGEMENT_COUNTS)
                  .where(EngagementEvent.message_id.in_(select(latest.c.id)))
                  .group_by(EngagementEvent.message_id).subquery())
    messages = (await session.execute(
        select(latest, *(func.coalesce(engagement.c[count.name], 0).label(count.name) for count in _ENGAGEMENT_COUNTS))
        .outerjoin(engagement, engagement.c.message_id == latest.c.id)
        .order_by(latest.c.created_at.desc()))).mappings().all()
    consents = (await session.execute(select(ContactConsent).where(ContactConsent.contact_id == contact.id))).scalars()
    runs = (await session.execute(select(JourneyRun).where(JourneyRun.contact_id == contact.id)
                                  .order_by(case((JourneyRun.status == "active", 0), else_=1),
                                            JourneyRun.enrolled_at.desc())
                                  .limit(PROFILE_RUNS))).scalars().all()
    predictions = (await session.execute(select(ContactPrediction).where(ContactPrediction.contact_id == contact.id)
                                         .order_by(ContactPrediction.name))).scalars()
    return {
        **contact.model_dump(exclude={"id"}),
        "predictions": {p.name: {"value": p.value, "model": p.model, "model_version": p.model_version,
                                 "computed_at": p.computed_at} for p in predictions},
        "consent": {c.channel: {"status": c.status, "source": c.source, "changed_at": c.changed_at} for c in consents},
        "tags": [{"tag": t.tag, "weight": t.weight, "source": t.source, "updated_at": t.updated_at} for t in tags],
        "events": [{"event_id": e.event_id, "name": e.name, "properties": e.properties, "occurred_at": e.occurred_at,
                    "received_at": e.received_at} for e in events],
        "messages": [{"id": m["id"], "journey": m["journey_id"], "journey_version": m["journey_version"],
                      "node": m["node_id"], "channel": m["channel"], "recipient": m["recipient"],
                      "subject": m["subject"], "status": m["status"], "reason": m["error"],
                      "provider_message_id": m["provider_message_id"],
                      "created_at": m["created_at"], "sent_at": m["sent_at"],
                      **{count.name: m[count.name] for count in _ENGAGEMENT_COUNTS}} for m in messages],
        "journeys": [{"journey": r.journey_id, "version": r.version, "key": r.key, "status": r.status,
                      "enrolled_at": r.enrolled_at, "ended_at": r.ended_at, "exit_reason": r.exit_reason,
                      "converted_at": r.converted_at, "workflow_id": r.workflow_id, "run_id": r.run_id,
                      "batch": r.batch}
                     for r in runs],
    }


async def erase(session: AsyncSession, client: Client, external_id: str, *, actor: str) -> None:
    """Stop the contact's active runs, then delete the contact and, by cascade, its events,
    tags, messages, engagement and runs, and its payload key: what its runs left in Temporal's
    histories can then be read by no one. A run is cancelled and given `ERASE_GRACE` to finish;
    one still open then is terminated, for no workflow code may run once its key is gone. If a
    run cannot be stopped (Temporal unreachable) nothing is deleted and the call can be repeated."""
    contact_id = await find_id(session, external_id)
    runs = (await session.execute(select(JourneyRun.workflow_id, JourneyRun.run_id).where(
        JourneyRun.contact_id == contact_id, JourneyRun.status == "active"))).all()
    await session.rollback()  # hold no snapshot or lock while Temporal answers
    gate = asyncio.Semaphore(_CANCEL_CONCURRENCY)

    async def stop(workflow_id: str, run_id: str) -> None:
        async with gate:
            await _stop_run(client.get_workflow_handle(workflow_id, first_execution_run_id=run_id))

    await asyncio.gather(*(stop(r.workflow_id, r.run_id) for r in runs))
    await session.execute(delete(Contact).where(Contact.id == contact_id))
    audit.record(session, actor, "erased", "contact", external_id, runs_cancelled=len(runs))
    await contact_keys.destroy(session, external_id)
    await session.commit()
    if (keys := payload_codec.contact_keys(client)) is not None:
        keys.forget(external_id)
    log.info("erased contact %s (%d active run(s) stopped)", contact_id, len(runs), extra={"contact_id": contact_id})


async def _stop_run(handle: WorkflowHandle) -> None:
    try:
        await handle.cancel()
        try:
            await asyncio.wait_for(handle.result(), ERASE_GRACE.total_seconds())
        except (WorkflowFailureError, asyncio.TimeoutError):
            pass
        await handle.terminate("contact erased")
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:  # closed already (or gone): nothing to stop
            return
        raise RunNotCancelled(f"could not stop run {handle.id}: {err.message}") from err


async def search(session: AsyncSession, text: str, limit: int) -> list[Contact]:
    """Contacts whose id starts with `text`, or whose email does (in any case), by id."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return list((await session.execute(
        select(Contact).where(or_(Contact.external_id.like(escaped), Contact.email.ilike(escaped)))
        .order_by(Contact.external_id).limit(limit))).scalars())
