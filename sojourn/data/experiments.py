"""Experiment records and counts: the arm each contact takes at a split, and per group (arm,
holdout, the treated rest) its entrants, converted contacts and revenue, from the assignments,
the runs and the conversions (never from workflows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from sojourn.data.models import ExperimentAssignment, ExperimentWinner
from sojourn.dsl.experiments import POINT_BITS

_ASSIGNMENTS = ExperimentAssignment.__table__
_WINNERS = ExperimentWinner.__table__


def sql_point(*ids: str) -> str:
    """`sojourn.dsl.experiments.stable_point` in SQL over the given SQL expressions (the same bits
    of the same digest, so both agree on every contact)."""
    joined = " || '/' || ".join(f"({part})::text" for part in ids)
    return (f"(('x' || substr(encode(sha256(convert_to({joined}, 'UTF8')), 'hex'), 1, {POINT_BITS // 4}))"
            f"::bit({POINT_BITS})::bigint::float8 / {2**POINT_BITS}.0)")


async def recorded_arm(conn: AsyncConnection, journey_id: str, node_id: str, contact_id: int) -> str | None:
    return await conn.scalar(select(_ASSIGNMENTS.c.arm).where(
        _ASSIGNMENTS.c.journey_id == journey_id, _ASSIGNMENTS.c.node_id == node_id,
        _ASSIGNMENTS.c.contact_id == contact_id))


async def record_arm(conn: AsyncConnection, journey_id: str, node_id: str, contact_id: int, version: int,
                     arm: str, replace: bool = False) -> str:
    """Record `arm` as the contact's; the arm recorded first when another attempt got there before
    (unless `replace`: the recorded arm is gone from the split)."""
    row = dict(journey_id=journey_id, node_id=node_id, contact_id=contact_id, version=version, arm=arm)
    statement = insert(_ASSIGNMENTS).values(**row)
    if replace:
        statement = statement.on_conflict_do_update(index_elements=["journey_id", "node_id", "contact_id"],
                                                    set_={"arm": arm, "version": version})
    else:
        statement = statement.on_conflict_do_nothing()
    inserted = await conn.scalar(statement.returning(_ASSIGNMENTS.c.arm))
    return inserted or await recorded_arm(conn, journey_id, node_id, contact_id) or arm


async def split_taken(conn: AsyncConnection, journey_id: str, node_id: str) -> tuple[int, datetime | None]:
    """How many contacts took the split, and when the first did."""
    row = (await conn.execute(select(func.count(), func.min(_ASSIGNMENTS.c.assigned_at)).where(
        _ASSIGNMENTS.c.journey_id == journey_id, _ASSIGNMENTS.c.node_id == node_id))).one()
    return row[0], row[1]


async def decided_winner(conn: AsyncConnection, journey_id: str, node_id: str) -> str | None:
    return await conn.scalar(select(_WINNERS.c.arm).where(_WINNERS.c.journey_id == journey_id,
                                                          _WINNERS.c.node_id == node_id))


async def record_winner(conn: AsyncConnection, journey_id: str, node_id: str, arm: str) -> str:
    """Record `arm` as the split's winner; the one recorded first when another worker got there before."""
    inserted = await conn.scalar(insert(_WINNERS).values(journey_id=journey_id, node_id=node_id, arm=arm)
                                 .on_conflict_do_nothing().returning(_WINNERS.c.arm))
    return inserted or await decided_winner(conn, journey_id, node_id) or arm


@dataclass(frozen=True)
class GroupCounts:
    group: str  # an arm id, "holdout" or "treated"
    node_id: str | None  # the split node of an arm
    entrants: int
    converted: int
    revenue: float


# Per contact of the journey's runs: held out by its run's version's holdout, in the brand's
# control group, converted (any run), and its revenue. Contacts in the brand's control group
# are left out: they received no marketing from any arm.
_CONTACTS = f"""
WITH entrants AS (
  SELECT r.contact_id,
         bool_or({sql_point("r.contact_id", "r.journey_id")}
                 < coalesce((v.definition->'holdout'->>'percent')::float8, 0) / 100) AS held_out
  FROM journey_runs r JOIN journey_versions v ON v.journey_id = r.journey_id AND v.version = r.version
  WHERE r.journey_id = :journey
  GROUP BY r.contact_id
), outcomes AS (
  SELECT e.contact_id, e.held_out, c.contact_id IS NOT NULL AS converted, coalesce(c.value, 0) AS value
  FROM entrants e
  LEFT JOIN (SELECT contact_id, sum(value) AS value FROM conversions WHERE journey_id = :journey
             GROUP BY contact_id) c ON c.contact_id = e.contact_id
  WHERE {sql_point("e.contact_id")} >= CAST(:global_control AS float8) / 100
)"""

_GROUPS = text(_CONTACTS + """
SELECT CASE WHEN held_out THEN 'holdout' ELSE 'treated' END AS grp, NULL AS node_id, count(*) AS entrants,
       count(*) FILTER (WHERE converted) AS converted, sum(value)::float8 AS revenue
FROM outcomes GROUP BY held_out
UNION ALL
SELECT a.arm, a.node_id, count(*), count(*) FILTER (WHERE o.converted), sum(o.value)::float8
FROM experiment_assignments a JOIN outcomes o ON o.contact_id = a.contact_id
WHERE a.journey_id = :journey AND NOT o.held_out
GROUP BY a.node_id, a.arm""")


_ARMS = text(_CONTACTS + """
SELECT a.arm, count(*) AS entrants, count(*) FILTER (WHERE o.converted) AS converted
FROM experiment_assignments a JOIN outcomes o ON o.contact_id = a.contact_id
WHERE a.journey_id = :journey AND a.node_id = :node AND NOT o.held_out
GROUP BY a.arm""")


async def arm_counts(conn: AsyncConnection, journey_id: str, node_id: str,
                     global_control_percent: float) -> dict[str, tuple[int, int]]:
    """Per arm of one split: (entrants, converted), counted as the results count them."""
    rows = await conn.execute(_ARMS, {"journey": journey_id, "node": node_id, "global_control": global_control_percent})
    return {row.arm: (row.entrants, row.converted) for row in rows}


async def group_counts(conn: AsyncConnection | AsyncSession, journey_id: str, global_control_percent: float) -> list[GroupCounts]:
    rows = await conn.execute(_GROUPS, {"journey": journey_id, "global_control": global_control_percent})
    return [GroupCounts(group=row.grp, node_id=row.node_id, entrants=row.entrants, converted=row.converted,
                        revenue=row.revenue or 0.0) for row in rows]
