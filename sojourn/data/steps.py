"""Writing step records (sojourn/contracts/steps.py): one idempotent statement per batch."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from sojourn.contracts.steps import RunSteps
from sojourn.data.models import JourneyRun, JourneyStep


def _at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


async def write_steps(conn: AsyncConnection, run: RunSteps) -> None:
    """On an autocommit connection: insert the run's steps, or bring written ones up to date (a step left since, a retry)."""
    if not run.steps:
        return
    # A run entered the journey when its record says (`enrolled_at`, what the funnel selects runs
    # and conversions by), so a time range's edge takes or leaves a run and its steps together.
    # Until the API has recorded the run, the workflow's start stands in; `align_steps` fixes it.
    started = func.coalesce(select(JourneyRun.enrolled_at).where(JourneyRun.run_id == run.run_id).scalar_subquery(),
                            datetime.fromisoformat(run.started_at))
    rows = insert(JourneyStep).values([
        dict(run_id=run.run_id, seq=step.seq, journey_id=run.journey_id, version=run.version,
             contact_id=run.contact_id, node_id=step.node, node_type=step.type, run_started_at=started,
             entered_at=datetime.fromisoformat(step.entered_at), left_at=_at(step.left_at), outcome=step.outcome,
             reason=step.reason)
        for step in run.steps])
    statement = rows.on_conflict_do_update(
        index_elements=["run_id", "seq"],
        set_={"left_at": rows.excluded.left_at, "outcome": rows.excluded.outcome, "reason": rows.excluded.reason,
              "run_started_at": rows.excluded.run_started_at})
    try:
        await conn.execute(statement)
    except IntegrityError:
        pass  # the contact was erased, and its steps with it


async def align_steps(session: AsyncSession, run_ids: list[str]) -> None:
    """Give steps written before their run was recorded the run's `enrolled_at` (see `write_steps`)."""
    s, r = JourneyStep.__table__.c, JourneyRun.__table__.c
    await session.execute(update(JourneyStep.__table__).where(
        s.run_id == r.run_id, r.run_id.in_(run_ids), s.run_started_at != r.enrolled_at)
        .values(run_started_at=r.enrolled_at))
