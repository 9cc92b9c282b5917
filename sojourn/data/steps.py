"""Writing step records (sojourn/contracts/steps.py): one idempotent statement per batch."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, bindparam, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from sojourn.contracts.steps import RunSteps
from sojourn.data.models import JourneyRun, JourneyStep


def _at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _upsert():
    # A run entered the journey when its record says (`enrolled_at`, what the funnel selects runs
    # and conversions by), so a time range's edge takes or leaves a run and its steps together.
    # Until the API has recorded the run, the workflow's start stands in; `align_steps` fixes it.
    enrolled = select(JourneyRun.enrolled_at).where(JourneyRun.run_id == bindparam("of_run")).scalar_subquery()
    rows = insert(JourneyStep.__table__).values(run_started_at=func.coalesce(enrolled, bindparam("started", type_=DateTime(timezone=True))))
    step = JourneyStep.__table__.c
    changed = ["left_at", "outcome", "reason", "run_started_at"]
    # A retry that changes nothing writes nothing: no dead row, and the funnel's counts (moved by
    # a trigger on every update, migration 0016) are not touched.
    return rows.on_conflict_do_update(
        index_elements=["run_id", "seq"], set_={name: rows.excluded[name] for name in changed},
        where=tuple_(*(step[name] for name in changed)).is_distinct_from(tuple_(*(rows.excluded[name] for name in changed))))


# Built once, with bind parameters: building a multi-row ORM insert for every write cost the
# worker more than sending it (every run writes before each rest and with each send).
_UPSERT = _upsert()


async def write_steps(conn: AsyncConnection, run: RunSteps) -> None:
    """On an autocommit connection: insert the run's steps, or bring written ones up to date (a step left since, a retry)."""
    if not run.steps:
        return
    started = datetime.fromisoformat(run.started_at)
    rows = [dict(run_id=run.run_id, seq=step.seq, journey_id=run.journey_id, version=run.version,
                 contact_id=run.contact_id, node_id=step.node, node_type=step.type, of_run=run.run_id, started=started,
                 entered_at=datetime.fromisoformat(step.entered_at), left_at=_at(step.left_at), outcome=step.outcome,
                 reason=step.reason)
            for step in run.steps]
    try:
        await conn.execute(_UPSERT, rows)
    except IntegrityError:
        pass  # the contact was erased, and its steps with it


async def align_steps(session: AsyncSession, run_ids: list[str]) -> None:
    """Give steps written before their run was recorded the run's `enrolled_at` (see `write_steps`)."""
    s, r = JourneyStep.__table__.c, JourneyRun.__table__.c
    await session.execute(update(JourneyStep.__table__).where(
        s.run_id == r.run_id, r.run_id.in_(run_ids), s.run_started_at != r.enrolled_at)
        .values(run_started_at=r.enrolled_at))
