"""The ranked drivers of an analysis's Dataset: as a table, as text, and the top drivers of a claim."""

from __future__ import annotations

import numpy as np
import xarray as xr

from sim.core.errors import UserError


def ranking_frame(dataset: xr.Dataset):
    """The ranked table: per target (in dataset order), factors by decreasing ST, with intervals."""
    import pandas as pd

    rows = []
    for target in dataset["target"].values:
        one = dataset.sel(target=target)
        order = np.argsort(-np.nan_to_num(one["ST"].values, nan=-np.inf), kind="stable")
        for rank, position in enumerate(order, start=1):
            factor = one.isel(factor=position)
            rows.append({"target": str(one["target_label"].values), "rank": rank,
                         "factor": str(factor["factor_label"].values),
                         "ST": float(factor["ST"]), "ST_conf": float(factor["ST_conf"]),
                         "S1": float(factor["S1"]), "S1_conf": float(factor["S1_conf"]),
                         "noise_floor": float(one["noise_floor"]) if "noise_floor" in one else np.nan,
                         "claim": str(one["claim"].values), "date": str(one["date"].values)})
    return pd.DataFrame(rows)


def top_drivers(dataset: xr.Dataset, claim: str, date: str, n: int = 3) -> list[tuple[str, float, float]]:
    """The ``n`` factors with the largest ST for ``claim`` by ``date`` (``"YYYY-MM"``): (label, ST, ST_conf)."""
    mask = (dataset["claim"] == claim) & (dataset["date"] == str(date)) & (dataset["target_kind"] == "claim")
    if not bool(mask.any()):
        known = sorted({f"{c} by {d}" for c, d, k in zip(dataset["claim"].values, dataset["date"].values,
                                                        dataset["target_kind"].values) if k == "claim"})
        raise UserError(f"no claim {claim!r} by {date} in this analysis; known: {', '.join(known)}")
    return _ranked(dataset, mask, n)


def median_drivers(dataset: xr.Dataset, date: str, n: int = 3) -> list[tuple[str, float, float]]:
    """The ``n`` factors with the largest ST for the median daily tokens in ``date`` (``"YYYY-MM"``), or none
    when the analysis did not compute it."""
    mask = (dataset["target_kind"] == "median") & (dataset["date"] == str(date))
    return _ranked(dataset, mask, n) if bool(mask.any()) else []


def _ranked(dataset: xr.Dataset, mask: xr.DataArray, n: int) -> list[tuple[str, float, float]]:
    one = dataset.isel(target=int(np.flatnonzero(mask.values)[0]))
    st = one["ST"].values
    order = [i for i in np.argsort(-np.nan_to_num(st, nan=-np.inf), kind="stable") if np.isfinite(st[i])]
    return [(str(one["factor_label"].values[i]), float(st[i]), float(one["ST_conf"].values[i])) for i in order[:n]]


def format_ranking(dataset: xr.Dataset, top: int | None = None) -> str:
    """The ranked table as text: per target, factors by ST with 95% intervals."""
    frame = ranking_frame(dataset)
    lines = []
    for target, group in frame.groupby("target", sort=False):
        one = dataset.isel(target=list(dataset["target_label"].values).index(target))
        header = f"\n{target}: mean over the design {float(one['output_mean']):.3g}"
        if np.all(np.isnan(group["ST"])):
            lines.append(header + ", constant over the design: nothing to rank")
            continue
        lines.append(header + f", noise floor {float(one['noise_floor']):.3f}")
        width = max(len(name) for name in frame["factor"])
        lines.append(f"  {'rank':>4}  {'factor':<{width}}  {'ST (95% CI)':>14}  {'S1 (95% CI)':>14}")
        for row in (group if top is None else group.head(top)).itertuples():
            lines.append(f"  {row.rank:>4}  {row.factor:<{width}}  {row.ST:6.3f} +-{row.ST_conf:5.3f}  "
                         f"{row.S1:6.3f} +-{row.S1_conf:5.3f}")
    return "\n".join(lines)


def format_pawn(dataset: xr.Dataset, n: int = 3) -> str:
    """Per target, the ``n`` path quantities with the largest PAWN median, and the dummy's value."""
    if "pawn_median" not in dataset:
        return ""
    lines = []
    labels = dict(zip(dataset["quantity"].values, dataset["quantity_label"].values))
    for target in dataset["target"].values:
        one = dataset["pawn_median"].sel(target=target)
        label = str(dataset["target_label"].sel(target=target).values)
        if not np.any(np.isfinite(one.values)):
            lines.append(f"  {label}: constant over the paths")
            continue
        real = one.drop_sel(quantity="dummy")
        order = np.argsort(-np.nan_to_num(real.values, nan=-np.inf), kind="stable")[:n]
        tops = "; ".join(f"{labels[real['quantity'].values[i]]} {float(real.values[i]):.2f}" for i in order)
        lines.append(f"  {label}: {tops} (dummy {float(one.sel(quantity='dummy')):.2f})")
    return "\n".join(lines)
