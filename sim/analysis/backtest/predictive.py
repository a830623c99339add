"""tokensim's own forecast of a held-out figure: the posterior predictive under the origin's calibration.

For each volume family the series' own reading of the curve at a posterior draw (the window mean of
``V(t) exp(drift t)``, the drift inside the window, or the level times ``exp(drift t)`` at a date),
times its scale, times lognormal noise with the series' figure and release sigmas (a figure not yet
published comes from a release of its own); families mixed by the scenario's ``[families]`` weights
(and its assumptions, by reweighting). A series with no figure before the origin takes its scale and
drift from the priors: the posterior of a parameter no data touched is its prior. The open-source
share is the window mean of ``adoption^call_weight x usage`` under the variants of the open-source
model mixed by the scenario's ``[open_models]`` weights, with logit-normal noise.
"""

from __future__ import annotations

import datetime as dt
import zlib

import numpy as np
from scipy import special

from sim.analysis.backtest.forecasts import Ensemble, Forecast, NoForecast
from sim.analysis.backtest.origins import Origin
from sim.calibration.fits import scale_of
from sim.calibration.models import SHARE_SIGMA, series_parameter
from sim.core.errors import UserError
from sim.curves.families import FAMILIES, drifted_window_mean
from sim.curves.open_source import OPEN_PARAMETERS, open_share, open_share_window_mean
from sim.data.observations import Observation

#: Members of each tokensim predictive ensemble.
ENSEMBLE = 4000


def _rng(seed: int, as_of: dt.date, target: Observation) -> np.random.Generator:
    """A stream per (origin, figure): independent of every value, so no truth can leak in."""
    return np.random.default_rng(np.random.SeedSequence([seed, as_of.toordinal(), zlib.crc32(target.id.encode())]))


def _series_terms(origin: Origin, fit: str, index: np.ndarray, series: str, rng: np.random.Generator
                  ) -> dict[str, np.ndarray] | str:
    """Scale, drift and noise of a series per member: posterior draws, or its priors if no figure of it
    was known at the origin (their posterior is then their prior); a reason if it has neither."""
    role = origin.vintage.series[series].role
    fixed = {"scale": 1.0, "drift": 0.0} if role == "reference" else {}
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


def _volume_members(origin: Origin, target: Observation, rng: np.random.Generator, size: int) -> Forecast:
    weights = [(fit, w) for fit, w in origin.scenario.family_weights if w > 0]
    missing = [fit for fit, _ in weights if fit not in origin.posterior.fits]
    if missing:
        raise UserError(f"the scenario weights family {missing[0]!r} but the calibration as of {origin.as_of} "
                        "has no fit of it", where=str(origin.scenario.path))
    chosen = rng.choice(len(weights), size=size, p=np.array([w for _, w in weights]) / sum(w for _, w in weights))
    a, b = target.window
    members = np.empty(size)
    for k, (fit, _) in enumerate(weights):
        where = np.flatnonzero(chosen == k)
        index = rng.choice(origin.posterior.size(fit), size=where.size, p=origin.resampling.get(fit))
        family = FAMILIES[fit]
        draws = origin.posterior.samples(fit)
        params = {p: draws[p][index] for p in family.parameters}
        terms = _series_terms(origin, fit, index, target.series, rng)
        if isinstance(terms, str):
            return NoForecast(terms)
        if target.kind == "at_date":
            level = family.level(a, params) * np.exp(terms["drift"] * a)
        else:
            level = drifted_window_mean(family, np.full(where.size, a), np.full(where.size, b), params, terms["drift"])
        noise = np.hypot(terms["sigma"], terms["release_sigma"]) * rng.standard_normal(where.size)
        members[where] = np.log(level) + np.log(terms["scale"]) + noise
    return Ensemble(members)


def _share_members(origin: Origin, target: Observation, rng: np.random.Generator, size: int) -> Forecast:
    weights = [(fit, w) for fit, w in origin.scenario.open_weights if w > 0 and fit in origin.posterior.fits]
    chosen = rng.choice(len(weights), size=size, p=np.array([w for _, w in weights]) / sum(w for _, w in weights))
    a, b = target.window
    members = np.empty(size)
    for k, (fit, _) in enumerate(weights):
        where = np.flatnonzero(chosen == k)
        draws = origin.posterior.samples(fit)
        index = rng.choice(origin.posterior.size(fit), size=where.size, p=origin.resampling.get(fit))
        params = {p: draws[p][index] for p in OPEN_PARAMETERS}
        share = open_share(a, params) if target.kind == "at_date" else open_share_window_mean(a, b, params)
        sigma = draws[SHARE_SIGMA][index] if SHARE_SIGMA in draws else origin.priors.open["sigma"].sample(rng, where.size)
        members[where] = special.logit(np.clip(share, 1e-12, 1 - 1e-12)) + sigma * rng.standard_normal(where.size)
    return Ensemble(members)


#: How tokensim forecasts each scoring scale: volume families mixed, or the open-source model.
PREDICTIVES = {"log": _volume_members, "logit": _share_members}


def tokensim_forecast(origin: Origin, target: Observation, *, seed: int, size: int = ENSEMBLE) -> Forecast:
    """The posterior predictive ensemble of ``target`` under the origin's calibration (scoring scale)."""
    return PREDICTIVES[scale_of(target).name](origin, target, _rng(seed, origin.as_of, target), size)
