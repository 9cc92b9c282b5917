"""Previewing a send node for one contact: its message rendered on every channel it lists, and
the channel a send now would use, without sending anything."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.contracts.journey import ContactEvent
from sojourn.data.models import ContactConsent, utcnow
from sojourn.data.template_data import contact_extras
from sojourn.delivery.channels.registry import build_channels
from sojourn.delivery.send import choose_channel, message_context, render_in_thread
from sojourn.dsl.templating import TemplateRenderError
from sojourn.services import contacts, journeys
from sojourn.settings import Settings


class TriggeringEvent(Protocol):
    name: str
    properties: dict[str, Any]
    occurred_at: datetime | None


class Previewer:
    """Holds channels that render (built once, not per request) but never deliver."""

    def __init__(self, settings: Settings) -> None:
        self._channels = build_channels(settings, smtp=None, http=None)
        self._opt_in_channels = settings.opt_in_channels

    async def preview(self, session: AsyncSession, journey_id: str, version: int | None, node_id: str,
                      external_id: str, event: TriggeringEvent | None = None) -> dict[str, Any]:
        """The node of `version` (default: the latest) rendered for the contact, as if `event` started the run."""
        version, node = await journeys.send_node(session, journey_id, version, node_id)
        contact = await contacts.find(session, external_id)
        consents = {c.channel: c.status for c in (await session.execute(
            select(ContactConsent).where(ContactConsent.contact_id == contact.id))).scalars()}
        trigger = None if event is None else ContactEvent(
            event_id="preview", name=event.name, properties=event.properties,
            occurred_at=(event.occurred_at or utcnow()).isoformat())
        context = message_context(contact, journey_id, version, node.id, trigger,
                                  await contact_extras(session, contact.id))
        messages, errors = {}, {}
        for name in node.channels:
            try:
                rendered = await render_in_thread(self._channels[name], node, context, uuid.uuid4(), contact)
            except TemplateRenderError as err:
                errors[name] = str(err)
                continue
            messages[name] = {"subject": rendered.subject, "payload": rendered.payload}
        chosen, refusals = choose_channel(node, contact, consents, self._opt_in_channels)
        return {"journey": journey_id, "version": version, "node": node.id, "contact": external_id,
                "channel": chosen, "refusals": refusals, "messages": messages, "errors": errors}
