"""Who may be messaged on which channel: consent per channel, global suppression.

`refusal` is the rule the send path applies before any attempt (policy lives at the send);
the rest records changes to that state.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from sojourn.data import audit
from sojourn.data.models import Contact, ContactConsent, utcnow
from sojourn.dsl.channels import SPECS


def address_of(contact: Contact, channel: str) -> str | None:
    """The contact's address on a channel that reaches a person (None on one that calls a system)."""
    field = SPECS[channel].contact_field
    return getattr(contact, field) if field is not None else None


def refusal(contact: Contact, channel: str, consents: Mapping[str, str], transactional: bool,
            opt_in_channels: list[str]) -> str | None:
    """Why `contact` may not receive a message on `channel` now; None when it may.

    A channel that calls the brand's own systems does not reach the contact, so no rule applies.
    Transactional messages skip marketing consent; suppression stops everything.
    """
    spec = SPECS[channel]
    if not spec.person:
        return None
    if contact.suppressed_at is not None:
        return f"contact is suppressed ({contact.suppression_reason or 'no reason recorded'})"
    if not address_of(contact, channel):
        return f"contact has no {spec.address_name}"
    if transactional:
        return None
    state = consents.get(channel)
    if state == "unsubscribed":
        return f"contact unsubscribed from {channel}"
    if state is None and channel in opt_in_channels:
        return f"contact has not opted in to {channel}"
    return None


async def set_consent(session: AsyncSession, contact_id: int, channel: str, status: str, source: str,
                      actor: str | None = None) -> None:
    """Record a consent change (the caller commits); takes effect for the next send on any journey.
    A change of status goes in the audit log, by `actor` (default: the source)."""
    previous = await _recorded_status(session, contact_id, channel)
    await _audit_change(session, contact_id, channel, status, previous, source, actor)
    values = {"status": status, "source": source, "changed_at": utcnow()}
    await session.execute(insert(ContactConsent).values(contact_id=contact_id, channel=channel, **values)
                          .on_conflict_do_update(index_elements=["contact_id", "channel"], set_=values))


async def _audit_change(session: AsyncSession, contact_id: int, channel: str, status: str, previous: str | None,
                        source: str, actor: str | None) -> None:
    if previous != status:
        external_id = (await session.execute(select(Contact.external_id).where(Contact.id == contact_id))).scalar_one()
        audit.record(session, actor or source, "consent_changed", "contact", external_id, channel=channel,
                     status=status, previous=previous, source=source)


async def _recorded_status(session: AsyncSession, contact_id: int, channel: str) -> str | None:
    return (await session.execute(select(ContactConsent.status).where(
        ContactConsent.contact_id == contact_id, ContactConsent.channel == channel))).scalar()


async def set_consent_as_of(session: AsyncSession, contact_id: int, channel: str, status: str, source: str,
                            at: datetime) -> bool:
    """Record a consent change that happened `at`, unless the consent recorded is newer (the
    caller commits); whether it was recorded. A provider's events may arrive out of order:
    an older one never overrides a newer state."""
    previous = await _recorded_status(session, contact_id, channel)
    values = {"status": status, "source": source, "changed_at": at}
    applied = (await session.execute(
        insert(ContactConsent).values(contact_id=contact_id, channel=channel, **values)
        .on_conflict_do_update(index_elements=["contact_id", "channel"], set_=values,
                               where=ContactConsent.changed_at <= at)
        .returning(ContactConsent.contact_id))).first() is not None
    if applied:
        await _audit_change(session, contact_id, channel, status, previous, source, None)
    return applied


async def suppress(session: AsyncSession, contact_id: int, reason: str) -> None:
    """Stop every message to the contact (the caller commits); the first reason is kept."""
    await session.execute(update(Contact).where(Contact.id == contact_id, Contact.suppressed_at.is_(None))
                          .values(suppressed_at=utcnow(), suppression_reason=reason))


async def forget_address(conn: AsyncConnection, contact_id: int, channel: str, address: str) -> None:
    """Remove an address the provider says is dead from the contact, unless it has changed since."""
    field = getattr(Contact, SPECS[channel].contact_field)
    await conn.execute(update(Contact).where(Contact.id == contact_id, field == address)
                       .values({field: None, Contact.updated_at: utcnow()}))
