"""Several scenarios side by side: medians, 80% bands and claim probabilities, as tables (pandas) and as
text (the chart is :mod:`sim.plots.compare`)."""

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


def _names(datasets: Sequence[xr.Dataset]) -> list[str]:
    return [str(ds.attrs.get("scenario", f"#{i}")) for i, ds in enumerate(datasets)]


def band_frame(datasets: Sequence[xr.Dataset]):
    """Median and 10-90% band of each variable per scenario at the common months, in display units: a
    DataFrame indexed by (month, scenario) with one column per variable, "median [p10 - p90]"."""
    import pandas as pd

    rows = []
    for month in _common_months(datasets):
        for name, ds in zip(_names(datasets), datasets):
            row = {"month": str(month), "scenario": name}
            for variable in SERIES:
                shown = VARIABLES[variable]
                q = ds[f"{variable}_quantiles"].sel(time=np.datetime64(month, "ns")) / shown.display_scale
                p10, p50, p90 = (float(q.sel(quantile=x, method="nearest")) for x in (0.1, 0.5, 0.9))
                row[f"{variable} ({shown.display_unit})"] = f"{p50:.3g} [{p10:.3g} - {p90:.3g}]"
            rows.append(row)
    return pd.DataFrame(rows).set_index(["month", "scenario"])


def claim_frame(datasets: Sequence[xr.Dataset]):
    """Every claim's probability (by each date) per scenario: rows ``claim | by date``, one column per scenario
    (NaN where a scenario does not state that claim)."""
    import pandas as pd

    probabilities = [claim_probabilities(ds) for ds in datasets]
    labels = list(dict.fromkeys(label for p in probabilities for label in p["claim"].values))
    return pd.DataFrame({name: [float(p.sel(claim=label)) if label in p["claim"].values else np.nan for label in labels]
                         for name, p in zip(_names(datasets), probabilities)},
                        index=pd.Index(labels, name="claim"))


def compare_table(datasets: Sequence[xr.Dataset]) -> str:
    """Median and 80% band of each variable, and every claim's probability, per scenario, as text."""
    names = _names(datasets)
    width = max(12, *(len(n) for n in names)) + 2
    bands = band_frame(datasets)
    lines = []
    for month, frame in bands.groupby(level="month", sort=False):
        lines.append(f"{month}: median [10% - 90%]")
        lines.append(f"{'scenario':<{width}}" + "".join(f"{c:>30}" for c in frame.columns))
        for (_, name), row in frame.iterrows():
            lines.append(f"{name:<{width}}" + "".join(f"{c:>30}" for c in row.values))
        lines.append("")
    claims = claim_frame(datasets)
    if len(claims):
        label_width = max(len(label) for label in claims.index) + 2
        lines.append(f"{'claim':<{label_width}}" + "".join(f"{n:>{width}}" for n in names))
        for label, row in claims.iterrows():
            cells = ["-" if np.isnan(p) else f"{p:.1%}" for p in row.values]
            lines.append(f"{label:<{label_width}}" + "".join(f"{c:>{width}}" for c in cells))
    return "\n".join(lines)
