"""Scenario assumptions that replace a calibration prior, applied by importance reweighting.

A posterior computed under prior ``p_old`` becomes the posterior under ``p_new`` when each draw is
weighted by ``p_new(x) / p_old(x)``: no refit is needed as long as the old posterior explored
where the new prior puts its mass. The effective sample size of the weights says whether it
did; below :data:`MIN_ESS` the scenario is refused with advice to recalibrate instead.
"""

from __future__ import annotations

import functools
import json

import numpy as np

from sim.calibration.posterior import Posterior
from sim.core.errors import UserError
from sim.data.distributions import parse_distribution
from sim.scenarios.scenario import Scenario

MIN_ESS = 200


def effective_sample_size(weights: np.ndarray) -> float:
    """Kish's effective sample size of normalised or unnormalised weights."""
    return float(weights.sum() ** 2 / np.sum(weights**2))


@functools.lru_cache(maxsize=128)
def _fitted_prior(spec: str):
    """The scipy form of a prior the posterior was fitted with (parsed once: beta fits are not free)."""
    return parse_distribution(json.loads(spec)).frozen


def posterior_weights(posterior: Posterior, scenario: Scenario) -> dict[str, np.ndarray | None]:
    """Normalised resampling weights per fit (``None`` where the scenario changes no prior of it)."""
    if not scenario.assumptions:
        return {}
    if "priors_json" not in posterior.attrs:
        raise UserError("this posterior does not record the priors it was fitted with, so scenario "
                        "assumptions cannot reweight it; run 'tokensim calibrate --force'",
                        where=f"{scenario.path}, table [assumptions]")
    fitted_priors = json.loads(posterior.attrs["priors_json"])
    old_specs = {**fitted_priors.get("volume", {}), **fitted_priors.get("open", {})}
    weights: dict[str, np.ndarray | None] = {}
    for fit in posterior.fits:
        samples = posterior.samples(fit)
        log_weight = np.zeros(posterior.size(fit))
        touched = False
        for name, new in scenario.assumptions:
            if name not in samples:
                continue
            if new.frozen is None:
                raise UserError("a fixed value cannot be reached by reweighting draws; give a (narrow) "
                                "distribution, or recalibrate with it in the priors file",
                                where=f"{scenario.path}, key 'assumptions.{name}'")
            old = _fitted_prior(json.dumps(old_specs[name], sort_keys=True))
            log_weight += new.frozen.logpdf(samples[name]) - old.logpdf(samples[name])
            touched = True
        if not touched:
            weights[fit] = None
            continue
        finite = np.isfinite(log_weight)
        weight = np.where(finite, np.exp(log_weight - np.max(log_weight[finite], initial=0.0)), 0.0)
        ess = effective_sample_size(weight) if weight.sum() > 0 else 0.0
        if ess < MIN_ESS:
            names = ", ".join(name for name, _ in scenario.assumptions if name in samples)
            raise UserError(f"the assumptions on {names} move so far from the calibration prior that only "
                            f"{ess:.0f} effective posterior draws of fit '{fit}' remain (at least {MIN_ESS} "
                            "needed); soften them or put them in a copy of calibration/priors.toml and recalibrate",
                            where=f"{scenario.path}, table [assumptions]")
        weights[fit] = weight / weight.sum()
    return weights
