"""Recording opens, clicks and delivery events, and signalling the journey that sent the message;
unsubscribe links, which change the contact's consent; unsubscribes, recorded against the
message they came through."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Row, bindparam, exists, false, literal, select
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from sojourn.data.consent import set_consent, suppress
from sojourn.data.db import session_factory, statement_by_statement
from sojourn.data.models import Contact, ContactConsent, EngagementEvent, Message, utcnow
from sojourn.delivery.tokens import webhook_signature_problem
from sojourn.delivery.tracking import parse_tracking_token, parse_unsubscribe_token
from sojourn.errors import NotFound
from sojourn.services import engagement_listeners, metrics
from sojourn.services.engagement_signals import EngagementSignals, due_signal

log = logging.getLogger(__name__)

# Only these change what a journey does; the rest are recorded for reporting.
SIGNALLED = {"opened", "clicked"}
# A person withdrew consent through a message (its link, a provider's report, a STOP reply to it).
UNSUBSCRIBED = "unsubscribed"
# These stop every later message to the contact, on every channel.
SUPPRESSING = {"bounced": "hard bounce", "complained": "spam complaint"}


# Each engagement request runs these; built once as Core statements over the tables, so a
# request neither loads an ORM object nor builds and keys a statement of its own (that was most
# of a request's CPU).
_messages, _events = Message.__table__, EngagementEvent.__table__
_MESSAGE_COLUMNS = select(_messages.c.id, _messages.c.workflow_id, _messages.c.journey_id,
                          _messages.c.journey_version, _messages.c.node_id, _messages.c.contact_id, _messages.c.channel, _messages.c.recipient, _messages.c.links,
                          _messages.c.sent_at, _messages.c.created_at)
_MESSAGE_BY_ID = _MESSAGE_COLUMNS.where(_messages.c.id == bindparam("id"))
_MESSAGE_BY_HEADER = _MESSAGE_COLUMNS.where(_messages.c.message_id_header == bindparam("header"))


def _insert_event(owed) -> Insert:
    return (insert(_events).values(
        message_id=bindparam("message_id"), type=bindparam("type"), url=bindparam("url"), source=bindparam("source"),
        occurred_at=bindparam("occurred_at"), automated=bindparam("automated"),
        provider_event_id=bindparam("provider_event_id"), signal_due=owed)
        .on_conflict_do_nothing().returning(_events.c.id, _events.c.signal_due))


# The run is owed a signal for the first open (or click of a URL) of its message a person made,
# when its journey version reacts to it (`engagement_listeners`); the "first" is decided inside the
# insert, so it costs no round trip of its own and the row records it.
_INSERT_OWING = _insert_event(~exists().where(
    _events.c.message_id == bindparam("message_id"), _events.c.type == bindparam("type"),
    _events.c.url.is_not_distinct_from(bindparam("url")), _events.c.automated.is_(False)))
_INSERT = _insert_event(false())
# An unsubscribe is a person's one act per message, however often it is repeated: stored unless
# stored already. The message row's lock, taken first in the same transaction, serializes
# concurrent copies, so the second one's insert (a new statement, a new snapshot) sees the first.
_LOCK_MESSAGE = (select(_messages.c.id).where(_messages.c.id == bindparam("id"))
                 .with_for_update(key_share=True))  # FOR NO KEY UPDATE: the weakest lock that excludes itself
_INSERT_UNSUBSCRIBED = insert(_events).from_select(
    ["message_id", "type", "source", "occurred_at", "provider_event_id"],
    select(bindparam("message_id", type_=_events.c.message_id.type), literal(UNSUBSCRIBED),
           bindparam("source", type_=_events.c.source.type), bindparam("occurred_at", type_=_events.c.occurred_at.type),
           bindparam("provider_event_id", type_=_events.c.provider_event_id.type))
    .where(~exists().where(_events.c.message_id == bindparam("message_id"), _events.c.type == UNSUBSCRIBED)),
).returning(_events.c.id)


async def last_text_to(session: Statements, contact_id: int, number: str, since: datetime) -> Row | None:
    """The last SMS sent to the contact at `number` since `since` (test sends aside), as `find_message` has it."""
    query = (_MESSAGE_COLUMNS.where(_messages.c.contact_id == contact_id, _messages.c.channel == "sms",
                                    _messages.c.recipient == number, _messages.c.sent_at >= since,
                                    ~_messages.c.test)
             .order_by(_messages.c.sent_at.desc()).limit(1))
    return (await session.execute(query)).first()


# What runs the statements of an engagement: an ORM session where one write must wait for another
# (a suppression, an unsubscribe), else a connection whose statements commit by themselves (an
# open or a click: the insert that stores it says whether a signal is owed; the message look-up
# and the insert need no transaction between them: under READ COMMITTED neither saw more of the
# other inside one).
Statements = AsyncSession | AsyncConnection


async def find_message(session: Statements, reference: str | uuid.UUID) -> Row | None:
    """What engagement needs of a message (ids, channel, recipient, links, send time), by our
    message uuid or by the Message-ID header a provider echoes back (with or without <>)."""
    if not isinstance(reference, uuid.UUID):
        try:
            reference = uuid.UUID(reference)
        except ValueError:
            header = reference if reference.startswith("<") else f"<{reference}>"
            return (await session.execute(_MESSAGE_BY_HEADER, {"header": header})).first()
    return (await session.execute(_MESSAGE_BY_ID, {"id": reference})).first()


def looks_automated(kind: str, occurred_at: datetime, message: Row, window: timedelta,
                    head: bool = False) -> bool:
    """A click a link scanner made rather than a person: a HEAD request (browsers GET a link),
    or a click within `window` of the send (scanners fetch every link as the mail arrives;
    a person has to get it, open it and read it first). Opens are never judged."""
    if kind != "clicked":
        return False
    if head:
        return True
    sent = message.sent_at or message.created_at
    return window > timedelta(0) and occurred_at - sent < window


async def record(
    session: Statements,
    signals: EngagementSignals,
    message: Row,
    kind: str,
    source: str,
    url: str | None = None,
    occurred_at: datetime | None = None,
    automated: bool = False,
    provider_event_id: str | None = None,
) -> bool:
    """Store the event unless it repeats one stored already; the first time this (message,
    kind, url) is seen, the run is owed a signal if its journey version reacts to it (see
    `sojourn.services.engagement_listeners`), delivered after the answer (see
    `sojourn.services.engagement_signals`). Returns whether it was stored.

    A repeat is a provider's webhook with the same event id, or without one the same message,
    type, time and URL: the unique indexes of `engagement_events` refuse it, so concurrent
    copies store one row. A person's repeated open or click is stored (each one counts in the
    totals) but never signalled twice, so a branch never sees the same open twice. An automated
    click is stored and never signalled, and does not stop a person's later click counting.
    """
    at = occurred_at or utcnow()
    owing = kind in SIGNALLED and not automated and await engagement_listeners.listens(
        session, message.journey_id, message.journey_version, message.node_id, kind)
    stored = (await session.execute(_INSERT_OWING if owing else _INSERT, {
        "message_id": message.id, "type": kind, "url": url, "source": source, "occurred_at": at,
        "automated": automated, "provider_event_id": provider_event_id})).first()
    if stored is not None and kind in SUPPRESSING:
        await suppress(session, message.contact_id, f"{SUPPRESSING[kind]} on message {message.id}")
    await session.commit()
    if stored is not None:
        metrics.ENGAGEMENT.labels(kind, source, "true" if automated else "false").inc()
    if stored is not None and stored.signal_due:
        signals.owed(due_signal(stored.id, message.workflow_id, message.node_id, kind, message.id, url, at,
                                message.journey_id, message.contact_id))
    return stored is not None


async def record_unsubscribe(session: AsyncSession, message: Row, source: str,
                             occurred_at: datetime | None = None, provider_event_id: str | None = None) -> bool:
    """Store that the contact unsubscribed through `message` (the caller commits), unless that is
    stored already: the funnel counts each message's unsubscribe once, whichever way it came and
    however often. Returns whether it was stored."""
    await session.execute(_LOCK_MESSAGE, {"id": message.id})
    stored = (await session.execute(_INSERT_UNSUBSCRIBED, {
        "message_id": message.id, "source": source, "occurred_at": occurred_at or utcnow(),
        "provider_event_id": provider_event_id})).first()
    if stored is not None:
        metrics.ENGAGEMENT.labels(UNSUBSCRIBED, source, "false").inc()
        log.info("Contact unsubscribed from %s through message %s", message.channel, message.id, extra={
            "journey_id": message.journey_id, "contact_id": message.contact_id, "message_id": str(message.id)})
    return stored is not None


# -- provider webhooks ------------------------------------------------------------------------


class ProviderEvent(Protocol):
    message_id: str
    type: str
    timestamp: datetime
    url: str | None
    event_id: str | None


def provider_signature_problem(body: bytes, signature: str | None, secrets: list[str],
                               tolerance: timedelta) -> str | None:
    """Why a provider webhook's signature header is refused (missing, malformed, outside the
    tolerance, not matching), or None when it signs the body."""
    return webhook_signature_problem(body, signature, secrets, tolerance.total_seconds())


async def record_provider_events(engine: AsyncEngine, signals: EngagementSignals, events: list[ProviderEvent],
                                 automated_window: timedelta) -> list[str]:
    """Each event recorded against its message: `recorded`, `duplicate` (stored already, see
    `record`; an unsubscribe once per message), or `unknown_message`. An unsubscribe also
    withdraws the contact's consent on the message's channel."""
    # Suppressions and unsubscribes write twice (and an unsubscribe holds the message's lock until
    # its commit): a batch with one keeps its transaction.
    if any(event.type in SUPPRESSING or event.type == UNSUBSCRIBED for event in events):
        async with session_factory(engine)() as session:
            return await _record_each(session, signals, events, automated_window)
    async with statement_by_statement(engine) as conn:
        return await _record_each(conn, signals, events, automated_window)


async def _record_each(session: Statements, signals: EngagementSignals, events: list[ProviderEvent],
                       automated_window: timedelta) -> list[str]:
    statuses = []
    for event in events:
        message = await find_message(session, event.message_id)
        if message is None:
            statuses.append("unknown_message")
            continue
        if event.type == UNSUBSCRIBED:
            await set_consent(session, message.contact_id, message.channel, "unsubscribed", source="webhook")
            stored = await record_unsubscribe(session, message, source="webhook", occurred_at=event.timestamp,
                                              provider_event_id=event.event_id)
            await session.commit()
            statuses.append("recorded" if stored else "duplicate")
            continue
        stored = await record(session, signals, message, event.type, source="webhook", url=event.url,
                              occurred_at=event.timestamp, provider_event_id=event.event_id,
                              automated=looks_automated(event.type, event.timestamp, message, automated_window))
        statuses.append("recorded" if stored else "duplicate")
    return statuses


# -- tracked opens and clicks -----------------------------------------------------------------


class TrackingTokenNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("tracking token not found")


async def _tracked(conn: AsyncConnection, secrets: list[str], token: str, kind: str) -> tuple[Row, int | None]:
    """The message a valid token of this kind names, and the link index."""
    parsed = parse_tracking_token(token, secrets)
    message = await find_message(conn, parsed[1]) if parsed and parsed[0] == kind else None
    if message is None:
        raise TrackingTokenNotFound()
    return message, parsed[2]


async def track_open(engine: AsyncEngine, signals: EngagementSignals, secrets: list[str], token: str) -> None:
    async with statement_by_statement(engine) as conn:
        message, _ = await _tracked(conn, secrets, token, "opened")
        await record(conn, signals, message, "opened", source="pixel")


async def track_click(engine: AsyncEngine, signals: EngagementSignals, secrets: list[str], token: str,
                      automated_window: timedelta, head: bool = False) -> str:
    """Record the click (flagged if it looks automated); the URL to send the reader on to."""
    async with statement_by_statement(engine) as conn:
        message, index = await _tracked(conn, secrets, token, "clicked")
        # Only a URL that was in this very message: the token cannot become an open redirect.
        if index is None or not 0 <= index < len(message.links):
            raise TrackingTokenNotFound()
        url = message.links[index]
        at = utcnow()
        await record(conn, signals, message, "clicked", source="link", url=url, occurred_at=at,
                     automated=looks_automated("clicked", at, message, automated_window, head))
    return url


# -- unsubscribe links ------------------------------------------------------------------------


class UnsubscribeTokenNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("unsubscribe token not found")


@dataclass(frozen=True, kw_only=True)
class Subscription:
    channel: str
    recipient: str | None
    unsubscribed: bool


async def _unsubscribing(session: AsyncSession, secrets: list[str], token: str) -> tuple[Row, Contact, bool]:
    message_id = parse_unsubscribe_token(token, secrets)
    message = await find_message(session, message_id) if message_id else None
    contact = await session.get(Contact, message.contact_id) if message else None
    if contact is None:
        raise UnsubscribeTokenNotFound()
    state = await session.get(ContactConsent, (contact.id, message.channel))
    return message, contact, state is not None and state.status == "unsubscribed"


async def subscription(session: AsyncSession, secrets: list[str], token: str) -> Subscription:
    """The channel and address an unsubscribe token names, and whether it is unsubscribed already."""
    message, _, unsubscribed = await _unsubscribing(session, secrets, token)
    return Subscription(channel=message.channel, recipient=message.recipient, unsubscribed=unsubscribed)


async def unsubscribe(session: AsyncSession, secrets: list[str], token: str, one_click: bool) -> Subscription:
    """Unsubscribe the token's contact from the token's channel, and record it against the
    token's message; repeating it changes nothing."""
    message, contact, unsubscribed = await _unsubscribing(session, secrets, token)
    source = "one_click" if one_click else "unsubscribe_link"
    if not unsubscribed:
        await set_consent(session, contact.id, message.channel, "unsubscribed", source=source)
    await record_unsubscribe(session, message, source="link")
    await session.commit()
    return Subscription(channel=message.channel, recipient=message.recipient, unsubscribed=True)
