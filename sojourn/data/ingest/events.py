"""Storing a batch of events: contacts resolved (or created), event ids stored once, the
new rows COPYed (see the package docstring for the race with a concurrent batch)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from sojourn.contracts.journey import ContactEvent
from sojourn.data.conversions import record_conversions
from sojourn.data.ingest import ATTEMPTS

log = logging.getLogger(__name__)

EVENT_BATCH_MAX = 10_000


@dataclass
class EventRow:
    """A validated event of a batch; `index` is its position in the request."""

    index: int
    event_id: str
    contact: str
    name: str
    properties: dict[str, Any]
    properties_json: str
    occurred_at: datetime


@dataclass
class IngestedEvent:
    """An event as stored, handed on to journeys only once (never for a repeated event_id)."""

    event_id: str
    contact_id: int
    contact_external_id: str
    name: str
    properties: dict[str, Any]
    occurred_at: datetime

    def as_contact_event(self) -> ContactEvent:
        return ContactEvent(event_id=self.event_id, name=self.name, properties=self.properties,
                            occurred_at=self.occurred_at.isoformat())


@dataclass
class StoredEvents:
    inserted: list[IngestedEvent] = field(default_factory=list)
    duplicates: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    created_contacts: list[int] = field(default_factory=list)


def new_event_id() -> str:
    return uuid.uuid4().hex


_RESOLVE_CONTACTS = """
SELECT c.id, c.external_id FROM unnest($1::text[]) AS w(external_id) JOIN contacts c USING (external_id)
"""

_CREATE_CONTACTS = """
INSERT INTO contacts (external_id)
SELECT w.external_id FROM unnest($1::text[]) AS w(external_id)
ON CONFLICT (external_id) DO NOTHING
RETURNING id, external_id
"""

_EVENT_COLUMNS = ("event_id", "contact_id", "name", "properties", "occurred_at")

_KNOWN_EVENT_IDS = """
SELECT coalesce(array_agg(e.event_id), '{}') FROM unnest($1::text[]) AS w(event_id) JOIN events e USING (event_id)
"""

_INSERT_EVENTS = """
INSERT INTO events (event_id, contact_id, name, properties, occurred_at)
SELECT e.event_id, e.contact_id, e.name, e.properties::jsonb, e.occurred_at
FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::timestamptz[])
     AS e(event_id, contact_id, name, properties, occurred_at)
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""


async def store_events(conn: asyncpg.Connection, rows: list[EventRow], auto_create: bool) -> StoredEvents:
    """Store a batch of validated events in one transaction, with the conversions they make
    (sojourn/data/conversions.py); repeated event ids (stored before, or twice in the batch) are
    counted as duplicates and stored once."""
    bulk = True
    for attempt in range(1, ATTEMPTS + 2):
        try:
            async with conn.transaction():
                stored = await _store_events(conn, rows, auto_create, bulk)
                await record_conversions(conn, stored.inserted)
                return stored
        except asyncpg.UniqueViolationError:
            if not bulk:
                raise
            # A concurrent request stored some of the same event ids after we looked:
            # the whole batch again, with INSERT ... ON CONFLICT DO NOTHING this time.
            log.info("event batch raced another with the same event ids; storing it with ON CONFLICT")
            bulk = False
        except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError):
            if attempt >= ATTEMPTS:
                raise
            log.warning("event batch retried after a deadlock or serialization failure (attempt %d)", attempt)
    raise AssertionError("unreachable")


async def _store_events(conn: asyncpg.Connection, rows: list[EventRow], auto_create: bool,
                        bulk: bool) -> StoredEvents:
    result = StoredEvents()
    first: dict[str, EventRow] = {}
    for row in rows:
        if row.event_id in first:
            result.duplicates += 1
        else:
            first[row.event_id] = row
    unique_rows = list(first.values())
    contacts, created = await resolve_contacts(conn, {row.contact for row in unique_rows}, auto_create)
    result.created_contacts = created
    storable = []
    for row in unique_rows:
        if row.contact in contacts:
            storable.append(row)
        else:
            result.rejected.append((row.index, f"contact: no contact with external id '{row.contact}'"))
    if not storable:
        return result
    storable.sort(key=lambda r: r.event_id)  # key order: overlapping batches never deadlock
    inserted = await _insert_events(conn, storable, contacts, bulk)
    result.duplicates += len(storable) - len(inserted)
    result.inserted = [
        IngestedEvent(event_id=r.event_id, contact_id=contacts[r.contact], contact_external_id=r.contact,
                      name=r.name, properties=r.properties, occurred_at=r.occurred_at)
        for r in sorted(storable, key=lambda r: r.index) if r.event_id in inserted
    ]
    return result


async def _insert_events(conn: asyncpg.Connection, rows: list[EventRow], contacts: dict[str, int],
                         bulk: bool) -> set[str]:
    """Insert the rows whose event id is new; returns those ids.

    `bulk`: drop the ids already stored, then COPY the rest straight into `events` (COPY
    writes rows in bulk, several times cheaper than INSERT). If a concurrent request
    stored one of the same ids in between, the COPY fails on the unique index, and the
    caller runs the batch again without `bulk`: `INSERT ... ON CONFLICT DO NOTHING
    RETURNING`, which cannot fail that way."""
    if not bulk:
        return set(await conn.fetchval(
            f"WITH new AS ({_INSERT_EVENTS}) SELECT coalesce(array_agg(event_id), '{{}}') FROM new",
            [r.event_id for r in rows], [contacts[r.contact] for r in rows], [r.name for r in rows],
            [r.properties_json for r in rows], [r.occurred_at for r in rows]))
    stored = set(await conn.fetchval(_KNOWN_EVENT_IDS, [r.event_id for r in rows]))
    fresh = [r for r in rows if r.event_id not in stored]
    if fresh:
        await conn.copy_records_to_table("events", columns=_EVENT_COLUMNS, records=[
            (r.event_id, contacts[r.contact], r.name, r.properties_json, r.occurred_at) for r in fresh])
    return {r.event_id for r in fresh}


async def resolve_contacts(conn: asyncpg.Connection, external_ids: Iterable[str],
                           create: bool) -> tuple[dict[str, int], list[int]]:
    """Ids of the named contacts (creating the missing ones with their external id only,
    if `create`); returns ({external_id: id}, ids of the contacts created)."""
    wanted = sorted(set(external_ids))
    found = {r["external_id"]: r["id"] for r in await conn.fetch(_RESOLVE_CONTACTS, wanted)}
    created: list[int] = []
    missing = [ext for ext in wanted if ext not in found]
    if missing and create:
        for r in await conn.fetch(_CREATE_CONTACTS, missing):
            found[r["external_id"]] = r["id"]
            created.append(r["id"])
        if len(found) < len(wanted):
            # Another request created some of them after our snapshot; ON CONFLICT waited for
            # it to commit, so a fresh statement sees them now.
            late = [ext for ext in missing if ext not in found]
            found.update({r["external_id"]: r["id"] for r in await conn.fetch(_RESOLVE_CONTACTS, late)})
    return found, created
