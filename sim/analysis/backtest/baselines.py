"""The naive baselines tokensim is scored against: an exponential through the last two figures of the
series, and a log-linear trend with series fixed effects fitted by statsmodels OLS."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from sim.analysis.backtest.forecasts import Forecast, NoForecast, Point, StudentT, truth_of
from sim.calibration.fits import scale_of
from sim.data.observations import Observation, ObservationSet


def known_before(vintage: ObservationSet, target: Observation) -> tuple[Observation, ...]:
    """Fitted figures of the target's kind (volume or share) known at the origin, oldest window first."""
    known = vintage.fitted(scale_of(target).quantities)
    return tuple(sorted(known, key=lambda o: o.midpoint))


def two_point_exponential(vintage: ObservationSet, target: Observation) -> Forecast:
    """Exponential through the last two figures of the target's series known at the origin."""
    same = [o for o in known_before(vintage, target) if o.series == target.series]
    if len(same) < 2:
        return NoForecast(f"{len(same)} earlier figure(s) of the series, needs 2")
    first, last = same[-2:]
    if first.midpoint == last.midpoint:
        return NoForecast("the last two figures of the series have the same date")
    y0, y1 = truth_of(first), truth_of(last)
    slope = (y1 - y0) / (last.midpoint - first.midpoint)
    return Point(y1 + slope * (target.midpoint - last.midpoint))


def loglinear_trend(vintage: ObservationSet, target: Observation) -> Forecast:
    """OLS of scaled values on time, series fixed effects and a common trend; Student-t predictive."""
    import statsmodels.api as sm

    known = known_before(vintage, target)
    series = list(dict.fromkeys(o.series for o in known))
    if target.series not in series:
        return NoForecast("no earlier figure of the series")
    design = pd.DataFrame({name: [float(o.series == name) for o in known] for name in series})
    design["trend"] = [o.midpoint for o in known]
    rows, columns = design.shape
    if rows - columns < 1:
        return NoForecast(f"{rows} figure(s), {columns} parameters ({len(series)} level(s), 1 trend): "
                          "no residual degrees of freedom")
    if np.linalg.matrix_rank(design.to_numpy()) < columns:
        return NoForecast("the trend is not identified (no series has two dates)")
    fit = sm.OLS(np.array([truth_of(o) for o in known]), design).fit()
    future = pd.DataFrame({name: [float(target.series == name)] for name in series})
    future["trend"] = [target.midpoint]
    frame = fit.get_prediction(future).summary_frame(alpha=0.05)
    mean, upper = float(frame["mean"].iloc[0]), float(frame["obs_ci_upper"].iloc[0])
    df = float(fit.df_resid)
    return StudentT(df, mean, (upper - mean) / stats.t.ppf(0.975, df),
                    "" if df > 1 else "one residual degree of freedom: CRPS undefined")
