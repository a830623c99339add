"""The calibration report: prior vs posterior, predictive checks and stacking weights, in one place.

``tokensim calibrate --report`` prints these tables and draws them in one figure
(:data:`REPORT_FIGURE`). Everything predictive is computed by PyMC from the fitted model itself
(:func:`sim.model.build_model` with the stored posterior draws), so it is the likelihood that was
fitted, not a re-implementation of it:

* **posterior predictive checks**: for every fitted observation (each volume series, in its own
  definition, and the open-source share), the 50% and 90% predictive intervals under each family
  and under a scenario's family mix, and where the published value falls (its predictive
  percentile: the share of predictive draws below it);
* **stacking weights** of the volume families from PSIS-LOO on the pointwise log-likelihood of the
  multi-series model (``arviz.compare(..., method="stacking")``), beside the scenario's prior
  weights, with the Pareto k diagnostics that say how far to trust them;
* **prior vs posterior** of every sampled parameter (90% intervals and how much the data narrowed them);
* the **prior predictive** fan of daily tokens, open-source share and adoption to 2030: what the
  priors alone imply, so an implausible prior shows before any data touch it.

The figure (:func:`report_figure`) draws the same tables; :func:`write_report_figure` writes it
atomically, with its provenance in the footer and in the PNG's text metadata.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy import special

from sim.core.paths import REPORT_FIGURE
from sim.core.provenance import SOURCE
from sim.core.timeaxis import month_grid, month_windows
from sim.core.version import __version__
from sim.curves.families import FAMILIES
from sim.curves.open_source import OPEN_PARAMETERS, bass_adoption_window_mean, open_share_window_mean
from sim.data.distributions import Distribution
from sim.data.observations import ObservationSet
from sim.data.priors import Priors
from sim.model import OPEN_FIT, build_model
from sim.posterior import Posterior

REPORT_SEED = 20250901
#: The row label of a scenario's family mixture in the predictive table.
MIX = "mix"
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass(frozen=True)
class Scale:
    """How a fit's observations enter its likelihood, and how to report them."""

    observed: str  # the observed random variable of the model
    data: str  # the pm.Data container holding the published values on the model scale
    to_natural: Callable[[np.ndarray], np.ndarray]  # model scale -> reported unit
    unit: str


#: One entry per kind of fit: volume families are observed on the log scale, the share on the logit.
SCALES: dict[str, Scale] = {
    "volume": Scale("log_observed", "log_values", lambda x: np.exp(x) / 1e12, "T tokens/day"),
    OPEN_FIT: Scale("logit_observed", "logit_values", special.expit, "share of calls"),
}


def scale_of(fit: str) -> Scale:
    """The :class:`Scale` of one fit (a volume family or the open model)."""
    return SCALES[OPEN_FIT if fit == OPEN_FIT else "volume"]


# --- posterior predictive and pointwise log-likelihood, from the model ------------------------


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


