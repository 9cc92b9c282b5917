"""The send path, shared by a run's send activity and batched sends. One message, once, in steps:
choose the channel (consent, suppression, address), render, hold for quiet hours, take a rate
slot, reserve under the frequency caps, hand to the provider; each outcome is recorded under
the message's idempotency key, so that a retried attempt knows what an earlier one did."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import BigInteger, String, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from sojourn.contracts.errors import ErrorType
from sojourn.contracts.journey import ContactEvent
from sojourn.contracts.send import SendRequest, SendResult
from sojourn.contracts.statuses import MESSAGE_DONE, MessageStatus
from sojourn.data.consent import address_of, forget_address, refusal
from sojourn.data.models import Contact, ContactConsent, Message, utcnow
from sojourn.data.template_data import ContactExtras, contact_extras_columns, extras_of
from sojourn.delivery import metrics
from sojourn.delivery.budgets import budget_refusal
from sojourn.delivery.channels import (
    AddressRejected,
    ChannelSender,
    Outgoing,
    PermanentDeliveryFailure,
    Rendered,
    TransientDeliveryFailure,
    UnconfirmedDelivery,
)
from sojourn.delivery.holdouts import holdout_reason
from sojourn.delivery.rate_limits import ChannelRateLimiter
from sojourn.delivery.send_limits import Hold, cap_hold, quiet_hold
from sojourn.dsl import template_limits
from sojourn.dsl.channels import SPECS
from sojourn.dsl.nodes import SendNode
from sojourn.dsl.templating import (
    RECOMMENDED,
    TagWeights,
    TemplateRenderError,
    reads_contact_extras,
    template_context,
)
from sojourn.settings import Settings

log = logging.getLogger(__name__)

_MESSAGE_NAMESPACE = uuid.UUID("6f1f9c1e-3b8a-4d52-9a55-0c8f3f1a2b7d")

_MESSAGES = Message.__table__
_CONTACT_COLUMNS = Contact.__table__.c.keys()
_MESSAGE_COLUMNS = _MESSAGES.c.keys()
_consents = ContactConsent.__table__

# Built once: every message runs one of these. For each (contact, key) asked: the contact, its
# consents, what its templates read besides when they do (predictions, tags, recommended
# products) and any message already recorded under the key; a batch asks for a page at once.
_WANTED = select(func.unnest(bindparam("contact_ids", type_=ARRAY(BigInteger))).label("contact_id"),
                 func.unnest(bindparam("keys", type_=ARRAY(String))).label("key")).subquery("wanted")
_LOADS = {extras: (select(_WANTED.c.key.label("wanted_key"), Contact.__table__,
                          select(func.jsonb_object_agg(_consents.c.channel, _consents.c.status))
                          .where(_consents.c.contact_id == Contact.id).scalar_subquery().label("consents"),
                          *(contact_extras_columns(Contact.id) if extras else ()),
                          *[c.label(f"m_{c.name}") for c in _MESSAGES.c])
                   .select_from(_WANTED.outerjoin(Contact, Contact.id == _WANTED.c.contact_id)
                                .outerjoin(_MESSAGES, _MESSAGES.c.idempotency_key == _WANTED.c.key)))
          for extras in (False, True)}
_OUTCOME = ("status", "error", "sent_at", "provider_message_id", "deferred_until", "due_at", "units", "cost")
_insert = insert(Message)
_RECORD = _insert.on_conflict_do_update(index_elements=["idempotency_key"],
                                        set_={name: _insert.excluded[name] for name in _OUTCOME})

Loaded = tuple[Contact | None, dict[str, str], Message | None, ContactExtras]

# Test seam: runs after the provider accepted a message, to prove that a retried
# attempt finds the recorded message and does not send it again.
AfterAccepted = Callable[[SendRequest], Awaitable[None]]


def message_context(contact: Contact, journey_id: str, version: int, node_id: str,
                    event: ContactEvent | None, extras: ContactExtras) -> dict:
    """What a message's templates see: the contact, its predictions, tags and recommended
    products (`recommend(n)`), the journey and the triggering event."""
    context = template_context(contact.model_dump(include={
        "external_id", "email", "phone", "first_name", "last_name", "time_zone", "attributes"}))
    context.update(predictions=extras.predictions, tags=TagWeights(extras.tags))
    context[RECOMMENDED] = extras.recommendations
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


async def render_in_thread(sender: ChannelSender, node: SendNode, context: dict, message_id: uuid.UUID,
                            contact: Contact) -> Rendered:
    """The sender's rendering, in a thread so that a costly template holds up no other send, with
    all the message's templates sharing one budget (`template_limits`)."""

    def render() -> Rendered:
        with template_limits.budget():
            return sender.render(node, context, message_id, contact)

    try:
        return await asyncio.wait_for(asyncio.to_thread(render), template_limits.WAIT_SECONDS)
    except TimeoutError:
        raise TemplateRenderError(f"template takes longer than {template_limits.WAIT_SECONDS:g} s to render") from None


