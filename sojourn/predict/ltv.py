"""Lifetime value: BG/NBD for how many purchases a customer makes and whether they are still
active (Fader, Hardie and Lee 2005, "Counting your customers the easy way"), and Gamma-Gamma
for what a purchase is worth (Fader, Hardie and Lee 2005, "RFM and CLV", and Hardie's note on
the Gamma-Gamma model). Both are fitted by maximum likelihood on their published
log-likelihoods with scipy.

A customer is summarised by frequency x (purchases after the first), recency t_x (time from the
first purchase to the last), age T (time from the first purchase to the end of the data) and,
for x > 0, the mean value m of the repeat purchases; every time is in one unit (days here,
weeks in the published CDNOW fit)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1

Array = NDArray[np.float64]


class FitFailed(ValueError):
    """The data cannot identify the model (too few customers, no repeat purchases...)."""


@dataclass(frozen=True)
class BgNbd:
    r: float
    alpha: float
    a: float
    b: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def expected_purchases(self, t: float, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Array:
        """Expected purchases in the next `t` of each customer given their history (eq. 10)."""
        x, t_x, T = _arrays(x, t_x, T)
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        z = t / (alpha + T + t)
        log_ratio = (r + x) * np.log((alpha + T) / (alpha + T + t))
        numerator = (a + b + x - 1) / (a - 1) * (1 - np.exp(log_ratio) * hyp2f1(r + x, b + x, a + b + x - 1, z))
        return numerator / self._alive_odds(x, t_x, T)

    def probability_alive(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Array:
        """The probability that each customer has not dropped out by T."""
        x, t_x, T = _arrays(x, t_x, T)
        return 1 / self._alive_odds(x, t_x, T)

    def _alive_odds(self, x: Array, t_x: Array, T: Array) -> Array:
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        repeat = x > 0
        log_term = (np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0))
                    + (r + x) * np.log((alpha + T) / (alpha + t_x)))
        return 1 + np.where(repeat, np.exp(np.minimum(log_term, 700.0)), 0.0)


def bg_nbd_log_likelihood(params: ArrayLike, x: Array, t_x: Array, T: Array) -> Array:
    """Each customer's log-likelihood under BG/NBD with (r, alpha, a, b) (eq. 6)."""
    r, alpha, a, b = np.asarray(params, dtype=float)
    ln_a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    ln_a2 = betaln(a, b + x) - betaln(a, b)
    ln_a3 = -(r + x) * np.log(alpha + T)
    repeat = x > 0
    ln_a4 = np.where(repeat, np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0)) - (r + x) * np.log(alpha + t_x),
                     -np.inf)
    return ln_a1 + ln_a2 + np.logaddexp(ln_a3, ln_a4)


def fit_bg_nbd(x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> tuple[BgNbd, float]:
    """Maximum-likelihood (r, alpha, a, b) and the mean log-likelihood per customer."""
    x, t_x, T = _arrays(x, t_x, T)
    if len(x) < 4 or not np.any(x > 0):
        raise FitFailed("BG/NBD needs at least 4 customers, some with a repeat purchase")
    start = np.log([1.0, max(float(np.mean(T)), 1e-3), 1.0, 1.0])
    params, mean_ll = _maximise(lambda p: bg_nbd_log_likelihood(p, x, t_x, T), start)
    return BgNbd(*params), mean_ll


@dataclass(frozen=True)
class GammaGamma:
    p: float
    q: float
    gamma: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    @property
    def mean_value(self) -> float:
        """The population's mean value per purchase (a customer with no repeat purchase gets it)."""
        return self.p * self.gamma / (self.q - 1)

    def expected_value(self, x: ArrayLike, m: ArrayLike) -> Array:
        """Each customer's expected value per purchase given x repeat purchases of mean value m:
        a weighted mean of the population's and their own."""
        x, m = _arrays(x, m)
        weight = self.p * x / (self.p * x + self.q - 1)
        return (1 - weight) * self.mean_value + weight * np.where(x > 0, m, 0.0)


def gamma_gamma_log_likelihood(params: ArrayLike, x: Array, m: Array) -> Array:
    """Each repeat customer's log-likelihood of the mean value m of their x purchases."""
    p, q, gamma = np.asarray(params, dtype=float)
    px = p * x
    return (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(gamma)
            + (px - 1) * np.log(m) + px * np.log(x) - (px + q) * np.log(gamma + m * x))


def fit_gamma_gamma(x: ArrayLike, m: ArrayLike) -> tuple[GammaGamma, float]:
    """Maximum-likelihood (p, q, gamma) on the customers with repeat purchases of positive
    value (the others say nothing about value), and the mean log-likelihood per customer."""
    x, m = _arrays(x, m)
    keep = (x > 0) & (m > 0)
    x, m = x[keep], m[keep]
    if len(x) < 3:
        raise FitFailed("Gamma-Gamma needs at least 3 customers with repeat purchases of positive value")
    start = np.log([1.0, 2.0, max(float(np.mean(m)), 1e-3)])
    params, mean_ll = _maximise(lambda p: gamma_gamma_log_likelihood(p, x, m), start)
    if params[1] <= 1:
        raise FitFailed(f"Gamma-Gamma's q is {params[1]:.3g} (at most 1): the mean value per purchase is unbounded")
    return GammaGamma(*params), mean_ll


# Every parameter is searched between these (as logarithms). Data with no sign of drop-out drive
# BG/NBD toward a -> 0, b -> infinity; unbounded, b reached 4e9 on a small shop, where the
# expected purchases (1 minus a hypergeometric term, times a factor of b) were lost to rounding
# and came out negative. At the bound the model already predicts no drop-out, and stays exact.
_LOG_BOUNDS = (np.log(1e-4), np.log(1e6))


def _maximise(log_likelihood, start: Array) -> tuple[list[float], float]:
    """Parameters (all positive: searched as logarithms, within _LOG_BOUNDS) maximising the
    log-likelihood. A quasi-Newton search on the mean: where the data show no drop-out, BG/NBD's
    likelihood is a flat ridge with a and b running off together, and a simplex search crept
    along it for minutes (tens of thousands of evaluations); L-BFGS-B stops on the ridge in a few
    hundred, and on CDNOW lands on the published estimates."""

    def objective(log_params: Array) -> float:
        values = log_likelihood(np.exp(log_params))
        mean = float(np.mean(values))
        return -mean if np.isfinite(mean) else np.inf

    result = minimize(objective, start, method="L-BFGS-B", bounds=[_LOG_BOUNDS] * len(start),
                      options={"ftol": 1e-12, "gtol": 1e-9, "maxiter": 2_000})
    if not np.isfinite(result.fun):
        raise FitFailed(f"the likelihood could not be maximised ({result.message})")
    return [float(v) for v in np.exp(result.x)], -float(result.fun)


def _arrays(*values: ArrayLike) -> tuple[Array, ...]:
    return tuple(np.asarray(value, dtype=float) for value in values)
