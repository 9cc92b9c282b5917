"""A journey's budget: whether its next marketing message may still go.

What a journey has spent is the recorded cost of its messages that went out or may have
(`sending` included), this calendar month (UTC) or ever. Marketing sends of a budgeted journey
are decided one at a time under a transaction-scoped advisory lock on the journey, and the
message that gets through is recorded as `sending`, with its cost, before the lock is released:
however many workers send, the next one counts it, so the budget is never overshot by a
marketing message. Transactional messages are counted in what was spent (they are part of what
the journey costs) but never held, and do not take the lock, so they alone can pass it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from sojourn.contracts.statuses import MessageStatus

BUDGET_REASON = "budget"
# What a budget counts: what went out or may have, as frequency caps do.
_COUNTED = ", ".join(f"'{status}'" for status in (MessageStatus.SENDING, MessageStatus.SENT, MessageStatus.UNCONFIRMED))
_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended('budget/' || :journey, 0))")
_SPENT = text(f"""
SELECT coalesce(sum(cost), 0) FROM messages
WHERE journey_id = :journey AND status IN ({_COUNTED}) AND NOT test AND idempotency_key <> :key
  AND coalesce(sent_at, created_at) >= :since
""")


def period_start(period: str, now: datetime) -> datetime:
    """Where the budget's period began: the first of this month (UTC), or ever."""
    if period == "month":
        return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return datetime.min.replace(tzinfo=now.tzinfo)


async def budget_refusal(conn: AsyncConnection, budget: dict, journey_id: str, key: str, cost: Decimal,
                         currency: str, now: datetime) -> str | None:
    """Why this message would take the journey past its budget, or None if it fits. Call inside a
    transaction: it locks the journey's budget until that transaction ends, and the caller records
    the message (as `sending`, or skipped) before it does."""
    await conn.execute(_LOCK, {"journey": journey_id})
    spent = (await conn.execute(_SPENT, {"journey": journey_id, "key": key,
                                         "since": period_start(budget["period"], now)})).scalar_one()
    amount = Decimal(str(budget["amount"]))
    if spent + cost <= amount:
        return None
    per = " this month" if budget["period"] == "month" else ""
    return f"{BUDGET_REASON}: {spent:.4f} of {amount} {currency} spent{per}; this message costs {cost:.4f}"
