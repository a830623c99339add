"""Factors: the scenario's assumptions that are varied, each over a stated range around its own value."""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special

from sim.calibration.posterior import Posterior
from sim.core.errors import UserError
from sim.curves.parameters import PARAMETERS
from sim.data.distributions import Distribution, parse_distribution
from sim.engine.reweighting import MIN_ESS, effective_sample_size, posterior_weights
from sim.scenarios.scenario import Scenario

#: Calibration priors whose median is shifted: parameter -> (scale, largest shift, readable name).
PRIOR_SHIFTS: dict[str, tuple[str, float, str]] = {
    name: (scale, largest, f"{PARAMETERS[name].label} prior")
    for name, scale, largest in (("ceiling_headroom", "log", math.log(3.0)), ("growth_decay", "log", math.log(2.0)),
                                 ("long_run_growth", "log", math.log(2.0)), ("inference_share", "logit", 0.75),
                                 ("adoption_headroom", "logit", 0.75), ("usage_headroom", "logit", 0.75),
                                 ("k", "linear", 0.5))
}
#: Volatility kinds as readers know them.
VOLATILITY_NAMES = {"volume": "volume", "share": "open usage", "adoption": "open adoption"}


@dataclass(frozen=True)
class Factor:
    """One varied assumption: ``apply(scenario, value)`` returns the scenario with it set to ``value``."""

    name: str
    label: str
    low: float
    high: float
    nominal: float
    apply: Callable[[Scenario, float], Scenario]


def _set_volatility(kind: str, field: str) -> Callable[[Scenario, float], Scenario]:
    def apply(scenario: Scenario, value: float) -> Scenario:
        volatility = dict(scenario.volatility)
        volatility[kind] = dataclasses.replace(volatility[kind], **{field: value})
        return dataclasses.replace(scenario, volatility=volatility)
    return apply


def volatility_factors(scenario: Scenario, posterior: Posterior, notes: list[str]) -> list[Factor]:
    """sd from half to 1.5 times the scenario's; persistence with the memory ``1/(1-phi)`` halved to doubled."""
    factors = []
    for kind, volatility in scenario.volatility.items():
        name = VOLATILITY_NAMES[kind]
        if volatility.sd <= 0.0:
            notes.append(f"{name} volatility is 0 in the scenario: its sd and persistence are not varied")
            continue
        factors.append(Factor(f"volatility.{kind}.sd", f"{name} volatility (sd)", 0.5 * volatility.sd,
                              1.5 * volatility.sd, volatility.sd, _set_volatility(kind, "sd")))
        gap = 1.0 - volatility.persistence
        factors.append(Factor(f"volatility.{kind}.persistence", f"{name} volatility persistence",
                              max(1.0 - 2.0 * gap, 0.0), 1.0 - gap / 2.0, volatility.persistence,
                              _set_volatility(kind, "persistence")))
    if scenario.growth_shock > 0.0:
        factors.append(Factor("volatility.growth.sd", "growth shocks (sd of the growth rate's random walk)",
                              0.5 * scenario.growth_shock, 1.5 * scenario.growth_shock, scenario.growth_shock,
                              lambda s, value: dataclasses.replace(s, growth_shock=float(value))))
    else:
        notes.append("growth shocks are 0 in the scenario: not varied")
    return factors


def _scale_weight(table: str, chosen: str) -> Callable[[Scenario, float], Scenario]:
    def apply(scenario: Scenario, value: float) -> Scenario:
        weights = tuple((name, weight * math.exp(value) if name == chosen else weight)
                        for name, weight in getattr(scenario, table))
        return dataclasses.replace(scenario, **{table: weights})  # the engine renormalises
    return apply


def family_factors(scenario: Scenario, posterior: Posterior, notes: list[str]) -> list[Factor]:
    """Each used growth family's and open-source variant's weight times ``exp(x)``, ``x`` in ``[-ln 2, ln 2]``
    (then renormalised)."""
    factors = []
    for table, what in (("family_weights", "family"), ("open_weights", "open-source variant")):
        used = [name for name, weight in getattr(scenario, table) if weight > 0.0]
        if len(used) < 2:
            notes.append(f"only one {what} has weight: its weights are not varied")
            continue
        factors += [Factor(f"{what.split()[0]}.{name}", f"{name} {what} weight (log-multiplier)", -math.log(2.0),
                           math.log(2.0), 0.0, _scale_weight(table, name)) for name in used]
    return factors


def _set_event(index: int, field: str) -> Callable[[Scenario, float], Scenario]:
    def apply(scenario: Scenario, value: float) -> Scenario:
        events = list(scenario.events)
        event = events[index]
        changed = value if field == "probability" else _scaled(event.size, value)
        events[index] = dataclasses.replace(event, **{field: changed})
        return dataclasses.replace(scenario, events=tuple(events))
    return apply