def check_fit(fit: str, posterior: Posterior, observations: ObservationSet, priors: Priors, *,
              seed: int = REPORT_SEED, max_draws: int | None = None, log_likelihood: bool = True) -> FitCheck | None:
    """Posterior predictive draws (``pm.sample_posterior_predictive``) and, unless ``log_likelihood``
    is false, the pointwise log-likelihood (``pm.compute_log_likelihood``) of one fit on its stored
    draws; ``None`` if the fit observes nothing (an early vintage without a share figure)."""
    import arviz as az
    import pymc as pm

    scale = scale_of(fit)
    model = build_model(fit, observations, priors)
    if scale.observed not in model.named_vars:
        return None
    idata = az.InferenceData(posterior=_thinned(posterior.fits[fit], max_draws))
    fit_seed = int(np.random.SeedSequence([seed, list(posterior.fits).index(fit)]).generate_state(1)[0])
    level = logging.getLogger("pymc").level
    logging.getLogger("pymc").setLevel(logging.ERROR)  # "Sampling: [log_observed]" is noise here
    try:
        drawn = pm.sample_posterior_predictive(idata, model=model, var_names=[scale.observed],
                                               random_seed=fit_seed, progressbar=False)
        pointwise = None
        if log_likelihood:
            pointwise = pm.compute_log_likelihood(idata, model=model, var_names=[scale.observed],
                                                  extend_inferencedata=False, progressbar=False)
    finally:
        logging.getLogger("pymc").setLevel(level)
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
    scale = scale_of(first.fit)
    rows = []
    for column, observation in enumerate(first.observations):
        quantiles = scale.to_natural(weighted_quantiles(values[:, column], weights, QUANTILES))
        percentile = predictive_percentile(values[:, column], weights, first.observed[column])
        rows.append({"observation": observation, "series": by_id[observation].series, "model": model,
                     "unit": scale.unit, "observed": float(scale.to_natural(first.observed[column])),
                     **{f"p{round(100 * q)}": v for q, v in zip(QUANTILES, quantiles)},
                     "percentile": percentile, "inside_50": 0.25 <= percentile <= 0.75,
                     "inside_90": 0.05 <= percentile <= 0.95})
    return rows


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
    midpoint = {o.id: o.midpoint for o in observations.observations}
    series = list(dict.fromkeys(o.series for o in observations.observations))
    models = [*checks, MIX]
    frame["_order"] = list(zip(frame["series"].map(series.index), frame["observation"].map(midpoint),
                               frame["model"].map(models.index)))
    return frame.sort_values("_order").drop(columns="_order").set_index(["series", "observation", "model"])


# --- stacking --------------------------------------------------------------------------------


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


# --- priors vs posteriors --------------------------------------------------------------------


def parameter_priors(priors: Priors) -> dict[str, Distribution]:
    """The prior of every sampled parameter, by its name in the model (fixed values excluded)."""
    table: dict[str, Distribution] = dict(priors.volume)
    for series, distributions in priors.series.items():
        table.update({f"{series}_{key}": d for key, d in distributions.items() if key != "sigma"})
    table.update({p: priors.open[p] for p in OPEN_PARAMETERS})
    return {name: d for name, d in table.items() if d.frozen is not None}


def on_log_scale(distribution: Distribution) -> bool:
    """Positive, skewed parameters (lognormal priors) are summarised and drawn on a log scale."""
    return distribution.kind == "lognormal"


def prior_posterior_table(posterior: Posterior, priors: Priors) -> pd.DataFrame:
    """Per fit and parameter: prior and posterior 5/50/95%, and the posterior's 90% width as a share
    of the prior's (log scale for lognormal priors): near 1, the data said little about it."""
    rows = []
    for fit, dataset in posterior.fits.items():
        for name, prior in parameter_priors(priors).items():
            if name not in dataset:
                continue
            draws = np.asarray(dataset[name].values, dtype=float).ravel()
            before, after = prior.quantile(np.array([0.05, 0.5, 0.95])), np.quantile(draws, [0.05, 0.5, 0.95])
            width = np.log if on_log_scale(prior) else (lambda x: x)
            ratio = (width(after[2]) - width(after[0])) / (width(before[2]) - width(before[0]))
            rows.append({"fit": fit, "parameter": name, "prior p5": before[0], "prior p50": before[1],
                         "prior p95": before[2], "post p5": after[0], "post p50": after[1], "post p95": after[2],
                         "width ratio": ratio})
    return pd.DataFrame(rows).set_index(["fit", "parameter"])


# --- prior predictive fan --------------------------------------------------------------------


