"""What a journey run reads and writes about its contact: branch conditions, the next local
time, tag changes, its steps, and the run's end."""

from __future__ import annotations

from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from sojourn.contracts.journey_data import RunEnd, TagChange
from sojourn.contracts.steps import RunSteps
from sojourn.data import segments
from sojourn.data.db import session_factory
from sojourn.data.models import Contact, ContactTag, JourneyRun, utcnow
from sojourn.data.steps import write_steps
from sojourn.dsl.filters import parse_filter
from sojourn.dsl.send_windows import first_zone, next_local_time, parse_local_time
from sojourn.errors import Invalid, Unavailable

# The API records a run right after starting it; a run that ends within that moment
# waits for the record this many attempts before writing it itself.
ATTEMPTS_BEFORE_INSERTING = 5


class UnreadableCondition(Invalid):
    """A branch condition that cannot be evaluated (asking again will not help)."""


class RunNotRecordedYet(Unavailable):
    """The run's record is not there yet: ask again."""


class JourneyData:
    def __init__(self, engine: AsyncEngine, brand_time_zone: str = "UTC") -> None:
        self._brand_time_zone = brand_time_zone
        # A run's end is one update (rarely followed by an idempotent upsert): no transaction needed.
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._sessions = session_factory(engine)

    async def evaluate_conditions(self, contact_id: int, filters: list[dict], now: datetime) -> list[bool]:
        """Whether the contact matches each filter at `now`; UnreadableCondition if one cannot be evaluated."""
        answers = []
        async with self._sessions() as session:
            for raw in filters:
                try:
                    answers.append(await segments.matches(session, parse_filter(raw), contact_id, now=now))
                except (ValidationError, segments.SegmentError) as err:
                    raise UnreadableCondition(f"branch condition cannot be evaluated: {err}") from err
        return answers

    async def next_local_time(self, contact_id: int, at: str, now: datetime, weekdays: list[str] | None,
                              time_zone: str | None) -> datetime:
        """When it is next `at` (on one of `weekdays`) in the contact's zone, else the journey's
        (`time_zone`), else the brand's. Asked when the wait starts, so the contact's current zone counts."""
        async with self._autocommit.connect() as conn:
            contact_zone = await conn.scalar(select(Contact.time_zone).where(Contact.id == contact_id))
        zone = first_zone(contact_zone, time_zone, self._brand_time_zone)
        return next_local_time(now, zone, parse_local_time(at), weekdays)

    async def tag_contact(self, change: TagChange) -> float | None:
        """Apply a `tag` node's change; the tag's weight after it (None once removed)."""
        where = (ContactTag.contact_id == change.contact_id, ContactTag.tag == change.tag)
        async with self._autocommit.connect() as conn:
            if change.action == "remove":
                await conn.execute(delete(ContactTag).where(*where))
                return None
            row = insert(ContactTag).values(contact_id=change.contact_id, tag=change.tag, weight=change.weight,
                                            source=change.source, updated_at=utcnow(), change_key=change.key)
            weight = row.excluded.weight if change.action == "add" else ContactTag.weight + row.excluded.weight
            try:
                await conn.execute(row.on_conflict_do_update(
                    index_elements=["contact_id", "tag"],
                    set_={"weight": weight, "source": row.excluded.source, "updated_at": row.excluded.updated_at,
                          "change_key": row.excluded.change_key},
                    where=ContactTag.change_key.is_distinct_from(row.excluded.change_key)))  # a retry: done already
            except IntegrityError:
                return None  # the contact was erased
            return await conn.scalar(select(ContactTag.weight).where(*where))

    async def record_steps(self, steps: RunSteps) -> None:
        async with self._autocommit.connect() as conn:
            await write_steps(conn, steps)

    async def record_run_end(self, end: RunEnd, attempt: int) -> None:
        """Record how the run ended. Until `ATTEMPTS_BEFORE_INSERTING`, a run not recorded yet
        raises RunNotRecordedYet (the API is about to record it); after that, it is written here."""
        values = dict(status=end.status, ended_at=datetime.fromisoformat(end.ended_at), exit_reason=end.exit_reason,
                      converted_at=datetime.fromisoformat(end.converted_at) if end.converted_at else None)
        async with self._autocommit.connect() as conn:
            if end.steps is not None:
                await write_steps(conn, end.steps)
            updated = await conn.execute(update(JourneyRun).where(JourneyRun.run_id == end.run_id).values(**values))
            if updated.rowcount:
                return
            if await conn.scalar(select(Contact.id).where(Contact.id == end.contact_id)) is None:
                return  # the contact was erased, and its runs with it: nothing to record
            if attempt < ATTEMPTS_BEFORE_INSERTING:
                raise RunNotRecordedYet(f"run {end.run_id} is not recorded yet")
            # The run entered when it started (funnels select runs by it), not when it ended.
            entered = {"enrolled_at": datetime.fromisoformat(end.steps.started_at)} if end.steps else {}
            await conn.execute(insert(JourneyRun).values(
                run_id=end.run_id, workflow_id=end.workflow_id, journey_id=end.journey_id, version=end.version,
                contact_id=end.contact_id, key=end.key, **entered, **values).on_conflict_do_update(
                index_elements=["run_id"], set_=values))
