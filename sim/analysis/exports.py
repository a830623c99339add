"""What ``tokensim summarize`` writes, in forms other tools load as they are.

- ``table``: aligned text for the terminal;
- ``csv``: one tidy long table, ``variable, time, quantile, value, mc_se`` (values and their Monte Carlo
  standard errors in the variable's units: tokens per day, shares as fractions), or with ``claims`` the
  claims table;
- ``json``: one object, the same records, numbers as JSON numbers (integers stay integers);
- ``xlsx``: a workbook with the quantiles, the claims and the file's attributes, one sheet each;
- ``hubverse``: a forecast-hub table (``scenario, reference_date, target, horizon, target_end_date,
  output_type, output_type_id, value``) of every month's quantiles and a sample of paths.

A :class:`Selection` says which months: year ends by default, any months (``months``), or the mean of
each complete calendar year (``annual_mean``, from the paths kept in the file). Month quantiles come
from the summaries over *all* simulated paths; year means need each path, so they come from the kept paths.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sim.core.errors import UserError
from sim.core.variables import VARIABLES

if TYPE_CHECKING:  # the command line reads FORMAT_NAMES before it needs pandas or xarray
    import pandas as pd
    import xarray as xr

FORMAT_NAMES = ("table", "csv", "json", "xlsx", "hubverse")


@dataclass(frozen=True)
class Selection:
    """Which numbers to export: ``months`` ("YYYY-MM"; default year ends), or calendar-year means; the claims
    instead of the quantiles; how many sample paths a hubverse table carries."""

    months: tuple[str, ...] = ()
    annual_mean: bool = False
    claims: bool = False
    samples: int = 100


def _months(dataset: xr.Dataset, months: tuple[str, ...]) -> np.ndarray:
    from sim.analysis.tables import year_end_times

    times = dataset["time"].values
    if not months:
        return year_end_times(dataset)
    wanted = np.array([np.datetime64(m, "M") for m in months])
    present = times.astype("datetime64[M]")
    missing = [str(m) for m in wanted if m not in present]
    if missing:
        raise UserError(f"{', '.join(missing)} not simulated; this file covers {present[0]}..{present[-1]}"
                        + (f" every {int(present[1] - present[0])} months" if len(present) > 1 else ""), where="--at")
    return np.array([times[np.flatnonzero(present == m)[0]] for m in wanted])


def annual_means(dataset: xr.Dataset) -> xr.Dataset:
    """Each kept path's mean of each variable over every complete calendar year of the run, ``(draw, year)``."""
    import xarray as xr

    months = dataset["time"].values.astype("datetime64[M]")
    years = months.astype("datetime64[Y]")
    complete = [year for year in np.unique(years)
                if np.all(np.isin(np.arange(np.datetime64(year, "M"), np.datetime64(year, "M") + 12), months))]
    if not complete:
        raise UserError("no complete calendar year is simulated at a monthly step", where="--annual-mean")
    means = {name: xr.concat([dataset[name].isel(time=np.flatnonzero(years == year)).mean("time")
                              for year in complete], dim="year") for name in VARIABLES}
    return xr.Dataset(means).assign_coords(year=[str(year) for year in complete])


def quantile_long(dataset: xr.Dataset, selection: Selection = Selection()) -> pd.DataFrame:
    """The tidy table ``variable, time, quantile, value, mc_se``: every stored quantile (2.5% to 97.5%) over all
    paths at the selected months (``time`` as "YYYY-MM"), or of each calendar year's mean over the kept paths
    (``time`` as "YYYY"), with its Monte Carlo standard error (:mod:`sim.engine.mc_error`)."""
    import pandas as pd

    from sim.engine.mc_error import quantile_se

    levels = dataset["quantile"].values
    if selection.annual_mean:
        if selection.months:
            raise UserError("give either months (--at) or --annual-mean, not both", where="--annual-mean")
        means = annual_means(dataset)
        rows = []
        for name in VARIABLES:
            effective = kept_effective_paths(dataset, name)
            for year in means["year"].values:
                values = means[name].sel(year=year).values
                quantile = lambda q, values=values: np.quantile(values, q)  # noqa: E731
                rows += [(name, year, float(q), float(v), float(se)) for q, v, se in
                         zip(levels, quantile(levels), quantile_se(quantile, levels, effective))]
    else:
        times = _months(dataset, selection.months)
        rows = [(name, str(np.datetime64(time, "M")), float(q), float(value), float(se))
                for name in VARIABLES for time in times
                for q, value, se in zip(levels, dataset[f"{name}_quantiles"].sel(time=time).values,
                                        dataset[f"{name}_quantiles_mc_se"].sel(time=time).values)]
    return pd.DataFrame(rows, columns=["variable", "time", "quantile", "value", "mc_se"])


