"""The send path, shared by a run's send activity and batched sends: choose the channel, check
consent, quiet hours, caps and rate limits, render, record under an idempotency key, deliver once."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, String, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.exceptions import ApplicationError

from sojourn.contracts.journey import ContactEvent
from sojourn.contracts.send import SendRequest, SendResult
from sojourn.data.consent import address_of, refusal
from sojourn.data.models import Contact, ContactConsent, Message, utcnow
from sojourn.delivery.channels import (
    Channel,
    Outgoing,
    PermanentDeliveryFailure,
    TransientDeliveryFailure,
    UnconfirmedDelivery,
)
from sojourn.delivery.rate_limits import ChannelRateLimiter
from sojourn.delivery.send_limits import Hold, cap_hold, quiet_hold
from sojourn.dsl.nodes import SendNode
from sojourn.dsl.templating import TemplateRenderError, template_context
from sojourn.settings import Settings

log = logging.getLogger(__name__)

_MESSAGE_NAMESPACE = uuid.UUID("6f1f9c1e-3b8a-4d52-9a55-0c8f3f1a2b7d")

_MESSAGES = Message.__table__
_CONTACT_COLUMNS = Contact.__table__.c.keys()
_MESSAGE_COLUMNS = _MESSAGES.c.keys()
_consents = ContactConsent.__table__

# Built once: every message runs these. For each (contact, key) asked: the contact, its
# consents and any message already recorded under the key; a batch asks for a page at once.
_WANTED = select(func.unnest(bindparam("contact_ids", type_=ARRAY(BigInteger))).label("contact_id"),
                 func.unnest(bindparam("keys", type_=ARRAY(String))).label("key")).subquery("wanted")
_LOAD = (select(_WANTED.c.key.label("wanted_key"), Contact.__table__,
                select(func.jsonb_object_agg(_consents.c.channel, _consents.c.status))
                .where(_consents.c.contact_id == Contact.id).scalar_subquery().label("consents"),
                *[c.label(f"m_{c.name}") for c in _MESSAGES.c])
         .select_from(_WANTED.outerjoin(Contact, Contact.id == _WANTED.c.contact_id)
                      .outerjoin(_MESSAGES, _MESSAGES.c.idempotency_key == _WANTED.c.key)))
_OUTCOME = ("status", "error", "sent_at", "provider_message_id", "deferred_until", "due_at")
_insert = insert(Message)
_RECORD = _insert.on_conflict_do_update(index_elements=["idempotency_key"],
                                        set_={name: _insert.excluded[name] for name in _OUTCOME})

# `sending`: handed to a provider, answer pending (or lost with a crashed attempt);
# `retrying`: the provider said no for now, so another attempt cannot duplicate it.
_DONE = ("sent", "unconfirmed", "skipped")

Loaded = tuple[Contact | None, dict[str, str], Message | None]

# Test seam: runs after the provider accepted a message, to prove that a retried
# attempt finds the recorded message and does not send it again.
AfterAccepted = Callable[[SendRequest], Awaitable[None]]


def message_context(contact: Contact, journey_id: str, version: int, node_id: str,
                    event: ContactEvent | None) -> dict:
    """What a message's templates see: the contact, the journey and the triggering event."""
    context = template_context(contact.model_dump(include={
        "external_id", "email", "phone", "first_name", "last_name", "time_zone", "attributes"}))
    context["journey"] = {"id": journey_id, "version": version, "node": node_id}
    if event is not None:
        context["event"] = {"name": event.name, "properties": event.properties, "occurred_at": event.occurred_at}
    return context


def choose_channel(node: SendNode, contact: Contact, consents: dict[str, str],
                   opt_in_channels: list[str]) -> tuple[str | None, list[str]]:
    """The first channel listed that the contact may receive, and why each one before it may not."""
    refusals = []
    for name in node.channels:
        why = refusal(contact, name, consents, node.transactional, opt_in_channels)
        if why is None:
            return name, refusals
        refusals.append(f"{name}: {why}")
    return None, refusals