@dataclass(kw_only=True)
class _Message:
    """One message on its way: whom and what it is for, and its row as recorded so far."""

    request: SendRequest
    node: SendNode
    contact: Contact
    now: datetime
    row: dict
    channel: str | None = None
    address: str | None = None
    extras: ContactExtras
    rendered: Rendered | None = None

    @classmethod
    def start(cls, request: SendRequest, node: SendNode, contact: Contact, now: datetime,
              extras: ContactExtras) -> _Message:
        row = dict(id=uuid.uuid5(_MESSAGE_NAMESPACE, request.idempotency_key), idempotency_key=request.idempotency_key,
                   workflow_id=request.workflow_id, journey_id=request.journey_id,
                   journey_version=request.journey_version, node_id=request.node_id, contact_id=contact.id, links=[],
                   transactional=node.transactional, priority=request.priority, due_at=now)
        return cls(request=request, node=node, contact=contact, now=now, row=row, extras=extras)

    @property
    def id(self) -> uuid.UUID:
        return self.row["id"]

    def address_to(self, channel: str) -> None:
        # A person's address is a contact field; a system's is the url in the node's content.
        self.address = address_of(self.contact, channel) if SPECS[channel].person else getattr(self.node, channel).url
        self.channel = channel
        self.row.update(channel=channel, recipient=self.address[:320])

    def outgoing(self) -> Outgoing:
        return Outgoing(key=self.request.idempotency_key, message_id=self.id, address=self.address,
                        rendered=self.rendered, journey_id=self.request.journey_id, node_id=self.request.node_id)

    def result(self, status: MessageStatus, reason: str | None = None, until: str | None = None) -> SendResult:
        return SendResult(status=status, channel=self.channel, message_id=str(self.id), recipient=self.address,
                          subject=self.rendered.subject if self.rendered else None, reason=reason, until=until)