#: How a size distribution is multiplied by ``c > 0``: the keys to scale, per kind.
SCALABLE_SIZES = {"normal": ("p5", "p95"), "lognormal": ("p5", "p95"), "uniform": ("low", "high"),
                  "fixed": ("value",)}


@functools.lru_cache(maxsize=4096)
def _scaled_spec(kind: str, spec: tuple[tuple[str, float], ...], factor: float) -> Distribution:
    keys = SCALABLE_SIZES[kind]
    values = {key: value * factor if key in keys else value for key, value in spec}
    return parse_distribution({"dist": kind, **values})


def _scaled(size: Distribution, factor: float) -> Distribution:
    return _scaled_spec(size.kind, tuple(sorted(size.spec.items())), float(factor))


def event_factors(scenario: Scenario, posterior: Posterior, notes: list[str]) -> list[Factor]:
    """Each event's probability (half to 1.5 times, at most 1) and a size multiplier in ``[0.5, 1.5]``."""
    factors = []
    for index, event in enumerate(scenario.events):
        if event.probability > 0.0:
            factors.append(Factor(f"event.{index}.probability", f"{event.name}: probability",
                                  0.5 * event.probability, min(1.5 * event.probability, 1.0), event.probability,
                                  _set_event(index, "probability")))
        else:
            notes.append(f"event '{event.name}' has probability 0: not varied")
        if event.size.kind in SCALABLE_SIZES:
            factors.append(Factor(f"event.{index}.size", f"{event.name}: size (multiplier)", 0.5, 1.5, 1.0,
                                  _set_event(index, "size")))
        else:
            notes.append(f"event '{event.name}': a {event.size.kind} size cannot be scaled; its size is not varied")
    return factors


#: How a prior's median is shifted on each scale, per distribution kind: keys and transform.
_SHIFT_SCALES = {
    "log": lambda value, shift: value * math.exp(shift),
    "logit": lambda value, shift: float(special.expit(special.logit(value) + shift)),
    "linear": lambda value, shift: value + shift,
}
_SHIFT_KEYS = {"lognormal": ("p5", "p95"), "normal": ("p5", "p95"), "beta": ("p5", "p95"), "uniform": ("low", "high")}


@functools.lru_cache(maxsize=8192)
def _shifted_prior(kind: str, spec: tuple[tuple[str, float], ...], scale: str, shift: float) -> Distribution:
    move = _SHIFT_SCALES[scale]
    values = {key: move(value, shift) if key in _SHIFT_KEYS[kind] else value for key, value in spec}
    return parse_distribution({"dist": kind, **values})


def _base_prior(scenario: Scenario, posterior: Posterior, name: str) -> Distribution | None:
    """The prior a shift starts from: the scenario's own assumption, else the fitted calibration prior."""
    own = dict(scenario.assumptions).get(name)
    if own is not None:
        return own
    fitted = json.loads(posterior.attrs.get("priors_json", "{}"))
    spec = {**fitted.get("volume", {}), **fitted.get("open", {})}.get(name)
    return parse_distribution(spec) if spec else None


def _shift_assumption(name: str, base: Distribution, scale: str) -> Callable[[Scenario, float], Scenario]:
    spec = tuple(sorted(base.spec.items()))

    def apply(scenario: Scenario, value: float) -> Scenario:
        shifted = _shifted_prior(base.kind, spec, scale, float(value))
        others = tuple((key, dist) for key, dist in scenario.assumptions if key != name)
        return dataclasses.replace(scenario, assumptions=(*others, (name, shifted)))
    return apply


def prior_factors(scenario: Scenario, posterior: Posterior, notes: list[str]) -> list[Factor]:
    """Shifts of the median of the priors in :data:`PRIOR_SHIFTS` (log or logit scale), reweighting the posterior."""
    factors = []
    for name, (scale, largest, readable) in PRIOR_SHIFTS.items():
        base = _base_prior(scenario, posterior, name)
        if base is None or base.kind not in _SHIFT_KEYS:
            notes.append(f"the {readable} is {'missing' if base is None else base.kind}: not varied")
            continue
        label = f"{readable}: median ({scale} shift)"
        factors.append(Factor(f"prior.{name}", label, -largest, largest, 0.0, _shift_assumption(name, base, scale)))
    return factors


#: Compute-bound priors (a scenario's ``[compute]`` table) whose median is shifted, and how far.
COMPUTE_SHIFTS: dict[str, tuple[float, str]] = {
    "utilisation": (math.log(2.0), PARAMETERS["compute_utilisation"].label),
    "active_parameters": (math.log(2.0), PARAMETERS["active_parameters"].label),
}
#: The scale a median shift works on, per distribution kind (bounded kinds on the logit scale).
_SHIFT_SCALE_OF = {"lognormal": "log", "beta": "logit", "normal": "linear", "uniform": "linear"}


