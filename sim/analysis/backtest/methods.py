"""The forecasting methods a backtest scores, a registry: tokensim and the naive baselines.

Each method forecasts one held-out figure given the origin (what was known then), the backtest's
seed and the ensemble size; its label heads the printed table's column, its colour its bands in the
figure, and its description the Dataset's ``methods`` attribute.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sim.analysis.backtest.baselines import loglinear_trend, two_point_exponential
from sim.analysis.backtest.forecasts import Forecast
from sim.analysis.backtest.origins import Origin
from sim.analysis.backtest.predictive import tokensim_forecast
from sim.data.observations import Observation


@dataclass(frozen=True)
class Method:
    """A forecasting method: ``forecast(origin, target, seed, ensemble)`` on the target's scoring scale."""

    name: str
    label: str
    colour: str
    description: str
    forecast: Callable[[Origin, Observation, int, int], Forecast]


METHODS: dict[str, Method] = {
    method.name: method
    for method in (
        Method("tokensim", "tokensim", "#1f5f99", "posterior predictive of the origin's calibration",
               lambda origin, target, seed, size: tokensim_forecast(origin, target, seed=seed, size=size)),
        Method("two_point_exponential", "2-point", "#b3541e",
               "log-linear through the last two figures of the series (a point)",
               lambda origin, target, seed, size: two_point_exponential(origin.vintage, target)),
        Method("loglinear_trend", "loglinear", "#2e7d32",
               "statsmodels OLS with series fixed effects and a common trend, Student-t prediction interval",
               lambda origin, target, seed, size: loglinear_trend(origin.vintage, target)),
    )
}
#: The naive baselines, each compared head to head with tokensim where it can forecast.
BASELINES = tuple(METHODS)[1:]
