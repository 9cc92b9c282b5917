"""What a simulated run's send, branch conditions, local times and tag changes would do, decided
by the functions the real ones use (`sojourn.delivery.send`, `send_limits`, `budgets`, segment
SQL) and written nowhere.

Each decision runs in a transaction that is always rolled back: it first lays in what the
simulation did so far (a contact given as a profile, its tag changes, the messages it sent), so
that the caps and the conditions see them exactly as they would see a real run's rows, and
nothing of it outlives the decision. The caps' and budgets' row locks last as long.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from pydantic import ValidationError
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from sojourn.contracts.experiments import ArmRequest
from sojourn.contracts.journey_data import BestTime
from sojourn.contracts.send import SendRequest
from sojourn.contracts.simulation import SimulatedContact, SimulatedSendResult
from sojourn.contracts.statuses import MessageStatus
from sojourn.data import segments
from sojourn.data.consent import address_of
from sojourn.data.models import Contact, ContactConsent, ContactTag, Message
from sojourn.data.template_data import contact_extras
from sojourn.delivery.budgets import budget_refusal
from sojourn.delivery.channels.registry import build_channels
from sojourn.delivery.holdouts import holdout_reason
from sojourn.delivery.send import choose_channel, message_context, render_in_thread
from sojourn.delivery.send_limits import Hold, cap_hold, quiet_hold
from sojourn.dsl.channels import SPECS
from sojourn.dsl.filters import parse_filter
from sojourn.dsl.nodes import SendNode
from sojourn.dsl.send_windows import first_zone, next_local_time, parse_local_time
from sojourn.services.best_send_time import BestSendTimes
from sojourn.services.contacts import ContactNotFound
from sojourn.services.experiments import Assignments
from sojourn.services.journey_data import UnreadableCondition
from sojourn.settings import Settings

# Contact fields a profile may give (the API checks them as it checks a stored contact's).
PROFILE_FIELDS = ("email", "phone", "first_name", "last_name", "time_zone", "push_token", "line_user_id",
                  "attributes")

_MESSAGE_NAMESPACE = uuid.UUID("0b7e4c0e-7f7a-4b47-8f57-5f1d6c2a9e11")


@dataclass
class _Sandbox:
    conn: AsyncConnection
    contact: Contact
    consents: dict[str, str]


class SimulatedDecisions:
    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self._engine = engine
        self._settings = settings
        self._channels = build_channels(settings, smtp=None, http=None)  # they render, never deliver
        self._assignments = Assignments(engine, settings.global_control_percent)
        self._best_times = BestSendTimes(engine, settings)

    async def send(self, request: SendRequest, contact: SimulatedContact, now: datetime) -> SimulatedSendResult:
        """The send path's steps in its order (holdout, channel, render, quiet hours, budget, caps), up to
        the hand-over, which a simulation does not make. A template that fails raises as it would."""
        node = SendNode.model_validate(request.node)
        message_id = uuid.uuid5(_MESSAGE_NAMESPACE, request.idempotency_key)
        held_out = holdout_reason(request, node, self._settings.global_control_percent)
        if held_out is not None:
            return SimulatedSendResult(status=MessageStatus.SKIPPED, channel=node.channels[0],
                                       message_id=str(message_id), reason=held_out)
        async with self._sandbox(contact) as box:
            chosen, refusals = choose_channel(node, box.contact, box.consents, self._settings.opt_in_channels)
            if chosen is None:
                return SimulatedSendResult(status=MessageStatus.SKIPPED, channel=node.channels[0],
                                           message_id=str(message_id), reason="; ".join(refusals))
            address = address_of(box.contact, chosen) if SPECS[chosen].person else getattr(node, chosen).url
            context = message_context(box.contact, request.journey_id, request.journey_version, request.node_id,
                                      request.event, await contact_extras(box.conn, box.contact.id))
            rendered = await render_in_thread(self._channels[chosen], node, context, message_id, box.contact)
            result = SimulatedSendResult(status=MessageStatus.SENT, channel=chosen, message_id=str(message_id),
                                         recipient=address, subject=rendered.subject, payload=rendered.payload)
            if not SPECS[chosen].person or node.transactional:
                return result
            hold = quiet_hold(box.contact, now, request.time_zone, request.quiet_hours, self._settings)
            if hold is not None:
                return self._held(result, node.when_quiet, hold)
            if request.budget is not None:
                cost = Decimal(str(self._settings.channel_prices.get(chosen, 0))) * rendered.units
                over = await budget_refusal(box.conn, request.budget, request.journey_id, request.idempotency_key,
                                            cost, self._settings.usage_currency, now)
                if over is not None:
                    return self._with(result, MessageStatus.SKIPPED, over)
            if self._settings.frequency_caps:
                hold = await cap_hold(box.conn, self._settings.frequency_caps, box.contact.id, chosen,
                                      request.idempotency_key, request.priority, now)
                if hold is not None:
                    return self._held(result, node.when_capped, hold)
            return result

    async def arm(self, request: ArmRequest) -> str:
        """The arm a split would give the contact, recording none."""
        return await self._assignments.preview(request)

    async def conditions(self, contact: SimulatedContact, filters: list[dict], now: datetime) -> list[bool]:
        answers = []
        async with self._sandbox(contact) as box:
            session = AsyncSession(bind=box.conn)
            for raw in filters:
                try:
                    answers.append(await segments.matches(session, parse_filter(raw), box.contact.id, now=now))
                except (ValidationError, segments.SegmentError) as err:
                    raise UnreadableCondition(f"branch condition cannot be evaluated: {err}") from err
        return answers

    async def next_local_time(self, contact: SimulatedContact, at: str, now: datetime, weekdays: list[str] | None,
                              time_zone: str | None) -> datetime:
        async with self._sandbox(contact) as box:
            zone = first_zone(box.contact.time_zone, time_zone, self._settings.brand_time_zone)
        return next_local_time(now, zone, parse_local_time(at), weekdays)

    async def best_time(self, contact: SimulatedContact, now: datetime, within: str) -> BestTime:
        """When a best-time send or wait would go: a stored contact's own hour, a profile the brand's."""
        if contact.contact_id is not None:
            return await self._best_times.of_contact(contact.contact_id, now, within)
        return await self._best_times.of_profile((contact.profile or {}).get("time_zone"), now, within)

    async def tag(self, contact: SimulatedContact, tag: str, action: str, weight: float) -> float | None:
        """The tag's weight after the change, as `JourneyData.tag_contact` would leave it."""
        if action == "remove":
            return None
        if action == "add":
            return weight
        async with self._sandbox(contact) as box:
            current = await box.conn.scalar(select(ContactTag.weight).where(ContactTag.contact_id == box.contact.id,
                                                                            ContactTag.tag == tag))
        return weight + (current or 0.0)

    @staticmethod
    def _held(result: SimulatedSendResult, action: str, hold: Hold) -> SimulatedSendResult:
        if action == "skip":  # the words of the send path's own skip
            return SimulatedDecisions._with(
                result, MessageStatus.SKIPPED, f"{hold.reason}; skipped (room again at {hold.until.isoformat()})")
        deferred = SimulatedDecisions._with(result, MessageStatus.DEFERRED, hold.reason)
        deferred.until = hold.until.isoformat()
        return deferred

    @staticmethod
    def _with(result: SimulatedSendResult, status: MessageStatus, reason: str) -> SimulatedSendResult:
        return SimulatedSendResult(status=status, channel=result.channel, message_id=result.message_id,
                                   recipient=result.recipient, subject=result.subject, payload=result.payload,
                                   reason=reason)

    @asynccontextmanager
    async def _sandbox(self, simulated: SimulatedContact) -> AsyncIterator[_Sandbox]:
        async with self._engine.connect() as conn:
            transaction = await conn.begin()
            try:
                contact, consents = await self._contact(conn, simulated)
                for tag, weight in simulated.tags.items():
                    await conn.execute(delete(ContactTag).where(ContactTag.contact_id == contact.id,
                                                                ContactTag.tag == tag))
                    if weight is not None:
                        await conn.execute(insert(ContactTag).values(contact_id=contact.id, tag=tag, weight=weight))
                for sent in simulated.sends:
                    key = f"simulation/{uuid.uuid4()}"
                    await conn.execute(insert(Message).values(
                        id=uuid.uuid4(), idempotency_key=key, workflow_id=key, journey_id="simulation",
                        journey_version=0, node_id="simulation", contact_id=contact.id, channel=sent.channel,
                        links=[], status=MessageStatus.SENT, transactional=sent.transactional, priority=0,
                        due_at=datetime.fromisoformat(sent.due_at)))
                yield _Sandbox(conn, contact, consents)
            finally:
                await transaction.rollback()

    @staticmethod
    async def _contact(conn: AsyncConnection, simulated: SimulatedContact) -> tuple[Contact, dict[str, str]]:
        if simulated.contact_id is None:
            profile = simulated.profile or {}
            fields = {name: profile[name] for name in PROFILE_FIELDS if profile.get(name) is not None}
            # Not in the row: a LINE user id is unique, and may be a stored contact's.
            line_user_id = fields.pop("line_user_id", None)
            row = dict((await conn.execute(insert(Contact).values(
                external_id=f"simulation-{uuid.uuid4()}", **{"attributes": {}, **fields})
                .returning(*Contact.__table__.c))).mappings().one(), line_user_id=line_user_id)
            consents = dict(profile.get("consent") or {})
            for channel, status in consents.items():  # for segment conditions on consent
                await conn.execute(insert(ContactConsent).values(contact_id=row["id"], channel=channel, status=status,
                                                                 source="api"))
            return Contact.model_validate(row), consents
        row = (await conn.execute(select(*Contact.__table__.c).where(Contact.id == simulated.contact_id))
               ).mappings().one_or_none()
        if row is None:
            raise ContactNotFound(f"contact {simulated.contact_id} does not exist")
        consents = dict((await conn.execute(select(ContactConsent.channel, ContactConsent.status).where(
            ContactConsent.contact_id == simulated.contact_id))).all())
        return Contact.model_validate(dict(row)), consents
