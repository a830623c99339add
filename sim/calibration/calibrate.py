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
from sim.calibration.sampling import ConvergenceError, fit_one, quiet_pymc
from sim.core.errors import UserError
from sim.core.provenance import utc_now
from sim.core.version import __version__
from sim.data.observations import SHARE_QUANTITIES, VOLUME_QUANTITIES, ObservationSet

#: Bump when the model's structure changes, so that old posteriors are refitted.
MODEL_VERSION = "4"


def calibration_id(inputs: CalibrationInputs, *, partial: bool = False) -> str:
    """The hash that names a posterior: the fitted observations and their vintage, the priors chosen for it,
    the compute trend (when the fits use it), the model version, the sampler settings and the fits; ``partial``
    names a calibration that left out fits failing the convergence gate (never a full calibration's id)."""
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
        **({"failing_fits": "left out"} if partial else {}),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def last_data_month(observations: ObservationSet) -> str:
    """The last month any fitted figure describes (``YYYY-MM``): process noise, events and claims start after it."""
    fitted = observations.fitted((*VOLUME_QUANTITIES, *SHARE_QUANTITIES))
    return str(max(o.last_day for o in fitted))[:7]


def _reuse(path: Path, posterior_id: str, fits: tuple[str, ...], log: logging.Logger) -> Posterior:
    """The cached posterior at ``path``, checked: every fit it does not list as left out is there, whole."""
    posterior = load_posterior(path, expected_id=posterior_id)
    dropped = json.loads(posterior.attrs.get("dropped_fits", "{}"))
    missing = [f"{fit}.{name}" for fit in fits if fit not in dropped for name in FITS[fit].parameters
               if fit not in posterior.fits or name not in posterior.fits[fit]]
    if missing:
        raise UserError(f"damaged posterior: {', '.join(missing)} missing; delete it or run "
                        "'tokensim calibrate --force'", where=str(path))
    log.info("reusing posterior %s", path)
    return posterior


def calibrate(inputs: CalibrationInputs, *, force: bool = False, log: logging.Logger | None = None,
              drop_failing: bool = False) -> tuple[Posterior, Path]:
    """Fit (or reuse from ``inputs.cache``) the posterior for the inputs' observations (as of their
    vintage), priors and sampler settings; returns it and its file.

    With ``drop_failing`` (the backtest, which calibrates many vintages), a fit that fails the convergence gate
    is left out instead of failing the calibration: the posterior lists it, with the finding, in its
    ``dropped_fits`` attribute and is cached under an id of its own (:func:`calibration_id` with ``partial``);
    when no fit fails it is the full calibration, under the full id. If every fit fails, the first failure
    is raised.
    """
    log = log or logging.getLogger("tokensim")
    observations, priors, settings, compute = inputs.observations, inputs.priors, inputs.settings, inputs.compute
    fits = fit_names(compute)
    ids = (calibration_id(inputs), *((calibration_id(inputs, partial=True),) if drop_failing else ()))
    if not force:
        for posterior_id in ids:
            path = inputs.cache / f"posterior-{posterior_id[:16]}.nc"
            if path.exists():
                return _reuse(path, posterior_id, fits, log), path
    draws, reports, dropped, first_failure = {}, {}, {}, None
    for fit in fits:
        started = time.perf_counter()
        try:
            with quiet_pymc():
                draws[fit], reports[fit] = fit_one(fit, observations, priors, settings, compute=compute)
        except ConvergenceError as error:
            if not drop_failing:
                raise
            first_failure = first_failure or error
            dropped[fit] = str(error).split(". Diagnostics:")[0]
            log.warning("left out %s: %s", fit, dropped[fit])
            continue
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
        **({"dropped_fits": json.dumps(dropped)} if dropped else {}),
    }
    if not draws:
        raise first_failure
    posterior_id = ids[-1] if dropped else ids[0]
    path = inputs.cache / f"posterior-{posterior_id[:16]}.nc"
    posterior = Posterior(posterior_id, draws, reports, attrs)
    posterior.save(path)
    log.info("saved posterior %s", path)
    return posterior, path
