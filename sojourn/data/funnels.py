"""A journey's funnel counted from the raw rows: steps per node and way out (journey_steps,
from its covering index), runs by how they stand (journey_runs), and what recipients did with
each send node's messages (messages and engagement_events). The funnel reads these only for the
partial days at a range's edges (few rows); whole days come from the counts kept as rows move
(`sojourn.data.funnel_counts`), which the tests check against these.

A funnel selects runs by when they entered the journey, [since, until), and optionally one version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, case, distinct, func, literal, select, text, true
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.contracts.statuses import MessageStatus
from sojourn.data.models import Conversion, EngagementEvent, JourneyRun, JourneyStep, Message

# Ways out whose reasons are counted one by one; other reasons (a failure's error text) are not.
_BY_REASON = (MessageStatus.SKIPPED,)
ENGAGEMENTS = ("delivered", "opened", "clicked", "bounced", "complained", "unsubscribed")


@dataclass(frozen=True)
class Scope:
    journey_id: str
    version: int | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass
class NodeCounts:
    entered: int = 0
    here: int = 0  # entered, not left: resting there (a deferred send among them)
    left: dict[str | None, int] = field(default_factory=dict)  # by way out (None: its only one)
    reasons: dict[str, dict[str, int]] = field(default_factory=dict)  # way out -> reason -> runs
    deferred: int = 0  # here, held by a deferral

    def count(self, outcome: str | None, reason: str | None, here: bool, n: int) -> None:
        """Count `n` steps that left by `outcome` (with a skip's `reason`), or are still here."""
        self.entered += n
        if here:
            self.here += n
            self.deferred += n if outcome == MessageStatus.DEFERRED else 0
            return
        self.left[outcome] = self.left.get(outcome, 0) + n
        if reason is not None:
            by_reason = self.reasons.setdefault(outcome, {})
            by_reason[reason] = by_reason.get(reason, 0) + n

    def add(self, other: NodeCounts) -> None:
        self.entered, self.here, self.deferred = (
            self.entered + other.entered, self.here + other.here, self.deferred + other.deferred)
        _add(self.left, other.left)
        for outcome, reasons in other.reasons.items():
            _add(self.reasons.setdefault(outcome, {}), reasons)


@dataclass
class RunCounts:
    entered: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    exited: dict[str, int] = field(default_factory=dict)  # by exit reason

    def count(self, status: str, exit_reason: str | None, n: int) -> None:
        self.entered += n
        self.by_status[status] = self.by_status.get(status, 0) + n
        if status == "exited":
            reason = exit_reason or "unknown"
            self.exited[reason] = self.exited.get(reason, 0) + n

    def add(self, other: RunCounts) -> None:
        self.entered += other.entered
        _add(self.by_status, other.by_status)
        _add(self.exited, other.exited)


@dataclass
class Converted:
    runs: int = 0
    revenue: float = 0.0

    def add(self, other: Converted) -> None:
        self.runs, self.revenue = self.runs + other.runs, self.revenue + other.revenue


@dataclass
class SendCounts:
    unique: dict[str, int] = field(default_factory=dict)  # messages with at least one such engagement
    total: dict[str, int] = field(default_factory=dict)

    def add(self, other: SendCounts) -> None:
        _add(self.unique, other.unique)
        _add(self.total, other.total)


def _add(into: dict, counts: dict) -> None:
    for key, n in counts.items():
        into[key] = into.get(key, 0) + n


def _in_scope(version_column, started_column, scope: Scope) -> list:
    conditions = []
    if scope.version is not None:
        conditions.append(version_column == scope.version)
    if scope.since is not None:
        conditions.append(started_column >= scope.since)
    if scope.until is not None:
        conditions.append(started_column < scope.until)
    return conditions


async def node_counts(session: AsyncSession, scope: Scope) -> dict[str, NodeCounts]:
    """Per node: steps entered, still open, and left by each way out (skips by reason)."""
    s = JourneyStep.__table__.c
    reason = case((s.outcome.in_(_BY_REASON), s.reason), else_=literal(None))
    query = (select(s.node_id, s.outcome, reason.label("reason"), (s.left_at.is_(None)).label("here"),
                    func.count().label("n"))
             .where(s.journey_id == scope.journey_id, *_in_scope(s.version, s.run_started_at, scope))
             .group_by(text("1, 2, 3, 4")))  # by position: the reason's CASE carries bound values
    nodes: dict[str, NodeCounts] = {}
    for row in (await session.execute(query)).all():
        nodes.setdefault(row.node_id, NodeCounts()).count(row.outcome, row.reason, row.here, row.n)
    return nodes


async def run_counts(session: AsyncSession, scope: Scope) -> RunCounts:
    """The scope's runs by status, and exits by reason."""
    r = JourneyRun.__table__.c
    query = (select(r.status, r.exit_reason, func.count().label("n"))
             .where(r.journey_id == scope.journey_id, *_in_scope(r.version, r.enrolled_at, scope))
             .group_by(r.status, r.exit_reason))
    counts = RunCounts()
    for row in (await session.execute(query)).all():
        counts.count(row.status, row.exit_reason, row.n)
    return counts


async def send_counts(session: AsyncSession, scope: Scope) -> dict[str, SendCounts]:
    """Per send node: engagement with its messages (people's, not link scanners'), unique and total."""
    if scope.since is not None or scope.until is not None:
        return await _ranged_send_counts(session, scope)
    m, e = Message.__table__.c, EngagementEvent.__table__.c
    query = (select(m.node_id, *_engagement_columns(e))
             .select_from(Message.__table__.join(EngagementEvent.__table__, and_(e.message_id == m.id, ~e.automated)))
             .where(m.journey_id == scope.journey_id, ~m.test)
             .group_by(m.node_id))
    if scope.version is not None:
        query = query.where(m.journey_version == scope.version)
    return await _send_counts(session, query)


async def _ranged_send_counts(session: AsyncSession, scope: Scope) -> dict[str, SendCounts]:
    """The same for the runs that entered in a range (a partial day at a range's edge): from
    those runs (by the funnel index) to their messages and each message's events, by index
    lookups, rather than every message of the journey hashed against them."""
    r, m, e = JourneyRun.__table__, Message.__table__, EngagementEvent.__table__
    # The messages of a run: a message's key begins with its run's scope.
    run_scope = r.c.workflow_id + "/" + func.coalesce(r.c.batch, r.c.run_id) + "/"
    messages = select(m.c.id, m.c.node_id).where(
        m.c.workflow_id == r.c.workflow_id, func.starts_with(m.c.idempotency_key, run_scope),
        m.c.journey_id == scope.journey_id, ~m.c.test)
    if scope.version is not None:
        messages = messages.where(m.c.journey_version == scope.version)
    messages = messages.lateral("message")
    events = select(e.c.message_id, e.c.type).where(e.c.message_id == messages.c.id, ~e.c.automated).lateral("event")
    query = (select(messages.c.node_id, *_engagement_columns(events.c))
             .select_from(r.join(messages, true()).join(events, true()))
             .where(r.c.journey_id == scope.journey_id,
                    *_in_scope(r.c.version, r.c.enrolled_at, Scope(scope.journey_id, None, scope.since, scope.until)))
             .group_by(messages.c.node_id))
    return await _send_counts(session, query)


def _engagement_columns(e) -> list:
    columns = []
    for kind in ENGAGEMENTS:
        columns.append(func.count(distinct(e.message_id)).filter(e.type == kind).label(f"unique_{kind}"))
        columns.append(func.count().filter(e.type == kind).label(f"total_{kind}"))
    return columns


async def _send_counts(session: AsyncSession, query) -> dict[str, SendCounts]:
    counts: dict[str, SendCounts] = {}
    for row in (await session.execute(query)).all():
        counts[row.node_id] = SendCounts(
            unique={kind: getattr(row, f"unique_{kind}") for kind in ENGAGEMENTS},
            total={kind: getattr(row, f"total_{kind}") for kind in ENGAGEMENTS})
    return counts


async def conversions(session: AsyncSession, scope: Scope) -> dict[str | None, Converted]:
    """The scope's conversions and revenue by the send node they are attributed to (None: no message)."""
    c = Conversion.__table__.c
    query = (select(c.node_id, func.count().label("n"), func.coalesce(func.sum(c.value), 0).label("revenue"))
             .where(c.journey_id == scope.journey_id, *_in_scope(c.version, c.run_started_at, scope))
             .group_by(c.node_id))
    return {row.node_id: Converted(row.n, float(row.revenue)) for row in (await session.execute(query)).all()}
