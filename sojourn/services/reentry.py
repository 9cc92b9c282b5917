"""The re-entry rule, one for every way into a journey: direct and segment enrollment, a
scheduled firing, a batched send, an event or segment trigger.

Whether a contact may enter depends on every earlier run of that contact in the journey,
whatever the enrollment, firing, batch or workflow id that made it. `never` admits a contact
once; `after_exit` again once no run of theirs is active; `always` again once no run is active
and the last began more than `cooldown` ago. The one exception is an event entry with `key`
(one run per cart, per order): there the rule counts the runs under the event's key, because
such a journey is about the thing the key names (a second cart is a new cart, the same cart
abandoned again is not); every other way into that journey counts all of the contact's runs.

Admission is decided under a transaction-scoped advisory lock per (journey, contact), held
until the caller has started and recorded the runs it admitted (its commit), so two ways in
at once cannot both let a contact in: the second waits, then sees the first's run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import ARRAY, BigInteger, and_, bindparam, or_, select, text, true
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.data.models import JourneyRun, utcnow
from sojourn.dsl.definition import Reentry
from sojourn.dsl.durations import parse_duration

_LOCK = text("SELECT pg_advisory_xact_lock(k) FROM unnest(:keys) AS k").bindparams(
    bindparam("keys", type_=ARRAY(BigInteger)))


@dataclass(frozen=True)
class EarlierRun:
    """The run that keeps a contact out (their latest one that counts)."""

    workflow_id: str
    run_id: str
    version: int
    key: str | None


def reentry_of(definition: dict) -> Reentry:
    """The re-entry rule of a stored definition, without parsing the rest of it."""
    return Reentry.model_validate(definition.get("reentry", {}))


async def admit(session: AsyncSession, journey_id: str, reentry: Reentry, contact_ids: list[int], *,
                event_key: str | None = None, counted=None) -> dict[int, EarlierRun]:
    """Lock each (journey, contact) until the session's transaction ends, and return the
    contacts the re-entry rule keeps out, each with the run that keeps it out.

    `event_key`: the key of a keyed event entry (only that key's runs count). `counted` narrows
    the runs that count: a batched send leaves out its own rows, so a retried page leaves nobody
    out (the message keys see that it sends nothing twice)."""
    if not contact_ids:
        return {}
    await session.execute(_LOCK, {"keys": sorted({_lock_key(journey_id, c) for c in contact_ids})})
    earlier = and_(JourneyRun.journey_id == journey_id, JourneyRun.contact_id.in_(contact_ids),
                   true() if counted is None else counted)
    if event_key is not None:
        earlier = and_(earlier, JourneyRun.key == event_key)
    rows = await session.execute(
        select(JourneyRun.contact_id, JourneyRun.workflow_id, JourneyRun.run_id, JourneyRun.version, JourneyRun.key)
        .where(earlier, _keeps_out(reentry))
        .distinct(JourneyRun.contact_id)
        .order_by(JourneyRun.contact_id, JourneyRun.enrolled_at.desc(), JourneyRun.id.desc()))
    return {row.contact_id: EarlierRun(row.workflow_id, row.run_id, row.version, row.key) for row in rows}


def _keeps_out(reentry: Reentry):
    """Which earlier runs keep a contact out under the policy."""
    if reentry.policy == "never":
        return true()
    active = JourneyRun.status == "active"
    if reentry.policy == "always" and reentry.cooldown is not None:
        return or_(active, JourneyRun.enrolled_at > utcnow() - parse_duration(reentry.cooldown))
    return active


def _lock_key(journey_id: str, contact_id: int) -> int:
    """A signed 64-bit advisory lock key for (journey, contact); taken in sorted order, so
    two admissions over overlapping contacts cannot deadlock."""
    digest = hashlib.blake2b(f"reentry/{journey_id}/{contact_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
