"""Summaries of a results Dataset: quantile tables, claim probabilities, crossing dates.

All functions take the results Dataset (in memory or opened from netCDF) and return labelled
xarray objects, so a table is a ``.to_dataframe()`` away.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import xarray as xr

from sim.scenario import Claim

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
SERIES = ("daily_tokens", "open_share", "open_adoption")


def year_end_times(dataset: xr.Dataset) -> np.ndarray:
    """The last simulated month of each calendar year."""
    times = dataset["time"].values
    years = times.astype("datetime64[Y]")
    last = np.r_[years[1:] != years[:-1], True]
    return times[last]


def quantile_table(dataset: xr.Dataset, quantiles: tuple[float, ...] = QUANTILES,
                   times: np.ndarray | None = None) -> xr.Dataset:
    """Quantiles across draws of each simulated series, at year ends by default."""
    times = year_end_times(dataset) if times is None else times
    return dataset[list(SERIES)].sel(time=times).quantile(list(quantiles), dim="draw")


def crossed(dataset: xr.Dataset, claim: Claim) -> xr.DataArray:
    """Per draw and month: has the variable gone past the threshold at or before this month?"""
    values = dataset[claim.variable]
    beyond = values > claim.threshold if claim.direction == "above" else values < claim.threshold
    return beyond.cumsum("time") > 0


def claim_probabilities(dataset: xr.Dataset, claims: tuple[Claim, ...]) -> xr.DataArray:
    """P(claim holds by each of its dates): the share of paths that crossed by then."""
    rows = []
    for claim in claims:
        hit = crossed(dataset, claim)
        for by in claim.by:
            month = np.datetime64(by, "ns")
            rows.append((claim.name, str(by), float(hit.sel(time=month).mean("draw"))))
    index = [f"{name} | by {by}" for name, by, _ in rows]
    return xr.DataArray([p for *_, p in rows], coords={"claim": index}, dims="claim", name="probability")


def crossing_times(dataset: xr.Dataset, claim: Claim) -> np.ndarray:
    """First month each path crosses the threshold (NaT where it never does within the horizon)."""
    hit = crossed(dataset, claim).values
    ever = hit.any(axis=1)
    first = hit.argmax(axis=1)
    times = dataset["time"].values[first]
    return np.where(ever, times, np.datetime64("NaT"))


def median_crossing(dataset: xr.Dataset, claim: Claim) -> str:
    """Median first-crossing month, counting paths that never cross as crossing after the horizon."""
    months = crossing_times(dataset, claim).astype("datetime64[M]")
    ordinal = np.where(np.isnat(months), np.inf, months.astype("int64").astype(float))
    middle = np.sort(ordinal)[len(ordinal) // 2]
    if not np.isfinite(middle):
        return f"after {np.datetime64(dataset['time'].values[-1], 'M')}"
    return str(np.datetime64(int(middle), "M"))


def claims_to_attr(claims: tuple[Claim, ...]) -> str:
    """The claims as JSON, to store in a results file's attributes."""
    return json.dumps([{**asdict(c), "by": [str(b) for b in c.by]} for c in claims])


def claims_from_attr(dataset: xr.Dataset) -> tuple[Claim, ...]:
    """The claims a results file was run with."""
    entries = json.loads(dataset.attrs.get("claims", "[]"))
    return tuple(Claim(**{**e, "by": tuple(np.datetime64(b, "M") for b in e["by"])}) for e in entries)
