"""Writing step records (sojourn/contracts/steps.py): one idempotent statement per batch."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from sojourn.contracts.steps import RunSteps
from sojourn.data.models import JourneyStep


def _at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _upsert():
    rows = insert(JourneyStep.__table__)
    return rows.on_conflict_do_update(
        index_elements=["run_id", "seq"],
        set_={"left_at": rows.excluded.left_at, "outcome": rows.excluded.outcome, "reason": rows.excluded.reason})


# Built once, with bind parameters: building a multi-row ORM insert for every write cost the
# worker more than sending it (every run writes before each rest and with each send).
_UPSERT = _upsert()


async def write_steps(conn: AsyncConnection, run: RunSteps) -> None:
    """On an autocommit connection: insert the run's steps, or bring written ones up to date (a step left since, a retry)."""
    if not run.steps:
        return
    started = datetime.fromisoformat(run.started_at)
    rows = [dict(run_id=run.run_id, seq=step.seq, journey_id=run.journey_id, version=run.version,
                 contact_id=run.contact_id, node_id=step.node, node_type=step.type, run_started_at=started,
                 entered_at=datetime.fromisoformat(step.entered_at), left_at=_at(step.left_at), outcome=step.outcome,
                 reason=step.reason)
            for step in run.steps]
    try:
        await conn.execute(_UPSERT, rows)
    except IntegrityError:
        pass  # the contact was erased, and its steps with it
