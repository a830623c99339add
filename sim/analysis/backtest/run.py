"""Rolling-origin hindcasts: calibrate as of an earlier date, forecast what was published after it, score.

For every origin (an ``as_of`` date) the calibration inputs are cut to what was known then (figures, priors,
analogs and compute figures: :meth:`~sim.calibration.inputs.CalibrationInputs.vintage`), calibrated through
:func:`sim.calibration.calibrate.calibrate` (so every origin's posterior is cached by its id), and each
fitted figure that was *not* known yet (a volume series or the open-source share) is forecast by every
method of :data:`~sim.analysis.backtest.methods.METHODS` and scored against its published value:

``tokensim``
    the posterior predictive of the figure under its own definition (:mod:`sim.analysis.predictive`);
``random_walk``, ``damped_trend``
    the probabilistic naive baselines of :mod:`sim.analysis.backtest.baselines`, fitted on the series' own
    history at the origin with a spread pooled across series.

The lead of a hindcast is counted from the origin to the last day the figure describes: only a positive
lead is a forecast; a figure measured before the origin but published after it (negative or zero lead) is a
nowcast, scored and reported apart. Scores are on the log scale for volumes and the logit scale for shares
(:mod:`sim.analysis.backtest.metrics`): CRPS, the weighted interval score and 50/80/95% coverage of exact
figures, the censored CRPS of figures published as bounds, and every figure's PIT (an interval for a bound).
A method that cannot forecast a figure gets NaN and a reason.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import xarray as xr

from sim.analysis.backtest.baselines import truth_of
from sim.analysis.backtest.methods import METHODS
from sim.analysis.backtest.metrics import METRICS, QUANTILES, score
from sim.analysis.backtest.origins import check_origin, default_origins, held_out
from sim.analysis.predictive import ENSEMBLE, Origin, origin_of
from sim.calibration.calibrate import calibrate_all
from sim.calibration.fits import scale_of
from sim.calibration.inputs import CalibrationInputs, SamplerSettings
from sim.calibration.posterior import Posterior
from sim.calibration.sampling import ConvergenceError
from sim.core.errors import UserError
from sim.core import paths
from sim.core.provenance import provenance
from sim.data.observations import CUTS, Observation, ObservationSet
from sim.scenarios.scenario import Scenario, load_scenario

#: Variables of the backtest Dataset besides the metrics, and what they hold.
LONG_NAMES = {
    "truth": "published value on the scoring scale (log of daily tokens; logit of a share)",
    "log_quantiles": "predictive quantiles on the scoring scale (log of daily tokens; logit of a share)",
    "reason": "why a method has no forecast, or a caveat on its scores (empty otherwise)",
}


def run_backtest(
    origins: Iterable[dt.date] | None = None,
    *,
    inputs: CalibrationInputs | None = None,
    cut: str = "published",
    scenario: str | Path | Scenario | None = None,
    ensemble: int = ENSEMBLE,
    log: logging.Logger | None = None,
) -> xr.Dataset:
    """Calibrate at every origin, forecast every figure published after it, score; returns the Dataset.

    Parameters
    ----------
    origins
        ``as_of`` dates (default: :func:`~sim.analysis.backtest.origins.default_origins`). Each must have a
        fitted volume figure known before it and something left to forecast after it, otherwise :class:`UserError`.
        A fit that fails the convergence gate at an origin is left out of that origin's calibration
        (:func:`~sim.calibration.calibrate.calibrate` with ``drop_failing``): tokensim then mixes the families
        and open-source variants that passed, the scenario's weights renormalised over them, says so in the
        reason of each of that origin's forecasts, and lists it in the ``dropped_fits`` attribute (JSON date ->
        fit -> finding). An origin left with no weighted family or no open-source variant is skipped, logged,
        and listed in ``skipped_origins`` (JSON date -> why); if all are, UserError.
    inputs
        The observations, priors, sampler settings and posterior cache of every origin's calibration
        (default: the files in ``calibration/``; the origins cut the observations to their vintages).
    cut
        ``"published"`` (what had been published) or ``"window"`` (what had been measured), as in
        ``tokensim calibrate``.
    scenario
        Its ``[families]`` weights mix the volume families, its assumptions reweight the posterior
        and its seed drives the predictive ensembles (default: the baseline, :func:`sim.core.paths.baseline`).
    """
    log = log or logging.getLogger("tokensim")
    if cut not in CUTS:
        raise UserError(f"unknown cut {cut!r}; allowed: {', '.join(CUTS)}", where="--cut")
    inputs = inputs if inputs is not None else CalibrationInputs.load()
    registry = inputs.registry
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(paths.baseline() if scenario is None else scenario)
    origins = tuple(sorted(set(origins))) if origins is not None else default_origins(registry, cut)
    if not origins:
        raise UserError("no date has both a volume figure before it and a figure to forecast after it",
                        where=str(registry.path))
    for as_of in origins:  # every origin is checked before any calibration starts
        check_origin(registry, as_of, cut)
    rows, calibration_ids, skipped, dropped = [], {}, {}, {}
    log.info("backtest: calibrating at %d origins on what was %s by then", len(origins),
             "published" if cut == "published" else "measured")
    vintages = [inputs.vintage(as_of, cut) for as_of in origins]
    # Every origin at once: the fits run in parallel and a structure two origins share compiles once.
    calibrated = calibrate_all(vintages, log=log, drop_failing=True)
    for as_of, known, outcome in zip(origins, vintages, calibrated):
        if isinstance(outcome, ConvergenceError):  # a diagnostic finding about that vintage, not a user mistake
            skipped[str(as_of)] = str(outcome).split(". Diagnostics:")[0]
            log.warning("backtest origin %s skipped: %s", as_of, skipped[str(as_of)])
            continue
        if isinstance(outcome, BaseException):
            raise outcome
        posterior, _ = outcome
        left_out = json.loads(posterior.attrs.get("dropped_fits", "{}"))
        mixed = restricted(scenario, posterior)
        if isinstance(mixed, str):
            skipped[str(as_of)] = f"{mixed}: {'; '.join(f'{fit}: {why}' for fit, why in left_out.items())}"
            log.warning("backtest origin %s skipped: %s", as_of, skipped[str(as_of)])
            continue
        if left_out:
            dropped[str(as_of)] = left_out
        calibration_ids[str(as_of)] = posterior.id
        origin = origin_of(known, posterior, mixed)  # the vintage's figures and priors
        caveat = (f"mixes the fits that passed the convergence gate, without {', '.join(left_out)}, weights "
                  "renormalised" if left_out else "")
        for target in held_out(registry, as_of, cut):
            rows.append(_hindcast(origin, target, scenario.seed, ensemble, caveat))
    if not rows:
        raise UserError("no origin's calibration passed the convergence gate: " + "; ".join(
            f"{date}: {message}" for date, message in skipped.items()), where="tokensim backtest")
    dataset = _dataset(rows, calibration_ids, scenario, registry, inputs.priors.digest(), cut, inputs.settings,
                       ensemble)
    dataset.attrs["skipped_origins"] = json.dumps(skipped)
    dataset.attrs["dropped_fits"] = json.dumps(dropped)
    return dataset


def restricted(scenario: Scenario, posterior: Posterior) -> Scenario | str:
    """The scenario with its family and open-source weights renormalised over the fits the posterior has (a
    backtest origin's calibration may leave out a fit that failed the convergence gate), or why none is left."""
    weights = {}
    for table, pairs in (("family_weights", scenario.family_weights), ("open_weights", scenario.open_weights)):
        kept = [(fit, w) for fit, w in pairs if w > 0 and fit in posterior.fits]
        if not kept:
            return f"every fit the scenario weights in its {table.replace('_', ' ')} failed the convergence gate"
        total = sum(w for _, w in kept)
        weights[table] = tuple((fit, w / total) for fit, w in kept)
    return dataclasses.replace(scenario, **weights)


def _hindcast(origin: Origin, target: Observation, seed: int, ensemble: int, caveat: str = "") -> dict:
    """Forecast one held-out figure by every method and score each against its published value; ``caveat`` is
    added to tokensim's reason."""
    forecasts = {name: method.forecast(origin, target, seed, ensemble) for name, method in METHODS.items()}
    reasons = {method: forecast.reason for method, forecast in forecasts.items()}
    reasons["tokensim"] = "; ".join(r for r in (reasons["tokensim"], caveat) if r)
    truth = truth_of(target)
    known_series = {o.series for o in origin.vintage.fitted(scale_of(target).quantities)}
    lead = (target.last_day - origin.as_of).days
    return {
        "as_of": str(origin.as_of), "observation": target.id, "series": target.series,
        "scale": scale_of(target).name, "published": str(target.published), "bound": target.bound,
        "lead_days": lead, "forecast": lead > 0, "series_known": target.series in known_series,
        "calibration_id": origin.posterior.id, "truth": truth,
        "scores": {method: score(forecast, truth, target.bound) for method, forecast in forecasts.items()},
        "reasons": reasons,
    }


def _dataset(rows: list[dict], calibration_ids: dict[str, str], scenario: Scenario, registry: ObservationSet,
             priors_sha256: str, cut: str, settings: SamplerSettings, ensemble: int) -> xr.Dataset:
    """Assemble the hindcasts into the backtest Dataset, with provenance."""
    coords = {"hindcast": np.arange(len(rows)), "method": list(METHODS), "quantile": list(QUANTILES)}
    for name in ("as_of", "observation", "series", "scale", "published", "bound", "lead_days", "forecast",
                 "series_known", "calibration_id"):
        coords[name] = ("hindcast", [row[name] for row in rows])
    data = {name: (("hindcast", "method"), [[row["scores"][m][name] for m in METHODS] for row in rows])
            for name in METRICS}
    data["log_quantiles"] = (("hindcast", "method", "quantile"),
                             [[row["scores"][m]["quantiles"] for m in METHODS] for row in rows])
    data["truth"] = ("hindcast", [row["truth"] for row in rows])
    data["reason"] = (("hindcast", "method"), [[row["reasons"][m] for m in METHODS] for row in rows])
    dataset = xr.Dataset(data, coords=coords)
    for name, text in {**{m.name: m.long_name for m in METRICS.values()}, **LONG_NAMES}.items():
        dataset[name].attrs["long_name"] = text
    dataset["lead_days"].attrs["long_name"] = ("days from the origin to the last day the figure describes "
                                               "(negative: measured before the origin, published after it)")
    dataset["forecast"].attrs["long_name"] = ("a forecast (positive lead) rather than a nowcast of a figure "
                                              "measured by the origin")
    dataset["bound"].attrs["long_name"] = ("'lower' if published as 'more than' the value, 'upper' if 'at most', "
                                           "empty if exact")
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
        "priors_sha256": priors_sha256,
        "sampler": json.dumps(asdict(settings)),
        "methods": "; ".join(f"{m.name}: {m.description}" for m in METHODS.values()),
    })
    return dataset
