"""Calibration: fit every model with NUTS, gate on convergence, cache the posterior by its id.

The id is a hash of everything the posterior depends on: the fitted observations (as cut to a
vintage), the priors chosen for that vintage (a pooled prior by its analogs file and vintage), the
compute figures the compute-logistic family is fitted with, the model version and the sampler
settings. ``calibrate`` reuses the cached file whose name carries that id, and refits when anything
changed: never silently stale.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

from sim.calibration.fits import FITS, fit_names
from sim.calibration.inputs import CalibrationInputs
from sim.calibration.posterior import Posterior, load_posterior
from sim.calibration.sampling import fit_one, quiet_pymc
from sim.core.errors import UserError
from sim.core.provenance import utc_now
from sim.core.version import __version__
from sim.data.observations import SHARE_QUANTITIES, VOLUME_QUANTITIES, ObservationSet

#: Bump when the model's structure changes, so that old posteriors are refitted.
MODEL_VERSION = "4"
#: What one fit costs cold, said before a calibration starts: 20 to 40 s on an idle 2-core machine, most of it
#: compiling the model (README "Benchmarks": 126 s for six fits); a busy machine takes several times longer.
SECONDS_PER_FIT = (20, 40)


def expected_time(fits: int) -> str:
    """How long a cold calibration of ``fits`` models takes, in words."""
    low, high = (max(1, round(fits * seconds / 60)) for seconds in SECONDS_PER_FIT)
    return f"about {low} to {high} minutes on 2 idle cores, longer on a busy machine"


def calibration_id(inputs: CalibrationInputs) -> str:
    """The hash that names a posterior: the fitted observations and their vintage, the priors chosen for it,
    the compute trend (when the fits use it), the model version, the sampler settings and the fits."""
    compute = inputs.compute
    payload = {
        "model_version": MODEL_VERSION,
        "observations": inputs.observations.digest(),
        "as_of": str(inputs.observations.as_of),
        "cut": inputs.observations.cut,
        "priors": inputs.priors.digest(),
        "compute": None if compute is None else [compute.sha256, str(compute.as_of)],
        "settings": asdict(inputs.settings),
        "fits": list(fit_names(compute)),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def last_data_month(observations: ObservationSet) -> str:
    """The last month any fitted figure describes (``YYYY-MM``): process noise, events and claims start after it."""
    fitted = observations.fitted((*VOLUME_QUANTITIES, *SHARE_QUANTITIES))
    return str(max(o.last_day for o in fitted))[:7]


def calibrate(inputs: CalibrationInputs, *, force: bool = False,
              log: logging.Logger | None = None) -> tuple[Posterior, Path]:
    """Fit (or reuse from ``inputs.cache``) the posterior for the inputs' observations (as of their
    vintage), priors and sampler settings; returns it and its file."""
    log = log or logging.getLogger("tokensim")
    observations, priors, settings, compute = inputs.observations, inputs.priors, inputs.settings, inputs.compute
    fits = fit_names(compute)
    posterior_id = calibration_id(inputs)
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
             expected_time(len(fits)))
    draws, reports = {}, {}
    for number, fit in enumerate(fits, start=1):
        started = time.perf_counter()
        log.info("fitting %d/%d: %s ...", number, len(fits), fit)
        with quiet_pymc():
            draws[fit], reports[fit] = fit_one(fit, observations, priors, settings, compute=compute)
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
        "priors_json": priors.as_json(resolve=True),
        "priors_evidence": json.dumps(dict(priors.evidence)),
        "compute_file": "" if compute is None else str(compute.source),
        "compute_sha256": "" if compute is None else compute.sha256,
        "as_of": str(observations.as_of or ""),
        "last_data_month": last_data_month(observations),
        "cut": observations.cut,
        "sampler": json.dumps(asdict(settings)),
        "created": utc_now(),
    }
    posterior = Posterior(posterior_id, draws, reports, attrs)
    posterior.save(path)
    log.info("saved posterior %s", path)
    return posterior, path
