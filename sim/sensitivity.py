"""Global sensitivity: which scenario assumptions drive each claim and the volume medians.

Design (``docs/sensitivity.md`` says it at length):

* **Factors** are the scenario's assumptions, each varied uniformly over a stated range around
  the scenario's own value (a registry, :data:`FACTOR_KINDS`): the stationary sd and the
  persistence of each AR(1) volatility, a log-multiplier on each growth family's weight (the
  engine renormalises), each event's probability and a multiplier on its size, a compute bound's
  utilisation and model-size priors, and shifts of the median of calibration priors
  (``ceiling_headroom``, ``m``, ``u_max``, ``k``), applied through
  the scenario mechanism ``[assumptions]`` (importance reweighting, :mod:`sim.weights`). A prior
  shift's range is narrowed until every corner of the design keeps the effective sample size
  above :data:`sim.weights.MIN_ESS`; a narrowed or dropped factor is reported, never silent.
* **Evaluations**: Saltelli sampling (``SALib.sample.sobol``, ``N (D + 2)`` points for ``D``
  factors); each point is a modified :class:`~sim.scenario.Scenario` run by the engine's own
  :func:`~sim.engine.simulate_block` for ``M`` paths with the same seed (common random
  numbers), reusing one :func:`~sim.engine.build_trends` for all points.
* **Targets**: each claim's probability by each of its dates, and log10 of the median daily
  tokens in 2027-12 and 2030-12. ``SALib.analyze.sobol`` gives first-order (S1) and total (ST)
  indices with bootstrap confidence intervals; a separate replicate run at the scenario's own
  values with independent seeds measures the Monte Carlo noise left in each evaluation.
* **Path quantities** (a second question): PAWN on given samples ranks which correlated posterior
  parameters of a path decide its claim indicator, against an independent-noise dummy.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr
from scipy import special

from sim import __version__
from sim.distributions import Distribution, parse_distribution
from sim.engine import Paths, Trends, blocks, build_trends, simulate_block, time_grid
from sim.errors import UserError
from sim.posterior import Posterior
from sim.scenario import Scenario
from sim.summaries import has_crossed
from sim.weights import MIN_ESS, effective_sample_size, posterior_weights

log = logging.getLogger("tokensim")

#: Allowed Saltelli base sizes (powers of two: the Sobol' sequence's balance needs them) and paths.
BASE_SAMPLES = tuple(2**k for k in range(3, 15))
PATHS_RANGE = (100, 100_000)
DEFAULT_BASE_SAMPLES = 128
DEFAULT_PATHS = 1000
#: Independent-seed replicates at the scenario's own values, to measure Monte Carlo noise.
NOISE_REPLICATES = 16
BOOTSTRAP_RESAMPLES = 500
MEDIAN_DATES = ("2027-12", "2030-12")

#: Calibration priors whose median is shifted: parameter -> (scale, largest shift, readable name).
PRIOR_SHIFTS: dict[str, tuple[str, float, str]] = {
    "ceiling_headroom": ("log", math.log(3.0), "ceiling headroom prior"),
    "m": ("logit", 0.75, "eventual adopters m prior"),
    "u_max": ("logit", 0.75, "usage ceiling u_max prior"),
    "k": ("log", math.log(2.0), "substitution rate k prior"),
}
#: Volatility kinds as readers know them.
VOLATILITY_NAMES = {"volume": "volume", "share": "open usage", "adoption": "open adoption"}


# --- factors ---------------------------------------------------------------------------------


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
    return factors


def _scale_family(family: str) -> Callable[[Scenario, float], Scenario]:
    def apply(scenario: Scenario, value: float) -> Scenario:
        weights = tuple((name, weight * math.exp(value) if name == family else weight)
                        for name, weight in scenario.family_weights)
        return dataclasses.replace(scenario, family_weights=weights)  # the engine renormalises
    return apply


def family_factors(scenario: Scenario, posterior: Posterior, notes: list[str]) -> list[Factor]:
    """Each used family's weight times ``exp(x)``, ``x`` in ``[-ln 2, ln 2]`` (then renormalised)."""
    used = [name for name, weight in scenario.family_weights if weight > 0.0]
    if len(used) < 2:
        notes.append("only one growth family has weight: family weights are not varied")
        return []
    return [Factor(f"family.{name}", f"{name} family weight (log-multiplier)", -math.log(2.0), math.log(2.0), 0.0,
                   _scale_family(name)) for name in used]


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
    "utilisation": (math.log(2.0), "compute utilisation"),
    "active_parameters": (math.log(2.0), "active parameters per token"),
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
    raises :class:`UserError` (from :mod:`sim.weights`) below the minimum."""
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


# --- targets ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A scalar summary of one evaluation's paths: a claim's probability by a date, or a median."""

    kind: str
    claim: str
    variable: str
    date: np.datetime64
    label: str