def prior_fan(priors: Priors, weights: dict[str, float], *, first: str = "2024-07", last: str = "2030-12",
              draws: int = 4000, seed: int = REPORT_SEED) -> xr.Dataset:
    """Monthly quantiles of what the priors alone imply (trend only, no observation noise): daily
    tokens under the family mix (T/day; each draw follows one family, by ``weights``), each family's
    median, and the open-source share of calls and enterprise adoption."""
    rng = np.random.default_rng(seed)
    times = month_grid(np.datetime64(first, "M"), np.datetime64(last, "M"))
    a, b = month_windows(times)
    base = priors.sample_volume(rng, draws)
    trends = np.stack([family.window_mean(a, b, {p: base[p][:, None] for p in family.parameters}) / 1e12
                       for family in FAMILIES.values()])
    mix = np.array([weights.get(name, 0.0) for name in FAMILIES])
    chosen = rng.choice(len(FAMILIES), size=draws, p=mix / mix.sum())
    opened = {p: priors.open[p].sample(rng, draws)[:, None] for p in OPEN_PARAMETERS}
    paths = {"daily_tokens": trends[chosen, np.arange(draws)], "open_share": open_share_window_mean(a, b, opened),
             "open_adoption": bass_adoption_window_mean(a, b, opened)}
    fan = xr.Dataset({name: (("quantile", "time"), np.quantile(v, QUANTILES, axis=0)) for name, v in paths.items()},
                     coords={"quantile": list(QUANTILES), "time": times})
    fan["family_median"] = (("family", "time"), np.median(trends, axis=1))
    fan = fan.assign_coords(family=list(FAMILIES))
    fan["daily_tokens"].attrs["units"] = "T tokens/day (10^12), monthly mean, F&S enterprise definition"
    fan.attrs.update(draws=draws, seed=seed)
    return fan


# --- the whole report ------------------------------------------------------------------------


@dataclass(frozen=True)
class CalibrationReport:
    """Everything ``tokensim calibrate --report`` prints and draws."""

    posterior: Posterior
    priors: Priors
    observations: ObservationSet
    weights: dict[str, float]
    prior_posterior: pd.DataFrame
    predictive: pd.DataFrame
    stacking: pd.DataFrame
    pareto_k: pd.DataFrame
    pointwise_elpd: pd.DataFrame
    prior_fan: xr.Dataset
    provenance: dict[str, str] = field(default_factory=dict)


def build_report(posterior: Posterior, observations: ObservationSet, priors: Priors, weights: dict[str, float],
                 *, weights_from: str = "", seed: int = REPORT_SEED, max_draws: int | None = None) -> CalibrationReport:
    """Compute every table of the report from a fitted posterior (``weights``: the family mix, e.g.
    the baseline scenario's, named by ``weights_from``)."""
    checks = {fit: check for fit in posterior.fits
              if (check := check_fit(fit, posterior, observations, priors, seed=seed, max_draws=max_draws))}
    stacking, pareto, pointwise = stacking_table(checks, weights)
    provenance = {"calibration_id": posterior.id, "family_weights_from": weights_from, "seed": str(seed),
                  "tokensim_version": __version__, "as_of": str(observations.as_of or "all published"),
                  "predictive_draws": str(max(len(c.predictive) for c in checks.values()))}
    return CalibrationReport(posterior, priors, observations, dict(weights), prior_posterior_table(posterior, priors),
                             predictive_table(checks, weights, observations), stacking, pareto, pointwise,
                             prior_fan(priors, weights, seed=seed), provenance)


def _data_extent(report: CalibrationReport) -> tuple[int, str]:
    """How many scored observations come from a reference series (F&S: scale 1, no drift), and the
    last day any scored observation describes."""
    scored = [o for o in report.observations.observations if o.id in set(report.pareto_k.index)]
    reference = sum(report.observations.series[o.series].role == "reference" for o in scored)
    return reference, str(max(o.last_day for o in scored))


def _number(value: float) -> str:
    return f"{value:.3g}"


