"""``tokensim predict``: the posterior predictive of a registered series' next figure under its own definition.

The figure is a value at a date or a window average or total of any fitted series (:class:`Target`), forecast
by :func:`sim.analysis.predictive.figure_forecast` under the calibration of a vintage and a scenario's weights;
its quantiles are given in the series' published base units (tokens per day, tokens for a window total, a
fraction for a share). With a value, the PIT: the predictive probability that the figure is at most that value,
and for a value to be published as a bound the interval of :func:`sim.analysis.forecasts.pit_interval`.
Everything a user can get wrong is checked here, before any calibration.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass

import numpy as np

from sim.analysis.forecasts import BOUNDS, NoForecast, pit_interval
from sim.analysis.predictive import ENSEMBLE, Target, figure_forecast, origin_of
from sim.calibration.calibrate import calibrate
from sim.calibration.fits import SCALES
from sim.calibration.inputs import CalibrationInputs
from sim.core.errors import UserError
from sim.data.observations import QUANTITIES, SHARE_QUANTITIES, VOLUME_QUANTITIES, ObservationSet
from sim.scenarios.scenario import Scenario

#: The quantiles ``predict`` prints.
LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)
#: Kinds a window figure may take.
WINDOW_KINDS = ("window_average", "window_total")


@dataclass(frozen=True)
class Prediction:
    """The predictive of one figure: quantiles (level -> value in ``unit``), and with a value its PIT
    ``P(figure <= value)`` with its Monte Carlo standard error and its PIT interval (both ends the PIT unless
    the value is to be published as a bound)."""

    target: Target
    unit: str
    as_of: dt.date | None
    calibration_id: str
    scenario: str
    members: int
    quantiles: dict[float, float]
    value: float | None = None
    bound: str = ""
    pit: float | None = None
    pit_mc_se: float | None = None
    pit_interval: tuple[float, float] | None = None

    def as_json(self) -> str:
        """One JSON object: ``quantiles`` (probability -> value) and, with a value, ``pit`` (P(figure <= value); for
        a bound, ``pit_interval`` too), with what the figure is and what it was forecast from."""
        target = self.target
        payload = {
            "series": target.series, "kind": target.kind,
            **({"date": str(target.date)} if target.kind == "at_date" else
               {"start": str(target.start), "end": str(target.end)}),
            "unit": self.unit, "as_of": str(self.as_of) if self.as_of else "all data",
            "calibration_id": self.calibration_id, "scenario": self.scenario, "members": self.members,
            "quantiles": {f"{level:g}": value for level, value in self.quantiles.items()},
        }
        if self.pit is not None:
            payload.update({"value": self.value, "bound": self.bound or "exact", "pit": self.pit,
                            "pit_mc_se": self.pit_mc_se, "pit_interval": list(self.pit_interval)})
        return json.dumps(payload, indent=2)

    def as_text(self) -> str:
        """The quantiles as a table and the PIT in words."""
        target = self.target
        lines = [f"Predictive of {target.describe()} ({target.series}'s own definition; {self.unit}), as of "
                 f"{self.as_of or 'all data'}, scenario '{self.scenario}' weights, calibration "
                 f"{self.calibration_id[:12]}, "
                 f"{self.members} members:", ""]
        lines += [f"  p{round(100 * level):<3} {value:12.4g}" for level, value in self.quantiles.items()]
        if self.pit is not None:
            lines += ["", f"P(figure <= {self.value:g}) = {self.pit:.3f} +- {self.pit_mc_se:.3f} (the PIT: near 0 or 1 "
                          "is a surprise)"]
            if self.bound:
                words = "more than" if self.bound == "lower" else "at most"
                lo, hi = self.pit_interval
                lines.append(f"Published as '{words} {self.value:g}', its PIT is the interval [{lo:.3f}, {hi:.3f}]")
        return "\n".join(lines)


def _series_scale(registry: ObservationSet, series: str) -> str:
    """The scale (log, logit) of a fitted series' figures; refuses an unknown or unfitted series."""
    fitted = [name for name, s in registry.series.items() if s.role != "context"]
    if series not in registry.series:
        raise UserError(f"unknown series {series!r}; fitted series: {', '.join(fitted)}", where="SERIES")
    if registry.series[series].role == "context":
        raise UserError(f"series {series!r} is kept as context, not fitted, so the model has no reading of it; "
                        f"fitted series: {', '.join(fitted)}", where="SERIES")
    quantities = {o.quantity for o in registry.observations if o.series == series}
    scales = [scale.name for scale in SCALES.values() if quantities & set(scale.quantities)]
    if len(scales) != 1:
        raise UserError(f"series {series!r} has {'no figure' if not scales else 'figures of several kinds'} in the "
                        "registry, so what its figures measure is not known", where=str(registry.path))
    return scales[0]


