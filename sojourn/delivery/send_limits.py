"""Quiet hours and frequency caps: whether a marketing message may go now, and if not, until when.

Quiet hours are a rule of the contact's local time. Caps count the contact's marketing
messages in a rolling window, by the run's time of each send (`due_at`), under a lock on the
contact row so that two journeys cannot both take the last slot; the message that gets
through is recorded as `sending` in the same transaction, which is how the next one sees it.
When a higher-priority message is waiting for room, a lower-priority one lets it go first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from sojourn.contracts.statuses import MessageStatus
from sojourn.data.models import Contact
from sojourn.dsl.durations import parse_duration
from sojourn.dsl.send_windows import first_zone, parse_local_time, quiet_until
from sojourn.settings import FrequencyCap, Settings

CAP_REASON = "frequency cap"
# After its slot opens, a deferred higher-priority message has this long to take it.
_PRIORITY_HOLD = timedelta(hours=1)
_AFTER_PRIORITY = timedelta(minutes=1)

# What a cap counts: every marketing message that went out or may have (a test send is the tester's).
_COUNTED = ", ".join(f"'{status}'" for status in (MessageStatus.SENDING, MessageStatus.SENT, MessageStatus.UNCONFIRMED))
_LOCK = text("SELECT 1 FROM contacts WHERE id = :contact FOR UPDATE")
_USED = text(f"""
SELECT coalesce(array_agg(due_at ORDER BY due_at), '{{}}') FROM messages
WHERE contact_id = :contact AND NOT transactional AND NOT test AND status IN ({_COUNTED})
  AND due_at > :since AND idempotency_key <> :key AND (CAST(:channel AS text) IS NULL OR channel = :channel)
""")
_WAITING = text(f"""
SELECT max(deferred_until) FROM messages
WHERE contact_id = :contact AND status = '{MessageStatus.DEFERRED}' AND error LIKE :cap AND priority > :priority
  AND idempotency_key <> :key AND deferred_until > :recent
""")


@dataclass
class Hold:
    reason: str
    until: datetime


def quiet_hold(contact: Contact, now: datetime, journey_zone: str | None, journey_quiet: dict | None,
               settings: Settings) -> Hold | None:
    """Inside quiet hours (the journey's, else the brand's) in the contact's time zone?"""
    if journey_quiet:
        start, end = journey_quiet["start"], journey_quiet["end"]
    elif settings.quiet_hours:
        start, _, end = settings.quiet_hours.partition("-")
    else:
        return None
    zone = first_zone(contact.time_zone, journey_zone, settings.brand_time_zone)
    until = quiet_until(now, zone, parse_local_time(start.strip()), parse_local_time(end.strip()))
    if until is None:
        return None
    return Hold(f"quiet hours {start.strip()}-{end.strip()} in {zone.key}", until)


async def cap_hold(conn: AsyncConnection, caps: list[FrequencyCap], contact_id: int, channel: str, key: str,
                   priority: int, now: datetime) -> Hold | None:
    """Whether the caps leave room for this message now. Call inside a transaction: it locks the
    contact until that transaction ends, and the caller records the message before it does."""
    await conn.execute(_LOCK, {"contact": contact_id})
    for cap in caps:
        if cap.channel is not None and cap.channel != channel:
            continue
        window = parse_duration(cap.per)
        used = (await conn.execute(_USED, {"contact": contact_id, "since": now - window, "key": key,
                                           "channel": cap.channel})).scalar_one()
        if len(used) >= cap.max:
            # Room comes back when enough of the counted messages leave the window.
            frees_at = used[len(used) - cap.max] + window if cap.max else now + window
            scope = f"{cap.channel} " if cap.channel else ""
            return Hold(f"{CAP_REASON}: {cap.max} {scope}messages per {cap.per}", frees_at)
    waiting = (await conn.execute(_WAITING, {"contact": contact_id, "cap": f"{CAP_REASON}%", "priority": priority,
                                             "key": key, "recent": now - _PRIORITY_HOLD})).scalar_one()
    if waiting is not None:
        return Hold(f"{CAP_REASON}: a higher-priority message goes first", max(waiting, now) + _AFTER_PRIORITY)
    return None
