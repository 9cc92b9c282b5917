"""Split assignment: the arm a contact takes at a journey's split node, drawn once and recorded.

The draw is the contact's stable point (`sojourn.dsl.experiments`) over the arms' cumulative
weights; the record makes it final, so a re-entry or a later version (even with other weights)
takes the same arm. Only an arm the split no longer has is drawn again.

A split may favour an arm for contacts new to it: a `winner` rule picks, once its `after` or
`sample` is reached, the arm whose contacts converted most (ties: the first listed), records it
and sends every new contact there; `allocation: thompson` draws each new contact's arm from Beta
posteriors of the arms' conversion (Thompson sampling, scipy), seeded by the contact's point so
the same contact draws the same way. Either way the workflow sees only the recorded answer.
"""

from __future__ import annotations

from cachetools import TTLCache
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sojourn.contracts.experiments import ArmRequest
from sojourn.data import experiments as records
from sojourn.data.models import utcnow
from sojourn.dsl.durations import parse_duration
from sojourn.dsl.experiments import POINT_BITS, arm_at, stable_point

# Thompson sampling counts every contact of the split: a worker reuses the counts this long
# (batched updates; a minute's lag changes little in an experiment measured in days).
COUNTS_TTL_SECONDS = 60.0


class Assignments:
    def __init__(self, engine: AsyncEngine, global_control_percent: float = 0.0,
                 counts_ttl: float = COUNTS_TTL_SECONDS) -> None:
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._global_control = global_control_percent
        self._counts: TTLCache[tuple[str, str], dict[str, tuple[int, int]]] = TTLCache(1024, counts_ttl)

    async def assign(self, request: ArmRequest) -> str:
        """The contact's arm at the split: the recorded one, else drawn now and recorded."""
        arms = [arm for arm, _ in request.weights]
        async with self._engine.connect() as conn:
            recorded = await records.recorded_arm(conn, request.journey_id, request.node_id, request.contact_id)
            if recorded in arms:
                return recorded
            drawn = await self._draw(conn, request, arms)
            return await records.record_arm(conn, request.journey_id, request.node_id, request.contact_id,
                                            request.version, drawn, replace=recorded is not None)

    async def preview(self, request: ArmRequest) -> str:
        """The arm `assign` would give, recording nothing (a simulation's): the recorded one, else
        the winner already decided or the draw."""
        arms = [arm for arm, _ in request.weights]
        async with self._engine.connect() as conn:
            recorded = await records.recorded_arm(conn, request.journey_id, request.node_id, request.contact_id)
            if recorded in arms:
                return recorded
            if request.winner is None:
                return await self._draw(conn, request, arms)  # reads counts at most
            decided = await records.decided_winner(conn, request.journey_id, request.node_id)
            point = stable_point(request.contact_id, request.journey_id, request.node_id)
            return decided if decided in arms else arm_at(point, request.weights)

    async def _draw(self, conn: AsyncConnection, request: ArmRequest, arms: list[str]) -> str:
        point = stable_point(request.contact_id, request.journey_id, request.node_id)
        if request.allocation == "thompson":
            key = (request.journey_id, request.node_id)
            counts = self._counts.get(key)
            if counts is None:
                counts = self._counts[key] = await records.arm_counts(conn, *key, self._global_control)
            return thompson_draw(point, arms, counts)
        if request.winner is not None:
            winner = await self._winner(conn, request, arms)
            if winner is not None:
                return winner
        return arm_at(point, [(arm, weight) for arm, weight in request.weights])

    async def _winner(self, conn: AsyncConnection, request: ArmRequest, arms: list[str]) -> str | None:
        """The split's winner: the one recorded, else the best arm once the rule is met, else None."""
        decided = await records.decided_winner(conn, request.journey_id, request.node_id)
        if decided in arms:
            return decided
        taken, first = await records.split_taken(conn, request.journey_id, request.node_id)
        rule = request.winner
        if rule.get("sample") is not None:
            reached = taken >= rule["sample"]
        else:
            reached = first is not None and utcnow() - first >= parse_duration(rule["after"])
        if not reached:
            return None
        counts = await records.arm_counts(conn, request.journey_id, request.node_id, self._global_control)
        best = max(arms, key=lambda arm: _rate(counts.get(arm, (0, 0))))  # max keeps the first of equals
        return await records.record_winner(conn, request.journey_id, request.node_id, best)


def _rate(counts: tuple[int, int]) -> float:
    entrants, converted = counts
    return converted / entrants if entrants else 0.0


def thompson_draw(point: float, arms: list[str], counts: dict[str, tuple[int, int]]) -> str:
    """The arm whose draw from Beta(1 + converted, 1 + not converted) is highest, the draws seeded
    by the contact's point."""
    # Imported here: scipy.stats costs a worker about 100 MB and seconds, worth it only for Thompson splits.
    from scipy.stats import beta  # noqa: PLC0415

    seen = [counts.get(arm, (0, 0)) for arm in arms]
    draws = list(beta.rvs([1 + converted for _, converted in seen], [1 + entrants - converted for entrants, converted in seen],
                          random_state=int(point * 2**POINT_BITS) % 2**32))
    return arms[draws.index(max(draws))]
