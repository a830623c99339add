"""What a method forecasts for one figure: an ensemble, a Student-t, a point, or nothing (and why).

Every forecast is on the figure's scoring scale (:func:`sim.calibration.fits.scale_of`: log of daily
tokens, logit of a share), gives its quantiles and its CRPS against the published value there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from sim.calibration.fits import scale_of
from sim.data.observations import Observation

#: How an ensemble's CRPS is computed, named rather than left to scoringrules' default (which has changed
#: between releases): the quantile decomposition, exact for the ensemble's empirical distribution.
CRPS_ESTIMATOR = "qd"


def truth_of(observation: Observation) -> float:
    """The published value on its scoring scale (totals as daily averages, like the model)."""
    return float(scale_of(observation).forward(observation.comparable_value))


@dataclass(frozen=True)
class Ensemble:
    """A predictive distribution given by draws (tokensim's posterior predictive)."""

    members: np.ndarray
    reason: str = ""

    def quantiles(self, levels: Sequence[float]) -> np.ndarray:
        return np.quantile(self.members, levels)

    def crps(self, truth: float) -> float:
        import scoringrules as sr

        return float(sr.crps_ensemble(truth, self.members, estimator=CRPS_ESTIMATOR))


@dataclass(frozen=True)
class StudentT:
    """A location-scale Student-t predictive (an OLS prediction interval)."""

    df: float  # the fit's residual degrees of freedom
    loc: float  # the point forecast, on the scoring scale
    scale: float  # the t's scale: the prediction interval's half-width over the t quantile
    reason: str = ""

    def quantiles(self, levels: Sequence[float]) -> np.ndarray:
        return stats.t.ppf(levels, self.df, self.loc, self.scale)

    def crps(self, truth: float) -> float:
        import scoringrules as sr

        # A t with one degree of freedom (Cauchy) has no mean, so no finite CRPS.
        return float(sr.crps_t(truth, self.df, self.loc, self.scale)) if self.df > 1 else float("nan")


@dataclass(frozen=True)
class Point:
    """A point forecast: every quantile is the point, its CRPS the absolute error."""

    value: float
    reason: str = ""

    def quantiles(self, levels: Sequence[float]) -> np.ndarray:
        return np.full(len(levels), self.value)

    def crps(self, truth: float) -> float:
        import scoringrules as sr

        return float(sr.crps_ensemble(truth, np.array([self.value]), estimator=CRPS_ESTIMATOR))


@dataclass(frozen=True)
class NoForecast:
    """A method that cannot forecast this figure, and why."""

    reason: str


Forecast = Ensemble | StudentT | Point | NoForecast
