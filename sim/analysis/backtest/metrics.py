"""How a forecast is scored, a registry of metrics (as Prophet's diagnostics register theirs): CRPS, the
weighted interval score of the median and the 50/80/95% central intervals, and the coverage of each
interval, all from :mod:`scoringrules` on the scoring scale."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim.analysis.backtest.forecasts import Forecast, NoForecast

#: Central prediction intervals scored (coverage and the weighted interval score).
INTERVALS = (0.5, 0.8, 0.95)
#: Quantile levels stored per forecast: the median and the bounds of every interval.
QUANTILES = tuple(sorted({0.5, *((1 - c) / 2 for c in INTERVALS), *((1 + c) / 2 for c in INTERVALS)}))


@dataclass(frozen=True)
class Metric:
    """A score of one forecast against the published value: ``compute(forecast, truth, quantiles)``, with the
    forecast's quantiles by level (:data:`QUANTILES`) computed once for every metric."""

    name: str
    long_name: str
    compute: Callable[[Forecast, float, dict[float, float]], float]


def _crps(forecast: Forecast, truth: float, quantiles: dict[float, float]) -> float:
    return forecast.crps(truth)


def _weighted_interval_score(forecast: Forecast, truth: float, quantiles: dict[float, float]) -> float:
    import scoringrules as sr

    lower = np.array([quantiles[(1 - c) / 2] for c in INTERVALS])
    upper = np.array([quantiles[(1 + c) / 2] for c in INTERVALS])
    return float(sr.weighted_interval_score(truth, quantiles[0.5], lower, upper, 1 - np.array(INTERVALS)))


def _covers(level: float) -> Callable[[Forecast, float, dict[float, float]], float]:
    def covered(forecast: Forecast, truth: float, quantiles: dict[float, float]) -> float:
        return float(quantiles[(1 - level) / 2] <= truth <= quantiles[(1 + level) / 2])
    return covered


#: Every score of a hindcast, in order: CRPS, the weighted interval score, and the coverage of each interval.
METRICS: dict[str, Metric] = {
    metric.name: metric
    for metric in (
        Metric("crps", "continuous ranked probability score on the scoring scale (lower is better)", _crps),
        Metric("wis", "weighted interval score of the median and the 50/80/95% central intervals (lower is better)",
               _weighted_interval_score),
        *(Metric(f"covered_{round(100 * c)}",
                 f"1 if the {round(100 * c)}% central interval covers the published value, 0 if not", _covers(c))
          for c in INTERVALS),
    )
}


def score(forecast: Forecast, truth: float) -> dict[str, float | np.ndarray]:
    """Every metric of :data:`METRICS`, and the stored quantiles; NaN for a method with no forecast."""
    if isinstance(forecast, NoForecast):
        return {**{name: float("nan") for name in METRICS}, "quantiles": np.full(len(QUANTILES), np.nan)}
    quantiles = dict(zip(QUANTILES, forecast.quantiles(QUANTILES)))
    return {**{name: metric.compute(forecast, truth, quantiles) for name, metric in METRICS.items()},
            "quantiles": np.array(list(quantiles.values()))}
