"""The calibration report (``tokensim calibrate --report``): prior vs posterior, predictive checks and
stacking weights, computed together and printed as text (the figure is :mod:`sim.plots.calibration_report`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import xarray as xr

from sim.calibration.checks import (
    MIX,
    REPORT_SEED,
    check_fit,
    predictive_table,
    stacking_caveat,
    stacking_table,
)
from sim.calibration.fits import OPEN_FITS
from sim.calibration.posterior import Posterior
from sim.calibration.prior_vs_posterior import prior_fan, prior_posterior_table
from sim.core.version import __version__
from sim.data.observations import ObservationSet
from sim.data.priors import Priors


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
                 prior: Posterior, open_weights: dict[str, float], *, weights_from: str = "", seed: int = REPORT_SEED,
                 max_draws: int | None = None) -> CalibrationReport:
    """Compute every table of the report from a fitted posterior and the prior draws (``weights`` and
    ``open_weights``: the family and open-source variant mix, e.g. the baseline scenario's, named by
    ``weights_from``)."""
    checks = {fit: check for fit in posterior.fits
              if (check := check_fit(fit, posterior, observations, priors, seed=seed, max_draws=max_draws))}
    stacking, pareto, pointwise = stacking_table(checks, weights)
    provenance = {"calibration_id": posterior.id, "family_weights_from": weights_from, "seed": str(seed),
                  "tokensim_version": __version__, "as_of": str(observations.as_of or "all published"),
                  "predictive_draws": str(max(len(c.predictive) for c in checks.values()))}
    return CalibrationReport(posterior, priors, observations, dict(weights), prior_posterior_table(posterior, priors),
                             predictive_table(checks, weights, observations), stacking, pareto, pointwise,
                             prior_fan(prior, weights, open_weights, seed=seed), provenance)


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
    headline = predictive[models.isin([MIX, *OPEN_FITS])]
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
