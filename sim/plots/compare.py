"""Several scenarios on one chart: the median and 80% band of each variable, one colour per scenario."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import xarray as xr

from sim.analysis.tables import SERIES
from sim.core.variables import VARIABLES
from sim.plots.fan import fan
from sim.plots.text import as_written

#: One colour per scenario (or claim), in order.
COLOURS = ("#1f5f99", "#b3541e", "#2e7d32", "#7b1fa2", "#c62828", "#00838f", "#6d4c41", "#455a64")


@as_written
def compare_chart(datasets: Sequence[xr.Dataset], axes=None):
    """Median and 80% band of each scenario, one panel per variable; returns the figure."""
    if axes is None:
        _, axes = plt.subplots(3, 1, figsize=(10, 11), sharex=True, constrained_layout=True)
    for index, ds in enumerate(datasets):
        colour = COLOURS[index % len(COLOURS)]
        for ax, variable in zip(axes, SERIES):
            fan(ds, variable, ax, colour=colour, label=ds.attrs.get("scenario", f"#{index}"),
                scale=VARIABLES[variable].plot_scale, bands=(0.8,), annotate=False)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("T tokens/day (log)")
    for ax, variable in zip(axes, SERIES):
        ax.set_title(f"{VARIABLES[variable].label}: median and 80% band per scenario", fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower right", fontsize=8, ncols=2)
    for ax in axes[1:]:
        ax.axhline(0.8, color="grey", linestyle="--", linewidth=1)
        ax.set_ylim(0, 1)
    axes[-1].set_xlim(min(ds["time"].values[0] for ds in datasets), max(ds["time"].values[-1] for ds in datasets))
    return axes[0].figure