def format_report(report: CalibrationReport) -> str:
    """The terminal part of the report: prior vs posterior, predictive checks, stacking weights."""
    mix = ", ".join(f"{fit} {w:g}" for fit, w in report.weights.items() if w > 0)
    predictive = report.predictive
    models = predictive.index.get_level_values("model")
    headline = predictive[(models == MIX) | (models == OPEN_FIT)]
    headline = (headline if len(headline) else predictive)[
        ["unit", "observed", "p5", "p50", "p95", "percentile", "inside_90"]].rename(columns={"inside_90": "in 90%?"})
    own = predictive[models != MIX]
    cells = pd.Series([f"{p:.2f}" + ("" if inside else " *") for p, inside in zip(own["percentile"], own["inside_90"])],
                      index=own.index)
    marked = (cells.unstack("model").reindex(index=own.index.droplevel("model").unique(),
                                             columns=list(dict.fromkeys(own.index.get_level_values("model"))))
              .fillna(""))
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        return "\n".join([
            "Prior vs posterior (90% intervals; width ratio = posterior / prior 90% width, on the log scale for "
            "lognormal priors: near 1, the data said little about the parameter):",
            report.prior_posterior.to_string(float_format=_number),
            "",
            f"Posterior predictive checks, family mix of {report.provenance.get('family_weights_from', '')} "
            f"({mix}) for volume and the open model for the "
            "share: each observation in its own series' definition (T tokens/day as daily averages, or a share), "
            "5/50/95% predictive quantiles, and the observed value's predictive percentile:",
            headline.to_string(float_format=_number),
            "",
            "Predictive percentile of each observation under each fit alone (* = outside its 90% interval):",
            marked.to_string(),
            "",
            "Stacking weights of the volume families (PSIS-LOO on the multi-series likelihood) beside the "
            f"scenario's prior weights ({report.provenance.get('family_weights_from', '')}):",
            report.stacking.to_string(float_format=_number),
            "Pareto k per observation:",
            report.pareto_k.to_string(float_format=lambda v: f"{v:.2f}"),
            stacking_caveat(report.stacking, report.pareto_k, report.pointwise_elpd, *_data_extent(report)),
        ])

# --- the figure ------------------------------------------------------------------------------

#: Units of each sampled parameter, for the axis labels.
PARAMETER_UNITS = {"v_ref": "tokens/day", "growth": "per year", "ceiling_headroom": "x the 2025-04 level",
                   "shape": "Richards nu", "scale": "x F&S level", "drift": "per year", "bass_p": "per year",
                   "bass_q": "per year", "m": "share of enterprises", "t_start": "years from 2025-01-01",
                   "u_max": "share of calls", "k": "per year", "t_half": "years from 2025-01-01",
                   "adopter_share_of_headroom": "share of log(ceiling / level)",
                   "adopter_share_of_growth": "share of the 2025 growth"}
FIT_COLOURS = {"exponential": "#7f7f7f", "logistic": "#1f77b4", "gompertz": "#d62728", "richards": "#9467bd",
               "product": "#17becf", OPEN_FIT: "#b3541e", MIX: "black"}


def _colour(fit: str) -> str:
    """A fit's colour; a family added to the registry later gets one of matplotlib's cycle."""
    return FIT_COLOURS.get(fit, f"C{(list(FAMILIES).index(fit) if fit in FAMILIES else 0) % 10}")


def _unit(parameter: str) -> str:
    return PARAMETER_UNITS.get(parameter, PARAMETER_UNITS.get(parameter.rsplit("_", 1)[-1], ""))


def _density_panel(ax, parameter: str, prior: Distribution, posterior: Posterior) -> None:
    """Prior density (grey) and each fit's posterior histogram of one parameter; log axis for
    lognormal priors (densities per unit of log10, so the areas still compare)."""
    log = on_log_scale(prior)
    forward, backward = (np.log10, lambda x: 10**x) if log else ((lambda x: x), (lambda x: x))
    fits = {fit: np.asarray(d[parameter].values, dtype=float).ravel()
            for fit, d in posterior.fits.items() if parameter in d}
    low = min([float(prior.quantile(0.005)), *(np.quantile(v, 0.001) for v in fits.values())])
    high = max([float(prior.quantile(0.995)), *(np.quantile(v, 0.999) for v in fits.values())])
    grid = np.linspace(forward(low), forward(high), 300)
    density = prior.frozen.pdf(backward(grid)) * (backward(grid) * np.log(10) if log else 1.0)
    ax.fill_between(backward(grid), density, color="0.8", label="prior")
    for fit, values in fits.items():
        # Bins over each posterior's own range: a posterior the data pinned shows its shape, not one bar.
        heights, edges = np.histogram(forward(values), bins=30, density=True)
        ax.stairs(heights, backward(edges), color=_colour(fit), linewidth=1.2, label=fit)
    if log:
        ax.set_xscale("log")
    ax.set_title(parameter, fontsize=9)
    ax.set_xlabel(_unit(parameter), fontsize=7)
    ax.tick_params(labelsize=7)
    ax.set_yticks([])


