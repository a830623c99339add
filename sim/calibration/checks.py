"""Posterior predictive checks of every fitted observation, and stacking weights of the volume families.

Everything predictive is computed by PyMC from the fitted model itself (:func:`sim.calibration.fits.build_model`
with the stored posterior draws), so it is the likelihood that was fitted, not a re-implementation of it:

* **posterior predictive checks**: for every fitted observation (each volume series, in its own
  definition, and the open-source share), the 50% and 90% predictive intervals under each family
  and under a scenario's family mix, and where the published value falls (its predictive
  percentile: the share of predictive draws below it);
* **stacking weights** of the volume families from PSIS-LOO on the pointwise log-likelihood of the
  multi-series model (``arviz.compare(..., method="stacking")``), beside the scenario's prior
  weights, with the Pareto k diagnostics that say how far to trust them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from sim.calibration.compiled import constant_data
from sim.calibration.fits import FITS, build_model
from sim.calibration.posterior import Posterior, restacked
from sim.calibration.sampling import quiet_pymc
from sim.curves.families import FAMILIES
from sim.data.compute_trend import ComputeTrend
from sim.data.observations import ObservationSet
from sim.data.priors import Priors

#: The seed of every random draw of the calibration report.
REPORT_SEED = 20250901
#: The row label of a scenario's family mixture in the predictive table.
MIX = "mix"
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass(frozen=True)
class FitCheck:
    """One fit's posterior predictive draws and pointwise log-likelihood at its observations."""

    fit: str
    observations: tuple[str, ...]
    observed: np.ndarray  # (obs,), model scale (log or logit)
    predictive: np.ndarray  # (sample, obs), model scale
    log_likelihood: object  # arviz.InferenceData with posterior and log_likelihood groups (or None)


