"""Recording opens, clicks and delivery events, and signalling the journey that sent the message."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError

from sojourn.contracts.journey import ENGAGEMENT_SIGNAL, EngagementSignal
from sojourn.data.consent import suppress
from sojourn.data.models import EngagementEvent, Message, utcnow

log = logging.getLogger(__name__)

# Only these change what a journey does; the rest are recorded for reporting.
SIGNALLED = {"opened", "clicked"}
# These stop every later message to the contact, on every channel.
SUPPRESSING = {"bounced": "hard bounce", "complained": "spam complaint"}


async def find_message(session: AsyncSession, reference: str | uuid.UUID) -> Message | None:
    """By our message uuid, or by the Message-ID header a provider echoes back (with or without <>)."""
    if isinstance(reference, uuid.UUID):
        return await session.get(Message, reference)
    try:
        return await session.get(Message, uuid.UUID(reference))
    except ValueError:
        pass
    header = reference if reference.startswith("<") else f"<{reference}>"
    return (await session.execute(select(Message).where(Message.message_id_header == header))).scalar_one_or_none()


async def record(
    session: AsyncSession,
    client: Client,
    message: Message,
    kind: str,
    source: str,
    url: str | None = None,
    occurred_at: datetime | None = None,
) -> bool:
    """Store the event; signal the run the first time this (message, kind, url) is seen.

    Returns whether the run was signalled. Repeats are stored for reporting but
    never signalled twice, so a branch never sees the same open twice.
    """
    same = and_(EngagementEvent.message_id == message.id, EngagementEvent.type == kind,
                EngagementEvent.url == url if url is not None else EngagementEvent.url.is_(None))
    first = (await session.execute(select(EngagementEvent.id).where(same).limit(1))).first() is None
    at = occurred_at or utcnow()
    session.add(EngagementEvent(message_id=message.id, type=kind, url=url, source=source, occurred_at=at))
    if kind in SUPPRESSING:
        await suppress(session, message.contact_id, f"{SUPPRESSING[kind]} on message {message.id}")
    await session.commit()
    if not (first and kind in SIGNALLED):
        return False
    signal = EngagementSignal(send_node=message.node_id, kind=kind, message_id=str(message.id), url=url,
                              occurred_at=at.isoformat())
    try:
        await client.get_workflow_handle(message.workflow_id).signal(ENGAGEMENT_SIGNAL, signal)
    except RPCError as err:
        # The run may have ended (completed, cancelled); the event stays recorded.
        log.info("engagement for %s not signalled: %s", message.workflow_id, err)
        return False
    return True