def claim_probability(paths: Paths, column: int, target: Target, scenario: Scenario) -> float:
    """Share of paths in which the claim has held at or before the target month."""
    claim = next(c for c in scenario.claims if c.name == target.claim)
    return float(has_crossed(paths.series()[claim.variable][:, :column + 1], claim)[:, -1].mean())


def log10_median(paths: Paths, column: int, target: Target, scenario: Scenario) -> float:
    """log10 of the median over paths of the variable in the target month."""
    return float(np.log10(np.median(paths.series()[target.variable][:, column])))


#: How each kind of target is measured on one evaluation's paths.
TARGET_KINDS: dict[str, Callable[[Paths, int, Target, Scenario], float]] = {
    "claim": claim_probability,
    "median": log10_median,
}


def scenario_targets(scenario: Scenario) -> list[Target]:
    """Each claim by each of its dates, then the log10 median daily tokens at :data:`MEDIAN_DATES`."""
    targets = []
    for claim in scenario.claims:
        sign = ">" if claim.direction == "above" else "<"
        for by in claim.by:
            targets.append(Target("claim", claim.name, claim.variable, by,
                                  f"P({claim.variable} {sign} {claim.threshold:g} by {by})"))
    for text in MEDIAN_DATES:
        month = np.datetime64(text, "M")
        if month <= scenario.horizon:
            targets.append(Target("median", "", "daily_tokens", month, f"log10 median daily tokens {text}"))
    return targets


# --- evaluation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CachedPosterior(Posterior):
    """A :class:`Posterior` whose flattened samples are computed once (every evaluation reweights them)."""

    @functools.cached_property
    def _flattened(self) -> dict[str, dict[str, np.ndarray]]:
        return {fit: Posterior.samples(self, fit) for fit in self.fits}

    def samples(self, fit: str) -> dict[str, np.ndarray]:
        return self._flattened[fit]

    @classmethod
    def of(cls, posterior: Posterior) -> "CachedPosterior":
        if isinstance(posterior, cls):
            return posterior
        return cls(posterior.id, posterior.fits, posterior.diagnostics, posterior.attrs)


