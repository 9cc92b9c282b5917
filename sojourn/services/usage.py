"""Usage: messages, billable units and their cost, by day, channel, journey and status.

Units and cost are the ones each message recorded when it was rendered (`sojourn.delivery`),
so they do not move with a later price or template. They count only what went out or may have
(`sent`, `unconfirmed`, and `sending` not yet settled); a skipped, failed or deferred message is
counted as a message with no units. Test sends are never counted. A message belongs to the UTC
day it went, else the day it was recorded.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, cast, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.contracts.statuses import MessageStatus
from sojourn.data.models import Message
from sojourn.errors import Invalid

GROUPS = ("day", "channel", "journey", "status")
BILLED = (MessageStatus.SENDING, MessageStatus.SENT, MessageStatus.UNCONFIRMED)
DEFAULT_DAYS = 30

_messages = Message.__table__.c
# The expression of the index `ix_messages_billed_at`, which serves the time range.
_AT = func.coalesce(_messages.sent_at, _messages.created_at)
_COLUMNS = {
    "day": cast(func.timezone("UTC", _AT), Date).label("day"),
    "channel": _messages.channel.label("channel"),
    "journey": _messages.journey_id.label("journey"),
    "status": _messages.status.label("status"),
}


def _invalid(field: str, message: str) -> Invalid:
    return Invalid(f"{field}: {message}", code="validation_error",
                   details=[{"field": field, "message": message, "type": "invalid_usage_query"}])


def groups(group_by: str) -> list[str]:
    """The groups asked for, comma-separated, in the order given."""
    asked = [name.strip() for name in group_by.split(",") if name.strip()]
    unknown = [name for name in asked if name not in GROUPS]
    if unknown:
        raise _invalid("group_by", f"unknown group {', '.join(unknown)}; groups are {', '.join(GROUPS)}")
    if len(set(asked)) != len(asked):
        raise _invalid("group_by", "a group is named twice")
    return asked


def time_range(start: str | None, end: str | None, now: datetime) -> tuple[datetime, datetime]:
    """[from, to) in UTC, each a date or an ISO 8601 time (UTC unless it says): a date `from` starts
    at its midnight, a date `to` takes in its whole day; by default the last 30 days up to now."""
    until = parse_instant("to", end, end_of_day=True) if end is not None else now
    since = parse_instant("from", start, end_of_day=False) if start is not None else \
        max(until, datetime.min.replace(tzinfo=timezone.utc) + timedelta(days=DEFAULT_DAYS)) - timedelta(days=DEFAULT_DAYS)
    if since >= until:
        raise _invalid("from", f"`from` ({since.isoformat()}) must come before `to` ({until.isoformat()})")
    return since, until


def parse_instant(field: str, value: str, end_of_day: bool) -> datetime:
    try:
        if len(value) == len("2026-11-30"):
            return datetime.combine(date.fromisoformat(value) + timedelta(days=end_of_day), time(), timezone.utc)
        moment = datetime.fromisoformat(value)
    except (ValueError, OverflowError):
        raise _invalid(field, f"{value!r} is not a date (2026-11-30) or a time (2026-11-30T12:00:00Z)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


async def usage(session: AsyncSession, since: datetime, until: datetime, group_by: list[str],
                currency: str) -> dict[str, Any]:
    """One row per group (all messages in one row when no group is asked), with its messages,
    billable units and cost; and the totals."""
    billed = _messages.status.in_(BILLED)
    keys = [_COLUMNS[name] for name in group_by]
    query = (select(*keys, func.count().label("messages"),
                    func.coalesce(func.sum(_messages.units).filter(billed), 0).label("units"),
                    func.coalesce(func.sum(_messages.cost).filter(billed), 0).label("cost"))
             .where(_AT >= since, _AT < until, ~_messages.test)
             .group_by(*keys).order_by(*[literal_column(name) for name in group_by]))
    rows = [dict(row) for row in (await session.execute(query)).mappings()]
    if not group_by and rows and rows[0]["messages"] == 0:
        rows = []
    total = {"messages": sum(row["messages"] for row in rows), "units": sum(row["units"] for row in rows),
             "cost": sum((row["cost"] for row in rows), Decimal(0))}
    return {"from": since, "to": until, "group_by": group_by, "currency": currency, "rows": rows, "total": total}
