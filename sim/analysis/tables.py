"""Quantile tables and claim probabilities of a results Dataset, as labelled xarray objects and as
text, CSV and JSON.

They read the summary variables every results Dataset carries (``<variable>_quantiles``,
``claim_probability`` and ``claim_first_passage``, computed over all simulated paths, even those a large
run did not keep, each probability with its Monte Carlo standard error), so a table is a
``.to_dataframe()`` away.
"""

from __future__ import annotations


import numpy as np
import xarray as xr

from sim.core.variables import VARIABLES
from sim.engine.results import claims_from_attr
from sim.scenarios.scenario import KIND_WORDS

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
SERIES = tuple(VARIABLES)


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


def claim_label(claim, by) -> str:
    """How a claim on one date is named in tables: ``claim | on date`` (``| at some time by date`` for a
    first-passage claim)."""
    return f"{claim.name} | {KIND_WORDS[claim.kind]} {by}"


def claim_probabilities(dataset: xr.Dataset) -> xr.Dataset:
    """P(claim holds on each of its dates) over all paths and its Monte Carlo standard error, labelled by
    :func:`claim_label`."""
    labels, values, errors = [], [], []
    for claim in claims_from_attr(dataset):
        for by in claim.by:
            at = {"claim": claim.name, "time": np.datetime64(by, "ns")}
            labels.append(claim_label(claim, by))
            values.append(float(dataset["claim_probability"].sel(at)))
            errors.append(float(dataset["claim_probability_mc_se"].sel(at)))
    return xr.Dataset({"probability": ("claim", values), "mc_se": ("claim", errors)}, coords={"claim": labels})


def median_crossing(dataset: xr.Dataset, claim_name: str) -> str:
    """The month by which half of all paths have first crossed the claim's threshold (``after HORIZON`` if
    they never do)."""
    crossed = dataset["claim_first_passage"].sel(claim=claim_name).values
    reached = np.flatnonzero(crossed >= 0.5)
    if reached.size == 0:
        return f"after {np.datetime64(dataset['time'].values[-1], 'M')}"
    return str(np.datetime64(dataset["time"].values[reached[0]], "M"))


def quantile_frame(dataset: xr.Dataset):
    """The year-end quantile table as a pandas DataFrame (rows: variable x time; columns: quantiles)."""
    table = quantile_table(dataset)
    frame = table.to_dataframe().reset_index().melt(id_vars=["quantile", "time"], value_vars=list(SERIES),
                                                     var_name="variable")
    frame = frame.pivot_table(index=["variable", "time"], columns="quantile", values="value")
    frame.columns = [f"p{round(q * 100)}" for q in frame.columns]
    return frame


def claims_frame(dataset: xr.Dataset):
    """Each claim by each date: its kind, probability and Monte Carlo standard error, and the claim's median
    first-crossing month."""
    import pandas as pd

    probabilities = claim_probabilities(dataset)
    rows = []
    for claim in claims_from_attr(dataset):
        crossing = median_crossing(dataset, claim.name)
        for by in claim.by:
            found = probabilities.sel(claim=claim_label(claim, by))
            rows.append({"claim": claim.name, "variable": claim.variable, "kind": claim.kind,
                         "condition": f"{'>' if claim.direction == 'above' else '<'} {claim.threshold:g}",
                         "by": str(by), "probability": float(found["probability"]), "mc_se": float(found["mc_se"]),
                         "median_crossing": crossing})
    return pd.DataFrame(rows)


#: The variables whose claims depend on the structural variant of the open-source model.
OPEN_VARIABLES = ("open_share", "open_adoption")


def claims_by_open_model(dataset: xr.Dataset):
    """Each claim on an open-source variable by each date, under each variant of the open-source model side by
    side: the share of the kept paths of that variant in which it holds, with its Monte Carlo error (paths on
    one posterior draw counted once)."""
    import pandas as pd

    from sim.engine.mc_error import cluster_sizes, effective_paths, probability_se

    rows = []
    times = dataset["time"].values.astype("datetime64[M]")
    for claim in claims_from_attr(dataset):
        if claim.variable not in OPEN_VARIABLES:
            continue
        holds = claim.holds(dataset[claim.variable].values)
        for variant in dict.fromkeys(dataset["open_model"].values.astype(str)):
            rows_of = dataset["open_model"].values.astype(str) == variant
            effective = effective_paths(cluster_sizes(dataset["open_posterior_draw"].values[rows_of]))
            for by in claim.by:
                p = float(holds[rows_of, int(np.flatnonzero(times == by)[0])].mean())
                rows.append({"claim": claim.name, "by": str(by), "open model": variant, "paths": int(rows_of.sum()),
                             "probability": p, "mc_se": float(probability_se(np.array(p), effective))})
    return pd.DataFrame(rows)


def format_text(dataset: xr.Dataset) -> str:
    """The quantile table and the claims as aligned text for the terminal."""
    frame = quantile_frame(dataset)
    lines = [f"Scenario '{dataset.attrs.get('scenario')}' ({dataset.attrs.get('paths_simulated')} paths, seed "
             f"{dataset.attrs.get('seed')}, calibration {str(dataset.attrs.get('calibration_id'))[:12]})", ""]
    header = f"{'variable':<15}{'month':<9}" + "".join(f"{f'p{round(q * 100)}':>10}" for q in QUANTILES)
    lines += [header, "-" * len(header)]
    for (variable, time), row in frame.iterrows():
        shown = VARIABLES[variable]
        cells = "".join(f"{value / shown.display_scale:>10.1f}" if shown.display_unit == "%"
                        else f"{value / shown.display_scale:>10.3g}" for value in row.values)
        lines.append(f"{variable:<15}{str(np.datetime64(time, 'M')):<9}{cells}  {shown.display_unit}")
    claims = claims_frame(dataset)
    if len(claims):
        lines += ["", "Claims (P = share of paths in which the claim holds: on the date, or at some time by then; "
                      "+- its Monte Carlo standard error; the median first crossing counts paths that never cross "
                      "as later than the horizon)"]
        for row in claims.itertuples():
            lines.append(f"  P({row.variable} {row.condition} {KIND_WORDS[row.kind]} {row.by}) = "
                         f"{row.probability:6.1%} +- {row.mc_se:.1%}   [{row.claim}; median first crossing "
                         f"{row.median_crossing}]")
        variants = claims_by_open_model(dataset)
        if len(variants):
            lines += ["", "Under each variant of the open-source model (kept paths):"]
            for (claim, by), group in variants.groupby(["claim", "by"], sort=False):
                cells = "; ".join(f"{row['open model']} {row['probability']:.1%} +- {row['mc_se']:.1%}"
                                  for _, row in group.iterrows())
                lines.append(f"  {claim} on {by}: {cells}")
    return "\n".join(lines)
