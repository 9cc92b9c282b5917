"""Best send time: the hour of day (0-23, local to the contact) at which a contact is most likely
to open, from the hours of their past opens and clicks, shrunk toward the brand's hours.

Each contact's hours are counts over the 24 hours of the day. The rule:

- every count is spread over its hour and the two neighbouring hours (1/4, 1/2, 1/4, around the
  clock: 23 neighbours 0), since an open at 20:55 says about as much for 21:00 as for 20:00;
- the brand's distribution is every contact's spread counts summed, plus one pseudo-open an hour
  (so no hour is impossible), normalised;
- a contact's posterior is a Dirichlet with the brand's distribution times the prior strength k
  as its prior and the contact's spread counts added; the best hour is its mean's mode (the first
  such hour on a tie). A contact with n observations weighs their own hours n / (n + k), which is
  stored as the confidence: one open barely moves a contact off the brand's hour, ten at the same
  hour take it there.

Evaluated on a later window: the share of that window's opens that fall within an hour either side
of the predicted hour, against the brand's single best hour for everyone (the baseline)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

HOURS = 24
# How one observation spreads over the hour before, its own and the one after.
KERNEL = (0.25, 0.5, 0.25)


def spread(counts: ArrayLike) -> NDArray[np.float64]:
    """Counts per hour (the last axis, 24 long) spread over neighbouring hours around the clock."""
    counts = np.asarray(counts, dtype=float)
    before, own, after = KERNEL
    return own * counts + before * np.roll(counts, -1, axis=-1) + after * np.roll(counts, 1, axis=-1)


def brand_distribution(counts: ArrayLike) -> NDArray[np.float64]:
    """The brand's distribution of opens over the 24 hours, from every contact's counts (rows)."""
    counts = np.asarray(counts, dtype=float).reshape(-1, HOURS)
    totals = spread(counts.sum(axis=0)) + 1.0
    return totals / totals.sum()


@dataclass(frozen=True)
class BestHours:
    hour: NDArray[np.int64]  # per contact, 0-23
    confidence: NDArray[np.float64]  # per contact, n / (n + k): how much of it is the contact's own


def best_hours(counts: ArrayLike, brand: ArrayLike, strength: float) -> BestHours:
    """Each contact's (row's) best hour, their counts shrunk toward `brand` with `strength` pseudo-opens."""
    if strength <= 0:
        raise ValueError("the prior strength must be above 0")
    counts = np.asarray(counts, dtype=float).reshape(-1, HOURS)
    posterior = spread(counts) + strength * np.asarray(brand, dtype=float)
    observed = counts.sum(axis=1)
    return BestHours(np.argmax(posterior, axis=1), observed / (observed + strength))


def hit_rate(hours: ArrayLike, later: ArrayLike) -> float:
    """The share of the later opens (rows of counts per hour) within an hour of each row's predicted
    hour, around the clock; 0 when there are none."""
    later = np.asarray(later, dtype=float).reshape(-1, HOURS)
    hours = np.broadcast_to(np.asarray(hours, dtype=int), (len(later),))
    total = later.sum()
    if total == 0:
        return 0.0
    rows = np.arange(len(later))
    near = sum(later[rows, (hours + offset) % HOURS] for offset in (-1, 0, 1))
    return float(near.sum() / total)


@dataclass(frozen=True)
class Evaluation:
    hit_rate: float  # the contacts' own best hours
    baseline_hit_rate: float  # the brand's single best hour for everyone
    later_opens: int
    brand_hour: int

    @property
    def better(self) -> bool:
        return self.later_opens > 0 and self.hit_rate > self.baseline_hit_rate


def evaluate(earlier: ArrayLike, later: ArrayLike, strength: float) -> Evaluation:
    """Fit on the earlier counts, score on the later ones (rows are the same contacts)."""
    earlier = np.asarray(earlier, dtype=float).reshape(-1, HOURS)
    later = np.asarray(later, dtype=float).reshape(-1, HOURS)
    brand = brand_distribution(earlier)
    brand_hour = int(np.argmax(brand))
    fitted = best_hours(earlier, brand, strength)
    return Evaluation(hit_rate(fitted.hour, later), hit_rate(brand_hour, later), int(later.sum()), brand_hour)
