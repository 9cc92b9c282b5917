"""What ingested data does to journeys: events start, steer and end runs; contacts that
come to match a segment enter its journeys.

Only journeys that name an event hear of it, so events nobody listens for cost one
dictionary lookup. The journey index is rebuilt at most every few seconds per process
(and at once after a journey changes in this process); the API builds one `Triggers` at startup.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError

from sojourn.contracts.journey import EVENT_SIGNAL, ContactEvent
from sojourn.data.ingest.events import IngestedEvent
from sojourn.data.models import Contact, Journey, JourneyRun, JourneyVersion, Segment
from sojourn.dsl.definition import JourneyDefinition
from sojourn.dsl.filters import lookup, parse_filter, properties_match
from sojourn.services.journeys import enter

log = logging.getLogger(__name__)

_INDEX_TTL_SECONDS = 3.0
_CONCURRENCY = 50
_ENTER_CHUNK = 500  # contacts admitted (and locked) per transaction when a change makes many match


@dataclass
class _Journey:
    id: str
    version: int
    raw: dict
    definition: JourneyDefinition
    active: bool


@dataclass
class _Index:
    built: float
    entry_by_event: dict[str, list[_Journey]] = field(default_factory=dict)
    listening: dict[str, list[_Journey]] = field(default_factory=dict)
    by_segment_entry: list[_Journey] = field(default_factory=list)


class Triggers:
    """The journeys' ears for one process: built once with the database and Temporal it uses,
    it keeps the journey index between calls."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], temporal: Client, task_queue: str) -> None:
        self._sessions, self._temporal, self._task_queue = sessions, temporal, task_queue
        self._index: _Index | None = None

    def invalidate(self) -> None:
        """Journeys changed in this process: rebuild the index on next use."""
        self._index = None

    async def on_events(self, events: list[IngestedEvent]) -> None:
        """Called after newly stored events are committed."""
        if not events:
            return
        index = await self._journey_index()
        starts = [(j, e) for e in events for j in index.entry_by_event.get(e.name, [])
                  if properties_match(j.definition.entry.where, e.properties) and _in_window(j, e.occurred_at)]
        heard = [(j, e) for e in events for j in index.listening.get(e.name, [])]
        gate = asyncio.Semaphore(_CONCURRENCY)

        async def bounded(coroutine):
            async with gate:
                return await coroutine

        await asyncio.gather(*(bounded(self._enter_by_event(j, e)) for j, e in starts))
        await asyncio.gather(*(bounded(self._tell_runs(j, e)) for j, e in heard))
        if index.by_segment_entry:
            await self.on_contacts_changed(sorted({e.contact_id for e in events}))

    async def on_contacts_changed(self, contact_ids: list[int]) -> None:
        """Contacts created or changed (upsert, import, events): enter the segment journeys they now match."""
        if not contact_ids:
            return
        from sojourn.data import segments  # noqa: PLC0415 - only segment-entry journeys need the SQL compiler

        index = await self._journey_index()
        now = datetime.now(timezone.utc)
        for journey in index.by_segment_entry:
            if not _in_window(journey, now):
                continue
            async with self._sessions() as session:
                segment = await session.get(Segment, journey.definition.entry.segment)
                if segment is None:
                    log.warning("journey %s enters by unknown segment %s", journey.id,
                                journey.definition.entry.segment)
                    continue
                matching = await segments.matching_ids(session, parse_filter(segment.filter), contact_ids)
            for chunk in _chunks(sorted(matching), _ENTER_CHUNK):
                await self._enter(journey, chunk, None, None)

    async def _journey_index(self) -> _Index:
        if self._index is not None and time.monotonic() - self._index.built < _INDEX_TTL_SECONDS:
            return self._index
        index = _Index(built=time.monotonic())
        async with self._sessions() as session:
            journeys = {j.id: j for j in (await session.execute(
                select(Journey).where(Journey.status != "archived"))).scalars()}
            versions = (await session.execute(select(JourneyVersion).where(
                JourneyVersion.journey_id.in_(list(journeys))))).scalars()
        for version in versions:
            journey = journeys[version.journey_id]
            try:
                definition = JourneyDefinition.model_validate(version.definition)
            except ValidationError as err:  # one bad row must not deafen every other journey
                log.warning("journey %s version %s cannot be read, so no event starts or steers it: %s",
                            journey.id, version.version, err, extra={"journey_id": journey.id})
                continue
            entry = _Journey(journey.id, version.version, version.definition, definition, journey.status == "active")
            # Runs may still be on any version, so every version's listening counts.
            for name in entry.definition.event_names():
                if journey.id not in {j.id for j in index.listening.get(name, [])}:
                    index.listening.setdefault(name, []).append(entry)
            if version.version == journey.latest_version and entry.active and entry.definition.entry:
                if entry.definition.entry.event:
                    index.entry_by_event.setdefault(entry.definition.entry.event, []).append(entry)
                elif entry.definition.entry.segment:
                    index.by_segment_entry.append(entry)
        self._index = index
        return index

    async def _enter_by_event(self, journey: _Journey, event: IngestedEvent) -> None:
        usable, key = _key(journey, event)
        if not usable:
            log.info("event %s has no %s; journey %s not entered", event.event_id, journey.definition.entry.key,
                     journey.id)
            return
        await self._enter(journey, [event.contact_id], key, event.as_contact_event())

    async def _enter(self, journey: _Journey, contact_ids: list[int], key: str | None,
                     trigger: ContactEvent | None) -> None:
        """Start the runs the journey's re-entry rule lets in (a keyed event entry counts its key's runs)."""
        async with self._sessions() as session:
            contacts = list((await session.execute(
                select(Contact).where(Contact.id.in_(contact_ids)).order_by(Contact.id))).scalars())
            version = JourneyVersion(journey_id=journey.id, version=journey.version, definition=journey.raw)
            await enter(session, self._temporal, self._task_queue, journey.id, version, contacts, key=key,
                        event_key=key is not None, trigger=trigger)

    async def _tell_runs(self, journey: _Journey, event: IngestedEvent) -> None:
        """Signal the contact's active runs of this journey (the run with the event's key, if keyed)."""
        usable, key = _key(journey, event)
        query = select(JourneyRun.workflow_id).where(
            JourneyRun.journey_id == journey.id, JourneyRun.contact_id == event.contact_id,
            JourneyRun.status == "active")
        if usable and key is not None:
            query = query.where(JourneyRun.key == key)
        async with self._sessions() as session:
            workflow_ids = set((await session.execute(query)).scalars())
        for workflow_id in workflow_ids:
            try:
                await self._temporal.get_workflow_handle(workflow_id).signal(EVENT_SIGNAL, event.as_contact_event())
            except RPCError as err:  # the run ended since it was recorded active
                log.info("event %s not delivered to %s: %s", event.event_id, workflow_id, err)


def _chunks(items: list[int], size: int) -> list[list[int]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _in_window(journey: _Journey, at: datetime) -> bool:
    entry = journey.definition.entry
    return (entry.starts_at is None or at >= entry.starts_at) and (entry.ends_at is None or at <= entry.ends_at)


def _key(journey: _Journey, event: IngestedEvent) -> tuple[bool, str | None]:
    """(usable, key) of a keyed journey's run for this event; unkeyed journeys have key None."""
    path = journey.definition.entry.key if journey.definition.entry else None
    if path is None:
        return True, None
    present, value = lookup({"properties": event.properties}, path)
    if not present or value is None or isinstance(value, (dict, list)):
        return False, None
    return True, str(value)
