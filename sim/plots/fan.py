"""Fan charts: forecast bands (50/80/95%) with the observed windows drawn where they were measured.

Every function takes an optional ``ax`` (or axes) and returns the figure, so charts compose.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from sim.core.files import netcdf_bytes, write_outputs
from sim.core.provenance import SOURCE
from sim.core.variables import VARIABLES
from sim.data.observations import ObservationSet
from sim.plots.render import png_bytes
from sim.plots.text import as_written

BANDS = (0.95, 0.8, 0.5)


@as_written
def fan(dataset: xr.Dataset, variable: str, ax=None, *, colour: str | None = None, label: str | None = None,
        scale: float = 1.0, bands: tuple[float, ...] = BANDS, annotate: bool = True):
    """Draw the bands (50/80/95% by default) and the median of one variable over time; returns the figure."""
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4.5))
    known = VARIABLES.get(variable)
    colour = colour or (known.colour if known else "C0")
    label = label or (known.label if known else variable)
    quantiles = dataset[f"{variable}_quantiles"] / scale  # over all paths, even those not kept
    times = dataset["time"].values
    for band, alpha in zip(bands, (0.15, 0.25, 0.4)):
        low, high = (quantiles.sel(quantile=q, method="nearest").values for q in ((1 - band) / 2, (1 + band) / 2))
        ax.fill_between(times, low, high, color=colour, alpha=alpha, linewidth=0)
    median = quantiles.sel(quantile=0.5, method="nearest").values
    ax.plot(times, median, color=colour, linewidth=2, label=label)
    if annotate:  # label the median at its right end, so no legend hunt is needed
        ax.annotate(label, (times[-1], median[-1]), xytext=(4, 0),
                    textcoords="offset points", color=colour, va="center", fontsize=8)
    return ax.figure


@as_written
def observed_windows(ax, observations: ObservationSet, quantities: Sequence[str], *, scale: float = 1.0,
                     series: Sequence[str] = ("fs_enterprise", "fs_open_share")) -> None:
    """Draw each observed window as a horizontal bar at its value (a dot for a value at a date)."""
    for observation in observations.observations:
        if observation.quantity not in quantities or observation.series not in series:
            continue
        value = observation.comparable_value / scale
        if observation.kind == "at_date":
            ax.plot([np.datetime64(observation.date)], [value], "ko", markersize=4)
            continue
        start, end = np.datetime64(observation.start), np.datetime64(observation.end) + 1
        ax.hlines(value, start, end, colors="black", linewidth=3)
        ax.annotate(f"{observation.id}: {value:.3g}", (start, value),
                    xytext=(0, 6), textcoords="offset points", fontsize=7)


@as_written
def fan_chart(dataset: xr.Dataset, observations: ObservationSet | None = None, axes=None):
    """The standard two-panel forecast chart of a results Dataset; returns the figure."""
    if axes is None:
        figure, axes = plt.subplots(2, 1, figsize=(10, 8.5), sharex=True, constrained_layout=True)
    top, bottom = axes
    tokens = VARIABLES["daily_tokens"]
    fan(dataset, tokens.name, top, scale=tokens.plot_scale)
    top.set_yscale("log")
    top.set_ylabel("tokens per day (T = 10^12), log scale")
    top.set_title(f"Scenario '{dataset.attrs.get('scenario', '?')}': daily enterprise tokens "
                  "(median, 50/80/95% bands; black bars: published window averages)", fontsize=10, parse_math=False)
    for variable in ("open_share", "open_adoption"):
        fan(dataset, variable, bottom)
    bottom.axhline(0.8, color="grey", linestyle="--", linewidth=1)
    bottom.annotate("80% outlook", (dataset["time"].values[0], 0.8), xytext=(2, 3),
                    textcoords="offset points", fontsize=8, color="grey")
    bottom.set_ylim(0, 1)
    bottom.set_ylabel("share")
    bottom.set_title("Open-source share of calls (orange) and enterprise adoption (green)", fontsize=10)
    if observations is not None:
        observed_windows(top, observations, ("daily_tokens",), scale=tokens.plot_scale)
        observed_windows(bottom, observations, ("open_share",))
    for ax in axes:
        ax.grid(True, which="major", alpha=0.3)
        ax.xaxis.set_major_locator(mdates.YearLocator())
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    bottom.set_xlim(dataset["time"].values[0], dataset["time"].values[-1] + np.timedelta64(200, "D"))
    bottom.set_xlabel(f"calibration {dataset.attrs.get('calibration_id', '')[:12]}, seed "
                      f"{dataset.attrs.get('seed', '')}, {dataset.attrs.get('paths_simulated', '?')} paths, "
                      f"{dataset.attrs.get('source', '')}", fontsize=7, color="grey", loc="left", parse_math=False)
    figure = top.figure
    return figure


def write_run(dataset: xr.Dataset, out: str | Path, observations: ObservationSet | None, *,
              chart: bool = True) -> tuple[Path, ...]:
    """Write a run's results (``out``, .nc) and its fan chart (.png beside it) as one set: both replaced, or
    neither. Without ``chart``, an earlier chart at that path is removed with the set, since it would
    show other results than the file beside it."""
    out = Path(out)
    figure = png_bytes(fan_chart(dataset, observations), dpi=120, metadata=chart_metadata(dataset)) if chart else None
    return write_outputs({out: netcdf_bytes(dataset), out.with_suffix(".png"): figure})


def chart_metadata(dataset: xr.Dataset) -> dict[str, str]:
    """PNG text fields naming the results a chart shows (so a chart can be matched to its .nc file)."""
    attrs = dataset.attrs
    return {"Title": f"tokensim fan chart of scenario '{attrs.get('scenario', '?')}'", "Software": SOURCE,
            "Description": f"seed {attrs.get('seed', '?')}, {attrs.get('paths_simulated', '?')} paths, calibration "
                           f"{attrs.get('calibration_id', '?')}, scenario sha256 {attrs.get('scenario_sha256', '?')}"}