def _shift_compute(name: str, base: Distribution, scale: str) -> Callable[[Scenario, float], Scenario]:
    spec = tuple(sorted(base.spec.items()))

    def apply(scenario: Scenario, value: float) -> Scenario:
        shifted = _shifted_prior(base.kind, spec, scale, float(value))
        return dataclasses.replace(scenario, compute=dataclasses.replace(scenario.compute, **{name: shifted}))
    return apply


def compute_factors(scenario: Scenario, posterior: Posterior, notes: list[str]) -> list[Factor]:
    """With a ``[compute]`` bound: its utilisation and active-parameter priors, medians x/÷ 2 (log scale;
    logit for a beta), same spread."""
    if getattr(scenario, "compute", None) is None:
        return []
    factors = []
    for name, (largest, readable) in COMPUTE_SHIFTS.items():
        base = getattr(scenario.compute, name)
        scale = _SHIFT_SCALE_OF.get(base.kind)
        if scale is None:
            notes.append(f"the {readable} prior is {base.kind}: not varied")
            continue
        if scale == "linear":
            largest = float(base.quantile(0.95) - base.quantile(0.05)) / 4.0
        factors.append(Factor(f"compute.{name}", f"{readable} prior: median ({scale} shift)", -largest, largest, 0.0,
                              _shift_compute(name, base, scale)))
    return factors


#: Every kind of factor, in the order they are listed.
FACTOR_KINDS: dict[str, Callable[[Scenario, Posterior, list[str]], list[Factor]]] = {
    "volatility": volatility_factors,
    "family": family_factors,
    "event": event_factors,
    "compute": compute_factors,
    "prior": prior_factors,
}


def _min_ess(posterior: Posterior, scenario: Scenario) -> float:
    """Smallest effective sample size over the reweighted fits (inf when nothing is reweighted);
    raises :class:`UserError` (from :mod:`sim.engine.reweighting`) below the minimum."""
    weights = posterior_weights(posterior, scenario)
    sizes = [effective_sample_size(w) for w in weights.values() if w is not None]
    return min(sizes, default=math.inf)


def _corners_pass(posterior: Posterior, scenario: Scenario, priors: list[Factor]) -> float | None:
    """Smallest ESS over every corner of the prior shifts, or None if a corner falls below the minimum."""
    worst = math.inf
    for corner in np.ndindex(*(2,) * len(priors)):
        moved = scenario
        for factor, end in zip(priors, corner):
            moved = factor.apply(moved, factor.high if end else factor.low)
        try:
            worst = min(worst, _min_ess(posterior, moved))
        except (UserError, ValueError):
            return None
    return worst


def fit_prior_ranges(factors: list[Factor], posterior: Posterior, scenario: Scenario,
                     notes: list[str]) -> tuple[list[Factor], float]:
    """Narrow the prior shifts (each, then together) until every corner keeps ESS >= MIN_ESS.

    A factor whose shift cannot stay above the minimum even at a twentieth of its range is
    dropped with a note; a narrowed one is noted with its new range. Returns the factors and
    the smallest ESS over the corners.
    """
    kept, priors = [], []
    for factor in factors:
        if not factor.name.startswith("prior."):
            kept.append(factor)
            continue
        narrowed = factor
        for _ in range(14):  # 0.8**14 is about 1/20
            if _corners_pass(posterior, scenario, [narrowed]) is not None:
                break
            narrowed = dataclasses.replace(narrowed, low=narrowed.low * 0.8, high=narrowed.high * 0.8)
        else:
            notes.append(f"{factor.label}: even a shift of +-{narrowed.high:.3g} leaves fewer than {MIN_ESS} "
                         "effective posterior draws; not varied (recalibrate with a changed prior instead)")
            continue
        priors.append(narrowed)
    worst = _corners_pass(posterior, scenario, priors) if priors else math.inf
    while priors and worst is None:
        priors = [dataclasses.replace(f, low=f.low * 0.8, high=f.high * 0.8) for f in priors]
        worst = _corners_pass(posterior, scenario, priors)
    for factor in priors:
        largest = PRIOR_SHIFTS[factor.name.split(".", 1)[1]][1]
        if factor.high < largest - 1e-12:
            notes.append(f"{factor.label}: range narrowed to +-{factor.high:.3g} (from +-{largest:.3g}) to keep "
                         f"at least {MIN_ESS} effective posterior draws")
    order = {f.name: i for i, f in enumerate(factors)}
    return sorted(kept + priors, key=lambda f: order[f.name]), worst


def scenario_factors(scenario: Scenario, posterior: Posterior) -> tuple[list[Factor], list[str], float]:
    """Every factor of a scenario with its range, the notes on what was narrowed or left out, and the min ESS."""
    notes: list[str] = []
    factors = [f for make in FACTOR_KINDS.values() for f in make(scenario, posterior, notes)]
    factors, worst = fit_prior_ranges(factors, posterior, scenario, notes)
    return factors, notes, worst