def _predictive_panel(ax, predictive: pd.DataFrame, log: bool) -> None:
    """50% (thick) and 90% (thin) predictive intervals per observation and model; published values
    as black diamonds; observations grouped by series."""
    rows = predictive.reset_index()
    models = list(dict.fromkeys(rows["model"]))
    labels, position, ticks = [], 0.0, []
    for series, group in rows.groupby("series", sort=False):
        for observation, entries in group.groupby("observation", sort=False):
            for offset, model in enumerate(models):
                row = entries[entries["model"] == model]
                if row.empty:
                    continue
                row = row.iloc[0]
                y = position + 0.8 * (offset - (len(models) - 1) / 2) / max(len(models), 1)
                colour = _colour(model)
                ax.hlines(y, row["p5"], row["p95"], color=colour, linewidth=1)
                ax.hlines(y, row["p25"], row["p75"], color=colour, linewidth=3.5)
            ax.plot(entries["observed"].iloc[0], position, "D", color="black", markersize=5, zorder=5)
            ticks.append(position)
            labels.append(observation)
            position += 1
        position += 0.5
    ax.set_yticks(ticks, labels, fontsize=7)
    ax.invert_yaxis()
    if log:
        ax.set_xscale("log")
    ax.grid(True, axis="x", alpha=0.3)
    for model in models:
        ax.plot([], [], color=_colour(model), linewidth=3, label=model)
    ax.plot([], [], "D", color="black", label="published")
    ax.legend(fontsize=7, loc="lower right")


def _fan_panel(ax, fan: xr.Dataset, variable: str, colour: str, label: str) -> None:
    times = fan["time"].values
    band = fan[variable]
    ax.fill_between(times, band.sel(quantile=0.05), band.sel(quantile=0.95), color=colour, alpha=0.15, linewidth=0)
    ax.fill_between(times, band.sel(quantile=0.25), band.sel(quantile=0.75), color=colour, alpha=0.3, linewidth=0)
    ax.plot(times, band.sel(quantile=0.5), color=colour, linewidth=2, label=f"{label}: prior median, 50/90% bands")


