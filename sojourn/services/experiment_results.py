"""What a journey's experiments show: per split arm, and for the holdout against the rest, the
entrants, conversions, conversion rate with its 95% interval, the difference against the control
with its interval and p-value, and revenue per entrant. Counted per contact from the recorded
assignments, runs and conversions (sojourn/data/experiments.py), never from workflows.

Statistics (scipy): a rate's interval is Wilson's score interval (`binomtest(...).proportion_ci`),
which keeps its coverage near 0% and at small samples where the normal one does not; the
difference's interval is Newcombe's hybrid score interval built from those two Wilson intervals,
so it agrees with them; the p-value is Fisher's exact test (`fisher_exact`), exact at any sample
size. A p-value rather than a probability of being best: the question is whether an arm beats
its control (doing nothing, or the first arm), and both answers stay the same when asked twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.data.experiments import GroupCounts, group_counts
from sojourn.data.models import JourneyVersion
from sojourn.dsl.definition import JourneyDefinition
from sojourn.dsl.nodes import SplitNode
from sojourn.services.journeys import get_journey

# scipy.stats is imported where a result is computed, not with this module: importing it takes
# about 100 MB and seconds, which every API process would pay at start for a rarely used route.

CONFIDENCE = 0.95
# Below these a group's rate and its differences move a lot with a few contacts: results carry a warning.
MIN_ENTRANTS = 100
MIN_OUTCOMES = 10  # conversions, and non-conversions
HOLDOUT, TREATED = "holdout", "treated"


@dataclass(frozen=True)
class _Group:
    counts: GroupCounts

    @property
    def rate(self) -> float | None:
        return self.counts.converted / self.counts.entrants if self.counts.entrants else None

    def interval(self) -> tuple[float, float] | None:
        if not self.counts.entrants:
            return None
        from scipy.stats import binomtest  # noqa: PLC0415 (see the module's import note)

        found = binomtest(self.counts.converted, self.counts.entrants).proportion_ci(CONFIDENCE, method="wilson")
        return float(found.low), float(found.high)

    def too_small(self) -> bool:
        c = self.counts
        return c.entrants < MIN_ENTRANTS or min(c.converted, c.entrants - c.converted) < MIN_OUTCOMES


async def experiments(session: AsyncSession, journey_id: str, global_control_percent: float) -> dict[str, Any]:
    await get_journey(session, journey_id)
    latest = JourneyDefinition.model_validate(await session.scalar(
        select(JourneyVersion.definition).where(JourneyVersion.journey_id == journey_id)
        .order_by(JourneyVersion.version.desc()).limit(1)))
    counts = await group_counts(session, journey_id, global_control_percent)
    overall = {c.group: _Group(c) for c in counts if c.node_id is None}
    holdout, held_out = None, None
    if latest.holdout is not None or HOLDOUT in overall:
        held_out = overall.get(HOLDOUT) or _Group(GroupCounts(HOLDOUT, None, 0, 0, 0.0))
        treated = overall.get(TREATED) or _Group(GroupCounts(TREATED, None, 0, 0, 0.0))
        holdout = {"percent": latest.holdout.percent if latest.holdout else None,
                   "control": _shape(held_out, None), "treated": _shape(treated, held_out)}
    splits = []
    for node_id, arms in _arms(latest, counts).items():
        control = held_out or arms[0]
        splits.append({"node": node_id, "control": control.counts.group,
                       "arms": [_shape(arm, None if arm is control else control) for arm in arms]})
    shaped = ([holdout["control"], holdout["treated"]] if holdout else []) + [a for s in splits for a in s["arms"]]
    warnings = [f"{g['group']}{' at ' + g['node'] if g['node'] else ''}: {g['entrants']:,} entrants, "
                f"{g['conversions']:,} conversions; too few to rely on (fewer than {MIN_ENTRANTS} entrants, or "
                f"fewer than {MIN_OUTCOMES} conversions or non-conversions)" for g in shaped if g["too_small"]]
    return {"journey_id": journey_id, "confidence": CONFIDENCE, "holdout": holdout, "splits": splits,
            "warnings": warnings}


def _arms(latest: JourneyDefinition, counts: list[GroupCounts]) -> dict[str, list[_Group]]:
    """Per split node, its arms: the newest version's in their order (none entered yet: zeros), then
    arms only earlier versions had."""
    by_node: dict[str, dict[str, GroupCounts]] = {}
    for node in latest.nodes:
        if isinstance(node, SplitNode):
            by_node[node.id] = {arm: GroupCounts(arm, node.id, 0, 0, 0.0) for arm, _ in node.weights()}
    for c in counts:
        if c.node_id is not None:
            by_node.setdefault(c.node_id, {})[c.group] = c
    return {node: [_Group(c) for c in arms.values()] for node, arms in by_node.items()}


def _shape(group: _Group, control: _Group | None) -> dict[str, Any]:
    c = group.counts
    return {"group": c.group, "node": c.node_id, "entrants": c.entrants, "conversions": c.converted,
            "conversion_rate": group.rate, "interval": group.interval(),
            "revenue_per_entrant": c.revenue / c.entrants if c.entrants else None,
            "against": control.counts.group if control else None,
            "difference": _difference(group, control) if control else None, "too_small": group.too_small()}


def _difference(arm: _Group, control: _Group) -> dict[str, Any] | None:
    """The arm's rate minus the control's, Newcombe's interval, and Fisher's exact p-value (two-sided)."""
    own, theirs = arm.interval(), control.interval()
    if own is None or theirs is None:
        return None
    from scipy.stats import fisher_exact  # noqa: PLC0415 (see the module's import note)

    p1, p0 = arm.rate, control.rate
    (l1, u1), (l0, u0) = own, theirs
    table = [[arm.counts.converted, arm.counts.entrants - arm.counts.converted],
             [control.counts.converted, control.counts.entrants - control.counts.converted]]
    return {"value": p1 - p0,
            "interval": (p1 - p0 - math.hypot(p1 - l1, u0 - p0), p1 - p0 + math.hypot(u1 - p1, p0 - l0)),
            "p_value": float(fisher_exact(table).pvalue)}
