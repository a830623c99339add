"""The naive baselines tokensim is scored against, both probabilistic: a random walk with drift and a damped trend,
in log space (logit for shares), each fitted on the target series' own history at the origin.

Both read a series' figures as values at their windows' midpoints (totals as daily averages, bounds at face
value: a naive forecaster takes "more than 30T" for 30T) and forecast the target's midpoint, ``h`` years after
the series' last figure:

``random_walk``
    a random walk with drift: ``y(t + h) = y(t) + mu h + sqrt(h) sigma eps``. ``mu`` is the series' own drift,
    ``(y_last - y_first) / (t_last - t_first)`` (the maximum-likelihood drift for unequally spaced figures);
    predictive variance ``sigma^2 (h + h^2 / (t_last - t_first))``, the walk's own spread plus the drift's
    estimation error.
``damped_trend``
    the local slope of the last two figures ``b``, damped with a fixed half-life of one year
    (:data:`TREND_HALF_LIFE`): ``y(t + h) = y(t) + b (1 - exp(-lambda h)) / lambda``; variance
    ``sigma^2 (h + D(h)^2 / (t_last - t_previous))`` with ``D(h)`` the damped horizon. Two or three figures
    per series cannot estimate a damping parameter, so it is fixed in advance: a monthly damping factor of
    0.944, inside the range (0.8 to 0.98) that damped-trend methods usually settle on.

**The spread.** A series with two figures has one increment and no residual, so no series' own history can
say how far a random walk strays. ``sigma^2`` is pooled over every increment of every series of the target's
scale known at the origin, measured around one common drift:
``sigma^2 = sum((dy - mu_common dt)^2 / dt) / (increments - 1)``. Measured that way it also holds how much the
series' growth rates differ, which is what a forecaster facing a two-figure history should fear: its own drift
is about as uncertain as growth rates are across series. The predictive is a Student-t with
``increments - 1`` degrees of freedom (the estimate of ``sigma`` from so few increments is itself uncertain).
A baseline with fewer than two figures of the series, or fewer than three increments to pool (one degree of
freedom is a Cauchy, with no finite CRPS), says why it has no forecast.
"""

from __future__ import annotations

import numpy as np

from sim.analysis.forecasts import Forecast, NoForecast, StudentT
from sim.calibration.fits import scale_of
from sim.data.observations import Observation, ObservationSet

#: Increments a pooled spread needs: two degrees of freedom, the fewest with a finite CRPS.
MIN_INCREMENTS = 3
#: Half-life of the damped trend's slope, in years (a monthly damping factor of 2 ** (-1/12) = 0.944).
TREND_HALF_LIFE = 1.0


def truth_of(observation: Observation) -> float:
    """The published value on its scoring scale (totals as daily averages, bounds at face value)."""
    return float(scale_of(observation).forward(observation.comparable_value))


def series_history(vintage: ObservationSet, target: Observation) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per series of the target's scale known at the origin: midpoints and values (scoring scale), in time order."""
    history: dict[str, list[tuple[float, float]]] = {}
    for o in vintage.fitted(scale_of(target).quantities):
        history.setdefault(o.series, []).append((o.midpoint, truth_of(o)))
    return {series: tuple(np.array(column) for column in zip(*sorted(points)))
            for series, points in history.items()}


def pooled_spread(history: dict[str, tuple[np.ndarray, np.ndarray]]) -> tuple[float, int] | str:
    """``(sigma^2 per year, degrees of freedom)`` from every increment of every series around one common drift,
    or why there is none."""
    steps = [(np.diff(t), np.diff(y)) for t, y in history.values()]
    dt = np.concatenate([d for d, _ in steps]) if steps else np.array([])
    dy = np.concatenate([d for _, d in steps]) if steps else np.array([])
    keep = dt > 0
    dt, dy = dt[keep], dy[keep]
    if dt.size < MIN_INCREMENTS:
        return (f"{dt.size} increment(s) among the series known at the origin; a spread needs at least "
                f"{MIN_INCREMENTS} (with fewer the Student-t has one degree of freedom, a Cauchy with no finite CRPS)")
    drift = dy.sum() / dt.sum()
    return float(np.sum((dy - drift * dt) ** 2 / dt) / (dt.size - 1)), int(dt.size - 1)


def _own_history(vintage: ObservationSet, target: Observation
                 ) -> tuple[np.ndarray, np.ndarray, float, int] | NoForecast:
    """The series' distinct-date history with the pooled spread, or why the baseline cannot forecast."""
    history = series_history(vintage, target)
    times, values = history.get(target.series, (np.array([]), np.array([])))
    if np.unique(times).size < 2:
        return NoForecast(f"{times.size} earlier figure(s) of the series at distinct dates; needs 2")
    spread = pooled_spread(history)
    if isinstance(spread, str):
        return NoForecast(spread)
    return times, values, *spread


def random_walk(vintage: ObservationSet, target: Observation) -> Forecast:
    """Random walk with the series' own drift, pooled spread; a Student-t on the scoring scale."""
    known = _own_history(vintage, target)
    if isinstance(known, NoForecast):
        return known
    times, values, variance, df = known
    span = times[-1] - times[0]
    drift = (values[-1] - values[0]) / span
    h = abs(target.midpoint - times[-1])
    loc = values[-1] + drift * (target.midpoint - times[-1])
    return StudentT(df, loc, float(np.sqrt(variance * (h + h**2 / span))))


def damped_trend(vintage: ObservationSet, target: Observation) -> Forecast:
    """The last two figures' slope, damped with a one-year half-life, pooled spread; a Student-t."""
    known = _own_history(vintage, target)
    if isinstance(known, NoForecast):
        return known
    times, values, variance, df = known
    distinct = np.flatnonzero(times < times[-1])
    previous = distinct[-1]
    gap = times[-1] - times[previous]
    slope = (values[-1] - values[previous]) / gap
    rate = np.log(2.0) / TREND_HALF_LIFE
    lead = target.midpoint - times[-1]
    damped = -np.expm1(-rate * lead) / rate
    h = abs(lead)
    return StudentT(df, values[-1] + slope * damped, float(np.sqrt(variance * (h + damped**2 / gap))))
