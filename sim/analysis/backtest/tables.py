"""The backtest's scores as tables: mean scores and coverage per method, one row per hindcast in
published units, the long CSV form; and the files a backtest writes, checked before it runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from sim.analysis.backtest.methods import BASELINES, METHODS
from sim.analysis.backtest.metrics import INTERVALS, METRICS
from sim.calibration.fits import SCALES
from sim.core.errors import UserError
from sim.core.outputs import check_outputs
from sim.core.variables import VARIABLES

#: The metrics' names, in order (the columns of every table).
SCORES = tuple(METRICS)


def score_frame(dataset: xr.Dataset) -> pd.DataFrame:
    """Mean CRPS, WIS and interval coverage per method, the printed summary.

    Log (volume) and logit (share) scores are never averaged together. Rows: every hindcast each
    method could make, per scale; then head to head, tokensim and one baseline on exactly the
    hindcasts that baseline could make (the fair comparison: the baselines cannot forecast a series
    with no history, which tokensim does from its priors).
    """
    wis = dataset["wis"]  # defined wherever a method forecasts (its CRPS may not be: a t with 1 df)
    subsets = [(f"all, {scale.name} scale ({'volumes' if scale.name == 'log' else 'open share'})",
                dataset["scale"] == scale.name, None, tuple(METHODS)) for scale in SCALES.values()]
    subsets += [(f"where {baseline} forecasts", dataset["scale"].notnull(), baseline, ("tokensim", baseline))
                for baseline in BASELINES]
    rows = []
    for subset, on_scale, baseline, methods in subsets:
        for method in methods:
            mask = on_scale & wis.sel({"method": baseline or method}).notnull() & wis.sel({"method": method}).notnull()
            picked = dataset.sel({"method": method}).isel(hindcast=np.flatnonzero(mask.values))
            row = {"compared on": subset, "method": method, "n": int(mask.sum())}
            for name in SCORES:
                row[name.replace("covered", "coverage")] = float(picked[name].mean()) if row["n"] else np.nan
            rows.append(row)
    return pd.DataFrame(rows).set_index(["compared on", "method"])


def hindcast_frame(dataset: xr.Dataset) -> pd.DataFrame:
    """One row per hindcast: the truth and tokensim's median and 95% band in published units, each
    method's CRPS, tokensim's coverage flags, and why a baseline could not forecast."""
    rows = []
    for i in range(dataset.sizes["hindcast"]):
        h = dataset.isel(hindcast=i)
        scale = SCALES[str(h["scale"].values)]
        inverse, shown = scale.inverse, VARIABLES[scale.variable]
        unit, factor = shown.display_unit, shown.display_scale
        q = h["log_quantiles"].sel({"method": "tokensim"})
        lo, mid, hi = (float(inverse(q.sel(quantile=level, method="nearest"))) / factor for level in (0.025, 0.5, 0.975))
        flags = "".join("y" if h[f"covered_{round(100 * c)}"].sel({"method": "tokensim"}) == 1 else "-" for c in INTERVALS)
        row = {"as_of": str(h["as_of"].values), "observation": str(h["observation"].values),
               "unit": unit, "truth": float(inverse(h["truth"])) / factor,
               "tokensim p50": mid, "tokensim 95%": f"{lo:.3g}-{hi:.3g}", "in 50/80/95": flags,
               **{f"CRPS {METHODS[m].label}": float(h["crps"].sel({"method": m})) for m in METHODS},
               "series known": "yes" if bool(h["series_known"]) else "no"}
        reasons = {m: str(h["reason"].sel({"method": m}).values) for m in METHODS}
        row["why no baseline"] = "; ".join(f"{METHODS[m].label}: {reason}" for m, reason in reasons.items() if reason)
        rows.append(row)
    return pd.DataFrame(rows).set_index(["as_of", "observation"])


def score_csv(dataset: xr.Dataset) -> pd.DataFrame:
    """The scores in long form, one row per (hindcast, method), for the CSV file."""
    quantiles = dataset["log_quantiles"].to_dataset(dim="quantile")
    quantiles = quantiles.rename({level: f"q{level:g}" for level in quantiles.data_vars})
    merged = xr.merge([dataset[[*SCORES, "reason", "truth"]], quantiles])
    frame = merged.to_dataframe().reset_index()
    return frame[["hindcast", "as_of", "observation", "series", "scale", "published", "lead_days", "method",
                  "truth", *SCORES, *quantiles.data_vars, "reason"]]


def output_paths(out: str | Path) -> tuple[Path, Path, Path]:
    """The .nc, .csv and .png files of a backtest written to ``out``; refuses a bad ``out`` up front."""
    out = Path(out)
    if out.suffix != ".nc":
        raise UserError("the backtest file must end in .nc", where="--out")
    return check_outputs((out, out.with_suffix(".csv"), out.with_suffix(".png")), "--out")