def figure_target(registry: ObservationSet, series: str, *, date: dt.date | None = None,
                  window: tuple[dt.date, dt.date] | None = None, kind: str | None = None) -> Target:
    """The figure ``predict`` forecasts: at ``date``, or over ``window`` as a ``kind`` (default: the kind of the
    series' last window figure, else a window average)."""
    scale = _series_scale(registry, series)
    if (date is None) == (window is None):
        raise UserError("give either --date D or --window START END", where="tokensim predict")
    if date is not None:
        if kind is not None:
            raise UserError("--kind applies to --window only (a value at a date has no window)", where="--kind")
        return Target(series, SHARE_QUANTITIES[0] if scale == "logit" else "daily_tokens", "at_date", date=date)
    start, end = window
    if end < start:
        raise UserError(f"the window ends ({end}) before it starts ({start})", where="--window")
    if kind is None:
        kinds = [o.kind for o in sorted(registry.observations, key=lambda o: o.published)
                 if o.series == series and o.kind in WINDOW_KINDS]
        kind = kinds[-1] if kinds else "window_average"
    if kind not in WINDOW_KINDS:
        raise UserError(f"unknown kind {kind!r}; allowed: {', '.join(WINDOW_KINDS)}", where="--kind")
    if scale == "logit":
        if kind == "window_total":
            raise UserError(f"series {series!r} is a share, which has no window total", where="--kind")
        return Target(series, SHARE_QUANTITIES[0], kind, start=start, end=end)
    return Target(series, VOLUME_QUANTITIES[1] if kind == "window_total" else VOLUME_QUANTITIES[0], kind,
                  start=start, end=end)


def check_value(target: Target, value: float | None, bound: str) -> None:
    """Refuse a value the figure could not take, or a bound without a value."""
    if bound not in BOUNDS:
        raise UserError(f"unknown bound {bound!r}; allowed: lower (more than V), upper (at most V)", where="--bound")
    if value is None:
        if bound:
            raise UserError("--bound says how --value was published; give --value too", where="--bound")
        return
    if not math.isfinite(value) or value <= 0:
        raise UserError(f"must be a finite positive number, got {value!r}", where="--value")
    if target.scale.name == "logit" and value >= 1:
        raise UserError(f"a share is a fraction between 0 and 1 (44.4% is 0.444), got {value:g}", where="--value")


def predict(inputs: CalibrationInputs, target: Target, scenario: Scenario, *, value: float | None = None,
            bound: str = "", size: int = ENSEMBLE, seed: int | None = None) -> Prediction:
    """Calibrate (or reuse) the inputs' vintage and forecast ``target`` under ``scenario``'s weights."""
    check_value(target, value, bound)
    if not inputs.observations.fitted(VOLUME_QUANTITIES):
        raise UserError(f"nothing had been published by {inputs.as_of} to calibrate on; choose a later date",
                        where="--as-of")
    posterior, _ = calibrate(inputs)
    forecast = figure_forecast(origin_of(inputs, posterior, scenario), target,
                               seed=scenario.seed if seed is None else seed, size=size)
    if isinstance(forecast, NoForecast):
        raise UserError(f"cannot forecast {target.describe()}: {forecast.reason}", where="tokensim predict")
    quantiles = dict(zip(LEVELS, (float(v) for v in target.from_scale(forecast.quantiles(LEVELS)))))
    extra = {}
    if value is not None:
        below = forecast.cdf(target.to_scale(value))
        extra = {"value": value, "bound": bound, "pit": below, "pit_mc_se": float(np.sqrt(below * (1 - below) / size)),
                 "pit_interval": pit_interval(forecast, target.to_scale(value), bound)}
    return Prediction(target, QUANTITIES[target.quantity], inputs.as_of, posterior.id, scenario.name, size, quantiles,
                      **extra)
