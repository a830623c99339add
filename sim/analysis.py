"""Summaries of a results Dataset: quantile tables, claim probabilities, crossing dates.

They read the summary variables every results Dataset carries (``<variable>_quantiles`` and
``claim_crossed``, computed over all simulated paths, even those a large run did not keep) and
return labelled xarray objects, so a table is a ``.to_dataframe()`` away.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from sim.engine.results import claims_from_attr

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
SERIES = ("daily_tokens", "open_share", "open_adoption")


def year_end_times(dataset: xr.Dataset) -> np.ndarray:
    """The last simulated month of each calendar year."""
    times = dataset["time"].values
    years = times.astype("datetime64[Y]")
    return times[np.r_[years[1:] != years[:-1], True]]


def quantile_table(dataset: xr.Dataset, quantiles: tuple[float, ...] = QUANTILES,
                   times: np.ndarray | None = None) -> xr.Dataset:
    """Quantiles over all paths of each simulated series, at year ends by default."""
    times = year_end_times(dataset) if times is None else times
    available = dataset["quantile"].values
    missing = [q for q in quantiles if not np.any(np.isclose(available, q))]
    if missing:
        raise ValueError(f"quantiles {missing} were not accumulated; available: {list(available)}")
    table = xr.Dataset({name: dataset[f"{name}_quantiles"] for name in SERIES})
    return table.sel(time=times, quantile=list(quantiles), method="nearest")


def claim_probabilities(dataset: xr.Dataset) -> xr.DataArray:
    """P(claim holds by each of its dates), over all paths, labelled ``claim | by date``."""
    labels, values = [], []
    for claim in claims_from_attr(dataset):
        for by in claim.by:
            labels.append(f"{claim.name} | by {by}")
            values.append(float(dataset["claim_crossed"].sel(claim=claim.name, time=np.datetime64(by, "ns"))))
    return xr.DataArray(values, coords={"claim": labels}, dims="claim", name="probability")


def median_crossing(dataset: xr.Dataset, claim_name: str) -> str:
    """The month by which half of all paths have crossed (``after HORIZON`` if they never do)."""
    crossed = dataset["claim_crossed"].sel(claim=claim_name).values
    reached = np.flatnonzero(crossed >= 0.5)
    if reached.size == 0:
        return f"after {np.datetime64(dataset['time'].values[-1], 'M')}"
    return str(np.datetime64(dataset["time"].values[reached[0]], "M"))
