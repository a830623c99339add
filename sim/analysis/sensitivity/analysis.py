"""The analysis as a Dataset: which scenario assumptions drive each claim and the volume medians.

Design (``docs/sensitivity.md`` says it at length):

* **Factors** are the scenario's assumptions, each varied uniformly over a stated range around
  the scenario's own value (a registry, :data:`~sim.analysis.sensitivity.factors.FACTOR_KINDS`):
  the stationary sd and the persistence of each AR(1) volatility, a log-multiplier on each growth
  family's weight (the engine renormalises), each event's probability and a multiplier on its
  size, a compute bound's utilisation and model-size priors, and shifts of the median of
  calibration priors (``ceiling_headroom``, ``growth_decay``, ``long_run_growth``, ``inference_share``,
  ``adoption_headroom``, ``usage_headroom``, ``k``), applied through the scenario
  mechanism ``[assumptions]`` (importance reweighting, :mod:`sim.engine.reweighting`). A prior
  shift's range is narrowed until every corner of the design keeps the effective sample size
  above :data:`sim.engine.reweighting.MIN_ESS`; a narrowed or dropped factor is reported, never silent.
* **Evaluations**: Saltelli sampling (``SALib.sample.sobol``, ``N (D + 2)`` points for ``D``
  factors); each point is a modified :class:`~sim.scenarios.scenario.Scenario` run by the engine's own
  :func:`~sim.engine.simulate.simulate_block` for ``M`` paths with the same seed (common random
  numbers), reusing one :func:`~sim.engine.simulate.build_trends` for all points.
* **Targets**: each claim's probability by each of its dates, and log10 of the median daily
  tokens in 2027-12 and 2030-12. ``SALib.analyze.sobol`` gives first-order (S1) and total (ST)
  indices with bootstrap confidence intervals; a separate replicate run at the scenario's own
  values with independent seeds measures the Monte Carlo noise left in each evaluation.
* **Path quantities** (a second question): PAWN on given samples ranks which correlated posterior
  parameters of a path decide its claim indicator, against an independent-noise dummy.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import xarray as xr

from sim.analysis.sensitivity.evaluation import (
    NOISE_REPLICATES,
    ScenarioModel,
    sobol_design,
    sobol_indices,
)
from sim.analysis.sensitivity.factors import scenario_factors
from sim.analysis.sensitivity.pawn import pawn_dataset
from sim.analysis.sensitivity.sizes import DEFAULT_BASE_SAMPLES, DEFAULT_PATHS, check_sizes
from sim.analysis.sensitivity.targets import scenario_targets
from sim.calibration.posterior import Posterior
from sim.core.errors import UserError
from sim.core.provenance import provenance
from sim.scenarios.scenario import Scenario

log = logging.getLogger("tokensim")

DESIGN = ("Factors are the scenario's assumptions, each uniform over a stated range around the scenario's value "
          "(volatility sd x0.5..x1.5 and persistence with its memory 1/(1-phi) halved..doubled; each used growth "
          "family's weight times exp(+-ln 2), renormalised; each event's probability x0.5..x1.5 and size x0.5..x1.5; "
          "the median of the calibration priors of ceiling_headroom, growth_decay and long_run_growth shifted on the log "
          "scale, of inference_share, adoption_headroom and usage_headroom on the logit scale and of k by up to +-0.5 "
          "per year, through [assumptions] importance reweighting, narrowed until every corner keeps the "
          "effective sample size above its minimum). Saltelli sampling (SALib, scrambled Sobol', N (D + 2) points); "
          "every point runs the engine with the same seed (common random numbers) for M paths, reusing one trend "
          "computation. Targets: each claim's probability on each of its dates (share of the M paths) and log10 of "
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
        Saltelli base size ``N`` (a power of two in :data:`~sim.analysis.sensitivity.sizes.BASE_SAMPLES`);
        ``N (D + 2)`` evaluations.
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
        **provenance(),
        "method": "sobol (SALib: Saltelli sampling, first-order and total indices, bootstrap 95% intervals)",
        "base_samples": int(base_samples),
        "evaluations": int(outputs.shape[0]),
        "paths_per_evaluation": int(model.paths),
        "noise_replicates": NOISE_REPLICATES,
        "min_effective_sample_size": float(worst_ess) if math.isfinite(worst_ess) else -1.0,
        "notes": "; ".join(notes),
        "design": DESIGN,
    })
