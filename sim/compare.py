"""Several scenarios side by side: one table (medians, 80% bands, claims) and one chart."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from sim.analysis import SERIES, claim_probabilities
from sim.plots.fan import LABELS, fan
from sim.tables import DISPLAY

COLOURS = ("#1f5f99", "#b3541e", "#2e7d32", "#7b1fa2", "#c62828", "#00838f", "#6d4c41", "#455a64")


def _common_months(datasets: Sequence[xr.Dataset]) -> list[np.datetime64]:
    """December 2027 and the last December every result reaches."""
    last = min(ds["time"].values[-1] for ds in datasets).astype("datetime64[Y]")
    months = [np.datetime64("2027-12", "M"), np.datetime64(f"{last}-12", "M")]
    return sorted({m for m in months if all(np.datetime64(m, "ns") in ds["time"].values for ds in datasets)})


def compare_table(datasets: Sequence[xr.Dataset]) -> str:
    """Median and 80% band of each variable, and every claim's probability, per scenario."""
    names = [ds.attrs.get("scenario", f"#{i}") for i, ds in enumerate(datasets)]
    width = max(12, *(len(n) for n in names)) + 2
    lines = []
    for month in _common_months(datasets):
        lines.append(f"{month}: median [10% - 90%]")
        lines.append(f"{'scenario':<{width}}" + "".join(f"{v:>30}" for v in SERIES))
        for name, ds in zip(names, datasets):
            cells = []
            for variable in SERIES:
                divisor, suffix = DISPLAY[variable]
                q = ds[f"{variable}_quantiles"].sel(time=np.datetime64(month, "ns")) / divisor
                p10, p50, p90 = (float(q.sel(quantile=x, method="nearest")) for x in (0.1, 0.5, 0.9))
                cells.append(f"{p50:.3g} [{p10:.3g} - {p90:.3g}] {suffix}")
            lines.append(f"{name:<{width}}" + "".join(f"{c:>30}" for c in cells))
        lines.append("")
    probabilities = [claim_probabilities(ds) for ds in datasets]
    labels = list(dict.fromkeys(label for p in probabilities for label in p["claim"].values))
    if labels:
        label_width = max(len(label) for label in labels) + 2
        lines.append(f"{'claim':<{label_width}}" + "".join(f"{n:>{width}}" for n in names))
        for label in labels:
            cells = [f"{float(p.sel(claim=label)):.1%}" if label in p["claim"].values else "-" for p in probabilities]
            lines.append(f"{label:<{label_width}}" + "".join(f"{c:>{width}}" for c in cells))
    return "\n".join(lines)


def compare_chart(datasets: Sequence[xr.Dataset], axes=None):
    """Median and 80% band of each scenario, one panel per variable; returns the figure."""
    if axes is None:
        _, axes = plt.subplots(3, 1, figsize=(10, 11), sharex=True, constrained_layout=True)
    for index, ds in enumerate(datasets):
        colour = COLOURS[index % len(COLOURS)]
        for ax, variable in zip(axes, SERIES):
            fan(ds, variable, ax, colour=colour, label=ds.attrs.get("scenario", f"#{index}"),
                scale=1e12 if variable == "daily_tokens" else 1.0, bands=(0.8,), annotate=False)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("T tokens/day (log)")
    for ax, variable in zip(axes, SERIES):
        ax.set_title(f"{LABELS[variable]}: median and 80% band per scenario", fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower right", fontsize=8, ncols=2)
    for ax in axes[1:]:
        ax.axhline(0.8, color="grey", linestyle="--", linewidth=1)
        ax.set_ylim(0, 1)
    axes[-1].set_xlim(min(ds["time"].values[0] for ds in datasets), max(ds["time"].values[-1] for ds in datasets))
    return axes[0].figure
