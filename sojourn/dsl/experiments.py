"""Experiments in the journey language: the stable point that puts a contact in a split's arm,
a journey's holdout or the brand-wide control group.

A contact's point is the sha256 of the ids that scope the draw (contact, journey, node), read as
a number in [0, 1): the same contact always lands at the same point, on re-entry, on a new
version and on every worker, and draws scoped differently are independent. Pure: the split's
activity, the send path and the results' queries all use this one definition.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

# 52 bits: the point is exact as a float, and Postgres reads the same bits from the same digest
# (`sojourn.data.experiments.SQL_POINT`).
POINT_BITS = 52


def stable_point(*ids: object) -> float:
    """The contact's point in [0, 1) for a draw scoped by `ids` (contact id first)."""
    digest = hashlib.sha256("/".join(str(part) for part in ids).encode()).hexdigest()
    return int(digest[: POINT_BITS // 4], 16) / 2**POINT_BITS


def arm_at(point: float, weights: Sequence[tuple[str, float]]) -> str:
    """The arm whose share of the cumulative weights holds `point`."""
    total = sum(weight for _, weight in weights)
    reached = 0.0
    for arm, weight in weights:
        reached += weight / total
        if point < reached:
            return arm
    return weights[-1][0]  # rounding left the last sliver of [0, 1) past the sum


def held_out(point: float, percent: float) -> bool:
    return point < percent / 100
