"""Test sends: one send node's message, rendered for a chosen contact, sent through its real
channel to an address the tester gives, and recorded as a test (`messages.test`), which the
caps, budgets, usage, funnels and conversions leave out.

A test goes to the tester, not to the contact: the contact's consent and the quiet hours do not
apply, and nothing is signalled to any run (its workflow id names no run)."""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.data.ingest.contact_fields import e164_phone, email_problem
from sojourn.data.models import Contact, Message, utcnow
from sojourn.data.template_data import contact_extras
from sojourn.delivery.channels import (
    Outgoing,
    PermanentDeliveryFailure,
    TransientDeliveryFailure,
    UnconfirmedDelivery,
)
from sojourn.delivery.channels.registry import build_channels
from sojourn.delivery.send import message_context, render_in_thread
from sojourn.delivery.smtp_pool import SmtpPool
from sojourn.dsl.channels import SPECS
from sojourn.dsl.templating import TemplateRenderError
from sojourn.errors import Invalid, UpstreamFailed
from sojourn.services import contacts, journeys
from sojourn.services.simulated_decisions import PROFILE_FIELDS
from sojourn.settings import Settings

log = logging.getLogger(__name__)


class InvalidTestSend(Invalid):
    code = "invalid_test_send"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}", details=[{"field": field, "message": problem, "type": self.code}])


class TestSendFailed(UpstreamFailed):
    code = "test_send_failed"


class TestSends:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def send(self, session: AsyncSession, journey_id: str, version: int | None, node_id: str,
                   contact_external_id: str | None, profile: dict | None, to: str,
                   channel: str | None) -> dict[str, Any]:
        version, node = await journeys.send_node(session, journey_id, version, node_id)
        channel = channel or node.channels[0]
        if channel not in node.channels:
            raise InvalidTestSend("channel", f"node '{node_id}' sends on {', '.join(node.channels)}, not {channel}")
        if not SPECS[channel].person:
            raise InvalidTestSend("channel", f"{channel} calls a system, not an address: it has no test send")
        to = self._address(channel, to)
        if contact_external_id is not None:
            contact = await contacts.find(session, contact_external_id)
        else:
            profile = contacts.checked_fields(profile or {}, self._settings.default_phone_region)
            contact = Contact(external_id="(profile)", **{k: profile[k] for k in PROFILE_FIELDS if k in profile})

        message_id = uuid.uuid4()
        sender, smtp, http = self._sender(channel)
        try:
            context = message_context(contact, journey_id, version, node_id, None,
                                      await contact_extras(session, contact.id))
            try:
                rendered = await render_in_thread(sender, node, context, message_id, contact)
            except TemplateRenderError as err:
                raise InvalidTestSend("node", f"the template fails for this contact: {err}") from err
            key = f"test/{journey_id}/{node_id}/{message_id}"
            outgoing = Outgoing(key=key, message_id=message_id, address=to, rendered=rendered, journey_id=journey_id,
                                node_id=node_id)
            row = dict(id=message_id, idempotency_key=key, workflow_id=f"test-send/{journey_id}/{node_id}",
                       journey_id=journey_id, journey_version=version, node_id=node_id, contact_id=contact.id,
                       channel=channel, recipient=to[:320], subject=rendered.subject, links=rendered.links,
                       message_id_header=sender.message_id_header(message_id), transactional=node.transactional,
                       due_at=utcnow(), units=rendered.units, test=True,
                       cost=Decimal(str(self._settings.channel_prices.get(channel, 0))) * rendered.units)
            try:
                provider_id = await sender.deliver(outgoing)
            except (PermanentDeliveryFailure, TransientDeliveryFailure) as err:
                await self._record(session, row, status="failed", error=str(err))
                raise TestSendFailed(f"{channel} did not take the test message: {err}") from err
            except UnconfirmedDelivery as err:
                await self._record(session, row, status="unconfirmed", error=str(err))
                raise TestSendFailed(f"{channel} may or may not have taken the test message: {err}") from err
            await self._record(session, row, status="sent", sent_at=utcnow(), provider_message_id=provider_id)
        finally:
            if smtp is not None:
                await smtp.close()
            if http is not None:
                await http.aclose()
        log.info("test send of %s/%s to %s on %s", journey_id, node_id, to, channel,
                 extra={"journey_id": journey_id, "contact_id": contact.id, "message_id": str(message_id)})
        return {"journey": journey_id, "version": version, "node": node_id, "contact": contact.external_id,
                "channel": channel, "to": to, "message_id": str(message_id) if contact.id is not None else None,
                "recorded": contact.id is not None, "status": "sent", "subject": rendered.subject,
                "payload": rendered.payload}

    def _address(self, channel: str, to: str) -> str:
        field = SPECS[channel].contact_field
        if field == "email":
            problem = email_problem(to)
            if problem is not None:
                raise InvalidTestSend("to", problem)
        elif field == "phone":
            try:
                return e164_phone(to, self._settings.default_phone_region)
            except ValueError as err:
                raise InvalidTestSend("to", str(err)) from None
        return to

    def _sender(self, channel: str):
        """The channel's real sender, over connections opened for this one message."""
        smtp = SmtpPool(self._settings) if channel == "email" else None
        http = None if channel == "email" else httpx.AsyncClient(follow_redirects=False,
                                                                  timeout=self._settings.provider_timeout)
        return build_channels(self._settings, smtp, http)[channel], smtp, http

    @staticmethod
    async def _record(session: AsyncSession, row: dict, **outcome) -> None:
        """A stored contact's test is kept with its messages, marked; a profile's is stored nowhere."""
        if row["contact_id"] is None:
            return
        await session.execute(insert(Message).values(**row, **outcome))
        await session.commit()
