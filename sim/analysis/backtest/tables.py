"""The backtest's scores as tables: mean scores, coverage and PIT histograms per method (forecasts and nowcasts
apart), one row per hindcast in published units, the long CSV form; and the files a backtest writes, checked
before it runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from sim.analysis.backtest.methods import BASELINES, METHODS
from sim.analysis.backtest.metrics import INTERVALS, METRICS
from sim.analysis.forecasts import pit_histogram
from sim.calibration.fits import SCALES
from sim.core.errors import UserError
from sim.core.outputs import check_outputs
from sim.core.variables import VARIABLES

#: The metrics' names, in order (the columns of the long table).
SCORES = tuple(METRICS)
#: Bins of the PIT histograms (few hindcasts: five bins of 0.2).
PIT_BINS = 5
#: Which hindcasts a table row averages over: the forecasts (positive lead) and the nowcasts apart.
LEADS = {"forecasts (lead > 0)": True, "nowcasts (lead <= 0)": False}


def _mean(values: xr.DataArray) -> float:
    values = values.values[np.isfinite(values.values)]
    return float(values.mean()) if values.size else np.nan


def _row(dataset: xr.Dataset, method: str, picked: np.ndarray) -> dict:
    """Mean scores of one method over the picked hindcasts: exact figures (CRPS, WIS, coverage) and bounds
    (censored CRPS) counted apart."""
    chosen = dataset.sel({"method": method}).isel(hindcast=np.flatnonzero(picked))
    exact = chosen["crps"].notnull() | chosen["wis"].notnull()
    row = {"n": int(exact.sum()), "crps": _mean(chosen["crps"]), "wis": _mean(chosen["wis"])}
    row.update({f"coverage_{round(100 * c)}": _mean(chosen[f"covered_{round(100 * c)}"]) for c in INTERVALS})
    row.update({"n bounds": int(chosen["censored_crps"].notnull().sum()),
                "censored crps": _mean(chosen["censored_crps"])})
    return row


def score_frame(dataset: xr.Dataset) -> pd.DataFrame:
    """Mean scores and interval coverage per method, the printed summary.

    Forecasts (positive lead) and nowcasts (figures measured by the origin, published after it) are never
    averaged together, nor log (volume) and logit (share) scores, nor exact figures and bounds. Rows: every
    hindcast each method could make, per lead and scale; then head to head, tokensim and one baseline on
    exactly the forecasts that baseline could make (the fair comparison: the baselines cannot forecast a
    series with fewer than two figures, which tokensim does from its priors).
    """
    defined = dataset["wis"].notnull() | dataset["censored_crps"].notnull()  # a method forecast this hindcast
    forecast = dataset["forecast"].values.astype(bool)
    rows = []
    for lead, wanted in LEADS.items():
        for scale in SCALES.values():
            on = (forecast == wanted) & (dataset["scale"].values == scale.name)
            if not on.any():
                continue
            subset = f"{lead}, {scale.name} scale"
            for method in METHODS:
                rows.append({"compared on": subset, "method": method,
                             **_row(dataset, method, on & defined.sel({"method": method}).values)})
    for baseline in BASELINES:
        both = forecast & defined.sel({"method": baseline}).values & defined.sel({"method": "tokensim"}).values
        for method in ("tokensim", baseline):
            rows.append({"compared on": f"forecasts where {baseline} forecasts", "method": method,
                         **_row(dataset, method, both)})
    return pd.DataFrame(rows).set_index(["compared on", "method"])


def pit_frame(dataset: xr.Dataset, bins: int = PIT_BINS) -> pd.DataFrame:
    """PIT histograms per method and lead (share of PIT mass per bin; a bound's interval spread over the bins it
    covers): a calibrated method puts 1/bins in every bin; mass at the ends means intervals too narrow, in the
    middle too wide."""
    forecast = dataset["forecast"].values.astype(bool)
    rows = []
    for lead, wanted in LEADS.items():
        for method in METHODS:
            picked = dataset.sel({"method": method}).isel(hindcast=np.flatnonzero(forecast == wanted))
            lower, upper = picked["pit_lower"].values, picked["pit_upper"].values
            n = int(np.sum(np.isfinite(lower)))
            mass = pit_histogram(lower, upper, bins) if n else np.full(bins, np.nan)
            rows.append({"hindcasts": lead, "method": method, "n": n,
                         **{f"{k / bins:.1f}-{(k + 1) / bins:.1f}": m for k, m in enumerate(mass)}})
    return pd.DataFrame(rows).set_index(["hindcasts", "method"])


def _pit_text(lower: float, upper: float) -> str:
    if not np.isfinite(lower):
        return ""
    return f"{lower:.2f}" if upper - lower < 1e-12 else f"[{lower:.2f}, {upper:.2f}]"


def hindcast_frame(dataset: xr.Dataset) -> pd.DataFrame:
    """One row per hindcast: its lead, the truth and tokensim's median and 95% band in published units,
    tokensim's coverage flags and PIT, each method's CRPS (censored CRPS for a bound), and why a baseline could
    not forecast."""
    rows = []
    for i in range(dataset.sizes["hindcast"]):
        h = dataset.isel(hindcast=i)
        scale = SCALES[str(h["scale"].values)]
        inverse, shown = scale.inverse, VARIABLES[scale.variable]
        factor = shown.display_scale
        q = h["log_quantiles"].sel({"method": "tokensim"})
        lo, mid, hi = (float(inverse(q.sel(quantile=level, method="nearest"))) / factor
                       for level in (0.025, 0.5, 0.975))
        bound = str(h["bound"].values)
        tokensim = h.sel({"method": "tokensim"})
        flags = "" if bound else "".join("y" if tokensim[f"covered_{round(100 * c)}"] == 1 else "-"
                                         for c in INTERVALS)
        row = {"as_of": str(h["as_of"].values), "observation": str(h["observation"].values),
               "lead (days)": int(h["lead_days"]), "unit": shown.display_unit,
               "truth": {"lower": "> ", "upper": "<= "}.get(bound, "") + f"{float(inverse(h['truth'])) / factor:.3g}",
               "tokensim p50": mid, "tokensim 95%": f"{lo:.3g}-{hi:.3g}", "in 50/80/95": flags,
               "PIT tokensim": _pit_text(float(tokensim["pit_lower"]), float(tokensim["pit_upper"])),
               **{f"CRPS {METHODS[m].label}": float(h["censored_crps" if bound else "crps"].sel({"method": m}))
                  for m in METHODS},
               "series known": "yes" if bool(h["series_known"]) else "no"}
        reasons = {m: str(h["reason"].sel({"method": m}).values) for m in METHODS}
        said = list(dict.fromkeys(reason for reason in reasons.values() if reason))
        row["why no baseline"] = "; ".join(
            f"{', '.join(METHODS[m].label for m, r in reasons.items() if r == reason)}: {reason}" for reason in said)
        rows.append(row)
    return pd.DataFrame(rows).set_index(["as_of", "observation"])


def score_csv(dataset: xr.Dataset) -> pd.DataFrame:
    """The scores in long form, one row per (hindcast, method), for the CSV file."""
    quantiles = dataset["log_quantiles"].to_dataset(dim="quantile")
    quantiles = quantiles.rename({level: f"q{level:g}" for level in quantiles.data_vars})
    merged = xr.merge([dataset[[*SCORES, "reason", "truth"]], quantiles])
    frame = merged.to_dataframe().reset_index()
    return frame[["hindcast", "as_of", "observation", "series", "scale", "published", "bound", "lead_days",
                  "forecast", "method", "truth", *SCORES, *quantiles.data_vars, "reason"]]


def output_paths(out: str | Path) -> tuple[Path, Path, Path]:
    """The .nc, .csv and .png files of a backtest written to ``out``; refuses a bad ``out`` up front."""
    out = Path(out)
    if out.suffix != ".nc":
        raise UserError("the backtest file must end in .nc", where="--out")
    return check_outputs((out, out.with_suffix(".csv"), out.with_suffix(".png")), "--out")
