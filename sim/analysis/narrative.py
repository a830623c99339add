"""Claims in words: a plain-language paragraph per claim, and when paths cross.

A results Dataset carries ``claim_probability(claim, time)``, the share of all simulated paths in which
the claim holds in each month as its kind reads it (beyond the threshold on that date, or at some time
by then), with its Monte Carlo standard error, and ``claim_first_passage(claim, time)``, the share that
have crossed the threshold by each month: the cumulative distribution of the first-crossing month
(paths that never cross within the horizon are its missing mass), whose increments are the
crossing-date distribution. This module turns them into

- :func:`crossing_distribution` (the increments, per calendar year; both are drawn by
  :func:`sim.plots.claims.crossing_chart`), and
- :func:`claim_paragraph` (what an analyst would write: the probability by each date, the median
  crossing month or "not within the horizon", how much of it is the prior rather than the data, and
  the assumption that moves it most according to the scenario's sensitivity results, if computed).

Wording is honest by construction: where a claim can only come true if one assumed parameter is
large enough (eventual adopters ``m`` for adoption), the paragraph compares the probability of that
under the prior with the calibrated paths, and says when the published figures barely move it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from sim.analysis.tables import median_crossing
from sim.core.variables import VARIABLES
from sim.curves.families import anchor_levels
from sim.curves.open_source import OPEN_DERIVED, OPEN_PARAMETERS
from sim.data.distributions import Distribution
from sim.scenarios.scenario import KIND_WORDS, Claim

#: How a claim's state reads, by kind and direction: on the date, or at some time by then.
STATES = {"at_date": {"above": "is above", "below": "is below"},
          "first_passage": {"above": "passes", "below": "falls below"}}
#: Below this change (in probability) the published figures are said to "barely move" a bound.
BARELY = 0.10
PRIOR_SAMPLES = 20_000


@dataclass(frozen=True)
class Bound:
    """The assumed parameter that caps a variable in the long run.

    A path can stay above a threshold only if its bound is above it (the AR(1) deviations and events
    aside), so P(bound > threshold) under the prior versus in the calibrated paths shows how much of
    a claim's probability the data decide. ``from_paths`` reads the bound of every kept path;
    ``from_prior`` samples it from the prior distributions (calibration priors, replaced by the
    scenario's assumptions), given the kept paths for anything the data pin. ``other_caps``: per-path
    variables of other bounds a scenario may add, and the sentence that says the comparison omits them.
    """

    name: str
    description: str
    parameters: tuple[str, ...]
    from_paths: Callable[[xr.Dataset], np.ndarray]
    from_prior: Callable[[dict[str, Distribution], xr.Dataset, np.random.Generator], np.ndarray]
    other_caps: tuple[tuple[str, str], ...] = ()


def _ceiling_paths(dataset: xr.Dataset) -> np.ndarray:
    """Each kept path's volume ceiling; the unbounded exponential family has none (infinite)."""
    return np.nan_to_num(dataset["ceiling"].values, nan=np.inf)


def _ceiling_prior(priors: dict[str, Distribution], dataset: xr.Dataset, rng: np.random.Generator) -> np.ndarray:
    """The ceiling prior as the model states it: the 2025-04 level (which the data pin: taken from each
    kept path) times one plus a headroom drawn from its prior; unbounded paths stay unbounded."""
    level = anchor_levels({"v_ref": dataset["v_ref"].values, "growth": dataset["growth"].values})[1]
    ceiling = level * (1.0 + priors["ceiling_headroom"].sample(rng, level.shape))
    return np.where(np.isfinite(_ceiling_paths(dataset)), ceiling, np.inf)


def _open_prior(priors: dict[str, Distribution], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Draws of the open-source parameters from their priors (a scenario's assumptions replacing them), kept
    where adopters make at least the share of calls that goes open, as the model truncates them; with the
    eventual adopters ``m`` and usage ceiling ``u_max`` they imply."""
    draws = {name: priors[name].sample(rng, PRIOR_SAMPLES) for name in OPEN_PARAMETERS}
    kept = draws["adoption_2025h1"] ** draws["call_weight"] > draws["share_2025h1"]
    draws = {name: values[kept] for name, values in draws.items()}
    return {**draws, **{name: derive(draws) for name, derive in OPEN_DERIVED.items()}}


#: The bound of each variable a claim can be about (only for claims of the "above" kind).
BOUNDS: dict[str, Bound] = {
    "open_adoption": Bound(
        "m", "m, the share of enterprises that eventually adopt", ("adoption_2025h1", "adoption_headroom"),
        lambda ds: ds["m"].values,
        lambda pr, ds, rng: _open_prior(pr, rng)["m"]),
    "open_share": Bound(
        "m^gamma x u_max", "m^gamma x u_max, the calls of eventual adopters times the share of them that goes open",
        ("adoption_2025h1", "adoption_headroom", "usage_headroom", "share_2025h1", "call_weight"),
        lambda ds: ds["m"].values ** ds["call_weight"].values * ds["u_max"].values,
        lambda pr, ds, rng: (lambda d: d["m"] ** d["call_weight"] * d["u_max"])(_open_prior(pr, rng))),
    "daily_tokens": Bound(
        "the ceiling", "the volume ceiling (the level the growth curve saturates at)", ("ceiling_headroom",),
        _ceiling_paths, _ceiling_prior,
        (("compute_utilisation", "This scenario also caps volume by what China's compute can serve, which this "
                                 "comparison leaves out."),
         ("growth_decay", "Paths of the decay and compute-logistic families have no fixed ceiling and count as "
                          "unbounded here."))),
}


def _percent(p: float) -> str:
    """A probability in words-friendly form: 37%, under 1%, over 99%."""
    if p < 0.005:
        return "under 1%" if p > 0 else "0%"
    if p > 0.995:
        return "over 99%" if p < 1 else "100%"
    return f"{p:.0%}"


def crossing_distribution(dataset: xr.Dataset, claim: str) -> pd.Series:
    """When paths first satisfy ``claim``: the share already there in the first month, the share
    crossing in each calendar year, and the share not crossing by the horizon (sums to 1)."""
    crossed = dataset["claim_first_passage"].sel(claim=claim).values
    months = dataset["time"].values.astype("datetime64[M]")
    years = months.astype("datetime64[Y]")
    year_ends = np.r_[np.flatnonzero(years[1:] != years[:-1]), len(months) - 1]
    labels = [f"{months[0]} (start)"]
    first_year = f"rest of {years[0]}" if months[0] != years[0].astype("datetime64[M]") else str(years[0])
    values = [crossed[0]]
    previous = crossed[0]
    for end in year_ends:
        labels.append(first_year if end == year_ends[0] else str(years[end]))
        values.append(crossed[end] - previous)
        previous = crossed[end]
    labels.append(f"after {months[-1]}")
    values.append(1.0 - crossed[-1])
    return pd.Series(np.clip(values, 0.0, 1.0), index=labels, name=claim)


def prior_distributions(priors, assumptions: Sequence[tuple[str, Distribution]] = ()) -> dict[str, Distribution]:
    """Every calibration prior by parameter name, with a scenario's assumptions replacing them."""
    merged = {**priors.volume, **priors.open}
    merged.update(dict(assumptions))
    return merged


def prior_sentence(dataset: xr.Dataset, claim: Claim, priors: dict[str, Distribution] | None,
                   replaced: Sequence[str] = (), *, seed: int = 0) -> str:
    """How much of the claim is the prior: P(bound > threshold) under the prior and in the paths.

    ``replaced`` names the parameters whose prior the scenario replaced (its ``[assumptions]``), so
    the sentence says "as this scenario assumes it" rather than "the calibration prior".
    """
    bound = BOUNDS.get(claim.variable)
    if bound is None or claim.direction != "above" or priors is None:
        return ""
    threshold = VARIABLES[claim.variable].threshold_text(claim.threshold)
    in_paths = float(np.mean(bound.from_paths(dataset) > claim.threshold))
    in_prior = float(np.mean(bound.from_prior(priors, dataset, np.random.default_rng(seed)) > claim.threshold))
    whose = " (as this scenario assumes it)" if set(bound.parameters) & set(replaced) else ""
    opening = (f"Whether a path gets there depends mostly on {bound.description}: the prior{whose} alone puts "
               f"P({bound.name} > {threshold}) at {_percent(in_prior)}, the calibrated paths at "
               f"{_percent(in_paths)}. ")
    shift = abs(in_paths - in_prior)
    others = set(replaced) - set(bound.parameters)
    movers = "The published figures" + (" and this scenario's other assumptions" if others else "")
    caps = "".join(f" {text}" for variable, text in bound.other_caps
                   if variable in dataset and np.isfinite(dataset[variable].values).any())
    if shift <= BARELY:
        return opening + (f"{movers} barely move it ({shift * 100:.0f} points), so this probability is mostly the "
                          f"prior on {bound.name}, an assumption rather than something the data show.{caps}")
    return opening + (f"{movers} move it by {shift * 100:.0f} points; the rest is the prior on {bound.name}, "
                      f"an assumption.{caps}")


def claim_drivers(sensitivity: xr.Dataset, claim: str, dates: Sequence[str], n: int = 3
                  ) -> tuple[str, list[tuple[str, float, float]]] | None:
    """The ``n`` factors with the largest total-order index ST for P(claim by date), latest date first.

    Reads the sensitivity contract (dims ``target`` and ``factor``; target coords ``target_kind``,
    ``claim``, ``date``; factor coord ``factor_label``; variables ``ST`` and ``ST_conf``). Returns the
    date used and (label, ST, ST_conf) per factor, or None when no target is about this claim.
    """
    kinds = sensitivity["target_kind"].values.astype(str)
    names = sensitivity["claim"].values.astype(str)
    target_dates = sensitivity["date"].values.astype(str)
    about = (kinds == "claim") & (names == claim)
    candidates = [d for d in reversed(list(dates)) if np.any(about & (target_dates == d))]
    candidates += sorted(set(target_dates[about]) - set(candidates), reverse=True)
    if not candidates:
        return None
    row = sensitivity.isel(target=int(np.flatnonzero(about & (target_dates == candidates[0]))[0]))
    total, conf = row["ST"].values, row["ST_conf"].values
    order = [i for i in np.argsort(-np.nan_to_num(total, nan=-np.inf)) if np.isfinite(total[i])][:n]
    labels = row["factor_label"].values.astype(str)
    return candidates[0], [(labels[i], float(total[i]), float(conf[i])) for i in order]


def missing_sensitivity_sentence(command: str) -> str:
    """What to run when a scenario has no sensitivity results (said once per scenario, not once per claim)."""
    return (f"Which assumption moves each claim has not been computed for this scenario: run '{command}' and "
            "rebuild the report.")


def driver_sentence(claim: Claim, sensitivity: xr.Dataset | None, command: str | None,
                    calibration_id: str | None = None) -> str:
    """The assumption that moves the claim most (from the sensitivity results), or how to compute it (nothing
    when ``command`` is None: the caller says it once for all the scenario's claims)."""
    if sensitivity is None:
        return "" if command is None else missing_sensitivity_sentence(command).replace("each claim", "this most")
    found = claim_drivers(sensitivity, claim.name, [str(b) for b in claim.by])
    if found is None or not found[1]:
        return (f"The sensitivity results of this scenario do not cover this claim; run '{command}' "
                "to include it.")
    date, drivers = found
    (label, total, conf), rest = drivers[0], drivers[1:]
    text = (f"The assumption that moves this most is '{label}' (total-order Sobol index ST = {total:.2f} "
            f"+- {conf:.2f} for P(claim holds, {date}))")
    if rest:
        text += ", followed by " + " and ".join(f"'{name}' ({value:.2f})" for name, value, _ in rest)
        second = rest[0]
        if total - conf < second[1] + second[2]:
            text += "; the first is not clearly ahead of the second given the estimation error"
    text += "."
    sens_id = sensitivity.attrs.get("calibration_id")
    if calibration_id and sens_id and sens_id != calibration_id:
        text += (f" (The sensitivity results used calibration {str(sens_id)[:12]}, not this run's "
                 f"{calibration_id[:12]}: rerun '{command}'.)")
    return text


def claim_paragraph(dataset: xr.Dataset, claim: Claim, *, sensitivity: xr.Dataset | None = None,
                    priors: dict[str, Distribution] | None = None, replaced: Sequence[str] = (),
                    sensitivity_command: str | None = "tokensim sensitivity SCENARIO.toml") -> str:
    """One paragraph on one claim of a result, in plain language.

    Parameters
    ----------
    dataset
        A results Dataset (``claim_probability``, ``claim_first_passage`` and the kept paths' parameters).
    claim
        One of its claims (see :func:`sim.engine.results.claims_from_attr`).
    sensitivity
        The scenario's sensitivity results (``results/<scenario>-sensitivity.nc``), or None.
    priors
        Prior distributions by parameter (:func:`prior_distributions`), to say how much of the
        probability is the prior; None leaves that sentence out. ``replaced``: the parameters whose
        prior the scenario's ``[assumptions]`` replaced.
    sensitivity_command
        The command that computes the missing sensitivity results, quoted when they are absent (None: not
        quoted, as a report says it once for all of a scenario's claims).
    """
    variable = VARIABLES[claim.variable]
    holds = dataset["claim_probability"].sel(claim=claim.name)
    errors = dataset["claim_probability_mc_se"].sel(claim=claim.name)
    crossed = dataset["claim_first_passage"].sel(claim=claim.name)
    by = [(str(b), float(holds.sel(time=np.datetime64(b, "ns"))), float(errors.sel(time=np.datetime64(b, "ns"))))
          for b in claim.by]
    odds = " and ".join(f"{KIND_WORDS[claim.kind]} {date} with probability {_percent(p)} (+- {se:.1%})"
                        for date, p, se in by)
    scenario = dataset.attrs.get("scenario", "?")
    sentences = [f"Under the '{scenario}' scenario, {variable.subject} {STATES[claim.kind][claim.direction]} "
                 f"{variable.threshold_text(claim.threshold)} "
                 f"{odds} (share of {int(dataset.attrs.get('paths_simulated', 0)):,} simulated paths, with its "
                 "Monte Carlo standard error)."]
    median = median_crossing(dataset, claim.name)
    horizon = str(np.datetime64(dataset["time"].values[-1], "M"))
    never = 1.0 - float(crossed.values[-1])
    if median.startswith("after"):
        sentences.append(f"The median first-crossing date is not within the horizon: only {_percent(1 - never)} "
                         f"of paths get there by {horizon}.")
    else:
        sentences.append(f"Half of the paths have crossed at least once by {median} (the median first-crossing "
                         f"date); {_percent(never)} have not by {horizon}.")
    at_start = float(crossed.values[0])
    if at_start >= 0.01:
        sentences.append(f"{_percent(at_start)} of paths are already there in the first simulated month "
                         f"({np.datetime64(dataset['time'].values[0], 'M')}): the uncertainty is wide from the start.")
    prior = prior_sentence(dataset, claim, priors, replaced)
    if prior:
        sentences.append(prior)
    sentences.append(driver_sentence(claim, sensitivity, sensitivity_command, dataset.attrs.get("calibration_id")))
    return " ".join(s for s in sentences if s)
