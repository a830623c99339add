"""Several scenarios side by side: medians, 80% bands and claim probabilities with their Monte Carlo standard
errors, as tables (pandas) and as text, saying which differences Monte Carlo noise alone could make (the chart
is :mod:`sim.plots.compare`)."""

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
    """Every claim's probability (by each date) per scenario: rows ``claim | on date`` (:func:`~sim.analysis.tables.claim_label`), one column per scenario
    with the probability and one with its Monte Carlo standard error (NaN where a scenario does not state it)."""
    import pandas as pd

    probabilities = [claim_probabilities(ds) for ds in datasets]
    labels = list(dict.fromkeys(label for p in probabilities for label in p["claim"].values))
    columns = {}
    for name, p in zip(_names(datasets), probabilities):
        for column, field in ((name, "probability"), (f"{name} mc_se", "mc_se")):
            columns[column] = [float(p[field].sel(claim=label)) if label in p["claim"].values else np.nan
                               for label in labels]
    return pd.DataFrame(columns, index=pd.Index(labels, name="claim"))


def claim_cells(datasets: Sequence[xr.Dataset]):
    """:func:`claim_frame` as text cells: "probability +- standard error" per scenario, "-" where not stated."""
    frame = claim_frame(datasets)
    return frame[_names(datasets)].apply(lambda column: [
        "-" if np.isnan(p) else f"{p:.1%} +- {se:.1%}" for p, se in zip(column, frame[f"{column.name} mc_se"])])


def compare_table(datasets: Sequence[xr.Dataset]) -> str:
    """Median and 80% band of each variable, and every claim's probability, per scenario, as text."""
    names = _names(datasets)
    width = max(12, *(len(n) for n in names)) + 2
    lines = []
    for month, frame in band_frame(datasets).groupby(level="month", sort=False):
        lines.append(f"{month}: median [10% - 90%]")
        lines.append(f"{'scenario':<{width}}" + "".join(f"{c:>30}" for c in frame.columns))
        for (_, name), row in frame.iterrows():
            lines.append(f"{name:<{width}}" + "".join(f"{c:>30}" for c in row.values))
        lines.append("")
    cells = claim_cells(datasets)
    if len(cells):
        label_width = max(len(label) for label in cells.index) + 2
        column = max(width, 18)
        lines.append("Claims: probability +- Monte Carlo standard error")
        lines.append(f"{'claim':<{label_width}}" + "".join(f"{n:>{column}}" for n in names))
        for label, row in cells.iterrows():
            lines.append(f"{label:<{label_width}}" + "".join(f"{c:>{column}}" for c in row.values))
        lines += [""] + indistinct_claims(names, [claim_probabilities(ds) for ds in datasets], list(cells.index))
    return "\n".join(lines)


#: Two probabilities differ by less than Monte Carlo noise when their gap is under this many standard
#: errors of the difference.
NOISE_MULTIPLE = 2.0


def indistinct_claims(names: Sequence[str], probabilities: Sequence[xr.Dataset], labels: Sequence[str]) -> list[str]:
    """Sentences naming each claim on which two scenarios differ by less than :data:`NOISE_MULTIPLE` standard
    errors of their difference: the runs cannot tell them apart, whatever their assumptions."""
    sentences = []
    for label in labels:
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                first, second = probabilities[i], probabilities[j]
                if label not in first["claim"].values or label not in second["claim"].values:
                    continue
                gap = abs(float(first["probability"].sel(claim=label)) - float(second["probability"].sel(claim=label)))
                noise = float(np.hypot(first["mc_se"].sel(claim=label), second["mc_se"].sel(claim=label)))
                if gap < NOISE_MULTIPLE * noise:
                    sentences.append(f"'{label}': {names[i]} and {names[j]} differ by {gap:.1%}, less than "
                                     f"{NOISE_MULTIPLE:g} Monte Carlo standard errors ({NOISE_MULTIPLE * noise:.1%}): "
                                     "run more paths to tell them apart.")
    return sentences
