"""What a forecast of one figure is: an ensemble, a Student-t, or nothing (and why), on the figure's scoring scale.

Every forecast gives its quantiles, its CDF, its CRPS against an exact value and its censored CRPS against a
bound; :func:`pit_interval` reads a published figure through it, exact or a bound. The scoring scale is
:func:`sim.calibration.fits.scale_of`'s: the log of daily tokens (totals as daily averages), the logit of a share.

A figure published as a bound ("more than X") says only on which side of ``X`` the value lies, so

* its **PIT** is the interval ``[F(X), 1]`` (``[0, F(X)]`` for "at most X"): every value in it is as
  consistent with the figure as any other. A PIT histogram spreads each interval uniformly over the bins it
  covers (the non-randomised PIT of Czado, Gneiting and Held 2009), so bounds count without a random draw;
* its **censored CRPS** is the threshold-weighted CRPS whose weight is the side of ``X`` the bound rules out
  (Gneiting and Ranjan 2011): for "more than X", ``integral_{-inf}^{X} F(z)^2 dz``, the part of the CRPS that
  every value the figure allows shares. It is zero for a forecast with no mass below ``X`` and grows with the
  mass (and distance) the figure contradicts; it is not comparable with an exact figure's CRPS, so the two are
  never averaged together. Interval scores and coverage need the value itself and are left undefined.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

#: How a published bound reads: "lower" = more than X (the value is at least X), "upper" = at most X.
BOUNDS = ("", "lower", "upper")
#: How an ensemble's CRPS is computed, named rather than left to scoringrules' default (which has changed
#: between releases): the quantile decomposition, exact for the ensemble's empirical distribution.
CRPS_ESTIMATOR = "qd"


@dataclass(frozen=True)
class Ensemble:
    """A predictive distribution given by draws (tokensim's posterior predictive)."""

    members: np.ndarray
    reason: str = ""

    def quantiles(self, levels: Sequence[float]) -> np.ndarray:
        return np.quantile(self.members, levels)

    def cdf(self, value: float) -> float:
        return float(np.mean(self.members <= value))

    def crps(self, truth: float) -> float:
        import scoringrules as sr

        return float(sr.crps_ensemble(truth, self.members, estimator=CRPS_ESTIMATOR))

    def censored_crps(self, bound: float, side: str) -> float:
        import scoringrules as sr

        limits = {"b": bound} if side == "lower" else {"a": bound}
        return float(sr.twcrps_ensemble(bound, self.members, **limits, estimator=CRPS_ESTIMATOR))


@dataclass(frozen=True)
class StudentT:
    """A location-scale Student-t predictive (the naive baselines' prediction intervals)."""

    df: float  # the spread's degrees of freedom
    loc: float  # the point forecast, on the scoring scale
    scale: float  # the t's scale
    reason: str = ""

    def quantiles(self, levels: Sequence[float]) -> np.ndarray:
        return stats.t.ppf(levels, self.df, self.loc, self.scale)

    def cdf(self, value: float) -> float:
        return float(stats.t.cdf(value, self.df, self.loc, self.scale))

    def crps(self, truth: float) -> float:
        import scoringrules as sr

        # A t with one degree of freedom (Cauchy) has no mean, so no finite CRPS.
        return float(sr.crps_t(truth, self.df, self.loc, self.scale)) if self.df > 1 else float("nan")

    def censored_crps(self, bound: float, side: str) -> float:
        import scoringrules as sr

        if self.df <= 1:
            return float("nan")
        limits = {"upper": bound} if side == "lower" else {"lower": bound}
        return float(sr.crps_ct(bound, self.df, self.loc, self.scale, **limits))


@dataclass(frozen=True)
class NoForecast:
    """A method that cannot forecast this figure, and why."""

    reason: str


Forecast = Ensemble | StudentT | NoForecast


def pit_interval(forecast: Ensemble | StudentT, value: float, bound: str = "") -> tuple[float, float]:
    """The probability integral transform of a published value (on the scoring scale): ``(F(v), F(v))`` for an
    exact figure, ``(F(X), 1)`` for "more than X", ``(0, F(X))`` for "at most X"."""
    if bound not in BOUNDS:
        raise ValueError(f"bound must be one of {BOUNDS}")
    below = forecast.cdf(value)
    return {"": (below, below), "lower": (below, 1.0), "upper": (0.0, below)}[bound]


def pit_histogram(lower: np.ndarray, upper: np.ndarray, bins: int) -> np.ndarray:
    """Share of PIT mass in each of ``bins`` equal bins of [0, 1]: an exact PIT counts in its bin, an interval
    is spread uniformly over the bins it covers (non-randomised PIT). NaN pairs (no forecast) are left out."""
    lower, upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    keep = np.isfinite(lower) & np.isfinite(upper)
    lower, upper = lower[keep], upper[keep]
    edges = np.linspace(0.0, 1.0, bins + 1)
    mass = np.zeros(bins)
    for lo, hi in zip(lower, upper):
        if hi - lo < 1e-12:
            mass[min(int(lo * bins), bins - 1)] += 1.0
        else:
            mass += np.clip(np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo), 0.0, None) / (hi - lo)
    return mass / max(lower.size, 1)
