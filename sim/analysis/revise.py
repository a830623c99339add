"""``tokensim revise``: what the figures published between two vintages did to the forecast.

For each fitted figure published after the older vintage (``--from``) and by the newer one (``--to``, default
the whole registry), and each open share the vendor shares published between them imply (the open-source fit's
second look at the share, :func:`sim.calibration.models.vendor_open_shares`, with its own noise): its PIT under
the older vintage's calibration (:mod:`sim.analysis.predictive`; an interval for a figure published as a bound),
i.e. how surprising it was. Then the scenario is simulated on both
vintages' calibrations with the same seed and number of paths, and every claim probability and every year-end
median is compared: the shift, and whether it exceeds Monte Carlo noise (more than twice
``sqrt(se_before^2 + se_after^2)``, with the runs' own Monte Carlo standard errors; both runs share their
random streams, so this overstates the noise of the difference and errs towards "within noise").
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from sim.analysis.forecasts import NoForecast, pit_interval
from sim.analysis.predictive import ENSEMBLE, Target, figure_forecast, origin_of
from sim.analysis.tables import claim_probabilities, year_end_times
from sim.calibration.calibrate import calibrate, last_data_month
from sim.calibration.inputs import CalibrationInputs
from sim.calibration.models import vendor_open_shares
from sim.core.errors import UserError
from sim.core.provenance import provenance
from sim.core.variables import VARIABLES
from sim.data.observations import QUANTITIES, SHARE_QUANTITIES, VOLUME_QUANTITIES, Observation, ObservationSet
from sim.engine.results import to_dataset
from sim.engine.runner import run_paths
from sim.scenarios.scenario import MAX_DRAWS, Scenario

TITLE = "tokensim revise: what the figures published between two vintages did"
#: A shift exceeds Monte Carlo noise when it is more than this many standard errors of the difference.
NOISE_MULTIPLE = 2.0
#: The series an open share implied by vendor shares is a figure of.
SHARE_SERIES = "fs_open_share"
#: The predictive quantiles kept per new figure (published units).
FIGURE_LEVELS = (0.05, 0.5, 0.95)


def published_between(registry: ObservationSet, start: dt.date, end: dt.date | None) -> tuple[Observation, ...]:
    """Fitted figures published after ``start`` and on or before ``end`` (any date after ``start`` if None)."""
    return tuple(o for o in registry.fitted((*VOLUME_QUANTITIES, *SHARE_QUANTITIES))
                 if start < o.published and (end is None or o.published <= end))


def check_revision(inputs: CalibrationInputs, start: dt.date, end: dt.date | None, scenario: Scenario,
                   draws: int | None = None) -> None:
    """Refuse two vintages in the wrong order, no figure between them, a number of paths out of range, or a
    scenario whose horizon or events do not lie after the older vintage's data; before any calibration."""
    registry = inputs.registry
    if draws is not None and not 1 <= draws <= MAX_DRAWS:
        raise UserError(f"must be between 1 and {MAX_DRAWS}, got {draws}", where="--draws")
    if end is not None and end <= start:
        raise UserError(f"--to {end} is not after --from {start}", where="--to")
    if not published_between(registry, start, end):
        dates = sorted({str(o.published) for o in registry.fitted((*VOLUME_QUANTITIES, *SHARE_QUANTITIES))})
        raise UserError(f"no fitted figure was published after {start} and by {end or 'the end of the registry'}; "
                        f"fitted figures were published on {', '.join(dates)}", where="--from/--to")
    older = inputs.vintage(start).observations
    if not older.fitted(VOLUME_QUANTITIES):
        raise UserError(f"nothing had been published by {start} to calibrate on; choose a later --from",
                        where="--from")
    scenario.check_months(last_data_month(older))


@dataclass(frozen=True)
class NewFigure:
    """A figure the newer vintage knows and the older did not: what it is, its value as published (base units)
    and how (exact or a bound), when, and the series it is shown under."""

    target: Target
    value: float
    bound: str
    published: dt.date
    shown_as: str
    unit: str


def new_figures(inputs: CalibrationInputs, start: dt.date, end: dt.date | None) -> tuple[NewFigure, ...]:
    """The fitted figures published between the vintages, then each open share that vendor shares published
    between them imply (a second look at the share, with its own noise)."""
    figures = [NewFigure(Target.of(o), o.value_base, o.bound, o.published, o.series, QUANTITIES[o.quantity])
               for o in published_between(inputs.registry, start, end)]
    older, newer = inputs.vintage(start), inputs.vintage(end)
    known = {label for label, *_ in vendor_open_shares(older.observations, older.priors)}
    by_id = {o.id: o for o in inputs.registry.observations}
    for label, _, share, sd in vendor_open_shares(newer.observations, newer.priors):
        if label in known:
            continue
        parts = [by_id[i] for i in label.split("+")]
        target = Target(SHARE_SERIES, SHARE_QUANTITIES[0], "window_average", parts[0].start, parts[0].end, label=label,
                        noise=sd)
        figures.append(NewFigure(target, share, "", max(o.published for o in parts),
                                 f"{SHARE_SERIES} (implied by vendor shares)", QUANTITIES[SHARE_QUANTITIES[0]]))
    return tuple(figures)


