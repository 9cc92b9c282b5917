"""LINE's webhook: follow and unfollow keep each LINE user's consent current, in the order the
events happened, and a follow from someone who is not a contact yet makes them one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.data.consent import set_consent_as_of
from sojourn.data.models import Contact
from sojourn.delivery.tokens import verify_line_signature
from sojourn.errors import Unavailable
from sojourn.services.contacts import tell_journeys
from sojourn.services.triggers import Triggers

_CONSENT = {"follow": "subscribed", "unfollow": "unsubscribed"}
CONTACT_PREFIX = "line:"  # a contact a follow creates is `line:<LINE user id>`


class LineNotConfigured(Unavailable):
    code = "line_not_configured"


def signed_by_line(body: bytes, signature: str | None, channel_secret: str) -> bool:
    if not channel_secret:
        raise LineNotConfigured("set LINE_CHANNEL_SECRET to receive LINE webhooks")
    return verify_line_signature(body, signature, channel_secret)


@dataclass(frozen=True)
class LineEvent:
    type: str
    user_id: str | None
    timestamp_ms: int  # when it happened, as LINE says (milliseconds since the epoch)


async def _contact_of(session: AsyncSession, user_id: str, create: bool) -> tuple[int | None, bool]:
    """The id of the contact with this LINE user id, and whether it was created now; with
    `create`, one is made if there is none (concurrent follows of one user make one contact:
    both ids are unique)."""
    created = False
    if create:
        created = (await session.execute(
            insert(Contact).values(external_id=f"{CONTACT_PREFIX}{user_id}", line_user_id=user_id)
            .on_conflict_do_nothing().returning(Contact.id))).first() is not None
    return (await session.execute(select(Contact.id).where(Contact.line_user_id == user_id))).scalar(), created


async def record_line_follows(session: AsyncSession, triggers: Triggers, events: list[LineEvent]) -> list[str]:
    """Each event's outcome, in the order given: `subscribed` (a follow; a new contact if the
    user was not one), `unsubscribed` (an unfollow: the user blocked the account), `stale` (it
    happened before the consent now recorded, which it does not override), `unknown_user` (an
    unfollow from someone who is not a contact) or `ignored` (another kind of event).

    Events apply in the order of their `timestamp`, within a batch and across batches: LINE
    may deliver a later batch first, or redeliver an old one. Journeys hear of the contacts
    created (as of any other new contact) once the batch is stored."""
    statuses: dict[int, str] = {}
    created: list[int] = []
    order = sorted(range(len(events)), key=lambda i: events[i].timestamp_ms)  # stable: ties keep batch order
    for index in order:
        event = events[index]
        status = _CONSENT.get(event.type)
        if status is None or event.user_id is None:
            statuses[index] = "ignored"
            continue
        contact_id, new = await _contact_of(session, event.user_id, create=event.type == "follow")
        if new:
            created.append(contact_id)
        if contact_id is None:
            statuses[index] = "unknown_user"
            continue
        at = datetime.fromtimestamp(event.timestamp_ms / 1000, timezone.utc)
        applied = await set_consent_as_of(session, contact_id, "line", status, source="line_webhook", at=at)
        statuses[index] = status if applied else "stale"
    await session.commit()
    if created:
        await tell_journeys(triggers, created)
    return [statuses[i] for i in range(len(events))]
