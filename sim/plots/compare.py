"""Several scenarios on one chart: the median (solid) and the 80% band (dashed edges) of each variable, one
colour per scenario, one panel per variable, each with its y-label; the legend sits beside the panels."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import xarray as xr

from sim.core.variables import VARIABLES
from sim.plots.fan import AXIS_LABELS, fan
from sim.plots.text import as_written

#: One colour per scenario (or claim), in order: Okabe and Ito's eight, told apart also with colour-blindness;
#: a ninth scenario starts them again with a dotted median.
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")


@as_written
def compare_chart(datasets: Sequence[xr.Dataset], axes=None):
    """Median and 80% band of each scenario, one panel per variable; returns the figure."""
    variables = list(VARIABLES)
    if axes is None:
        _, axes = plt.subplots(len(variables), 1, figsize=(11, 3.4 * len(variables) + 0.6), sharex=True,
                               constrained_layout=True)
    for index, ds in enumerate(datasets):
        colour = COLOURS[index % len(COLOURS)]
        for ax, variable in zip(axes, variables):
            fan(ds, variable, ax, colour=colour, label=str(ds.attrs.get("scenario", f"#{index}")),
                scale=VARIABLES[variable].plot_scale, bands=(0.8,), fill=False)
            if index >= len(COLOURS):
                ax.get_lines()[-1].set_linestyle(":")
    for ax, variable in zip(axes, variables):
        ax.set_title(f"{VARIABLES[variable].label}: median (solid) and 80% band (dashed) per scenario", fontsize=10)
        ax.set_ylabel(AXIS_LABELS[variable])
        ax.grid(True, alpha=0.3)
        if variable == "daily_tokens":
            ax.set_yscale("log")
        else:
            ax.axhline(0.8, color="grey", linestyle="--", linewidth=1)
            ax.set_ylim(0, 1)
    axes[-1].set_xlim(min(ds["time"].values[0] for ds in datasets), max(ds["time"].values[-1] for ds in datasets))
    axes[-1].set_xlabel("month (each value is a mean over its month)")
    handles, labels = axes[0].get_legend_handles_labels()
    figure = axes[0].figure
    figure.legend(handles, labels, loc="outside right upper", fontsize=8, title="scenario", title_fontsize=8)
    return figure
