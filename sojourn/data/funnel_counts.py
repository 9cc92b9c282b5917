"""A journey's funnel over whole days, from the counts kept as rows move (migration 0016: triggers
on journey_steps, journey_runs, conversions, engagement_events and messages keep them equal to
the raw rows' counts per UTC day the runs entered). A sum over days × nodes × ways out: a few
thousand rows a month, whatever the number of runs. The partial days at a range's edges are
counted from the raw rows (`sojourn.data.funnels`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import column, func, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.data.funnels import Converted, NodeCounts, RunCounts, SendCounts

_steps = table("funnel_step_counts", *(column(c) for c in (
    "journey_id", "version", "day", "node_id", "outcome", "reason", "here", "n")))
_runs = table("funnel_run_counts", *(column(c) for c in ("journey_id", "version", "day", "status", "exit_reason", "n")))
_conversions = table("funnel_conversion_counts", *(column(c) for c in (
    "journey_id", "version", "day", "node_id", "n", "revenue")))
_engagement = table("funnel_engagement_counts", *(column(c) for c in (
    "journey_id", "version", "day", "node_id", "kind", "uniques", "total")))


@dataclass(frozen=True)
class Days:
    """Runs of a journey (one version or all) that entered on UTC days [first, until); None:
    unbounded. Unbounded on both sides, it also takes in engagement with messages whose run was
    never recorded (day NULL), as the raw count without a range does."""
    journey_id: str
    version: int | None = None
    first: date | None = None
    until: date | None = None


def _where(counts, days: Days) -> list:
    conditions = [counts.c.journey_id == days.journey_id]
    if days.version is not None:
        conditions.append(counts.c.version == days.version)
    if days.first is not None:
        conditions.append(counts.c.day >= days.first)
    if days.until is not None:
        conditions.append(counts.c.day < days.until)
    if days.first is not None or days.until is not None:
        conditions.append(counts.c.day.is_not(None))
    return conditions


async def node_counts(session: AsyncSession, days: Days) -> dict[str, NodeCounts]:
    c = _steps.c
    query = (select(c.node_id, c.outcome, c.reason, c.here, func.sum(c.n).label("n"))
             .where(*_where(_steps, days)).group_by(c.node_id, c.outcome, c.reason, c.here)
             .having(func.sum(c.n) != 0))  # a key whose rows all left (erased, moved on) counts nothing
    nodes: dict[str, NodeCounts] = {}
    for row in (await session.execute(query)).all():
        nodes.setdefault(row.node_id, NodeCounts()).count(row.outcome, row.reason, row.here, int(row.n))
    return nodes


async def run_counts(session: AsyncSession, days: Days) -> RunCounts:
    c = _runs.c
    query = (select(c.status, c.exit_reason, func.sum(c.n).label("n"))
             .where(*_where(_runs, days)).group_by(c.status, c.exit_reason).having(func.sum(c.n) != 0))
    counts = RunCounts()
    for row in (await session.execute(query)).all():
        counts.count(row.status, row.exit_reason, int(row.n))
    return counts


async def send_counts(session: AsyncSession, days: Days) -> dict[str, SendCounts]:
    c = _engagement.c
    query = (select(c.node_id, c.kind, func.sum(c.uniques).label("uniques"), func.sum(c.total).label("total"))
             .where(*_where(_engagement, days)).group_by(c.node_id, c.kind).having(func.sum(c.total) != 0))
    counts: dict[str, SendCounts] = {}
    for row in (await session.execute(query)).all():
        node = counts.setdefault(row.node_id, SendCounts())
        node.unique[row.kind] = int(row.uniques)
        node.total[row.kind] = int(row.total)
    return counts


async def conversions(session: AsyncSession, days: Days) -> dict[str | None, Converted]:
    c = _conversions.c
    query = (select(c.node_id, func.sum(c.n).label("n"), func.sum(c.revenue).label("revenue"))
             .where(*_where(_conversions, days)).group_by(c.node_id).having(func.sum(c.n) != 0))
    return {row.node_id: Converted(int(row.n), float(row.revenue)) for row in (await session.execute(query)).all()}