@dataclass
class ScenarioModel:
    """The engine as a function of the factors: rows of factor values -> rows of target values.

    Every row runs ``paths`` paths with the same ``seed`` (common random numbers) on trends built
    once for the scenario's families; only the importance weights change from row to row.
    """

    posterior: Posterior
    scenario: Scenario
    factors: list[Factor]
    targets: list[Target]
    paths: int
    seed: int
    trends: Trends | None = None

    def __post_init__(self) -> None:
        self.posterior = CachedPosterior.of(self.posterior)
        if self.trends is None:
            self.trends = build_trends(self.posterior, self.scenario, {})
        self.times = time_grid(self.scenario)
        months = self.times.astype("datetime64[M]")
        self.columns = [int(np.searchsorted(months, target.date)) for target in self.targets]

    def scenario_at(self, row: np.ndarray) -> Scenario:
        """The scenario with every factor set to its value in ``row``."""
        scenario = self.scenario
        for factor, value in zip(self.factors, row):
            scenario = factor.apply(scenario, float(value))
        return scenario

    def simulate(self, row: np.ndarray, seed: int | None = None, paths: int | None = None) -> tuple[Scenario, Paths]:
        """The scenario at ``row`` and its paths (the engine's blocks, as a run of that many paths)."""
        scenario = self.scenario_at(row)
        trends = dataclasses.replace(self.trends, weights=posterior_weights(self.posterior, scenario))
        seed = self.seed if seed is None else seed
        return scenario, Paths.concatenate([simulate_block(trends, scenario, seed, block, size, self.times)
                                            for block, size in blocks(paths or self.paths)])

    def evaluate_one(self, row: np.ndarray, seed: int | None = None) -> np.ndarray:
        """Target values of one point of the design."""
        scenario, paths = self.simulate(row, seed)
        return np.array([TARGET_KINDS[t.kind](paths, c, t, scenario) for t, c in zip(self.targets, self.columns)])

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), len(self.targets)))
        step = max(len(rows) // 10, 1)
        for index, row in enumerate(rows):
            out[index] = self.evaluate_one(row)
            if (index + 1) % step == 0:
                log.info("sensitivity: %d/%d evaluations", index + 1, len(rows))
        return out

    def noise(self, replicates: int = NOISE_REPLICATES) -> np.ndarray:
        """Variance of each target between independent seeds at the scenario's own values."""
        nominal = np.array([f.nominal for f in self.factors])
        seeds = np.random.SeedSequence(self.seed, spawn_key=(2,)).generate_state(replicates, dtype=np.uint64)
        values = np.array([self.evaluate_one(nominal, int(s) % 2**63) for s in seeds])
        return values.var(axis=0, ddof=1)


def _stream(seed: int, key: int) -> int:
    """A seed for SALib's sampler (key 0) or bootstrap (key 1), derived from the root seed."""
    return int(np.random.SeedSequence(seed, spawn_key=(key,)).generate_state(1)[0])


def sobol_design(factors: Sequence[Factor], base_samples: int, seed: int) -> np.ndarray:
    """Saltelli's design for first-order and total indices: ``base_samples x (D + 2)`` rows."""
    from SALib.sample import sobol as sobol_sample

    return sobol_sample.sample(_problem(factors), base_samples, calc_second_order=False, seed=_stream(seed, 0))


def _problem(factors: Sequence[Factor]) -> dict:
    return {"num_vars": len(factors), "names": [f.name for f in factors], "bounds": [[f.low, f.high] for f in factors]}


def sobol_indices(factors: Sequence[Factor], outputs: np.ndarray, seed: int,
                  resamples: int = BOOTSTRAP_RESAMPLES) -> dict[str, np.ndarray]:
    """S1, S1_conf, ST, ST_conf ``(target, factor)`` for outputs ``(row, target)`` of :func:`sobol_design`.

    A target that does not vary over the design has no variance to share out: its indices are NaN.
    """
    from SALib.analyze import sobol as sobol_analyze

    names = ("S1", "S1_conf", "ST", "ST_conf")
    result = {name: np.full((outputs.shape[1], len(factors)), np.nan) for name in names}
    for column in range(outputs.shape[1]):
        values = outputs[:, column]
        if not np.all(np.isfinite(values)) or np.var(values) <= 1e-12 * max(np.mean(values) ** 2, 1e-12):
            continue
        analysis = sobol_analyze.analyze(_problem(factors), values, calc_second_order=False,
                                         num_resamples=resamples, seed=_stream(seed, 1))
        for name in names:
            result[name][column] = analysis[name]
    return result


# --- which quantities of a path drive it (PAWN on given samples) -----------------------------

#: Per-path quantities PAWN ranks: parameter -> (the fit it comes from, readable name). The Richards
#: ``shape`` (NaN on other families' paths) and the categorical family are left out.
PATH_QUANTITIES: dict[str, tuple[str, str]] = {
    "v_ref": ("volume fit", "volume level v_ref"),
    "growth": ("volume fit", "2024-25 growth rate"),
    "ceiling": ("volume fit", "volume ceiling"),
    "bass_p": ("open-source fit", "Bass innovation p"),
    "bass_q": ("open-source fit", "Bass imitation q"),
    "m": ("open-source fit", "eventual adopters m"),
    "t_start": ("open-source fit", "adoption start t_start"),
    "u_max": ("open-source fit", "usage ceiling u_max"),
    "k": ("open-source fit", "substitution rate k"),
    "t_half": ("open-source fit", "usage half-time t_half"),
    "compute_utilisation": ("compute bound", "compute utilisation"),
    "active_parameters": ("compute bound", "active parameters per token"),
}
#: A column of independent noise: a quantity whose PAWN index is no larger has no detectable effect.
DUMMY = ("reference", "independent noise (dummy)")
PAWN_SLICES = 10
PAWN_PATHS = 4000


def pawn_indices(model: ScenarioModel, paths: int = PAWN_PATHS,
                 slices: int = PAWN_SLICES) -> tuple[list[str], dict[str, np.ndarray]]:
    """PAWN (median and maximum KS distance over ``slices`` conditioning slices) of each target's per-path
    value (the claim's 0/1 indicator, or log10 daily tokens) on each path's posterior parameters.

    The parameters are correlated posterior draws, so an index measures how much knowing that
    quantity of a path alone changes the target's distribution, not an effect of its own.
    Paths are those of the scenario's own values (nominal factors) with the root seed.
    """
    from SALib.analyze import pawn

    scenario, simulated = model.simulate(np.array([f.nominal for f in model.factors]), paths=paths)
    names = [q for q in PATH_QUANTITIES if np.all(np.isfinite(simulated.parameters.get(q, [np.nan])))]
    noise = np.random.default_rng(np.random.SeedSequence(model.seed, spawn_key=(3,))).random(paths)
    inputs = np.column_stack([simulated.parameters[q] for q in names] + [noise])
    problem = {"num_vars": inputs.shape[1], "names": [*names, "dummy"],
               "bounds": [[float(c.min()), float(c.max())] for c in inputs.T]}
    series = simulated.series()
    median, maximum = (np.full((len(model.targets), inputs.shape[1]), np.nan) for _ in range(2))
    for row, (target, column) in enumerate(zip(model.targets, model.columns)):
        if target.kind == "claim":
            claim = next(c for c in scenario.claims if c.name == target.claim)
            values = has_crossed(series[claim.variable][:, :column + 1], claim)[:, -1].astype(float)
        else:
            values = np.log10(series[target.variable][:, column])
        if np.ptp(values) == 0.0:
            continue
        result = pawn.analyze(problem, inputs, values, S=slices)  # no seed: SALib would reseed np.random
        median[row], maximum[row] = result["median"], result["maximum"]
    return [*names, "dummy"], {"pawn_median": median, "pawn_maximum": maximum}


# --- the analysis as a Dataset ---------------------------------------------------------------

DESIGN = ("Factors are the scenario's assumptions, each uniform over a stated range around the scenario's value "
          "(volatility sd x0.5..x1.5 and persistence with its memory 1/(1-phi) halved..doubled; each used growth "
          "family's weight times exp(+-ln 2), renormalised; each event's probability x0.5..x1.5 and size x0.5..x1.5; "
          "the median of the calibration priors of ceiling_headroom and k shifted on the log scale and of m and u_max "
          "on the logit scale, through [assumptions] importance reweighting, narrowed until every corner keeps the "
          "effective sample size above its minimum). Saltelli sampling (SALib, scrambled Sobol', N (D + 2) points); "
          "every point runs the engine with the same seed (common random numbers) for M paths, reusing one trend "
          "computation. Targets: each claim's probability by each of its dates (share of the M paths) and log10 of "
          "the median daily tokens in 2027-12 and 2030-12. Indices: SALib.analyze.sobol (Saltelli 2010 first-order, "
          "Jansen total), 95% bootstrap intervals over the design's rows, which do not include the Monte Carlo noise "
          "of each evaluation; noise_floor is the share of each target's variance that independent-seed noise alone "
          "would add to every total index (an upper bound: common random numbers cancel most of it). Separately, "
          "PAWN (SALib.analyze.pawn, 10 slices) on 4000 paths at the scenario's own values ranks which posterior "
          "quantities of a path (correlated draws of the volume and open-source fits) decide each target's per-path "
          "value, against a column of independent noise (dummy) as the no-effect reference.")


def analyse(posterior: Posterior, scenario: Scenario, *, base_samples: int = DEFAULT_BASE_SAMPLES,
            paths: int = DEFAULT_PATHS, seed: int | None = None) -> xr.Dataset:
    """Sobol sensitivity of every claim and volume median of ``scenario`` to its assumptions.

    Parameters
    ----------
    posterior, scenario
        The calibration and the scenario whose assumptions are varied.
    base_samples
        Saltelli base size ``N`` (a power of two in :data:`BASE_SAMPLES`); ``N (D + 2)`` evaluations.
    paths
        Paths per evaluation ``M``.
    seed
        Root seed (default: the scenario's): the engine's common random numbers, the design's
        scrambling and the bootstrap all derive from it, so the same seed gives identical indices.
    """
    check_sizes(base_samples, paths)
    if not scenario.claims:
        raise UserError("the scenario states no [[claims]], so there is nothing to rank; add one "
                        "(see scenarios/README.md)", where=str(scenario.path))
    seed = scenario.seed if seed is None else seed
    posterior = CachedPosterior.of(posterior)
    factors, notes, worst_ess = scenario_factors(scenario, posterior)
    for note in notes:
        log.info("sensitivity: %s", note)
    if not factors:
        raise UserError("no assumption of this scenario can be varied (see the notes above)", where=str(scenario.path))
    model = ScenarioModel(posterior, scenario, factors, scenario_targets(scenario), paths, seed)
    design = sobol_design(factors, base_samples, seed)
    log.info("sensitivity: %d factors, %d evaluations of %d paths", len(factors), len(design), paths)
    outputs = model(design)
    indices = sobol_indices(factors, outputs, seed)
    noise = model.noise()
    dataset = to_dataset(model, indices, outputs, noise, notes=notes, worst_ess=worst_ess, base_samples=base_samples)
    return dataset.merge(pawn_dataset(model), combine_attrs="drop_conflicts")


def pawn_dataset(model: ScenarioModel) -> xr.Dataset:
    """The PAWN indices of :func:`pawn_indices` over (target, quantity), with labels."""
    names, values = pawn_indices(model)
    described = {**PATH_QUANTITIES, "dummy": DUMMY}
    texts = {"pawn_median": "PAWN index (median KS distance over slices) of the per-path target on a path quantity",
             "pawn_maximum": "PAWN index (maximum KS distance over slices) of the per-path target on a path quantity"}
    return xr.Dataset({name: (("target", "quantity"), array, {"long_name": texts[name], "units": "1"})
                       for name, array in values.items()},
                      coords={"quantity": names, "quantity_label": ("quantity", [described[q][1] for q in names]),
                              "quantity_group": ("quantity", [described[q][0] for q in names])},
                      attrs={"pawn_paths": PAWN_PATHS, "pawn_slices": PAWN_SLICES})


def check_sizes(base_samples: int, paths: int) -> None:
    """Refuse design sizes outside what the method supports or what finishes in reasonable time."""
    if base_samples not in BASE_SAMPLES:
        raise UserError(f"must be a power of two from {BASE_SAMPLES[0]} to {BASE_SAMPLES[-1]} (the Sobol' "
                        f"sequence is balanced only at powers of two), got {base_samples}", where="--base-samples")
    if not PATHS_RANGE[0] <= paths <= PATHS_RANGE[1]:
        raise UserError(f"must be between {PATHS_RANGE[0]} and {PATHS_RANGE[1]}, got {paths}", where="--paths")


def to_dataset(model: ScenarioModel, indices: dict[str, np.ndarray], outputs: np.ndarray, noise: np.ndarray,
               *, notes: list[str], worst_ess: float, base_samples: int) -> xr.Dataset:
    """The sensitivity Dataset (dims ``target`` and ``factor``) with its provenance."""
    targets, factors = model.targets, model.factors
    variance = outputs.var(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        floor = np.where(variance > 0, noise / variance, np.nan)
    names = {"S1": "first-order Sobol index", "S1_conf": "95% bootstrap half-width of S1",
             "ST": "total Sobol index", "ST_conf": "95% bootstrap half-width of ST"}
    variables = {name: (("target", "factor"), indices[name], {"long_name": text, "units": "1"})
                 for name, text in names.items()}
    variables.update({
        "output_mean": ("target", outputs.mean(axis=0), {"long_name": "mean of the target over the design"}),
        "output_variance": ("target", variance, {"long_name": "variance of the target over the design"}),
        "noise_variance": ("target", noise, {"long_name": "variance of the target between independent seeds "
                                                          "at the scenario's own values (Monte Carlo noise)"}),
        "noise_floor": ("target", floor, {"long_name": "noise_variance / output_variance: what independent-seed "
                                                       "noise alone would add to every ST (an upper bound)",
                                          "units": "1"}),
    })
    coords = {
        "target": [f"{t.kind}:{t.claim or t.variable}:{t.date}" for t in targets],
        "target_kind": ("target", [t.kind for t in targets]),
        "claim": ("target", [t.claim for t in targets]),
        "variable": ("target", [t.variable for t in targets]),
        "date": ("target", [str(t.date) for t in targets]),
        "target_label": ("target", [t.label for t in targets]),
        "factor": [f.name for f in factors],
        "factor_label": ("factor", [f.label for f in factors]),
        "factor_low": ("factor", [f.low for f in factors]),
        "factor_high": ("factor", [f.high for f in factors]),
        "factor_nominal": ("factor", [f.nominal for f in factors]),
    }
    return xr.Dataset(variables, coords=coords, attrs={
        "title": "tokensim global sensitivity of claims and volume medians to scenario assumptions",
        "scenario": model.scenario.name,
        "scenario_sha256": model.scenario.sha256,
        "seed": int(model.seed),
        "calibration_id": model.posterior.id,
        "tokensim_version": __version__,
        "source": f"tokensim {__version__}",
        "method": "sobol (SALib: Saltelli sampling, first-order and total indices, bootstrap 95% intervals)",
        "base_samples": int(base_samples),
        "evaluations": int(outputs.shape[0]),
        "paths_per_evaluation": int(model.paths),
        "noise_replicates": NOISE_REPLICATES,
        "min_effective_sample_size": float(worst_ess) if math.isfinite(worst_ess) else -1.0,
        "notes": "; ".join(notes),
        "design": DESIGN,
    })


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
    one = dataset.isel(target=int(np.flatnonzero(mask.values)[0]))
    st = one["ST"].values
    order = [i for i in np.argsort(-np.nan_to_num(st, nan=-np.inf), kind="stable") if np.isfinite(st[i])]
    return [(str(one["factor_label"].values[i]), float(st[i]), float(one["ST_conf"].values[i])) for i in order[:n]]


def tornado_figure(dataset: xr.Dataset, top: int = 8):
    """One tornado panel per target: the ``top`` factors by ST (bar, with its 95% interval) and S1 (tick)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    count = dataset.sizes["target"]
    columns = 2 if count > 1 else 1
    rows = math.ceil(count / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(7.5 * columns, 0.32 * top * rows + 1.2 * rows + 0.8),
                                squeeze=False, constrained_layout=True)
    for ax, target in zip(axes.ravel(), dataset["target"].values):
        _tornado_panel(ax, dataset.sel(target=target), top)
    for ax in axes.ravel()[count:]:
        ax.set_visible(False)
    figure.suptitle(f"Sensitivity of scenario '{dataset.attrs.get('scenario', '?')}': total (bar, 95% interval) and "
                    f"first-order (black tick) Sobol indices; grey line: noise floor\n"
                    f"{dataset.attrs.get('evaluations', '?')} evaluations x {dataset.attrs.get('paths_per_evaluation', '?')}"
                    f" paths, seed {dataset.attrs.get('seed', '?')}, calibration "
                    f"{str(dataset.attrs.get('calibration_id', ''))[:12]}, {dataset.attrs.get('source', '')}",
                    fontsize=9)
    return figure


def _tornado_panel(ax, one: xr.Dataset, top: int) -> None:
    st = one["ST"].values
    title = str(one["target_label"].values)
    if not np.any(np.isfinite(st)):
        ax.text(0.5, 0.5, f"constant over the design (mean {float(one['output_mean']):.3g}):\nnothing to rank",
                ha="center", va="center", transform=ax.transAxes, fontsize=9)
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
        return
    order = np.argsort(-np.nan_to_num(st, nan=-np.inf), kind="stable")[:top][::-1]
    positions = np.arange(len(order))
    labels = [str(one["factor_label"].values[i]) for i in order]
    ax.barh(positions, st[order], xerr=one["ST_conf"].values[order], color="#1f5f99", alpha=0.8,
            error_kw={"ecolor": "#333333", "capsize": 2, "linewidth": 0.8})
    ax.plot(one["S1"].values[order], positions, "|", color="black", markersize=12, markeredgewidth=2)
    floor = float(one["noise_floor"]) if "noise_floor" in one else np.nan
    if np.isfinite(floor):
        ax.axvline(floor, color="grey", linestyle="--", linewidth=1)
    ax.set_yticks(positions, labels, fontsize=8)
    right = float(np.nanmax(st + np.nan_to_num(one["ST_conf"].values)))
    ax.set_xlim(min(0.0, float(np.nanmin(one["S1"].values)) - 0.05), min(max(1.05, right + 0.02), 1.6))
    ax.set_title(f"{title} (mean {float(one['output_mean']):.3g})", fontsize=9)
    ax.grid(True, axis="x", alpha=0.3)


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


def write_outputs(dataset: xr.Dataset, out: str | Path) -> list[Path]:
    """Write the Dataset (``out``, .nc), the ranked table (.csv) and the tornado chart (.png), each atomically."""
    import matplotlib.pyplot as plt

    from sim.atomic import atomic_write

    out = Path(out)
    figure = tornado_figure(dataset)  # everything is rendered before the first file is written
    table = ranking_frame(dataset).to_csv(index=False)
    try:
        written = [atomic_write(out, lambda tmp: dataset.to_netcdf(tmp, engine="h5netcdf")),
                   atomic_write(out.with_suffix(".csv"), lambda tmp: Path(tmp).write_text(table)),
                   atomic_write(out.with_suffix(".png"), lambda tmp: figure.savefig(tmp, format="png", dpi=110))]
    finally:
        plt.close(figure)
    return written


def output_paths(out: str | Path) -> tuple[Path, Path, Path]:
    """The .nc, .csv and .png an analysis writes, checked before anything runs."""
    out = Path(out)
    if out.suffix != ".nc":
        raise UserError("the sensitivity file must end in .nc (the .csv and .png go next to it)", where=f"--out {out}")
    paths = (out, out.with_suffix(".csv"), out.with_suffix(".png"))
    for path in paths:
        if path.is_dir():
            raise UserError("is a folder, not a file", where=f"--out {path}")
    return paths


def sensitivity(scenario: str | Path | Scenario, *, base_samples: int = DEFAULT_BASE_SAMPLES,
                paths: int = DEFAULT_PATHS, seed: int | None = None, out: str | Path | None = None,
                observations: str | Path | None = None, priors: str | Path | None = None,
                posteriors: str | Path | None = None, as_of=None, cut: str = "published",
                settings=None) -> xr.Dataset:
    """Calibrate if needed and run :func:`analyse` on a scenario file; optionally write the outputs."""
    from sim.calibration import OBSERVATIONS, POSTERIORS, PRIORS, SamplerSettings, calibrate
    from sim.scenario import load_scenario

    check_sizes(base_samples, paths)
    if out is not None:
        output_paths(out)
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    if not scenario.claims:
        raise UserError("the scenario states no [[claims]], so there is nothing to rank; add one "
                        "(see scenarios/README.md)", where=str(scenario.path))
    posterior, _ = calibrate(observations or OBSERVATIONS, priors or PRIORS, posteriors or POSTERIORS,
                             as_of=as_of, cut=cut, settings=settings or SamplerSettings())
    dataset = analyse(posterior, scenario, base_samples=base_samples, paths=paths, seed=seed)
    if out is not None:
        write_outputs(dataset, out)
    return dataset