#: The per-path variables that say which posterior draw a path of each simulated variable rests on.
CLUSTERS = {"daily_tokens": ("family", "posterior_draw"), "open_share": ("open_model", "open_posterior_draw"),
            "open_adoption": ("open_model", "open_posterior_draw")}


def kept_effective_paths(dataset: xr.Dataset, variable: str) -> float:
    """The effective number of independent kept paths of ``variable``, counting the paths that rest on one
    posterior draw as one (as the run's own Monte Carlo errors do)."""
    from sim.engine.mc_error import cluster_sizes, effective_paths

    model, draw = CLUSTERS[variable]
    labels = np.char.add(np.char.add(dataset[model].values.astype(str), ":"), dataset[draw].values.astype(str))
    return effective_paths(cluster_sizes(labels))


def _text(dataset: xr.Dataset, selection: Selection) -> str:
    from sim.analysis.tables import QUANTILES, claims_frame, format_text

    if selection.claims:
        return claims_frame(dataset).to_string(index=False)
    if not selection.months and not selection.annual_mean:
        return format_text(dataset)
    frame = quantile_long(dataset, selection)
    frame = frame[np.isclose(frame["quantile"].values[:, None], QUANTILES).any(axis=1)]
    wide = frame.pivot_table(index=["variable", "time"], columns="quantile", values="value", sort=False)
    errors = frame.pivot_table(index=["variable", "time"], columns="quantile", values="mc_se", sort=False)
    what = ("means of each calendar year over the " f"{dataset.sizes['draw']:,} paths kept in the file"
            if selection.annual_mean else "months, over all simulated paths")
    lines = [f"Scenario '{dataset.attrs.get('scenario')}': quantiles of {what}", "",
             f"{'variable':<15}{'time':<9}" + "".join(f"{f'p{round(q * 100)}':>10}" for q in wide.columns)]
    for (variable, time), row in wide.iterrows():
        shown = VARIABLES[variable]
        cells = "".join(f"{v / shown.display_scale:>10.3g}" for v in row.values)
        error = float(errors.loc[(variable, time)].max()) / shown.display_scale
        lines.append(f"{variable:<15}{time:<9}{cells}  {shown.display_unit} (MC se <= {error:.2g})")
    return "\n".join(lines)


def _csv(dataset: xr.Dataset, selection: Selection) -> str:
    from sim.analysis.tables import claims_frame

    frame = claims_frame(dataset) if selection.claims else quantile_long(dataset, selection)
    return frame.to_csv(index=False)


def _plain(value):
    """numpy scalars as the Python numbers (or booleans) they hold, for JSON."""
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    raise TypeError(f"not serialisable: {type(value).__name__}")


def _header(dataset: xr.Dataset) -> dict:
    attrs = dataset.attrs
    return {"scenario": attrs.get("scenario"), "seed": _plain(attrs["seed"]) if "seed" in attrs else None,
            "calibration_id": attrs.get("calibration_id"), "draws": _plain(attrs.get("paths_simulated", 0)),
            "paths_kept": _plain(attrs.get("paths_kept", dataset.sizes.get("draw", 0)))}


