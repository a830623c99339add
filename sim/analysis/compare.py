"""Several scenarios side by side in one table: medians, 80% bands and claim probabilities with their Monte
Carlo standard errors, saying which differences Monte Carlo noise alone could make (the chart is
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
        column = max(width, 18)
        lines.append("Claims: probability +- Monte Carlo standard error")
        lines.append(f"{'claim':<{label_width}}" + "".join(f"{n:>{column}}" for n in names))
        for label in labels:
            cells = [f"{float(p['probability'].sel(claim=label)):.1%} +- {float(p['mc_se'].sel(claim=label)):.1%}"
                     if label in p["claim"].values else "-" for p in probabilities]
            lines.append(f"{label:<{label_width}}" + "".join(f"{c:>{column}}" for c in cells))
        lines += [""] + indistinct_claims(names, probabilities, labels)
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