class Sender:
    def __init__(self, engine: AsyncEngine, settings: Settings, channels: dict[str, ChannelSender],
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
        contact, consents, recorded, extras = loaded or (await self.load([request]))[request.idempotency_key]
        if recorded is not None and recorded.status in MESSAGE_DONE:
            return self._earlier(recorded)
        if contact is None:
            raise ApplicationError(f"contact {request.contact_id} does not exist", type=ErrorType.CONTACT_NOT_FOUND,
                                   non_retryable=True)
        message = _Message.start(request, node, contact, now, extras)
        held_out = holdout_reason(request, node, self._settings.global_control_percent)
        if held_out is not None:
            return await self._refused(message, [held_out])

        chosen, refusals = choose_channel(node, contact, consents, self._settings.opt_in_channels)
        if chosen is None:
            return await self._refused(message, refusals)
        message.address_to(chosen)
        sender = self._channels[chosen]
        await self._render(message, sender)
        if recorded is not None and recorded.status == MessageStatus.SENDING and not sender.repeat_safe:
            # An earlier attempt handed this message over and never heard back: sending it
            # again could make a second text or notification.
            return await self._unconfirmed(message, "an earlier attempt's outcome is unknown; not sent again")

        marketing = SPECS[chosen].person and not node.transactional
        if marketing:
            held = await self._quiet_hours(message)
            if held is not None:
                return held
        # Before the cap reserves the message as `sending`: a rate-limited attempt must leave no
        # reservation behind, or its retry would take it for a send whose outcome is unknown.
        await self._rates.take_slot(chosen)
        budgeted = marketing and request.budget is not None
        if budgeted or (marketing and self._settings.frequency_caps):
            held = await self._reserve(message, budgeted)
            if held is not None:
                return held
        elif not sender.repeat_safe and not sender.reports_hand_over:
            # Marked before it goes: if the answer is lost, a retry finds it and does not repeat it.
            await self._record(message.row, MessageStatus.SENDING)
        return await self._hand_over(message, sender)

    async def load(self, requests: list[SendRequest]) -> dict[str, Loaded]:
        """By key: the contact (None if erased), its consents, the message already recorded and what
        its templates read besides (empty when no template of its node reads it)."""
        nodes = {(r.journey_id, r.journey_version, r.node_id): r.node for r in requests}.values()
        extras = any(reads_contact_extras(node) for node in nodes)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(_LOADS[extras], {"contact_ids": [r.contact_id for r in requests],
                                               "keys": [r.idempotency_key for r in requests]})).mappings().all()
        return {row["wanted_key"]: (
            Contact.model_validate({k: row[k] for k in _CONTACT_COLUMNS}) if row["id"] is not None else None,
            row["consents"] or {},
            Message.model_validate({k: row[f"m_{k}"] for k in _MESSAGE_COLUMNS}) if row["m_id"] is not None else None,
            extras_of(row) if extras else ContactExtras(),
        ) for row in rows}

    # --- the steps of `deliver`, in its order ------------------------------------------------

    @staticmethod
    def _earlier(recorded: Message) -> SendResult:
        log.info("message %s already %s; not sending again", recorded.idempotency_key, recorded.status,
                 extra={"journey_id": recorded.journey_id, "contact_id": recorded.contact_id,
                        "message_id": str(recorded.id)})
        return SendResult(status=recorded.status, channel=recorded.channel,
                          message_id=str(recorded.id), recipient=recorded.recipient, subject=recorded.subject,
                          reason=recorded.error, earlier=True)

    async def _refused(self, message: _Message, refusals: list[str]) -> SendResult:
        """No channel listed may reach the contact (or it is held out): recorded under the first one, skipped."""
        reason = "; ".join(refusals)
        await self._record({**message.row, "channel": message.node.channels[0]}, MessageStatus.SKIPPED, error=reason)
        return message.result(MessageStatus.SKIPPED, reason=reason)

    async def _render(self, message: _Message, sender: ChannelSender) -> None:
        request = message.request
        context = message_context(message.contact, request.journey_id, request.journey_version, request.node_id,
                                  request.event, message.extras)
        try:
            message.rendered = await render_in_thread(sender, message.node, context, message.id, message.contact)
        except TemplateRenderError as err:
            await self._record(message.row, MessageStatus.FAILED, error=f"template: {err}")
            raise ApplicationError(f"template failed for this contact: {err}", type=ErrorType.TEMPLATE,
                                   non_retryable=True) from err
        units = message.rendered.units
        message.row.update(subject=message.rendered.subject, links=message.rendered.links,
                           message_id_header=sender.message_id_header(message.id), units=units,
                           cost=Decimal(str(self._settings.channel_prices.get(message.channel, 0))) * units)

    async def _quiet_hours(self, message: _Message) -> SendResult | None:
        request = message.request
        hold = quiet_hold(message.contact, message.now, request.time_zone, request.quiet_hours, self._settings)
        return None if hold is None else await self._hold(message, message.node.when_quiet, hold, "quiet_hours")

    async def _reserve(self, message: _Message, budgeted: bool) -> SendResult | None:
        """Under the journey's budget lock (if it has one), then the contact's (for the caps): record
        the message as `sending` if both leave room, skip it past the budget, else hold it for the caps."""
        request = message.request
        async with self._transactions.begin() as conn:
            if budgeted:
                over = await budget_refusal(conn, request.budget, request.journey_id, request.idempotency_key,
                                            message.row["cost"], self._settings.usage_currency, utcnow())
                if over is not None:
                    await conn.execute(_RECORD, self._values(message.row, MessageStatus.SKIPPED, error=over))
                    return message.result(MessageStatus.SKIPPED, reason=over)
            hold = None
            if self._settings.frequency_caps:
                hold = await cap_hold(conn, self._settings.frequency_caps, message.contact.id, message.channel,
                                      request.idempotency_key, request.priority, message.now)
            if hold is None:  # counted by the next message from the moment the locks are released
                await conn.execute(_RECORD, self._values(message.row, MessageStatus.SENDING))
        return None if hold is None else await self._hold(message, message.node.when_capped, hold, "frequency_cap")

    async def _hand_over(self, message: _Message, sender: ChannelSender) -> SendResult:
        """Deliver, and record what the provider's answer means for a later attempt."""
        outgoing = message.outgoing()
        if sender.reports_hand_over:
            # The mark that tells a retry this message may have gone (see `deliver`'s check).
            outgoing.handing_over = lambda: self._record(message.row, MessageStatus.SENDING)
        started = time.perf_counter()
        try:
            provider_id = await sender.deliver(outgoing)
        except PermanentDeliveryFailure as err:
            if isinstance(err, AddressRejected):
                async with self._engine.connect() as conn:
                    await forget_address(conn, message.contact.id, message.channel, err.address)
            await self._record(message.row, MessageStatus.FAILED, error=str(err))
            raise ApplicationError(str(err), type=ErrorType.PERMANENT_DELIVERY, non_retryable=True) from err
        except TransientDeliveryFailure as err:
            if not sender.repeat_safe:  # clears the `sending` mark: nothing was handed over
                await self._record(message.row, MessageStatus.RETRYING, error=str(err))
            delay = timedelta(seconds=err.retry_after) if err.retry_after else None
            raise self._retry(message, str(err), ErrorType.TRANSIENT_DELIVERY, delay) from None
        except UnconfirmedDelivery as err:
            if sender.repeat_safe:
                raise self._retry(message, str(err), ErrorType.UNCONFIRMED_DELIVERY) from None
            return await self._unconfirmed(message, str(err))
        finally:
            metrics.SEND_SECONDS.labels(message.channel).observe(time.perf_counter() - started)
        await self._record(message.row, MessageStatus.SENT, sent_at=utcnow(), provider_message_id=provider_id)
        if self._after_accepted is not None:
            await self._after_accepted(message.request)
        return message.result(MessageStatus.SENT)

    # --- outcomes ----------------------------------------------------------------------------

    @staticmethod
    def _retry(message: _Message, reason: str, kind: ErrorType, delay: timedelta | None = None) -> ApplicationError:
        """A provider's failure that the next attempt may overcome: one log line here, and an error
        Temporal retries without logging it again (benign: a provider outage is expected, and the
        SDK's own line would repeat it with a traceback per attempt). Raised `from None`: the reason
        names the provider's error, and the tracebacks of its causes would make the failure larger
        than Temporal keeps for a pending activity, which the run state shows."""
        log.warning("message %s to %s not delivered, will retry: %s", message.id, message.channel, reason,
                    extra={"journey_id": message.request.journey_id, "contact_id": message.request.contact_id,
                           "message_id": str(message.id)})
        metrics.MESSAGES.labels(message.channel, MessageStatus.RETRYING).inc()
        return ApplicationError(reason, type=kind, next_retry_delay=delay, category=ApplicationErrorCategory.BENIGN)

    async def _unconfirmed(self, message: _Message, reason: str) -> SendResult:
        await self._record(message.row, MessageStatus.UNCONFIRMED, error=reason)
        return message.result(MessageStatus.UNCONFIRMED, reason=reason)

    async def _hold(self, message: _Message, action: str, hold: Hold, cause: str) -> SendResult:
        """Quiet hours or a cap: `defer` (the run sleeps until the hold ends and asks again) or `skip`."""
        if action == "skip":
            reason = f"{hold.reason}; skipped (room again at {hold.until.isoformat()})"
            await self._record(message.row, MessageStatus.SKIPPED, error=reason)
            return message.result(MessageStatus.SKIPPED, reason=reason)
        await self._record(message.row, MessageStatus.DEFERRED, error=hold.reason, deferred_until=hold.until)
        metrics.DEFERRALS.labels(message.channel, cause).inc()
        return message.result(MessageStatus.DEFERRED, reason=hold.reason, until=hold.until.isoformat())

    @staticmethod
    def _values(row: dict, status: MessageStatus, error: str | None = None, sent_at=None,
                provider_message_id: str | None = None, deferred_until=None) -> dict:
        return {"recipient": None, "subject": None, "message_id_header": None, "transactional": False,
                "priority": 0, "due_at": None, "units": None, "cost": None, **row, "status": status, "error": error,
                "sent_at": sent_at, "provider_message_id": provider_message_id, "deferred_until": deferred_until}

    async def _record(self, row: dict, status: MessageStatus, **outcome) -> None:
        async with self._engine.connect() as conn:
            await conn.execute(_RECORD, self._values(row, status, **outcome))
        # `sending` is a mark before the hand-over, whose outcome is counted; `retrying` is counted
        # in `_retry`, for every channel (repeat-safe ones record nothing for a retried attempt).
        if status not in (MessageStatus.SENDING, MessageStatus.RETRYING):
            metrics.MESSAGES.labels(row["channel"], status).inc()