def _json(dataset: xr.Dataset, selection: Selection) -> str:
    from sim.analysis.tables import claims_frame

    document = {**_header(dataset), "claims": claims_frame(dataset).to_dict(orient="records")}
    if not selection.claims:
        document["quantiles"] = quantile_long(dataset, selection).to_dict(orient="records")
    return json.dumps(document, indent=2, default=_plain, allow_nan=False)


def _xlsx(dataset: xr.Dataset, selection: Selection) -> bytes:
    import pandas as pd

    from sim.analysis.tables import claims_frame

    about = pd.DataFrame([(name, value if isinstance(value, str) else _plain(value) if np.isscalar(value)
                           else str(value)) for name, value in dataset.attrs.items()], columns=["attribute", "value"])
    units = pd.DataFrame([(name, v.units, v.long_name) for name, v in VARIABLES.items()],
                         columns=["variable", "units", "long_name"])
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as workbook:
        quantile_long(dataset, selection).to_excel(workbook, sheet_name="quantiles", index=False)
        claims_frame(dataset).to_excel(workbook, sheet_name="claims", index=False)
        units.to_excel(workbook, sheet_name="variables", index=False)
        about.to_excel(workbook, sheet_name="attributes", index=False)
    return buffer.getvalue()


def hubverse_table(dataset: xr.Dataset, samples: int = 100) -> pd.DataFrame:
    """Every month's stored quantiles (``output_type = "quantile"``, ``output_type_id`` the level) and
    ``samples`` kept paths (``"sample"``, ``output_type_id`` the path's index in the run), in the layout of
    hubverse model-output files. ``horizon`` counts months from ``reference_date``, the first month after the
    last fitted data (negative: months the data already cover)."""
    import pandas as pd

    reference = np.datetime64(dataset.attrs["last_data_month"], "M") + 1
    months = dataset["time"].values.astype("datetime64[M]")
    horizons = (months - reference).astype(int)
    frames = []
    for name in VARIABLES:
        quantiles = dataset[f"{name}_quantiles"]
        frames.append(pd.DataFrame({
            "target": name, "horizon": np.tile(horizons, quantiles.sizes["quantile"]),
            "target_end_date": np.tile(months.astype(str), quantiles.sizes["quantile"]),
            "output_type": "quantile",
            "output_type_id": np.repeat(quantiles["quantile"].values, len(months)).astype(str),
            "value": quantiles.transpose("quantile", "time").values.ravel()}))
        kept = dataset[name].isel(draw=slice(0, min(samples, dataset.sizes["draw"])))
        frames.append(pd.DataFrame({
            "target": name, "horizon": np.tile(horizons, kept.sizes["draw"]),
            "target_end_date": np.tile(months.astype(str), kept.sizes["draw"]),
            "output_type": "sample", "output_type_id": np.repeat(kept["draw"].values, len(months)).astype(str),
            "value": kept.transpose("draw", "time").values.ravel()}))
    table = pd.concat(frames, ignore_index=True)
    table.insert(0, "reference_date", str(reference))
    table.insert(0, "scenario", str(dataset.attrs.get("scenario", "")))
    return table


def _hubverse(dataset: xr.Dataset, selection: Selection) -> str:
    if selection.claims or selection.months or selection.annual_mean:
        raise UserError("a hubverse table holds every month's quantiles and samples; --claims, --at and "
                        "--annual-mean do not apply", where="--format hubverse")
    return hubverse_table(dataset, selection.samples).to_csv(index=False)


@dataclass(frozen=True)
class Export:
    """One output format: how it renders a results Dataset, the file suffix it writes, and whether it is binary
    (and so must go to a file)."""

    render: Callable[[xr.Dataset, Selection], str | bytes]
    suffix: str
    binary: bool = False


EXPORTS: dict[str, Export] = {
    "table": Export(_text, ".txt"),
    "csv": Export(_csv, ".csv"),
    "json": Export(_json, ".json"),
    "xlsx": Export(_xlsx, ".xlsx", binary=True),
    "hubverse": Export(_hubverse, ".csv"),
}
assert tuple(EXPORTS) == FORMAT_NAMES
