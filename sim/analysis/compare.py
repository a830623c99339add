"""Several scenarios side by side in one table: medians, 80% bands and claim probabilities (the chart is
:mod:`sim.plots.compare`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from sim.analysis.tables import SERIES, claim_probabilities
from sim.core.variables import VARIABLES


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
                shown = VARIABLES[variable]
                q = ds[f"{variable}_quantiles"].sel(time=np.datetime64(month, "ns")) / shown.display_scale
                p10, p50, p90 = (float(q.sel(quantile=x, method="nearest")) for x in (0.1, 0.5, 0.9))
                cells.append(f"{p50:.3g} [{p10:.3g} - {p90:.3g}] {shown.display_unit}")
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
