"""The revision chart: how surprising each new figure was under the older vintage, and how the claims and the
year-end medians moved; and the files ``tokensim revise`` writes (.nc, .png), rendered before either is written."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from sim.analysis.revise import NOISE_MULTIPLE
from sim.core.errors import UserError
from sim.core.files import netcdf_bytes, write_outputs
from sim.core.outputs import check_outputs
from sim.core.variables import VARIABLES
from sim.plots.render import png_bytes

BEFORE, AFTER = "#9e9e9e", "#1f5f99"


def revise_figure(dataset: xr.Dataset):
    """Three panels: the PIT of each new figure (a dot, or a bar for a bound's interval; the shaded ends are
    the outer 5%); each claim's probability before and after, +- two Monte Carlo standard errors; the year-end
    medians of every variable after / before, with the same error. Returns the figure."""
    figure, axes = plt.subplots(1, 3, figsize=(16, 0.35 * max(dataset.sizes["claim"], dataset.sizes["figure"]) + 3.2),
                                constrained_layout=True)
    _pit_panel(axes[0], dataset)
    _claims_panel(axes[1], dataset)
    _medians_panel(axes[2], dataset)
    figure.suptitle(f"What the figures published after {dataset.attrs['from']} (to {dataset.attrs['to']}) did: "
                    f"scenario '{dataset.attrs['scenario']}', {dataset.attrs['paths']} paths, seed "
                    f"{dataset.attrs['seed']}", fontsize=10)
    return figure


def _pit_panel(ax, dataset: xr.Dataset) -> None:
    ids = [str(v) for v in dataset["figure"].values]
    ax.axvspan(0, 0.05, color="#f4cccc"), ax.axvspan(0.95, 1, color="#f4cccc")
    for y, figure in enumerate(ids):
        lower, upper = float(dataset["pit_lower"].sel(figure=figure)), float(dataset["pit_upper"].sel(figure=figure))
        if not np.isfinite(lower):
            continue
        if upper - lower > 1e-9:
            ax.plot([lower, upper], [y, y], color=AFTER, linewidth=4, alpha=0.6, solid_capstyle="butt")
        else:
            ax.plot(lower, y, "o", color=AFTER)
    ax.set_yticks(range(len(ids)), ids, fontsize=7)
    ax.set_xlim(0, 1), ax.set_ylim(-0.7, len(ids) - 0.3)
    ax.invert_yaxis()
    ax.set_xlabel(f"PIT under the vintage of {dataset.attrs['from']} (a bar: a bound's interval)", fontsize=8)
    ax.set_title("How surprising each new figure was", fontsize=9)
    ax.grid(True, axis="x", alpha=0.3)


def _claims_panel(ax, dataset: xr.Dataset) -> None:
    claims = [str(c) for c in dataset["claim"].values]
    for name, colour, offset in (("before", BEFORE, -0.15), ("after", AFTER, 0.15)):
        values = dataset[f"claim_probability_{name}"].values
        errors = NOISE_MULTIPLE * dataset[f"claim_probability_{name}_mc_se"].values
        ax.errorbar(values, np.arange(len(claims)) + offset, xerr=errors, fmt="o", color=colour, markersize=4,
                    label=f"{name} ({dataset.attrs['from'] if name == 'before' else dataset.attrs['to']})")
    for y, moved in enumerate(dataset["claim_exceeds_noise"].values):
        if moved:
            ax.annotate("*", (1.0, y), xycoords=("axes fraction", "data"), fontsize=12, ha="right", va="center")
    ax.set_yticks(range(len(claims)), claims, fontsize=7)
    ax.set_xlim(-0.02, 1.02), ax.set_ylim(-0.7, len(claims) - 0.3)
    ax.invert_yaxis()
    ax.set_xlabel(f"probability (+- {NOISE_MULTIPLE:g} MC standard errors; * = moved beyond noise)", fontsize=8)
    ax.set_title("Claims before and after", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(True, axis="x", alpha=0.3)


def _medians_panel(ax, dataset: xr.Dataset) -> None:
    years = [str(np.datetime64(t, "Y")) for t in dataset["time"].values]
    for variable in dataset["variable"].values:
        at = dataset.sel(variable=variable)
        ratio = at["median_after"].values / at["median_before"].values
        error = NOISE_MULTIPLE * ratio * np.hypot(at["median_after_mc_se"].values / at["median_after"].values,
                                                  at["median_before_mc_se"].values / at["median_before"].values)
        ax.errorbar(np.arange(len(years)), ratio, yerr=error, fmt="o-", markersize=4, capsize=2,
                    color=VARIABLES[str(variable)].colour, label=VARIABLES[str(variable)].label)
    from matplotlib.ticker import FormatStrFormatter

    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    for axis in (ax.yaxis.set_major_formatter, ax.yaxis.set_minor_formatter):
        axis(FormatStrFormatter("%.2g"))
    ax.set_xticks(range(len(years)), years, fontsize=8)
    ax.set_ylabel("year-end median, after / before", fontsize=8)
    ax.set_title("Year-end medians: how far they moved", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(True, axis="y", alpha=0.3)


def output_paths(out: str | Path) -> tuple[Path, Path]:
    """The .nc and .png files of a revision written to ``out``; refuses a bad ``out`` up front."""
    out = Path(out)
    if out.suffix != ".nc":
        raise UserError("the revision file must end in .nc (the .png goes next to it)", where="--out")
    return check_outputs((out, out.with_suffix(".png")), "--out")


def write_revise(dataset: xr.Dataset, out: str | Path) -> tuple[Path, Path]:
    """Write the Dataset (.nc) and the chart (.png) as one set: both replaced, or neither (the chart is rendered
    before anything is written)."""
    nc, png = output_paths(out)
    write_outputs({nc: netcdf_bytes(dataset), png: png_bytes(revise_figure(dataset), dpi=110)})
    return nc, png
