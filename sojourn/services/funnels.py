"""What a journey achieves, node by node: a funnel counted from the steps runs wrote as they
moved (sojourn/contracts/steps.py), the runs' records and their messages' engagement, never by
asking workflows. Counts are of steps: a run that comes back to a node counts at each visit.

Whole UTC days come from the counts kept as rows move (`sojourn.data.funnel_counts`); a range
edge inside a day adds that partial day counted from the raw rows, so any range is exact."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.contracts.statuses import MessageStatus, RunStatus
from sojourn.data import funnel_counts, funnels
from sojourn.data.models import JourneyVersion
from sojourn.errors import Invalid
from sojourn.services.journeys import JourneyNotFound, get_journey
from sojourn.services.usage import parse_instant

# The way out of a node that has only one.
NEXT = "next"


def scope(journey_id: str, version: int | None, start: str | None, end: str | None) -> funnels.Scope:
    """Runs that entered the journey in [from, to) (each a date or an ISO 8601 time, UTC unless
    it says; a date `to` takes in its whole day), of one version or all."""
    since = parse_instant("from", start, end_of_day=False) if start is not None else None
    until = parse_instant("to", end, end_of_day=True) if end is not None else None
    if since is not None and until is not None and since >= until:
        message = f"`from` ({since.isoformat()}) must come before `to` ({until.isoformat()})"
        raise Invalid(f"from: {message}", code="validation_error",
                      details=[{"field": "from", "message": message, "type": "invalid_funnel_query"}])
    return funnels.Scope(journey_id, version, since, until)


async def funnel(session: AsyncSession, where: funnels.Scope) -> dict[str, Any]:
    await get_journey(session, where.journey_id)
    nodes, valued = await _nodes(session, where)
    days, edges = split(where)
    steps: dict[str, funnels.NodeCounts] = {}
    sends: dict[str, funnels.SendCounts] = {}
    runs = funnels.RunCounts()
    converted: dict[str | None, funnels.Converted] = {}
    parts = ([(funnel_counts, days)] if days is not None else []) + [(funnels, edge) for edge in edges]
    for counts, part in parts:
        _add(steps, await counts.node_counts(session, part), funnels.NodeCounts)
        _add(sends, await counts.send_counts(session, part), funnels.SendCounts)
        runs.add(await counts.run_counts(session, part))
        _add(converted, await counts.conversions(session, part), funnels.Converted)
    for node_id in steps.keys() - nodes.keys():  # a node of a version no longer defined
        nodes[node_id] = "unknown"
    return {
        "journey_id": where.journey_id,
        "version": where.version,
        "from": where.since,
        "to": where.until,
        "journey": _journey(runs, converted, valued),
        "nodes": [_node(node_id, node_type, steps.get(node_id, funnels.NodeCounts()), sends.get(node_id),
                        converted.get(node_id, funnels.Converted()), valued)
                  for node_id, node_type in nodes.items()],
    }


def split(where: funnels.Scope) -> tuple[funnel_counts.Days | None, list[funnels.Scope]]:
    """The whole UTC days of the scope (None: not one), and its partial days at the edges."""
    first = _day_on_or_after(where.since) if where.since is not None else None
    until = where.until.astimezone(timezone.utc).date() if where.until is not None else None
    if first is not None and until is not None and first >= until:
        return None, [where]
    edges = []
    if where.since is not None and _midnight(first) != where.since:
        edges.append(funnels.Scope(where.journey_id, where.version, where.since, _midnight(first)))
    if where.until is not None and _midnight(until) != where.until:
        edges.append(funnels.Scope(where.journey_id, where.version, _midnight(until), where.until))
    return funnel_counts.Days(where.journey_id, where.version, first, until), edges


def _midnight(day) -> datetime:
    return datetime.combine(day, time(), timezone.utc)


def _day_on_or_after(instant: datetime):
    day = instant.astimezone(timezone.utc).date()
    return day if _midnight(day) == instant else day + timedelta(days=1)


def _add(into: dict, counts: dict, kind) -> None:
    for key, value in counts.items():
        into.setdefault(key, kind()).add(value)


async def _nodes(session: AsyncSession, where: funnels.Scope) -> tuple[dict[str, str], bool]:
    """Node ids and types in the order the versions define them, newest version first; and
    whether a goal names a value (then the funnel reports revenue)."""
    query = (select(JourneyVersion.definition).where(JourneyVersion.journey_id == where.journey_id)
             .order_by(JourneyVersion.version.desc()))
    if where.version is not None:
        query = query.where(JourneyVersion.version == where.version)
    definitions = (await session.execute(query)).scalars().all()
    if not definitions:
        raise JourneyNotFound(f"journey '{where.journey_id} version {where.version}' not found")
    nodes: dict[str, str] = {}
    for definition in definitions:
        for node in definition.get("nodes", []):
            nodes.setdefault(node["id"], node["type"])
    return nodes, any((d.get("goal") or {}).get("value") for d in definitions)


def _journey(runs: funnels.RunCounts, converted: dict[str | None, funnels.Converted], valued: bool) -> dict[str, Any]:
    conversions = sum(c.runs for c in converted.values())
    return {
        "entered": runs.entered,
        "active": runs.by_status.get(RunStatus.ACTIVE, 0),
        "completed": runs.by_status.get(RunStatus.COMPLETED, 0),
        "cancelled": runs.by_status.get(RunStatus.CANCELLED, 0),
        "exited": {"total": sum(runs.exited.values()), "by_reason": runs.exited},
        "converted": conversions,
        "conversion_rate": conversions / runs.entered if runs.entered else None,
        "revenue": sum(c.revenue for c in converted.values()) if valued else None,
    }


def _node(node_id: str, node_type: str, steps: funnels.NodeCounts, sends: funnels.SendCounts | None,
          converted: funnels.Converted, valued: bool) -> dict:
    out: dict[str, Any] = {
        "id": node_id, "type": node_type, "entered": steps.entered, "here": steps.here,
        "left": {way or NEXT: runs for way, runs in steps.left.items()},
    }
    if node_type == "send":
        engaged = sends or funnels.SendCounts()
        skipped = steps.reasons.get(MessageStatus.SKIPPED, {})
        out["send"] = {
            "sent": steps.left.get(MessageStatus.SENT, 0),
            "unconfirmed": steps.left.get(MessageStatus.UNCONFIRMED, 0),
            "skipped": {"total": steps.left.get(MessageStatus.SKIPPED, 0), "by_reason": skipped},
            "failed": steps.left.get(MessageStatus.FAILED, 0),
            "deferred": steps.deferred,
            "delivered": engaged.unique.get("delivered", 0),
            "opens": {"unique": engaged.unique.get("opened", 0), "total": engaged.total.get("opened", 0)},
            "clicks": {"unique": engaged.unique.get("clicked", 0), "total": engaged.total.get("clicked", 0)},
            "bounces": engaged.unique.get("bounced", 0),
            "complaints": engaged.unique.get("complained", 0),
            "unsubscribes": engaged.unique.get("unsubscribed", 0),
            "conversions": converted.runs,
            "revenue": converted.revenue if valued else None,
        }
    return out

