"""The posterior predictive of one figure under its own definition: the one place a calibration forecasts a figure.

``tokensim predict`` (any registered series' next figure), ``tokensim revise`` (how surprising each newly
published figure was under the older vintage) and the backtest (tokensim's column) all read figures here.

A volume figure of series ``s`` is, per posterior draw of a growth family, the series' own reading of the
curve: the mean over its window of ``V(t) exp(drift_s t)`` (the drift inside the window; the reference series'
exact window mean), or ``V(t) exp(drift_s t)`` at a date; times ``scale_s``; times lognormal noise with the
series' figure and release sigmas ``sqrt(sigma_s^2 + release_sigma_s^2)``, since a figure not yet published
comes from a release of its own. Families are mixed by the scenario's ``[families]`` weights, and its
assumptions reweight each fit's draws. A series with no figure in the vintage takes scale and drift from
its priors: the posterior of a parameter no data touched is its prior. The open share is the window mean
(or the value at a date) of ``adoption^call_weight x usage`` under the variants of the open-source model
mixed by the scenario's ``[open_models]`` weights, with logit-normal noise ``share_sigma``.

The ensemble is the latent figure, on the scoring scale (log of daily tokens, totals as daily averages;
logit of a share); a figure that will be published as a bound is read through it by
:func:`sim.analysis.forecasts.pit_interval`.
"""

from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass

import numpy as np
from scipy import special

from sim.analysis.forecasts import Ensemble, NoForecast
from sim.calibration.fits import SCALES, ObservationScale
from sim.calibration.inputs import CalibrationInputs
from sim.calibration.models import SHARE_SIGMA, series_parameter
from sim.calibration.posterior import Posterior
from sim.core.errors import UserError
from sim.core.timeaxis import window_bounds, window_days, years
from sim.curves.families import FAMILIES, drifted_window_mean
from sim.curves.open_source import OPEN_PARAMETERS, open_share, open_share_window_mean
from sim.data.observations import Observation, ObservationSet
from sim.data.priors import Priors
from sim.engine.reweighting import posterior_weights
from sim.scenarios.scenario import Scenario

#: Members of a predictive ensemble unless asked otherwise.
ENSEMBLE = 4000


@dataclass(frozen=True)
class Origin:
    """What a vintage knew, and how the forecast mixes it: its figures, posterior and priors, the scenario
    whose weights mix the families and the open-source variants, and its resampling weights per fit."""

    as_of: dt.date | None
    vintage: ObservationSet
    posterior: Posterior
    priors: Priors
    scenario: Scenario
    resampling: dict[str, np.ndarray | None]


def make_origin(as_of: dt.date | None, vintage: ObservationSet, posterior: Posterior, priors: Priors,
                scenario: Scenario) -> Origin:
    """Bundle a vintage's posterior and priors with the scenario's resampling weights."""
    return Origin(as_of, vintage, posterior, priors, scenario, posterior_weights(posterior, scenario))


def origin_of(inputs: CalibrationInputs, posterior: Posterior, scenario: Scenario) -> Origin:
    """The origin of calibration inputs cut to a vintage (their figures and priors) and its posterior."""
    return make_origin(inputs.as_of, inputs.observations, posterior, inputs.priors, scenario)


@dataclass(frozen=True)
class Target:
    """A figure to forecast: a series, what it measures (``quantity``) and how (``kind``: a window average,
    a window total or a value at a date), with its window or date; ``label`` names it (its id if published).
    ``noise`` replaces the series' own noise sd on the scoring scale for a figure measured otherwise (the
    open share the vendor shares imply, :func:`sim.calibration.models.vendor_open_shares`)."""

    series: str
    quantity: str
    kind: str
    start: dt.date | None = None
    end: dt.date | None = None
    date: dt.date | None = None
    label: str = ""
    noise: float | None = None

    @classmethod
    def of(cls, observation: Observation) -> Target:
        """The figure a published observation is."""
        return cls(observation.series, observation.quantity, observation.kind, observation.start, observation.end,
                   observation.date, observation.id)

    @property
    def window(self) -> tuple[float, float]:
        """Model-time bounds ``(a, b)``; ``a == b`` at a date."""
        if self.kind == "at_date":
            return years(self.date), years(self.date)
        return window_bounds(self.start, self.end)

    @property
    def last_day(self) -> dt.date:
        return self.date if self.kind == "at_date" else self.end

    @property
    def days(self) -> int:
        """Days a window total sums over (1 for averages and values at a date)."""
        return window_days(self.start, self.end) if self.kind == "window_total" else 1

    @property
    def scale(self) -> ObservationScale:
        """The scoring scale (log for volumes, logit for shares)."""
        return next(scale for scale in SCALES.values() if self.quantity in scale.quantities)

    def to_scale(self, value: float) -> float:
        """A value as published (base units; totals over the window) on the scoring scale."""
        return float(self.scale.forward(value / self.days))

    def from_scale(self, value: np.ndarray) -> np.ndarray:
        """Values on the scoring scale as published (base units; totals over the window)."""
        return self.scale.inverse(np.asarray(value, dtype=float)) * self.days

    def describe(self) -> str:
        when = f"on {self.date}" if self.kind == "at_date" else f"{self.start} .. {self.end}"
        return f"{self.series} {self.kind.replace('_', ' ')} {when}"