def _read(origin, figures: tuple[NewFigure, ...], seed: int, size: int) -> dict:
    """PIT interval and predictive quantiles (published units) of each new figure under the older vintage."""
    rows = {"pit_lower": [], "pit_upper": [], "quantiles": [], "reason": []}
    for figure in figures:
        forecast = figure_forecast(origin, figure.target, seed=seed, size=size)
        if isinstance(forecast, NoForecast):
            rows["pit_lower"].append(np.nan), rows["pit_upper"].append(np.nan)
            rows["quantiles"].append(np.full(len(FIGURE_LEVELS), np.nan)), rows["reason"].append(forecast.reason)
            continue
        lower, upper = pit_interval(forecast, figure.target.to_scale(figure.value), figure.bound)
        rows["pit_lower"].append(lower), rows["pit_upper"].append(upper)
        rows["quantiles"].append(figure.target.from_scale(forecast.quantiles(FIGURE_LEVELS)))
        rows["reason"].append("")
    return rows


def _simulate(posterior, scenario: Scenario, draws: int, seed: int) -> xr.Dataset:
    scenario.check_months(posterior.attrs["last_data_month"])
    return to_dataset(run_paths(posterior, scenario, draws=draws, seed=seed), scenario, posterior, seed)


def _year_end_medians(dataset: xr.Dataset, times: np.ndarray, suffix: str) -> xr.DataArray:
    """The median (or, with ``suffix="_mc_se"``, its Monte Carlo error) of every variable at ``times``."""
    return xr.concat([dataset[f"{v}_quantiles{suffix}"].sel(quantile=0.5, time=times, method="nearest")
                      .drop_vars("quantile") for v in VARIABLES], dim=pd.Index(list(VARIABLES), name="variable"))


def _shift(before: xr.DataArray, before_se: xr.DataArray, after: xr.DataArray, after_se: xr.DataArray) -> dict:
    noise = np.hypot(before_se, after_se)
    return {"shift": after - before, "exceeds_noise": np.abs(after - before) > NOISE_MULTIPLE * noise}


def revise(inputs: CalibrationInputs, start: dt.date, end: dt.date | None, scenario: Scenario, *,
           draws: int | None = None, seed: int | None = None, size: int = ENSEMBLE,
           log: logging.Logger | None = None) -> xr.Dataset:
    """Calibrate both vintages (or reuse them), read each new figure under the older one, simulate ``scenario``
    on both with the same seed and paths, and compare claims and year-end medians; returns the Dataset."""
    log = log or logging.getLogger("tokensim")
    check_revision(inputs, start, end, scenario, draws)
    seed = scenario.seed if seed is None else seed
    draws = scenario.draws if draws is None else draws
    older, newer = inputs.vintage(start), inputs.vintage(end)
    log.info("revise: calibrating as of %s and as of %s", start, end or "all data")
    before, _ = calibrate(older, log=log)
    after, _ = calibrate(newer, log=log)
    figures = new_figures(inputs, start, end)
    read = _read(origin_of(older, before, scenario), figures, seed, size)
    runs = {"before": _simulate(before, scenario, draws, seed), "after": _simulate(after, scenario, draws, seed)}
    claims = {name: claim_probabilities(ds) for name, ds in runs.items()}
    times = year_end_times(runs["before"])
    medians = {name: _year_end_medians(ds, times, "") for name, ds in runs.items()}
    median_se = {name: _year_end_medians(ds, times, "_mc_se") for name, ds in runs.items()}
    claim_shift = _shift(claims["before"]["probability"], claims["before"]["mc_se"], claims["after"]["probability"],
                         claims["after"]["mc_se"])
    median_shift = _shift(medians["before"], median_se["before"], medians["after"], median_se["after"])
    dataset = xr.Dataset(
        {
            "figure_series": ("figure", [f.shown_as for f in figures]),
            "figure_published": ("figure", [str(f.published) for f in figures]),
            "figure_bound": ("figure", [f.bound for f in figures]),
            "figure_value": ("figure", [f.value for f in figures]),
            "figure_unit": ("figure", [f.unit for f in figures]),
            "pit_lower": ("figure", read["pit_lower"]),
            "pit_upper": ("figure", read["pit_upper"]),
            "predictive": (("figure", "level"), np.array(read["quantiles"]).reshape(len(figures), len(FIGURE_LEVELS))),
            "figure_reason": ("figure", read["reason"]),
            "claim_probability_before": claims["before"]["probability"],
            "claim_probability_before_mc_se": claims["before"]["mc_se"],
            "claim_probability_after": claims["after"]["probability"],
            "claim_probability_after_mc_se": claims["after"]["mc_se"],
            "claim_shift": claim_shift["shift"],
            "claim_exceeds_noise": claim_shift["exceeds_noise"],
            "median_before": medians["before"], "median_before_mc_se": median_se["before"],
            "median_after": medians["after"], "median_after_mc_se": median_se["after"],
            "median_shift": median_shift["shift"], "median_exceeds_noise": median_shift["exceeds_noise"],
        },
        coords={"figure": [f.target.label for f in figures], "level": list(FIGURE_LEVELS)},
    )
    for name, text in LONG_NAMES.items():
        dataset[name].attrs["long_name"] = text
    dataset.attrs.update({
        "title": TITLE, **provenance("sim.revise"),
        "from": str(start), "to": str(end) if end else "all data",
        "scenario": scenario.name, "scenario_sha256": scenario.sha256, "seed": int(seed), "paths": int(draws),
        "predictive_members": int(size),
        "calibration_id_before": before.id, "calibration_id_after": after.id,
        "last_data_month_before": str(before.attrs["last_data_month"]),
        "last_data_month_after": str(after.attrs["last_data_month"]),
        "noise_rule": f"a shift exceeds Monte Carlo noise when |after - before| > {NOISE_MULTIPLE:g} x "
                      "sqrt(mc_se_before^2 + mc_se_after^2)",
        "figure_ids_context": json.dumps([o.id for o in inputs.registry.observations
                                          if start < o.published and (end is None or o.published <= end)
                                          and not any(o.id in f.target.label.split("+") for f in figures)]),
    })
    return dataset


