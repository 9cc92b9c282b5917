"""The best-hour model on planted habits: steady habits win over the brand's hour, a single open
barely moves a contact off it, the hours wrap around midnight, and the evaluation prefers
contacts' own hours only when they predict later opens better than the brand's single hour."""

from __future__ import annotations

import numpy as np
import pytest

from sojourn.predict.send_time import HOURS, best_hours, brand_distribution, evaluate, hit_rate, spread


def at(*hours: int) -> np.ndarray:
    row = np.zeros(HOURS)
    for hour in hours:
        row[hour] += 1
    return row


def brand_at(hour: int, opens: int = 500) -> np.ndarray:
    return brand_distribution(np.array([at(hour)] * opens))


def test_a_steady_habit_wins_and_one_open_stays_near_the_brand():
    brand = brand_at(10)
    fitted = best_hours(np.array([at(*[21] * 8), at(15), np.zeros(HOURS)]), brand, strength=5)
    assert list(fitted.hour) == [21, 10, 10]
    assert fitted.confidence[0] == pytest.approx(8 / 13)
    assert fitted.confidence[1] == pytest.approx(1 / 6)
    assert fitted.confidence[2] == 0


def test_hours_wrap_around_midnight():
    assert spread(at(23))[0] == pytest.approx(0.25)
    assert spread(at(0))[23] == pytest.approx(0.25)
    # Opens at 23:00 and 01:00: midnight lies between them, not noon.
    fitted = best_hours(np.array([at(23, 23, 1, 1, 0)]), brand_at(12, 5), strength=1)
    assert fitted.hour[0] == 0


def test_a_stronger_prior_holds_a_few_opens_back():
    brand = brand_at(9)
    few = np.array([at(20, 20, 20)])
    assert best_hours(few, brand, strength=1).hour[0] == 20
    assert best_hours(few, brand, strength=50).hour[0] == 9


def test_hit_rate_counts_an_hour_either_side():
    later = np.array([at(20, 21, 22, 23, 3)])
    assert hit_rate([21], later) == pytest.approx(3 / 5)
    assert hit_rate(0, np.array([at(23, 1, 2)])) == pytest.approx(2 / 3)
    assert hit_rate([5], np.zeros((1, HOURS))) == 0


def test_own_hours_are_better_only_when_people_keep_their_habits():
    rng = np.random.default_rng(0)
    habits = rng.integers(0, HOURS, 300)
    earlier = np.array([at(*[h] * 6) for h in habits])
    kept = np.array([at(h, h) for h in habits])
    measured = evaluate(earlier, kept, strength=5)
    assert measured.better and measured.hit_rate == 1.0 and measured.baseline_hit_rate < 0.3
    # Later, everyone opens at the hour most of them used to: the brand's hour is as good or better.
    everyone_at_brand = np.array([at(measured.brand_hour)] * 300)
    assert not evaluate(earlier, everyone_at_brand, strength=5).better
    assert not evaluate(earlier, np.zeros((300, HOURS)), strength=5).better
