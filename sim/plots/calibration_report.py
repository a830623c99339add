"""The calibration report as one figure: (a) prior vs posterior per parameter and fit, (b) posterior
predictive intervals against the published values, (c) the prior predictive fan to 2030; written
atomically, with its provenance in the footer and in the PNG's text metadata."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr

from sim.calibration.checks import MIX
from sim.calibration.fits import OPEN_FITS
from sim.calibration.posterior import Posterior
from sim.calibration.prior_vs_posterior import on_log_scale, parameter_priors
from sim.calibration.report import CalibrationReport
from sim.core.errors import UserError
from sim.core.outputs import check_outputs
from sim.core.provenance import SOURCE
from sim.core.variables import VARIABLES
from sim.curves.families import FAMILIES
from sim.curves.parameters import axis_unit
from sim.data.distributions import Distribution
from sim.plots.fan import observed_windows
from sim.plots.render import save_figure
from sim.plots.text import as_written

FIT_COLOURS = {"exponential": "#7f7f7f", "logistic": "#1f77b4", "gompertz": "#d62728", "richards": "#9467bd",
               "product": "#17becf", "decay": "#8c564b", "compute_logistic": "#bcbd22",
               "open_call_weighted": "#b3541e", "open_equal_weight": "#e6a157", MIX: "black"}


def _colour(fit: str) -> str:
    """A fit's colour; a family added to the registry later gets one of matplotlib's cycle."""
    return FIT_COLOURS.get(fit, f"C{(list(FAMILIES).index(fit) if fit in FAMILIES else 0) % 10}")


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
    ax.set_xlabel(axis_unit(parameter), fontsize=7)
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


def _fan_panel(ax, fan: xr.Dataset, variable: str, label: str) -> None:
    colour = VARIABLES[variable].colour
    times = fan["time"].values
    band = fan[variable]
    ax.fill_between(times, band.sel(quantile=0.05), band.sel(quantile=0.95), color=colour, alpha=0.15, linewidth=0)
    ax.fill_between(times, band.sel(quantile=0.25), band.sel(quantile=0.75), color=colour, alpha=0.3, linewidth=0)
    ax.plot(times, band.sel(quantile=0.5), color=colour, linewidth=2, label=f"{label}: prior median, 50/90% bands")


@as_written
def report_figure(report: CalibrationReport):
    """The report as one figure: (a) prior vs posterior per parameter and fit, (b) posterior
    predictive intervals against the published values, (c) the prior predictive fan to 2030."""
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
    _predictive_panel(volume_ax, report.predictive[~models.isin(OPEN_FITS)], log=True)
    volume_ax.set_xlabel("daily tokens (T = 10^12 per day, window or date average), log scale")
    volume_ax.set_ylabel("published figure, grouped by series")
    _predictive_panel(share_ax, report.predictive[models.isin(OPEN_FITS)], log=False)
    share_ax.set_xlabel("open-source share of enterprise calls")

    bottom.suptitle("(c) Prior predictive: what the priors alone imply (trend only, before any data); black: "
                    "published F&S figures", fontsize=11, x=0.01, ha="left")
    tokens_ax, share_fan_ax = bottom.subplots(1, 2)
    _fan_panel(tokens_ax, report.prior_fan, "daily_tokens", "daily tokens, family mix")
    for family in report.prior_fan["family"].values:
        tokens_ax.plot(report.prior_fan["time"].values, report.prior_fan["family_median"].sel(family=family),
                       color=_colour(str(family)), linewidth=0.8, linestyle="--",
                       label=f"{family} alone: prior median")
    tokens_ax.set_yscale("log")
    tokens_ax.set_ylabel("tokens per day (T = 10^12), log scale")
    observed_windows(tokens_ax, report.observations, ("daily_tokens",), scale=VARIABLES["daily_tokens"].plot_scale)
    _fan_panel(share_fan_ax, report.prior_fan, "open_share", "open-source share of calls")
    _fan_panel(share_fan_ax, report.prior_fan, "open_adoption", "enterprises using open models")
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


def write_report_figure(report: CalibrationReport, path: str | Path) -> Path:
    """Draw the report and write it atomically as PNG (an earlier file survives any failure),
    with the provenance also in the PNG's text metadata."""
    metadata = {"Title": "tokensim calibration report", "Software": SOURCE,
                "Source": report.provenance.get("calibration_id", ""), "Description": _footer(report)}
    return save_figure(report_figure(report), path, dpi=100, metadata=metadata)


def check_report_output(path: str | Path) -> Path:
    """The report figure's path, refused early (before any fitting) if it cannot be a PNG file."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise UserError("the report figure must be a .png file", where=f"--report-out {path}")
    return check_outputs((path,), "--report-out")[0]
