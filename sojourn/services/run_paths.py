"""What runs wrote as they moved (journey_steps): each run's path, and the runs resting at a node
now. The console reads them: a contact's runs as timelines, a node's waiting runs."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.data.funnels import Scope
from sojourn.data.models import Contact, JourneyStep

RESTING_LIMIT = 200


async def paths(session: AsyncSession, run_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Each run's steps in the order it took them (a run that wrote none is left out)."""
    if not run_ids:
        return {}
    steps = (await session.execute(select(JourneyStep).where(JourneyStep.run_id.in_(run_ids))
                                   .order_by(JourneyStep.run_id, JourneyStep.seq))).scalars()
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for step in steps:
        found[step.run_id].append({"node": step.node_id, "type": step.node_type, "entered_at": step.entered_at,
                                   "left_at": step.left_at, "outcome": step.outcome, "reason": step.reason})
    return dict(found)


async def resting(session: AsyncSession, scope: Scope, node_id: str, limit: int = RESTING_LIMIT) -> list[dict[str, Any]]:
    """The runs at `node_id` now (entered, not left), longest there first: the funnel's `here`
    for the same scope, with each run's contact."""
    s = JourneyStep.__table__.c
    query = (select(Contact.external_id, s.run_id, s.version, s.entered_at, s.run_started_at)
             .join(Contact, Contact.id == s.contact_id)
             .where(s.journey_id == scope.journey_id, s.node_id == node_id, s.left_at.is_(None))
             .order_by(s.entered_at, s.run_id).limit(limit))
    if scope.version is not None:
        query = query.where(s.version == scope.version)
    if scope.since is not None:
        query = query.where(s.run_started_at >= scope.since)
    if scope.until is not None:
        query = query.where(s.run_started_at < scope.until)
    return [dict(row) for row in (await session.execute(query)).mappings()]