def _rng(seed: int, as_of: dt.date | None, target: Target) -> np.random.Generator:
    """A stream per (vintage, figure): independent of every published value, so no truth can leak in."""
    key = target.label or target.describe()
    ordinal = as_of.toordinal() if as_of is not None else 0
    return np.random.default_rng(np.random.SeedSequence([seed, ordinal, zlib.crc32(key.encode())]))


def _mixture(weights: list[tuple[str, float]], rng: np.random.Generator, size: int) -> np.ndarray:
    """Which component (index into ``weights``) each member follows."""
    probabilities = np.array([w for _, w in weights]) / sum(w for _, w in weights)
    return rng.choice(len(weights), size=size, p=probabilities)


def _series_terms(origin: Origin, fit: str, index: np.ndarray, series: str, rng: np.random.Generator
                  ) -> dict[str, np.ndarray] | str:
    """Scale, drift and noise of a series per member: posterior draws, or its priors if no figure of it
    was known at the origin (their posterior is then their prior); a reason if it has neither."""
    fixed = {"scale": 1.0, "drift": 0.0} if origin.vintage.series[series].role == "reference" else {}
    draws, priors = origin.posterior.samples(fit), origin.priors.series.get(series, {})
    terms = {}
    for name in ("scale", "drift", "sigma", "release_sigma"):
        key = series_parameter(series, name)
        if key in draws:
            terms[name] = draws[key][index]
        elif name in fixed:
            terms[name] = np.full(index.size, fixed[name])
        elif name in priors:
            terms[name] = priors[name].sample(rng, index.size)
        else:
            return f"no {name} prior for series {series!r} in {origin.priors.path}"
    return terms


def _volume_members(origin: Origin, target: Target, rng: np.random.Generator, size: int) -> Ensemble | NoForecast:
    weights = [(fit, w) for fit, w in origin.scenario.family_weights if w > 0]
    missing = [fit for fit, _ in weights if fit not in origin.posterior.fits]
    if missing:
        raise UserError(f"the scenario weights family {missing[0]!r} but the calibration as of "
                        f"{origin.as_of or 'today'} has no fit of it", where=str(origin.scenario.path))
    chosen = _mixture(weights, rng, size)
    reference = origin.vintage.series[target.series].role == "reference"
    a, b = target.window
    members = np.empty(size)
    for k, (fit, _) in enumerate(weights):
        where = np.flatnonzero(chosen == k)
        index = rng.choice(origin.posterior.size(fit), size=where.size, p=origin.resampling.get(fit))
        family, draws = FAMILIES[fit], origin.posterior.samples(fit)
        params = {p: draws[p][index] for p in family.parameters}
        terms = _series_terms(origin, fit, index, target.series, rng)
        if isinstance(terms, str):
            return NoForecast(terms)
        starts, ends = np.full(where.size, a), np.full(where.size, b)
        if target.kind == "at_date":
            level = family.level(starts, params) * np.exp(terms["drift"] * a)
        elif reference:
            level = family.window_mean(starts, ends, params)
        else:
            level = drifted_window_mean(family, starts, ends, params, terms["drift"])
        noise = np.hypot(terms["sigma"], terms["release_sigma"]) * rng.standard_normal(where.size)
        members[where] = np.log(level) + np.log(terms["scale"]) + noise
    return Ensemble(members)


def _share_members(origin: Origin, target: Target, rng: np.random.Generator, size: int) -> Ensemble | NoForecast:
    weights = [(fit, w) for fit, w in origin.scenario.open_weights if w > 0 and fit in origin.posterior.fits]
    if not weights:
        return NoForecast("the calibration has none of the scenario's open-source variants")
    chosen = _mixture(weights, rng, size)
    a, b = target.window
    members = np.empty(size)
    for k, (fit, _) in enumerate(weights):
        where = np.flatnonzero(chosen == k)
        draws = origin.posterior.samples(fit)
        index = rng.choice(origin.posterior.size(fit), size=where.size, p=origin.resampling.get(fit))
        params = {p: draws[p][index] for p in OPEN_PARAMETERS}
        if target.kind == "at_date":
            share = open_share(np.full(where.size, a), params)
        else:
            share = open_share_window_mean(np.full(where.size, a), np.full(where.size, b), params)
        if target.noise is not None:
            sigma = np.full(where.size, target.noise)
        elif SHARE_SIGMA in draws:
            sigma = draws[SHARE_SIGMA][index]
        else:
            sigma = origin.priors.open["sigma"].sample(rng, where.size)
        members[where] = special.logit(np.clip(share, 1e-12, 1 - 1e-12)) + sigma * rng.standard_normal(where.size)
    return Ensemble(members)


#: How each scoring scale is forecast: volume families mixed, or the open-source model's variants.
PREDICTIVES = {"log": _volume_members, "logit": _share_members}


def figure_forecast(origin: Origin, target: Target | Observation, *, seed: int, size: int = ENSEMBLE
                    ) -> Ensemble | NoForecast:
    """The posterior predictive ensemble of a figure under the origin's calibration (scoring scale)."""
    target = Target.of(target) if isinstance(target, Observation) else target
    return PREDICTIVES[target.scale.name](origin, target, _rng(seed, origin.as_of, target), size)
