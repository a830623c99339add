"""Fan charts: forecast bands (50/80/95%) with the observed windows drawn where they were measured.

Every function takes an optional ``ax`` (or axes) and returns the figure, so charts compose. The standard
chart gives each simulated variable its own panel (bands of two variables on one panel mix into a third
colour), labels every axis and keeps every label inside the figure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from sim.core.files import write_outputs
from sim.core.provenance import SOURCE
from sim.core.variables import VARIABLES
from sim.data.observations import Observation, ObservationSet
from sim.engine.results import results_bytes
from sim.plots.render import png_bytes
from sim.plots.text import as_written

BANDS = (0.95, 0.8, 0.5)
#: How a chart names the source of a series' figures (the fan chart draws the reference series).
SOURCE_LABELS = {"fs_enterprise": "F&S", "fs_open_share": "F&S", "idc_public_cloud": "IDC", "doubao": "Doubao",
                 "national": "NDA"}
#: The y-axis label of each simulated variable's panel.
AXIS_LABELS = {"daily_tokens": "tokens per day (T = 10^12), log scale", "open_share": "share of calls",
               "open_adoption": "share of enterprises"}


@as_written
def fan(dataset: xr.Dataset, variable: str, ax=None, *, colour: str | None = None, label: str | None = None,
        scale: float = 1.0, bands: tuple[float, ...] = BANDS, fill: bool = True):
    """Draw the bands (50/80/95% by default) and the median of one variable over time; returns the figure.
    With ``fill=False`` a band is drawn as its two edges (thin dashed lines), so that many can share a panel."""
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4.5), constrained_layout=True)
    known = VARIABLES.get(variable)
    colour = colour or (known.colour if known else "C0")
    label = label or (known.label if known else variable)
    quantiles = dataset[f"{variable}_quantiles"] / scale  # over all paths, even those not kept
    times = dataset["time"].values
    for band, alpha in zip(bands, (0.15, 0.25, 0.4)):
        low, high = (quantiles.sel(quantile=q, method="nearest").values for q in ((1 - band) / 2, (1 + band) / 2))
        if fill:
            ax.fill_between(times, low, high, color=colour, alpha=alpha, linewidth=0,
                            label=f"{band:.0%} band" if len(bands) > 1 else None)
        else:
            for edge in (low, high):
                ax.plot(times, edge, color=colour, linewidth=0.8, linestyle=(0, (3, 2)), alpha=0.9)
    median = quantiles.sel(quantile=0.5, method="nearest").values
    ax.plot(times, median, color=colour, linewidth=2, label=label)
    if known and variable in AXIS_LABELS and not ax.get_ylabel():
        ax.set_ylabel(AXIS_LABELS[variable])
    return ax.figure


def _period(observation: Observation) -> str:
    """A window as analysts name it: 2024H2, 2025Q1, 2024, 2025-06, or its first and last day."""
    start, end = observation.start, observation.end
    next_day = end + dt.timedelta(days=1)
    months = (next_day.year - start.year) * 12 + next_day.month - start.month
    if start.day != 1 or next_day.day != 1:
        return f"{start}..{end}"
    return {12: f"{start.year}" if start.month == 1 else f"{start:%Y-%m}..{end:%Y-%m}",
            6: f"{start.year}H{1 + (start.month > 6)}" if start.month in (1, 7) else f"{start:%Y-%m}..{end:%Y-%m}",
            3: f"{start.year}Q{1 + (start.month - 1) // 3}", 1: f"{start:%Y-%m}"}.get(months, f"{start:%Y-%m}..{end:%Y-%m}")


def window_label(observation: Observation) -> str:
    """What a chart calls a published figure: its source, window and value, e.g. "F&S 2024H2: 2.2T"."""
    source = SOURCE_LABELS.get(observation.series, observation.series)
    when = str(observation.date) if observation.kind == "at_date" else _period(observation)
    shown = VARIABLES.get(observation.quantity)
    if shown is None:
        return f"{source} {when}: {observation.value:g} {observation.unit}"
    value = observation.comparable_value / shown.display_scale
    return f"{source} {when}: {value:.3g}{shown.display_unit.split('/')[0]}"


@as_written
def observed_windows(ax, observations: ObservationSet, quantities: Sequence[str], *, scale: float = 1.0,
                     series: Sequence[str] = ("fs_enterprise", "fs_open_share")) -> None:
    """Draw each observed window as a black bar at its value (a dot for a value at a date), labelled with its
    source, window and value."""
    for observation in observations.observations:
        if observation.quantity not in quantities or observation.series not in series:
            continue
        value = observation.comparable_value / scale
        if observation.kind == "at_date":
            ax.plot([np.datetime64(observation.date)], [value], "ko", markersize=4)
            start = np.datetime64(observation.date)
        else:
            start, end = np.datetime64(observation.start), np.datetime64(observation.end) + 1
            ax.hlines(value, start, end, colors="black", linewidth=3)
        ax.annotate(window_label(observation), (start, value), xytext=(0, 6), textcoords="offset points",
                    fontsize=7, annotation_clip=True)


def default_observations(dataset: xr.Dataset) -> ObservationSet | None:
    """The observation registry a results file was calibrated with, or the default one (:mod:`sim.core.paths`)."""
    from sim.core.errors import UserError
    from sim.core.paths import observations as default_registry
    from sim.data.observations import load_observations

    recorded = Path(str(dataset.attrs.get("observations_file", "")))
    try:
        return load_observations(recorded if recorded.is_file() else default_registry())
    except UserError:
        return None


def _panel(ax, dataset: xr.Dataset, variable: str, observations: ObservationSet | None) -> None:
    shown = VARIABLES[variable]
    fan(dataset, variable, ax, scale=shown.plot_scale)
    if variable == "daily_tokens":
        ax.set_yscale("log")
    else:
        ax.axhline(0.8, color="grey", linestyle="--", linewidth=1, label="80% outlook")
        ax.set_ylim(0, 1)
    if observations is not None:
        observed_windows(ax, observations, (variable,), scale=shown.plot_scale)
    bars = " (black bars: published window averages)" if any(
        o.quantity == variable and o.series in ("fs_enterprise", "fs_open_share") for o in
        (observations.observations if observations is not None else ())) else ""
    ax.set_title(f"{shown.label}: median and 50/80/95% bands over all paths{bars}", fontsize=10)
    ax.legend(loc="upper left" if variable == "daily_tokens" else "lower right", fontsize=7, ncols=2)


@as_written
def fan_chart(dataset: xr.Dataset, observations: ObservationSet | None = None, axes=None):
    """The standard chart of a results Dataset, one panel per simulated variable, with the published figures of
    the reference series (from ``observations``, by default the registry the results were calibrated with);
    returns the figure."""
    variables = list(VARIABLES)
    if axes is None:
        _, axes = plt.subplots(len(variables), 1, figsize=(10, 3.6 * len(variables)), sharex=True,
                               constrained_layout=True)
    observations = observations if observations is not None else default_observations(dataset)
    for ax, variable in zip(axes, variables):
        _panel(ax, dataset, variable, observations)
        ax.grid(True, which="major", alpha=0.3)
        ax.xaxis.set_major_locator(mdates.YearLocator())
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    axes[-1].set_xlim(dataset["time"].values[0], dataset["time"].values[-1])
    axes[-1].set_xlabel("month (each value is a mean over its month)")
    figure = axes[0].figure
    figure.suptitle(f"Scenario '{dataset.attrs.get('scenario', '?')}': {dataset.attrs.get('paths_simulated', '?')} "
                    f"paths, seed {dataset.attrs.get('seed', '')}, calibration "
                    f"{str(dataset.attrs.get('calibration_id', ''))[:12]}, {dataset.attrs.get('source', '')}",
                    fontsize=9)
    return figure


def write_run(dataset: xr.Dataset, out: str | Path, observations: ObservationSet | None, *,
              chart: bool = True) -> tuple[Path, ...]:
    """Write a run's results (``out``, .nc) and its fan chart (.png beside it) as one set: both replaced, or
    neither. Without ``chart``, an earlier chart at that path is removed with the set, since it would
    show other results than the file beside it."""
    out = Path(out)
    figure = png_bytes(fan_chart(dataset, observations), dpi=120, metadata=chart_metadata(dataset)) if chart else None
    return write_outputs({out: results_bytes(dataset), out.with_suffix(".png"): figure})


def chart_metadata(dataset: xr.Dataset) -> dict[str, str]:
    """PNG text fields naming the results a chart shows (so a chart can be matched to its .nc file)."""
    attrs = dataset.attrs
    return {"Title": f"tokensim fan chart of scenario '{attrs.get('scenario', '?')}'", "Software": SOURCE,
            "Description": f"seed {attrs.get('seed', '?')}, {attrs.get('paths_simulated', '?')} paths, calibration "
                           f"{attrs.get('calibration_id', '?')}, scenario sha256 {attrs.get('scenario_sha256', '?')}"}
