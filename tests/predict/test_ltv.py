"""BG/NBD and Gamma-Gamma fitted by maximum likelihood against their published CDNOW estimates
(tests/data/cdnow/README.md says where the data come from)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from sojourn.predict.ltv import FitFailed, fit_bg_nbd, fit_gamma_gamma

CDNOW = Path(__file__).parent.parent / "data" / "cdnow" / "cdnow_customers_summary_with_transactions.csv"


@pytest.fixture(scope="module")
def cdnow() -> dict[str, np.ndarray]:
    with CDNOW.open() as file:
        rows = list(csv.DictReader(file))
    return {name: np.array([float(row[name]) for row in rows]) for name in ("x", "t_x", "T", "zbar")}


def _within(fitted: dict[str, float], published: dict[str, float], tolerance: float = 0.02) -> None:
    for name, value in published.items():
        assert abs(fitted[name] - value) <= tolerance * value, (name, fitted[name], value)


def test_bg_nbd_matches_the_published_cdnow_estimates(cdnow):
    assert len(cdnow["x"]) == 2357
    model, _ = fit_bg_nbd(cdnow["x"], cdnow["t_x"], cdnow["T"])
    _within(model.as_dict(), {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
    # The paper's worked example: x = 2, t_x = 30.43, T = 38.86 expects 1.226 purchases in the next 39 weeks.
    assert model.expected_purchases(39, [2], [30.43], [38.86])[0] == pytest.approx(1.226, abs=0.01)
    # Activity fades with the time since the last purchase; one who never came back cannot have left.
    alive = model.probability_alive([5, 5, 0], [38, 10, 0], [38.86] * 3)
    assert alive[0] > 0.8 and alive[1] < alive[0] / 2 and alive[2] == 1


def test_gamma_gamma_matches_the_published_cdnow_estimates(cdnow):
    assert int((cdnow["x"] > 0).sum()) == 946
    model, _ = fit_gamma_gamma(cdnow["x"], cdnow["zbar"])
    _within(model.as_dict(), {"p": 6.25, "q": 3.74, "gamma": 15.44})
    # Few purchases lean on the population's mean; many, on the customer's own.
    few, many = model.expected_value([1, 20], [100.0, 100.0])
    assert model.mean_value < few < many < 100
    assert model.expected_value([0], [0.0])[0] == pytest.approx(model.mean_value)


def test_data_that_cannot_identify_the_model_is_refused():
    with pytest.raises(FitFailed):
        fit_bg_nbd([0, 0, 0, 0, 0], [0] * 5, [10] * 5)
    with pytest.raises(FitFailed):
        fit_gamma_gamma([0, 1], [0.0, 5.0])


def test_customers_who_never_drop_out_are_fitted_in_a_bounded_number_of_steps(monkeypatch):
    """Without drop-out in the data the likelihood is a ridge (a and b grow together): the fit
    stops on it in a few hundred evaluations, where a simplex search took ~40,000 (minutes at
    the nightly run's 42,000 buyers)."""
    from sojourn.predict import ltv

    rng = np.random.default_rng(1)
    n = 5_000
    T = rng.uniform(30, 365, n)
    x = rng.poisson(rng.gamma(0.5, 2, n) * T / 60)
    x = np.where(rng.random(n) < 0.3, 0, x)
    t_x = np.where(x > 0, T * rng.uniform(0.2, 1, n), 0)
    calls = 0
    likelihood = ltv.bg_nbd_log_likelihood

    def counted(*args):
        nonlocal calls
        calls += 1
        return likelihood(*args)

    monkeypatch.setattr(ltv, "bg_nbd_log_likelihood", counted)
    model, _ = ltv.fit_bg_nbd(x, t_x, T)
    assert calls < 3_000
    predicted = model.expected_purchases(60, x, t_x, T)
    assert np.all(np.isfinite(predicted)) and np.all(predicted >= 0)
    assert predicted[x >= 5].mean() > predicted[x == 0].mean()