def report_figure(report: CalibrationReport):
    """The report as one figure: (a) prior vs posterior per parameter and fit, (b) posterior
    predictive intervals against the published values, (c) the prior predictive fan to 2030."""
    import matplotlib.pyplot as plt

    from sim.plots import observed_windows

    priors = parameter_priors(report.priors)
    parameters = [p for p in priors if any(p in d for d in report.posterior.fits.values())]
    columns = 5
    grid_rows = -(-len(parameters) // columns)
    middle_height = 0.16 * len(report.predictive) + 1.5
    figure = plt.figure(figsize=(17, 6 + 2.3 * grid_rows + middle_height), layout="constrained")
    top, middle, bottom = figure.subfigures(3, 1, height_ratios=[2.3 * grid_rows, middle_height, 5.5])
    top.suptitle("(a) Prior (grey) vs posterior of every sampled parameter, per fit", fontsize=11, x=0.01, ha="left")
    axes = top.subplots(grid_rows, columns, squeeze=False).ravel()
    for ax, parameter in zip(axes, parameters):
        _density_panel(ax, parameter, priors[parameter], report.posterior)
    handles = {label: h for ax in axes[:len(parameters)] for h, label in zip(*ax.get_legend_handles_labels())}
    for ax in axes[len(parameters):]:
        ax.axis("off")
    (axes[-1] if len(parameters) < len(axes) else axes[0]).legend(handles.values(), handles.keys(), fontsize=8,
                                                                   loc="center")

    middle.suptitle("(b) Posterior predictive: 50% (thick) and 90% (thin) intervals per observation, each in its "
                    "own series' definition (scale x F&S curve x drift); mix = the scenario's family weights",
                    fontsize=11, x=0.01, ha="left")
    volume_ax, share_ax = middle.subplots(1, 2, width_ratios=[3, 1])
    models = report.predictive.index.get_level_values("model")
    _predictive_panel(volume_ax, report.predictive[models != OPEN_FIT], log=True)
    volume_ax.set_xlabel("daily tokens (T = 10^12 per day, window or date average), log scale")
    volume_ax.set_ylabel("published figure, grouped by series")
    _predictive_panel(share_ax, report.predictive[models == OPEN_FIT], log=False)
    share_ax.set_xlabel("open-source share of enterprise calls")

    bottom.suptitle("(c) Prior predictive: what the priors alone imply (trend only, before any data); black: "
                    "published F&S figures", fontsize=11, x=0.01, ha="left")
    tokens_ax, share_fan_ax = bottom.subplots(1, 2)
    _fan_panel(tokens_ax, report.prior_fan, "daily_tokens", "#1f5f99", "daily tokens, family mix")
    for family in report.prior_fan["family"].values:
        tokens_ax.plot(report.prior_fan["time"].values, report.prior_fan["family_median"].sel(family=family),
                       color=_colour(str(family)), linewidth=0.8, linestyle="--",
                       label=f"{family} alone: prior median")
    tokens_ax.set_yscale("log")
    tokens_ax.set_ylabel("tokens per day (T = 10^12), log scale")
    observed_windows(tokens_ax, report.observations, ("daily_tokens",), scale=1e12)
    _fan_panel(share_fan_ax, report.prior_fan, "open_share", "#b3541e", "open-source share of calls")
    _fan_panel(share_fan_ax, report.prior_fan, "open_adoption", "#2e7d32", "enterprises using open models")
    share_fan_ax.axhline(0.8, color="grey", linestyle=":", linewidth=1)
    share_fan_ax.annotate("80% outlook (a claim, not data)", (report.prior_fan["time"].values[0], 0.8), xytext=(2, 3),
                          textcoords="offset points", fontsize=7, color="grey")
    share_fan_ax.set_ylim(0, 1)
    share_fan_ax.set_ylabel("share")
    observed_windows(share_fan_ax, report.observations, ("open_share",))
    for ax in (tokens_ax, share_fan_ax):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    figure.supxlabel(_footer(report), fontsize=7, color="grey", x=0.01, ha="left")
    return figure


def _footer(report: CalibrationReport) -> str:
    """One line of provenance; sources of every published figure are in calibration/observations.toml."""
    return ("; ".join(f"{k} {v}" for k, v in report.provenance.items())
            + "; sources: calibration/observations.toml (Frost & Sullivan, IDC, Doubao, National Data Administration)")


def write_report_figure(report: CalibrationReport, path: str | Path = REPORT_FIGURE) -> Path:
    """Draw the report and write it atomically as PNG (an earlier file survives any failure),
    with the provenance also in the PNG's text metadata."""
    import matplotlib.pyplot as plt

    from sim.core.files import atomic_write

    figure = report_figure(report)
    metadata = {"Title": "tokensim calibration report", "Software": SOURCE,
                "Source": report.provenance.get("calibration_id", ""), "Description": _footer(report)}
    try:
        return atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=100, metadata=metadata))
    finally:
        plt.close(figure)


def check_report_output(path: str | Path) -> Path:
    """The report figure's path, refused early (before any fitting) if it cannot be a PNG file."""
    from sim.core.errors import UserError
    from sim.core.files import writable

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise UserError("the report figure must be a .png file", where=f"--report-out {path}")
    return writable((path,), "--report-out")[0]
