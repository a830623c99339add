"""Calibration: fit every model with NUTS, gate on convergence, cache the posterior by its id.

The id is a hash of everything the posterior depends on: the fitted observations (as cut to a
vintage), the priors, the model version and the sampler settings. ``calibrate`` reuses the cached
file whose name carries that id, and refits when anything changed: never silently stale.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

from sim.calibration.fits import FITS, fit_names
from sim.calibration.inputs import CalibrationInputs, SamplerSettings
from sim.calibration.posterior import Posterior, load_posterior
from sim.calibration.sampling import fit_one, quiet_pymc
from sim.core.errors import UserError
from sim.core.provenance import utc_now
from sim.core.version import __version__
from sim.data.observations import ObservationSet
from sim.data.priors import Priors

#: Bump when the model's structure changes, so that old posteriors are refitted.
MODEL_VERSION = "3"
#: What a first calibration costs, said before it starts (README "Benchmarks": 126 s cold on an idle 2-core
#: machine, most of it compiling each model; a busy machine takes several times longer).
EXPECTED_TIME = "about 2 to 4 minutes on 2 idle cores, longer on a busy machine"


def calibration_id(observations: ObservationSet, priors: Priors, settings: SamplerSettings,
                   fits: tuple[str, ...]) -> str:
    """The hash that names a posterior: observations, vintage, priors, model, sampler, fits."""
    payload = {
        "model_version": MODEL_VERSION,
        "observations": observations.digest(),
        "as_of": str(observations.as_of),
        "cut": observations.cut,
        "priors": priors.digest(),
        "settings": asdict(settings),
        "fits": list(fits),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def calibrate(inputs: CalibrationInputs, *, force: bool = False,
              log: logging.Logger | None = None) -> tuple[Posterior, Path]:
    """Fit (or reuse from ``inputs.cache``) the posterior for the inputs' observations (as of their
    vintage), priors and sampler settings; returns it and its file."""
    log = log or logging.getLogger("tokensim")
    observations, priors, settings = inputs.observations, inputs.priors, inputs.settings
    fits = fit_names()
    posterior_id = calibration_id(observations, priors, settings, fits)
    path = inputs.cache / f"posterior-{posterior_id[:16]}.nc"
    if path.exists() and not force:
        posterior = load_posterior(path, expected_id=posterior_id)
        missing = [f"{fit}.{name}" for fit in fits for name in FITS[fit].parameters
                   if fit not in posterior.fits or name not in posterior.fits[fit]]
        if missing:
            raise UserError(f"damaged posterior: {', '.join(missing)} missing; delete it or run "
                            "'tokensim calibrate --force'", where=str(path))
        log.info("reusing posterior %s", path)
        return posterior, path
    log.info("no fitted posterior for these inputs in %s: calibrating %d models (%s) with NUTS; %s. The "
             "posterior is cached there, so later runs start in seconds.", inputs.cache, len(fits), ", ".join(fits),
             EXPECTED_TIME)
    draws, reports = {}, {}
    for number, fit in enumerate(fits, start=1):
        started = time.perf_counter()
        log.info("fitting %d/%d: %s ...", number, len(fits), fit)
        with quiet_pymc():
            draws[fit], reports[fit] = fit_one(fit, observations, priors, settings)
        log.info("fitted %-12s in %5.1f s (max R-hat %.4f, min ESS %.0f)", fit, time.perf_counter() - started,
                 float(reports[fit]["rhat"].max()),
                 float(min(reports[fit]["ess_bulk"].min(), reports[fit]["ess_tail"].min())))
    attrs = {
        "tokensim_version": __version__,
        "model_version": MODEL_VERSION,
        "observations_file": str(inputs.registry.path),
        "observations_sha256": observations.digest(),
        "observation_ids": " ".join(o.id for o in observations.observations),
        "priors_file": str(priors.path),
        "priors_sha256": priors.digest(),
        "priors_json": priors.as_json(),
        "as_of": str(observations.as_of or ""),
        "cut": observations.cut,
        "sampler": json.dumps(asdict(settings)),
        "created": utc_now(),
    }
    posterior = Posterior(posterior_id, draws, reports, attrs)
    posterior.save(path)
    log.info("saved posterior %s", path)
    return posterior, path
