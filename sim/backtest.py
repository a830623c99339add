"""Rolling-origin hindcasts: calibrate as of an earlier date, forecast what was published after it, score.

For every origin (an ``as_of`` date) the observation registry is cut to what was known then
(:meth:`~sim.data.observations.ObservationSet.vintage`), calibrated through
:func:`sim.calibration.calibrate.calibrate` (so every origin's posterior is cached by its id), and each
fitted figure that was *not* known yet (a volume series or the open-source share) is forecast
three ways and scored against its published value:

``tokensim``
    the posterior predictive of the figure under the origin's calibration: for each volume family
    the window mean (or the level at a date) of the curve at a posterior draw, times the series'
    scale and ``exp(drift * midpoint)`` when the series is scaled, times lognormal noise with the
    series' sigma; families mixed by the scenario's ``[families]`` weights (and its assumptions, by
    reweighting). A series with no figure before the origin takes its scale, drift and sigma from
    the priors: the posterior of a parameter no data touched is its prior. The open-source share
    is the window mean of ``adoption x usage`` under the ``open`` fit, with logit-normal noise.
``two_point_exponential``
    the straight line (on the log scale) through the last two figures of the same series known at
    the origin, evaluated at the target's midpoint: a point forecast (CRPS = absolute error, zero
    width intervals, coverage only on an exact hit).
``loglinear_trend``
    statsmodels OLS of log values on time (window midpoints) over every volume figure known at the
    origin, one level per series (fixed effects) and a common trend; its prediction interval
    (``obs_ci``) is a Student-t with the residual degrees of freedom.

Scores are on the log scale for volumes and the logit scale for shares, from :mod:`scoringrules`:
CRPS (ensemble estimator for tokensim, closed form for the Student-t, absolute error for a point),
the weighted interval score of the median and the 50/80/95% central intervals, and whether each
interval covers the truth. A method that cannot forecast a figure gets NaN and a reason.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy import special, stats

from sim.calibration.calibrate import calibrate
from sim.calibration.fits import OPEN_FIT
from sim.calibration.inputs import SamplerSettings
from sim.calibration.posterior import Posterior
from sim.calibration.sampling import ConvergenceError
from sim.core.errors import UserError
from sim.core.files import writable, write_analysis
from sim.core.paths import BASELINE, OBSERVATIONS, POSTERIORS, PRIORS
from sim.core.provenance import provenance
from sim.curves.families import FAMILIES
from sim.curves.open_source import OPEN_PARAMETERS, open_share, open_share_window_mean
from sim.data.observations import (
    CUTS,
    SHARE_QUANTITIES,
    VOLUME_QUANTITIES,
    Observation,
    ObservationSet,
    load_observations,
)
from sim.data.priors import Priors, load_priors
from sim.engine.reweighting import posterior_weights
from sim.scenarios.scenario import Scenario, load_scenario

METHODS = ("tokensim", "two_point_exponential", "loglinear_trend")
#: Central prediction intervals scored (coverage and the weighted interval score).
INTERVALS = (0.5, 0.8, 0.95)
#: Quantile levels stored per forecast: the median and the bounds of every interval.
QUANTILES = tuple(sorted({0.5, *((1 - c) / 2 for c in INTERVALS), *((1 + c) / 2 for c in INTERVALS)}))
#: Members of each tokensim predictive ensemble.
ENSEMBLE = 4000


# --- scoring scales -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoringScale:
    """Where a kind of figure is scored: the transform of its value, and back."""

    name: str
    quantities: tuple[str, ...]
    forward: Callable[[np.ndarray], np.ndarray]
    inverse: Callable[[np.ndarray], np.ndarray]


SCALES = (
    ScoringScale("log", VOLUME_QUANTITIES, np.log, np.exp),
    ScoringScale("logit", SHARE_QUANTITIES, special.logit, special.expit),
)


def scale_of(observation: Observation) -> ScoringScale:
    """The scoring scale of a figure (log for volumes, logit for shares)."""
    return next(s for s in SCALES if observation.quantity in s.quantities)


def truth_of(observation: Observation) -> float:
    """The published value on its scoring scale (totals as daily averages, like the model)."""
    return float(scale_of(observation).forward(observation.comparable_value))


# --- forecasts: ensemble, Student-t, point, none --------------------------------------------------


@dataclass(frozen=True)
class Ensemble:
    """A predictive distribution given by draws (tokensim's posterior predictive)."""

    members: np.ndarray
    reason: str = ""

    def quantiles(self, levels: Sequence[float]) -> np.ndarray:
        return np.quantile(self.members, levels)

    def crps(self, truth: float) -> float:
        import scoringrules as sr

        return float(sr.crps_ensemble(truth, self.members))


@dataclass(frozen=True)
class StudentT:
    """A location-scale Student-t predictive (an OLS prediction interval)."""

    df: float
    loc: float
    scale: float
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

        return float(sr.crps_ensemble(truth, np.array([self.value])))


@dataclass(frozen=True)
class NoForecast:
    """A method that cannot forecast this figure, and why."""

    reason: str


Forecast = Ensemble | StudentT | Point | NoForecast


def score(forecast: Forecast, truth: float) -> dict[str, float | np.ndarray]:
    """CRPS, weighted interval score, coverage of each central interval, and the stored quantiles."""
    nan = float("nan")
    if isinstance(forecast, NoForecast):
        return {"crps": nan, "wis": nan, **{f"covered_{round(100 * c)}": nan for c in INTERVALS},
                "quantiles": np.full(len(QUANTILES), nan)}
    import scoringrules as sr

    q = dict(zip(QUANTILES, forecast.quantiles(QUANTILES)))
    lower = np.array([q[(1 - c) / 2] for c in INTERVALS])
    upper = np.array([q[(1 + c) / 2] for c in INTERVALS])
    wis = float(sr.weighted_interval_score(truth, q[0.5], lower, upper, 1 - np.array(INTERVALS)))
    covered = {f"covered_{round(100 * c)}": float(lo <= truth <= hi) for c, lo, hi in zip(INTERVALS, lower, upper)}
    return {"crps": forecast.crps(truth), "wis": wis, **covered, "quantiles": np.array(list(q.values()))}


# --- the three methods ----------------------------------------------------------------------------


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


@dataclass(frozen=True)
class Origin:
    """One calibration origin: its vintage, posterior and what the tokensim forecast needs."""

    as_of: dt.date
    vintage: ObservationSet
    posterior: Posterior
    priors: Priors
    scenario: Scenario
    draws: dict[str, dict[str, np.ndarray]]
    resampling: dict[str, np.ndarray | None]


def make_origin(as_of: dt.date, vintage: ObservationSet, posterior: Posterior, priors: Priors,
                scenario: Scenario) -> Origin:
    """Bundle an origin's posterior draws (chains flattened) with the scenario's resampling weights."""
    draws = {fit: posterior.samples(fit) for fit in posterior.fits}
    return Origin(as_of, vintage, posterior, priors, scenario, draws, posterior_weights(posterior, scenario))


def _rng(seed: int, as_of: dt.date, target: Observation) -> np.random.Generator:
    """A stream per (origin, figure): independent of every value, so no truth can leak in."""
    return np.random.default_rng(np.random.SeedSequence([seed, as_of.toordinal(), zlib.crc32(target.id.encode())]))


def _series_terms(origin: Origin, fit: str, index: np.ndarray, series: str, rng: np.random.Generator
                  ) -> dict[str, np.ndarray] | str:
    """Scale, drift and sigma of a series per member: posterior draws, or its priors if no figure of
    it was known at the origin (their posterior is then their prior); a reason if it has neither."""
    role = origin.vintage.series[series].role
    fixed = {"scale": 1.0, "drift": 0.0} if role == "reference" else {}
    draws, priors = origin.draws[fit], origin.priors.series.get(series, {})
    terms = {}
    for name in ("scale", "drift", "sigma"):
        key = f"{series}_{name}"
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
    missing = [fit for fit, _ in weights if fit not in origin.draws]
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
        params = {p: origin.draws[fit][p][index] for p in family.parameters}
        level = family.level(a, params) if target.kind == "at_date" else family.window_mean(a, b, params)
        terms = _series_terms(origin, fit, index, target.series, rng)
        if isinstance(terms, str):
            return NoForecast(terms)
        noise = terms["sigma"] * rng.standard_normal(where.size)
        members[where] = np.log(level) + np.log(terms["scale"]) + terms["drift"] * target.midpoint + noise
    return Ensemble(members)


def _share_members(origin: Origin, target: Observation, rng: np.random.Generator, size: int) -> Forecast:
    draws = origin.draws[OPEN_FIT]
    index = rng.choice(origin.posterior.size(OPEN_FIT), size=size, p=origin.resampling.get(OPEN_FIT))
    params = {p: draws[p][index] for p in OPEN_PARAMETERS}
    a, b = target.window
    share = open_share(a, params) if target.kind == "at_date" else open_share_window_mean(a, b, params)
    sigma = draws["share_sigma"][index] if "share_sigma" in draws else origin.priors.open["sigma"].sample(rng, size)
    return Ensemble(special.logit(np.clip(share, 1e-12, 1 - 1e-12)) + sigma * rng.standard_normal(size))


#: How tokensim forecasts each scoring scale: volume families mixed, or the open-source model.
PREDICTIVES = {"log": _volume_members, "logit": _share_members}


def tokensim_forecast(origin: Origin, target: Observation, *, seed: int, size: int = ENSEMBLE) -> Forecast:
    """The posterior predictive ensemble of ``target`` under the origin's calibration (scoring scale)."""
    return PREDICTIVES[scale_of(target).name](origin, target, _rng(seed, origin.as_of, target), size)


# --- origins --------------------------------------------------------------------------------------


def _knowledge_date(cut: str) -> Callable[[Observation], dt.date]:
    return (lambda o: o.published) if cut == "published" else (lambda o: o.last_day)


def held_out(observations: ObservationSet, as_of: dt.date, cut: str) -> tuple[Observation, ...]:
    """Fitted figures (volume series and the open share) not yet known at ``as_of``: the hindcasts."""
    known = {o.id for o in observations.vintage(as_of, cut).observations}
    fitted = observations.fitted((*VOLUME_QUANTITIES, *SHARE_QUANTITIES))
    return tuple(o for o in fitted if o.id not in known)


def check_origin(observations: ObservationSet, as_of: dt.date, cut: str) -> None:
    """Refuse an origin with no volume figure before it or nothing left to forecast after it."""
    key = _knowledge_date(cut)
    fitted = observations.fitted((*VOLUME_QUANTITIES, *SHARE_QUANTITIES))
    verb = "published" if cut == "published" else "measured (window ended)"
    if not observations.vintage(as_of, cut).fitted(VOLUME_QUANTITIES):
        first = min((key(o) for o in observations.fitted(VOLUME_QUANTITIES)), default=None)
        raise UserError(f"{as_of}: no fitted volume figure had been {verb} by then, so there is nothing to "
                        f"calibrate on (the first was {verb} on {first}); choose a date on or after it",
                        where="--as-of")
    if not held_out(observations, as_of, cut):
        last = max((key(o) for o in fitted), default=None)
        raise UserError(f"{as_of}: every fitted figure had been {verb} by then, so there is nothing to forecast "
                        f"(the last was {verb} on {last}); choose a date before it", where="--as-of")


def default_origins(observations: ObservationSet, cut: str = "published") -> tuple[dt.date, ...]:
    """The day before each date on which new fitted figures became known (published, or measured with
    ``cut="window"``), kept where a volume figure was already known: every distinct vintage once,
    each with the most it knew before the next release."""
    key = _knowledge_date(cut)
    releases = sorted({key(o) for o in observations.fitted((*VOLUME_QUANTITIES, *SHARE_QUANTITIES))})
    origins = []
    for release in releases:
        as_of = release - dt.timedelta(days=1)
        if observations.vintage(as_of, cut).fitted(VOLUME_QUANTITIES) and held_out(observations, as_of, cut):
            origins.append(as_of)
    return tuple(origins)


# --- the backtest ---------------------------------------------------------------------------------


def run_backtest(
    origins: Iterable[dt.date] | None = None,
    *,
    cut: str = "published",
    scenario: str | Path | Scenario = BASELINE,
    observations: str | Path = OBSERVATIONS,
    priors: str | Path = PRIORS,
    posteriors: str | Path = POSTERIORS,
    settings: SamplerSettings = SamplerSettings(),
    ensemble: int = ENSEMBLE,
    log: logging.Logger | None = None,
) -> xr.Dataset:
    """Calibrate at every origin, forecast every figure published after it, score; returns the Dataset.

    Parameters
    ----------
    origins
        ``as_of`` dates (default: :func:`default_origins`). Each must have a fitted volume figure
        known before it and something left to forecast after it, otherwise :class:`UserError`.
        An origin whose calibration fails the convergence gate is skipped, logged, and listed in
        the ``skipped_origins`` attribute (JSON date -> diagnostics); if all fail, UserError.
    cut
        ``"published"`` (what had been published) or ``"window"`` (what had been measured), as in
        ``tokensim calibrate``.
    scenario
        Its ``[families]`` weights mix the volume families, its assumptions reweight the posterior
        and its seed drives the predictive ensembles.
    settings
        Sampler settings of every calibration (the calibrate default; tests pass a cheap one).
    """
    log = log or logging.getLogger("tokensim")
    if cut not in CUTS:
        raise UserError(f"unknown cut {cut!r}; allowed: {', '.join(CUTS)}", where="--cut")
    registry = load_observations(observations)
    prior_set = load_priors(priors)
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    origins = tuple(sorted(set(origins))) if origins is not None else default_origins(registry, cut)
    if not origins:
        raise UserError("no date has both a volume figure before it and a figure to forecast after it",
                        where=str(observations))
    for as_of in origins:  # every origin is checked before any calibration starts
        check_origin(registry, as_of, cut)
    rows, calibration_ids, skipped = [], {}, {}
    for as_of in origins:
        log.info("backtest origin %s: calibrating on what was %s by then", as_of,
                 "published" if cut == "published" else "measured")
        try:
            posterior, _ = calibrate(observations, priors, posteriors, as_of=as_of, cut=cut, settings=settings,
                                     log=log)
        except ConvergenceError as error:  # a diagnostic finding about that vintage, not a user mistake
            skipped[str(as_of)] = str(error).split(". Diagnostics:")[0]
            log.warning("backtest origin %s skipped: %s", as_of, skipped[str(as_of)])
            continue
        calibration_ids[str(as_of)] = posterior.id
        vintage = registry.vintage(as_of, cut)
        origin = make_origin(as_of, vintage, posterior, prior_set, scenario)
        for target in held_out(registry, as_of, cut):
            rows.append(_hindcast(origin, target, scenario.seed, ensemble))
    if not rows:
        raise UserError("no origin's calibration passed the convergence gate: " + "; ".join(
            f"{date}: {message}" for date, message in skipped.items()), where="tokensim backtest")
    dataset = _dataset(rows, calibration_ids, scenario, registry, prior_set, cut, settings, ensemble)
    dataset.attrs["skipped_origins"] = json.dumps(skipped)
    return dataset


def _hindcast(origin: Origin, target: Observation, seed: int, ensemble: int) -> dict:
    """Forecast one held-out figure by every method and score each against its published value."""
    forecasts = {
        "tokensim": tokensim_forecast(origin, target, seed=seed, size=ensemble),
        "two_point_exponential": two_point_exponential(origin.vintage, target),
        "loglinear_trend": loglinear_trend(origin.vintage, target),
    }
    truth = truth_of(target)
    known_series = {o.series for o in origin.vintage.fitted(scale_of(target).quantities)}
    return {
        "as_of": str(origin.as_of), "observation": target.id, "series": target.series,
        "scale": scale_of(target).name, "published": str(target.published),
        "lead_days": (target.last_day - origin.as_of).days, "series_known": target.series in known_series,
        "calibration_id": origin.posterior.id, "truth": truth,
        "scores": {method: score(forecast, truth) for method, forecast in forecasts.items()},
        "reasons": {method: forecast.reason for method, forecast in forecasts.items()},
    }


SCORES = ("crps", "wis", *(f"covered_{round(100 * c)}" for c in INTERVALS))
LONG_NAMES = {
    "crps": "continuous ranked probability score on the scoring scale (lower is better)",
    "wis": "weighted interval score of the median and the 50/80/95% central intervals (lower is better)",
    "covered_50": "1 if the 50% central interval covers the published value, 0 if not",
    "covered_80": "1 if the 80% central interval covers the published value, 0 if not",
    "covered_95": "1 if the 95% central interval covers the published value, 0 if not",
    "truth": "published value on the scoring scale (log of daily tokens; logit of a share)",
    "log_quantiles": "predictive quantiles on the scoring scale (log of daily tokens; logit of a share)",
    "reason": "why a method has no forecast, or a caveat on its scores (empty otherwise)",
}


def _dataset(rows: list[dict], calibration_ids: dict[str, str], scenario: Scenario, registry: ObservationSet,
             priors: Priors, cut: str, settings: SamplerSettings, ensemble: int) -> xr.Dataset:
    """Assemble the hindcasts into the backtest Dataset, with provenance."""
    coords = {"hindcast": np.arange(len(rows)), "method": list(METHODS), "quantile": list(QUANTILES)}
    for name in ("as_of", "observation", "series", "scale", "published", "lead_days", "series_known",
                 "calibration_id"):
        coords[name] = ("hindcast", [row[name] for row in rows])
    data = {name: (("hindcast", "method"), [[row["scores"][m][name] for m in METHODS] for row in rows])
            for name in SCORES}
    data["log_quantiles"] = (("hindcast", "method", "quantile"),
                             [[row["scores"][m]["quantiles"] for m in METHODS] for row in rows])
    data["truth"] = ("hindcast", [row["truth"] for row in rows])
    data["reason"] = (("hindcast", "method"), [[row["reasons"][m] for m in METHODS] for row in rows])
    dataset = xr.Dataset(data, coords=coords)
    for name, text in LONG_NAMES.items():
        dataset[name].attrs["long_name"] = text
    dataset["lead_days"].attrs["long_name"] = ("days from the origin to the last day the figure describes "
                                               "(negative: measured before the origin, published after it)")
    dataset["series_known"].attrs["long_name"] = ("a figure of this series was known at the origin (if not, "
                                                  "tokensim's forecast rests on the series' scale and drift priors)")
    dataset.attrs.update({
        "title": "tokensim backtest: rolling-origin hindcasts of published figures",
        **provenance("sim.backtest"),
        "scale": "log of daily tokens (totals as daily averages) for volume figures, logit for shares; "
                 "CRPS and WIS are in those units",
        "calibration_ids": json.dumps(calibration_ids),
        "cut": cut,
        "scenario": scenario.name,
        "scenario_sha256": scenario.sha256,
        "family_weights": ", ".join(f"{name}={weight:g}" for name, weight in scenario.family_weights),
        "seed": int(scenario.seed),
        "ensemble_members": int(ensemble),
        "observations_file": str(registry.path),
        "observations_sha256": registry.digest(),
        "priors_sha256": priors.digest(),
        "sampler": json.dumps(asdict(settings)),
        "methods": "tokensim: posterior predictive of the origin's calibration; two_point_exponential: "
                   "log-linear through the last two figures of the series (a point); loglinear_trend: "
                   "statsmodels OLS with series fixed effects and a common trend, Student-t prediction interval",
    })
    return dataset


# --- tables ---------------------------------------------------------------------------------------


def score_frame(dataset: xr.Dataset) -> pd.DataFrame:
    """Mean CRPS, WIS and interval coverage per method, the printed summary.

    Log (volume) and logit (share) scores are never averaged together. Rows: every hindcast each
    method could make, per scale; then head to head, tokensim and one baseline on exactly the
    hindcasts that baseline could make (the fair comparison: the baselines cannot forecast a series
    with no history, which tokensim does from its priors).
    """
    wis = dataset["wis"]  # defined wherever a method forecasts (its CRPS may not be: a t with 1 df)
    subsets = [(f"all, {scale.name} scale ({'volumes' if scale.name == 'log' else 'open share'})",
                dataset["scale"] == scale.name, None, METHODS) for scale in SCALES]
    subsets += [(f"where {baseline} forecasts", dataset["scale"].notnull(), baseline, ("tokensim", baseline))
                for baseline in METHODS[1:]]
    rows = []
    for subset, on_scale, baseline, methods in subsets:
        for method in methods:
            mask = on_scale & wis.sel({"method": baseline or method}).notnull() & wis.sel({"method": method}).notnull()
            picked = dataset.sel({"method": method}).isel(hindcast=np.flatnonzero(mask.values))
            row = {"compared on": subset, "method": method, "n": int(mask.sum())}
            for name in SCORES:
                row[name.replace("covered", "coverage")] = float(picked[name].mean()) if row["n"] else np.nan
            rows.append(row)
    return pd.DataFrame(rows).set_index(["compared on", "method"])


#: Column labels of the printed table.
SHORT = {"tokensim": "tokensim", "two_point_exponential": "2-point", "loglinear_trend": "loglinear"}


def hindcast_frame(dataset: xr.Dataset) -> pd.DataFrame:
    """One row per hindcast: the truth and tokensim's median and 95% band in published units, each
    method's CRPS, tokensim's coverage flags, and why a baseline could not forecast."""
    rows = []
    for i in range(dataset.sizes["hindcast"]):
        h = dataset.isel(hindcast=i)
        inverse = next(s for s in SCALES if s.name == str(h["scale"].values)).inverse
        unit, factor = ("T/day", 1e12) if str(h["scale"].values) == "log" else ("%", 0.01)
        q = h["log_quantiles"].sel({"method": "tokensim"})
        lo, mid, hi = (float(inverse(q.sel(quantile=level, method="nearest"))) / factor for level in (0.025, 0.5, 0.975))
        flags = "".join("y" if h[f"covered_{round(100 * c)}"].sel({"method": "tokensim"}) == 1 else "-" for c in INTERVALS)
        row = {"as_of": str(h["as_of"].values), "observation": str(h["observation"].values),
               "unit": unit, "truth": float(inverse(h["truth"])) / factor,
               "tokensim p50": mid, "tokensim 95%": f"{lo:.3g}-{hi:.3g}", "in 50/80/95": flags,
               **{f"CRPS {SHORT[m]}": float(h["crps"].sel({"method": m})) for m in METHODS},
               "series known": "yes" if bool(h["series_known"]) else "no"}
        reasons = {m: str(h["reason"].sel({"method": m}).values) for m in METHODS}
        row["why no baseline"] = "; ".join(f"{SHORT[m]}: {reason}" for m, reason in reasons.items() if reason)
        rows.append(row)
    return pd.DataFrame(rows).set_index(["as_of", "observation"])


def score_csv(dataset: xr.Dataset) -> pd.DataFrame:
    """The scores in long form, one row per (hindcast, method), for the CSV file."""
    quantiles = dataset["log_quantiles"].to_dataset(dim="quantile")
    quantiles = quantiles.rename({level: f"q{level:g}" for level in quantiles.data_vars})
    merged = xr.merge([dataset[[*SCORES, "reason", "truth"]], quantiles])
    frame = merged.to_dataframe().reset_index()
    return frame[["hindcast", "as_of", "observation", "series", "scale", "published", "lead_days", "method",
                  "truth", *SCORES, *quantiles.data_vars, "reason"]]


# --- figure ---------------------------------------------------------------------------------------

METHOD_COLOURS = {"tokensim": "#1f5f99", "two_point_exponential": "#b3541e", "loglinear_trend": "#2e7d32"}


def backtest_figure(dataset: xr.Dataset, observations: ObservationSet | None = None):
    """One panel per held-out figure: each origin's 50/80/95% bands per method, the published value
    as a dashed line; volumes in T/day on a log axis, shares in %. Returns the figure."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    ids = list(dict.fromkeys(str(v) for v in dataset["observation"].values))
    origins = sorted({str(v) for v in dataset["as_of"].values})
    columns = min(3, len(ids))
    rows = -(-len(ids) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.6 * columns, 3.4 * rows + 0.8), squeeze=False,
                                constrained_layout=True)
    described = {o.id: o for o in observations.observations} if observations is not None else {}
    for ax, observation in zip(axes.flat, ids):
        _panel(ax, dataset.isel(hindcast=np.flatnonzero(dataset["observation"].values == observation)),
               observation, described.get(observation), origins)
    for ax in list(axes.flat)[len(ids):]:
        ax.set_visible(False)
    handles = [plt.Rectangle((0, 0), 1, 1, color=METHOD_COLOURS[m], alpha=0.5) for m in METHODS]
    handles.append(plt.Line2D([], [], color="black", linestyle="--"))
    figure.legend(handles, [*METHODS, "published value"], loc="outside lower center", ncol=4, fontsize=8)
    figure.suptitle(f"Backtest: forecasts made as of each origin (x) of figures published later; bands 50/80/95%, "
                    f"scenario '{dataset.attrs.get('scenario', '?')}', cut '{dataset.attrs.get('cut', '?')}', "
                    f"{dataset.attrs.get('source', '')}", fontsize=9)
    return figure


def _panel(ax, hindcasts: xr.Dataset, observation: str, described: Observation | None,
           origins: list[str]) -> None:
    scale = str(hindcasts["scale"].values[0])
    inverse = next(s for s in SCALES if s.name == scale).inverse
    factor = 1e12 if scale == "log" else 0.01
    offsets = dict(zip(METHODS, (-0.22, 0.0, 0.22)))
    for i in range(hindcasts.sizes["hindcast"]):
        h = hindcasts.isel(hindcast=i)
        position = origins.index(str(h["as_of"].values))
        for method in METHODS:
            q = h["log_quantiles"].sel({"method": method})
            if bool(np.isnan(q).any()):
                continue
            x = position + offsets[method]
            for band, width, alpha in zip(sorted(INTERVALS, reverse=True), (3, 6, 9), (0.25, 0.4, 0.6)):
                lo, hi = (float(inverse(q.sel(quantile=level, method="nearest"))) / factor
                          for level in ((1 - band) / 2, (1 + band) / 2))
                ax.vlines(x, lo, hi, colors=METHOD_COLOURS[method], linewidth=width, alpha=alpha)
            median = float(inverse(q.sel(quantile=0.5, method="nearest"))) / factor
            ax.plot([x - 0.08, x + 0.08], [median, median], color=METHOD_COLOURS[method], linewidth=1.5)
    truth = float(inverse(hindcasts["truth"].values[0])) / factor
    ax.axhline(truth, color="black", linestyle="--", linewidth=1)
    ax.set_xticks(range(len(origins)), [f"as of\n{o}" for o in origins], fontsize=7)
    ax.set_xlim(-0.5, len(origins) - 0.5)
    if scale == "log":
        ax.set_yscale("log")
        ax.set_ylabel("T tokens/day", fontsize=8)
    else:
        ax.set_ylabel("%", fontsize=8)
    ax.autoscale_view()
    title = observation if described is None else f"{observation} ({described.series}, published {described.published})"
    ax.set_title(title, fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)


# --- writing --------------------------------------------------------------------------------------


def output_paths(out: str | Path) -> tuple[Path, Path, Path]:
    """The .nc, .csv and .png files of a backtest written to ``out``; refuses a bad ``out`` up front."""
    out = Path(out)
    if out.suffix != ".nc":
        raise UserError("the backtest file must end in .nc", where="--out")
    return writable((out, out.with_suffix(".csv"), out.with_suffix(".png")), "--out")


def write_backtest(dataset: xr.Dataset, out: str | Path, observations: ObservationSet | None = None
                   ) -> tuple[Path, Path, Path]:
    """Write the Dataset (.nc), the scores (.csv) and the figure (.png), each atomically.

    Everything is rendered in memory first, so a failure while drawing or tabulating writes nothing.
    """
    paths = output_paths(out)
    table = score_csv(dataset).to_csv(index=False)
    return write_analysis(dataset, paths, table, backtest_figure(dataset, observations))
