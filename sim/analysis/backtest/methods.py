"""The forecasting methods a backtest scores, a registry: tokensim and the probabilistic naive baselines.

Each method forecasts one held-out figure given the origin (what was known then), the backtest's
seed and the ensemble size; its label heads the printed table's column, its colour its bands in the
figure, and its description the Dataset's ``methods`` attribute.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sim.analysis.backtest.baselines import damped_trend, random_walk
from sim.analysis.forecasts import Forecast
from sim.analysis.predictive import Origin, figure_forecast
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
        Method("tokensim", "tokensim", "#1f5f99", "posterior predictive of the figure under the origin's calibration",
               lambda origin, target, seed, size: figure_forecast(origin, target, seed=seed, size=size)),
        Method("random_walk", "random walk", "#b3541e",
               "random walk with the series' own drift in log space, spread pooled over every series' increments "
               "(Student-t)",
               lambda origin, target, seed, size: random_walk(origin.vintage, target)),
        Method("damped_trend", "damped trend", "#2e7d32",
               "the last two figures' slope damped with a one-year half-life, the same pooled spread (Student-t)",
               lambda origin, target, seed, size: damped_trend(origin.vintage, target)),
    )
}
#: The naive baselines, each compared head to head with tokensim where it can forecast.
BASELINES = tuple(METHODS)[1:]