def _thinned(dataset: xr.Dataset, max_draws: int | None) -> xr.Dataset:
    size = dataset.sizes["chain"] * dataset.sizes["draw"]
    if max_draws is None or size <= max_draws:
        return dataset
    return dataset.isel(draw=slice(None, None, -(-size // max_draws)))


def check_fit(fit: str, posterior: Posterior, observations: ObservationSet, priors: Priors,
              compute: ComputeTrend | None = None, *, seed: int = REPORT_SEED, max_draws: int | None = None,
              log_likelihood: bool = True) -> FitCheck | None:
    """Posterior predictive draws (``pm.sample_posterior_predictive``) and, unless ``log_likelihood``
    is false, the pointwise log-likelihood (``pm.compute_log_likelihood``) of one fit on its stored
    draws; ``None`` if the fit observes nothing (an early vintage without a share figure). A draw that
    keeps no latent release offset (a synthetic one) has its offsets drawn anew by PyMC."""
    import arviz as az
    import pymc as pm

    scale = FITS[fit].scale
    model = build_model(fit, observations, priors, compute)
    if scale.observed not in model.named_vars:
        return None
    idata = az.InferenceData(posterior=restacked(_thinned(posterior.fits[fit], max_draws), model),
                             constant_data=constant_data(model))
    fit_seed = int(np.random.SeedSequence([seed, list(posterior.fits).index(fit)]).generate_state(1)[0])
    with quiet_pymc():  # "Sampling: [log_observed]" is noise here
        drawn = pm.sample_posterior_predictive(idata, model=model, var_names=[scale.observed],
                                               random_seed=fit_seed, progressbar=False)
        pointwise = None
        if log_likelihood:
            pointwise = pm.compute_log_likelihood(idata, model=model, var_names=[scale.observed],
                                                  extend_inferencedata=False, progressbar=False)
    predictive = drawn.posterior_predictive[scale.observed]
    dim = predictive.dims[-1]
    predictive = predictive.stack(sample=("chain", "draw")).transpose("sample", dim)
    scored = None if pointwise is None else az.InferenceData(posterior=idata.posterior, log_likelihood=pointwise)
    return FitCheck(fit, tuple(str(o) for o in model.coords[dim]), np.asarray(model[scale.data].get_value()),
                    predictive.values, scored)


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, q: tuple[float, ...]) -> np.ndarray:
    """Quantiles of a weighted sample (midpoint rule on the weighted empirical CDF)."""
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    positions = (cumulative - weights[order] / 2) / cumulative[-1]
    return np.interp(q, positions, values[order])


def predictive_percentile(values: np.ndarray, weights: np.ndarray, observed: float) -> float:
    """Share of the (weighted) predictive draws that fall below the observed value."""
    return float(np.sum(weights * (values < observed)) / np.sum(weights))


def _rows(model: str, checks: list[FitCheck], mix: list[float], observations: ObservationSet) -> list[dict]:
    """Predictive summary rows of one model (a fit, or several fits mixed with weights ``mix``)."""
    first = checks[0]
    values = np.concatenate([c.predictive for c in checks])
    weights = np.concatenate([np.full(len(c.predictive), w / len(c.predictive)) for c, w in zip(checks, mix)])
    by_id = {o.id: o for o in observations.observations}
    scale = FITS[first.fit].scale
    rows = []
    for column, observation in enumerate(first.observations):
        quantiles = scale.natural(weighted_quantiles(values[:, column], weights, QUANTILES))
        percentile = predictive_percentile(values[:, column], weights, first.observed[column])
        rows.append({"observation": observation, "series": _first(by_id, observation).series, "model": model,
                     "unit": scale.unit, "observed": float(scale.natural(first.observed[column])),
                     **{f"p{round(100 * q)}": v for q, v in zip(QUANTILES, quantiles)},
                     "percentile": percentile, "inside_50": 0.25 <= percentile <= 0.75,
                     "inside_90": 0.05 <= percentile <= 0.95})
    return rows


def _first(by_id: dict, label: str):
    """The observation a predictive label names: an id, or ids joined by '+' (vendor shares read together as
    one open share, :func:`sim.calibration.models.vendor_open_shares`), named by the first."""
    return by_id[label.split("+")[0]]


def predictive_table(checks: dict[str, FitCheck], weights: dict[str, float],
                     observations: ObservationSet) -> pd.DataFrame:
    """Per observation and model (each fit, and the family mix :data:`MIX` with ``weights``): the
    observed value, 5/25/50/75/95% predictive quantiles (reported units), the observed value's
    predictive percentile and whether it lies inside the 50% and 90% intervals."""
    rows = [row for fit, check in checks.items() for row in _rows(fit, [check], [1.0], observations)]
    mixed = [fit for fit in checks if fit in FAMILIES and weights.get(fit, 0.0) > 0]
    if mixed:
        if len({checks[fit].observations for fit in mixed}) != 1:
            raise ValueError("volume fits observe different observations; they cannot be mixed")
        total = sum(weights[fit] for fit in mixed)
        rows += _rows(MIX, [checks[f] for f in mixed], [weights[f] / total for f in mixed], observations)
    frame = pd.DataFrame(rows)
    # Series in registry order, each series' observations in time order, models in fit order.
    by_id = {o.id: o for o in observations.observations}
    series = list(dict.fromkeys(o.series for o in observations.observations))
    models = [*checks, MIX]
    frame["_order"] = list(zip(frame["series"].map(series.index),
                               frame["observation"].map(lambda label: _first(by_id, label).midpoint),
                               frame["model"].map(models.index)))
    return frame.sort_values("_order").drop(columns="_order").set_index(["series", "observation", "model"])


def stacking_table(checks: dict[str, FitCheck],
                   prior_weights: dict[str, float]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Stacking weights of the volume families (PSIS-LOO, ``arviz.compare(method="stacking")``)
    beside the prior weights, with LOO summaries; and, per observation and family, the Pareto k and
    the pointwise LOO log predictive density.

    A Pareto k above ``good_k`` (0.7 at these draw counts) means the importance-sampling estimate of
    that observation's leave-one-out density is unreliable, and so are weights that rest on it.
    """
    import arviz as az

    families = [fit for fit in checks if fit in FAMILIES]
    with warnings.catch_warnings():  # arviz warns about high Pareto k: the table reports them instead
        warnings.simplefilter("ignore")
        loos = {fit: az.loo(checks[fit].log_likelihood, pointwise=True) for fit in families}
        compared = (az.compare(loos, method="stacking") if len(loos) > 1
                    else pd.DataFrame({"weight": 1.0, "dse": 0.0}, index=families))
        # Pseudo-BMA+ (Bayesian-bootstrap) weights: softer, and their spread shows the uncertainty.
        bootstrapped = (az.compare(loos, method="BB-pseudo-BMA", seed=REPORT_SEED)["weight"] if len(loos) > 1
                        else compared["weight"])
    index = pd.Index(checks[families[0]].observations, name="observation")
    pareto = pd.DataFrame({fit: np.asarray(loos[fit].pareto_k) for fit in families}, index=index)
    pointwise = pd.DataFrame({fit: np.asarray(loos[fit].loo_i) for fit in families}, index=index)
    good = {fit: float(loos[fit].good_k) for fit in families}
    table = pd.DataFrame({
        "prior weight": [prior_weights.get(fit, 0.0) for fit in families],
        "stacking weight": [round(float(compared["weight"][fit]), 3) for fit in families],
        "pseudo-BMA+ weight": [round(float(bootstrapped[fit]), 3) for fit in families],
        "elpd_loo": [float(loos[fit].elpd_loo) for fit in families],
        "se": [float(loos[fit].se) for fit in families],
        "dse": [float(compared["dse"][fit]) for fit in families],
        "p_loo": [float(loos[fit].p_loo) for fit in families],
        "max Pareto k": [float(pareto[fit].max()) for fit in families],
        "k > good_k": [f"{int((pareto[fit] > good[fit]).sum())}/{len(pareto)}" for fit in families],
    }, index=pd.Index(families, name="family"))
    table.attrs["good_k"] = min(good.values())
    return table, pareto, pointwise


def stacking_caveat(table: pd.DataFrame, pareto: pd.DataFrame, pointwise: pd.DataFrame, reference: int,
                    data_end: str) -> str:
    """The sentences that must accompany the stacking weights, with this calibration's numbers
    (``reference``: how many scored observations belong to the reference series; ``data_end``: the
    last day any of them describes)."""
    good_k = table.attrs.get("good_k", 0.7)
    bad, total = int((pareto.values > good_k).sum()), pareto.size
    best = table["elpd_loo"].idxmax()
    exponential = ""
    if "exponential" in pointwise and best != "exponential":
        gap = pointwise[best] - pointwise["exponential"]
        exponential = (f" (the gap between {best} and the exponential, {gap.sum():.1f}, comes mostly from "
                       f"{gap.idxmax()} ({gap.max():.1f}): within the data only the curvature of log volume "
                       "tells them apart)")
    gaps = ", ".join(f"{fit} {table['elpd_loo'][fit] - table['elpd_loo'][best]:.1f} +- {table['dse'][fit]:.1f}"
                     for fit in table.index if fit != best)
    return (
        f"These weights are weak evidence. The target series has {reference} point(s) here; the other "
        f"{len(pareto) - reference} observations come from scaled series whose free scales and drifts absorb level "
        f"and trend differences, so little of the data bears on the family. {bad} of {total} Pareto k values "
        f"exceed {good_k:.2f}: PSIS-LOO is unreliable for those points (exact leave-one-out refits would be "
        f"needed). Relative to {best}, the elpd differences are {gaps} (difference +- its standard error): "
        f"stacking readily puts all the weight on one family when differences are this small; the pseudo-BMA+ "
        f"column is a softer reading. The exponential differs from the saturating families mainly after the "
        f"data end ({data_end}), where no observation can score it, so LOO cannot separate them much"
        f"{exponential}; the scenario's weights remain an assumption, not a fit.")