LONG_NAMES = {
    "figure_value": "the figure as published, in base units (a bound's bound)",
    "pit_lower": "lower end of the figure's PIT under the older vintage (F(value); 0 for 'at most')",
    "pit_upper": "upper end of the figure's PIT under the older vintage (F(value); 1 for 'more than')",
    "predictive": "the older vintage's predictive quantiles of the figure, in its published base units",
    "figure_reason": "why the older vintage could not forecast the figure (empty otherwise)",
    "claim_probability_before": "claim probability under the older vintage",
    "claim_probability_after": "claim probability under the newer vintage",
    "claim_shift": "after minus before",
    "claim_exceeds_noise": "the shift exceeds Monte Carlo noise (see noise_rule)",
    "median_before": "year-end median over all paths under the older vintage",
    "median_after": "year-end median over all paths under the newer vintage",
    "median_shift": "after minus before",
    "median_exceeds_noise": "the shift exceeds Monte Carlo noise (see noise_rule)",
}


def figure_frame(dataset: xr.Dataset) -> pd.DataFrame:
    """One row per new figure: its value as published, the older vintage's 5/50/95% predictive and its PIT."""
    rows = []
    for figure in dataset["figure"].values:
        f = dataset.sel(figure=figure)
        bound = str(f["figure_bound"].values)
        lower, upper = float(f["pit_lower"]), float(f["pit_upper"])
        pit = "" if not np.isfinite(lower) else (f"{lower:.3f}" if not bound else f"[{lower:.3f}, {upper:.3f}]")
        p5, p50, p95 = (float(v) for v in f["predictive"].values)
        rows.append({"figure": str(figure), "series": str(f["figure_series"].values),
                     "published": str(f["figure_published"].values),
                     "value": {"lower": "> ", "upper": "<= "}.get(bound, "") + f"{float(f['figure_value']):.4g}",
                     "unit": str(f["figure_unit"].values), "before p5": p5, "before p50": p50, "before p95": p95,
                     "PIT": pit, "note": str(f["figure_reason"].values)})
    return pd.DataFrame(rows).set_index("figure")


def claim_frame(dataset: xr.Dataset) -> pd.DataFrame:
    """Every claim by each of its dates: probability before and after with their Monte Carlo errors, the shift."""
    frame = pd.DataFrame({
        "before": dataset["claim_probability_before"].values,
        "+- before": dataset["claim_probability_before_mc_se"].values,
        "after": dataset["claim_probability_after"].values,
        "+- after": dataset["claim_probability_after_mc_se"].values,
        "shift": dataset["claim_shift"].values,
        "beyond MC noise": np.where(dataset["claim_exceeds_noise"].values, "yes", "no"),
    }, index=pd.Index([str(c) for c in dataset["claim"].values], name="claim"))
    return frame


def median_frame(dataset: xr.Dataset) -> pd.DataFrame:
    """Every year-end median before and after (display units), the ratio, and whether it moved beyond noise."""
    rows = []
    for variable in dataset["variable"].values:
        shown = VARIABLES[str(variable)]
        for time in dataset["time"].values:
            at = dataset.sel(variable=variable, time=time)
            before, after = float(at["median_before"]), float(at["median_after"])
            rows.append({"variable": str(variable), "month": str(np.datetime64(time, "M")), "unit": shown.display_unit,
                         "before": before / shown.display_scale,
                         "+- before": float(at["median_before_mc_se"]) / shown.display_scale,
                         "after": after / shown.display_scale,
                         "+- after": float(at["median_after_mc_se"]) / shown.display_scale,
                         "after / before": after / before if before else np.nan,
                         "beyond MC noise": "yes" if bool(at["median_exceeds_noise"]) else "no"})
    return pd.DataFrame(rows).set_index(["variable", "month"])