class Sender:
    def __init__(self, engine: AsyncEngine, settings: Settings, channels: dict[str, Channel],
                 after_accepted: AfterAccepted | None = None) -> None:
        # Each statement stands alone: autocommit spares the BEGIN and COMMIT round trips.
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._transactions = engine  # frequency caps lock the contact while they count
        self._settings = settings
        self._channels = channels
        self._rates = ChannelRateLimiter(engine, settings.channel_rates)
        self._after_accepted = after_accepted

    async def deliver(self, request: SendRequest, now: datetime, loaded: Loaded | None = None,
                      node: SendNode | None = None) -> SendResult:
        """One message, once: what the send activity does, and a batched send for each contact
        (which `load`s its page's at once and parses its node once). Raises `ApplicationError`s
        as the activity would (non-retryable when final)."""
        node = node or SendNode.model_validate(request.node)
        contact, consents, recorded = loaded or (await self.load([request]))[request.idempotency_key]
        if recorded is not None:
            done = self._already(recorded)
            if done is not None:
                return done
        if contact is None:
            raise ApplicationError(f"contact {request.contact_id} does not exist", type="ContactNotFound",
                                   non_retryable=True)
        message_id = uuid.uuid5(_MESSAGE_NAMESPACE, request.idempotency_key)
        row = dict(id=message_id, idempotency_key=request.idempotency_key, workflow_id=request.workflow_id,
                   journey_id=request.journey_id, journey_version=request.journey_version, node_id=request.node_id,
                   contact_id=contact.id, links=[], transactional=node.transactional, priority=request.priority,
                   due_at=now)

        chosen, refusals = choose_channel(node, contact, consents, self._settings.opt_in_channels)
        if chosen is None:
            reason = "; ".join(refusals)
            await self._record({**row, "channel": node.channels[0]}, status="skipped", error=reason)
            return SendResult(status="skipped", message_id=str(message_id), reason=reason)

        channel = self._channels[chosen]
        address = node.webhook.url if chosen == "webhook" else address_of(contact, chosen)
        row.update(channel=chosen, recipient=address[:320])
        try:
            rendered = channel.render(node, message_context(contact, request.journey_id, request.journey_version,
                                                            request.node_id, request.event), message_id, contact)
        except TemplateRenderError as err:
            await self._record(row, status="failed", error=f"template: {err}")
            raise ApplicationError(f"template failed for this contact: {err}", type="TemplateError",
                                   non_retryable=True) from err
        row.update(subject=rendered.subject, links=rendered.links,
                   message_id_header=channel.message_id_header(message_id) if chosen == "email" else None)
        if (recorded is not None and recorded.status == "sending" and not channel.repeat_safe):
            # An earlier attempt handed this message over and never heard back: sending it
            # again could make a second text or notification.
            return await self._unconfirmed(row, chosen, address, rendered.subject,
                                           "an earlier attempt's outcome is unknown; not sent again")

        marketing = chosen != "webhook" and not node.transactional
        if marketing:
            hold = quiet_hold(contact, now, request.time_zone, request.quiet_hours, self._settings)
            if hold is not None:
                return await self._hold(row, node.when_quiet, hold, chosen, address, rendered.subject)
        # Before the cap reserves the message as `sending`: a rate-limited attempt must leave no
        # reservation behind, or its retry would take it for a send whose outcome is unknown.
        await self._rates.take_slot(chosen)
        reserved = False
        if marketing and self._settings.frequency_caps:
            async with self._transactions.begin() as conn:
                hold = await cap_hold(conn, self._settings.frequency_caps, contact.id, chosen,
                                      request.idempotency_key, request.priority, now)
                if hold is None:  # counted by the next message from the moment the lock is released
                    await conn.execute(_RECORD, self._values(row, status="sending"))
            if hold is not None:
                return await self._hold(row, node.when_capped, hold, chosen, address, rendered.subject)
            reserved = True

        if not channel.repeat_safe and not reserved:
            await self._record(row, status="sending")
        outgoing = Outgoing(key=request.idempotency_key, message_id=message_id, address=address, rendered=rendered,
                            journey_id=request.journey_id, node_id=request.node_id)
        try:
            provider_id = await channel.deliver(outgoing)
        except PermanentDeliveryFailure as err:
            await self._record(row, status="failed", error=str(err))
            raise ApplicationError(str(err), type="PermanentDeliveryFailure", non_retryable=True) from err
        except TransientDeliveryFailure as err:
            if not channel.repeat_safe:
                await self._record(row, status="retrying", error=str(err))
            delay = timedelta(seconds=err.retry_after) if err.retry_after else None
            raise ApplicationError(str(err), type="TransientDeliveryFailure", next_retry_delay=delay) from err
        except UnconfirmedDelivery as err:
            if channel.repeat_safe:
                raise ApplicationError(str(err), type="UnconfirmedDelivery") from err
            return await self._unconfirmed(row, chosen, address, rendered.subject, str(err))
        await self._record(row, status="sent", sent_at=utcnow(), provider_message_id=provider_id)
        if self._after_accepted is not None:
            await self._after_accepted(request)
        return SendResult(status="sent", channel=chosen, message_id=str(message_id), recipient=address,
                          subject=rendered.subject)

    @staticmethod
    def _already(recorded: Message) -> SendResult | None:
        if recorded.status not in _DONE:
            return None
        log.info("message %s already %s; not sending again", recorded.idempotency_key, recorded.status)
        return SendResult(status=recorded.status, channel=recorded.channel,
                          message_id=str(recorded.id), recipient=recorded.recipient, subject=recorded.subject,
                          reason=recorded.error, earlier=True)

    async def _unconfirmed(self, row: dict, channel: str, address: str, subject: str | None, reason: str) -> SendResult:
        await self._record(row, status="unconfirmed", error=reason)
        return SendResult(status="unconfirmed", channel=channel, message_id=str(row["id"]), recipient=address,
                          subject=subject, reason=reason)

    async def load(self, requests: list[SendRequest]) -> dict[str, Loaded]:
        """By key: the contact (None if erased), its consents, and the message already recorded."""
        async with self._engine.connect() as conn:
            rows = (await conn.execute(_LOAD, {"contact_ids": [r.contact_id for r in requests],
                                               "keys": [r.idempotency_key for r in requests]})).mappings().all()
        return {row["wanted_key"]: (
            Contact.model_validate({k: row[k] for k in _CONTACT_COLUMNS}) if row["id"] is not None else None,
            row["consents"] or {},
            Message.model_validate({k: row[f"m_{k}"] for k in _MESSAGE_COLUMNS}) if row["m_id"] is not None else None,
        ) for row in rows}

    async def _hold(self, row: dict, action: str, hold: Hold, channel: str, address: str,
                    subject: str | None) -> SendResult:
        """Quiet hours or a cap: `defer` (the run sleeps until the hold ends and asks again) or `skip`."""
        if action == "skip":
            reason = f"{hold.reason}; skipped (room again at {hold.until.isoformat()})"
            await self._record(row, status="skipped", error=reason)
            return SendResult(status="skipped", channel=channel, message_id=str(row["id"]), recipient=address,
                              subject=subject, reason=reason)
        await self._record(row, status="deferred", error=hold.reason, deferred_until=hold.until)
        return SendResult(status="deferred", channel=channel, message_id=str(row["id"]), recipient=address,
                          subject=subject, reason=hold.reason, until=hold.until.isoformat())

    @staticmethod
    def _values(row: dict, status: str, error: str | None = None, sent_at=None,
                provider_message_id: str | None = None, deferred_until=None) -> dict:
        return {"recipient": None, "subject": None, "message_id_header": None, "transactional": False,
                "priority": 0, "due_at": None, **row, "status": status, "error": error, "sent_at": sent_at,
                "provider_message_id": provider_message_id, "deferred_until": deferred_until}

    async def _record(self, row: dict, status: str, **outcome) -> None:
        async with self._engine.connect() as conn:
            await conn.execute(_RECORD, self._values(row, status, **outcome))
