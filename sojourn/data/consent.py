"""Who may be messaged on which channel: consent per channel, global suppression.

`refusal` is the rule the send activity applies before any attempt (DESIGN.md
decision 5: policy lives at the send); the rest records changes to that state.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.data.models import Contact, ContactConsent, utcnow

_ADDRESS = {"email": "email address", "sms": "phone number", "push": "push token", "line": "LINE user id"}


def address_of(contact: Contact, channel: str) -> str | None:
    return {"email": contact.email, "sms": contact.phone, "push": contact.push_token,
            "line": contact.line_user_id}.get(channel)


def refusal(contact: Contact, channel: str, consents: Mapping[str, str], transactional: bool,
            opt_in_channels: list[str]) -> str | None:
    """Why `contact` may not receive a message on `channel` now; None when it may.

    Webhooks reach the brand's own systems, not the contact, so no rule applies to them.
    Transactional messages skip marketing consent; suppression stops everything.
    """
    if channel == "webhook":
        return None
    if contact.suppressed_at is not None:
        return f"contact is suppressed ({contact.suppression_reason or 'no reason recorded'})"
    if not address_of(contact, channel):
        return f"contact has no {_ADDRESS[channel]}"
    if transactional:
        return None
    state = consents.get(channel)
    if state == "unsubscribed":
        return f"contact unsubscribed from {channel}"
    if state is None and channel in opt_in_channels:
        return f"contact has not opted in to {channel}"
    return None


async def set_consent(session: AsyncSession, contact_id: int, channel: str, status: str, source: str) -> None:
    """Record a consent change (the caller commits); takes effect for the next send on any journey."""
    values = {"status": status, "source": source, "changed_at": utcnow()}
    await session.execute(insert(ContactConsent).values(contact_id=contact_id, channel=channel, **values)
                          .on_conflict_do_update(index_elements=["contact_id", "channel"], set_=values))


async def suppress(session: AsyncSession, contact_id: int, reason: str) -> None:
    """Stop every message to the contact (the caller commits); the first reason is kept."""
    await session.execute(update(Contact).where(Contact.id == contact_id, Contact.suppressed_at.is_(None))
                          .values(suppressed_at=utcnow(), suppression_reason=reason))
