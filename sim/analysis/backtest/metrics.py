"""How a forecast is scored, a registry of metrics (as Prophet's diagnostics register theirs): CRPS, the
weighted interval score of the median and the 50/80/95% central intervals and the coverage of each interval
(exact figures), the censored CRPS (bounds), and the PIT (both), all on the scoring scale.

A figure published as a bound ("more than X") is scored only on what it says (:mod:`sim.analysis.forecasts`):
its PIT is an interval and its CRPS the threshold-weighted part the bound decides; the CRPS, WIS and coverage
of an exact value are left NaN for it, so that the two kinds are never averaged together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim.analysis.forecasts import Forecast, NoForecast, pit_interval

#: Central prediction intervals scored (coverage and the weighted interval score).
INTERVALS = (0.5, 0.8, 0.95)
#: Quantile levels stored per forecast: the median and the bounds of every interval.
QUANTILES = tuple(sorted({0.5, *((1 - c) / 2 for c in INTERVALS), *((1 + c) / 2 for c in INTERVALS)}))
NAN = float("nan")


@dataclass(frozen=True)
class Metric:
    """A score of one forecast against the published value: ``compute(forecast, truth, bound, quantiles)``, with
    the forecast's quantiles by level (:data:`QUANTILES`) computed once for every metric; ``bound`` is "" for an
    exact figure, "lower" for "more than truth", "upper" for "at most truth"."""

    name: str
    long_name: str
    compute: Callable[[Forecast, float, str, dict[float, float]], float]


def _crps(forecast, truth, bound, quantiles) -> float:
    return NAN if bound else forecast.crps(truth)


def _censored_crps(forecast, truth, bound, quantiles) -> float:
    return forecast.censored_crps(truth, bound) if bound else NAN


def _weighted_interval_score(forecast, truth, bound, quantiles) -> float:
    import scoringrules as sr

    if bound:
        return NAN
    lower = np.array([quantiles[(1 - c) / 2] for c in INTERVALS])
    upper = np.array([quantiles[(1 + c) / 2] for c in INTERVALS])
    return float(sr.weighted_interval_score(truth, quantiles[0.5], lower, upper, 1 - np.array(INTERVALS)))


def _covers(level: float) -> Callable[..., float]:
    def covered(forecast, truth, bound, quantiles) -> float:
        return NAN if bound else float(quantiles[(1 - level) / 2] <= truth <= quantiles[(1 + level) / 2])
    return covered


def _pit(end: int) -> Callable[..., float]:
    def pit(forecast, truth, bound, quantiles) -> float:
        return pit_interval(forecast, truth, bound)[end]
    return pit


#: Every score of a hindcast, in order.
METRICS: dict[str, Metric] = {
    metric.name: metric
    for metric in (
        Metric("crps", "continuous ranked probability score on the scoring scale, exact figures (lower is better)",
               _crps),
        Metric("censored_crps", "threshold-weighted CRPS on the side of the bound the figure rules out, figures "
                                "published as bounds (lower is better; 0 = no mass where the figure says the value "
                                "is not)", _censored_crps),
        Metric("wis", "weighted interval score of the median and the 50/80/95% central intervals, exact figures "
                      "(lower is better)", _weighted_interval_score),
        *(Metric(f"covered_{round(100 * c)}",
                 f"1 if the {round(100 * c)}% central interval covers the published value, 0 if not (exact figures)",
                 _covers(c))
          for c in INTERVALS),
        Metric("pit_lower", "lower end of the PIT of the published value (F(value); 0 for 'at most X')", _pit(0)),
        Metric("pit_upper", "upper end of the PIT of the published value (F(value); 1 for 'more than X')", _pit(1)),
    )
}


def score(forecast: Forecast, truth: float, bound: str = "") -> dict[str, float | np.ndarray]:
    """Every metric of :data:`METRICS`, and the stored quantiles; NaN for a method with no forecast."""
    if isinstance(forecast, NoForecast):
        return {**{name: NAN for name in METRICS}, "quantiles": np.full(len(QUANTILES), np.nan)}
    quantiles = dict(zip(QUANTILES, forecast.quantiles(QUANTILES)))
    return {**{name: metric.compute(forecast, truth, bound, quantiles) for name, metric in METRICS.items()},
            "quantiles": np.array(list(quantiles.values()))}
