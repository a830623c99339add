"""Calibration: fit every model with NUTS, gate on convergence, cache the posterior by its id.

The id is a hash of everything the posterior depends on: the fitted observations (as cut to a
vintage), the priors chosen for that vintage (a pooled prior by its analogs file and vintage), the
compute figures the compute-logistic family is fitted with, the model version, the sampler
settings and the versions of the libraries that compile and sample the fits. ``calibrate`` reuses the
cached file whose name carries that id, and refits when anything changed: never silently stale.
Computing the id reads only the TOML files (numpy, no PyMC), so a cached posterior is found quickly.

Fits run in parallel worker processes (:mod:`sim.calibration.workers`); ``calibrate_all`` fits several
vintages at once (a backtest's origins), each fit's vintages in one process so that a structure they
share is compiled once.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from sim.calibration.fits import FITS, fit_names
from sim.calibration.inputs import CalibrationInputs
from sim.calibration.posterior import Posterior, load_posterior
from sim.calibration.toolchain import library_versions
from sim.core.errors import UserError
from sim.core.provenance import utc_now
from sim.core.version import __version__
from sim.data.observations import SHARE_QUANTITIES, VOLUME_QUANTITIES, ObservationSet

#: Bump when the model's structure changes, so that old posteriors are refitted.
MODEL_VERSION = "5"


def calibration_id(inputs: CalibrationInputs) -> str:
    """The hash that names a posterior: the fitted observations and their vintage, the priors chosen for it,
    the compute trend (when the fits use it), the model version, the sampler settings, the fits and the
    library versions."""
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
        "libraries": library_versions(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def last_data_month(observations: ObservationSet) -> str:
    """The last month any fitted figure describes (``YYYY-MM``): process noise, events and claims start after it."""
    fitted = observations.fitted((*VOLUME_QUANTITIES, *SHARE_QUANTITIES))
    return str(max(o.last_day for o in fitted))[:7]


def posterior_path(inputs: CalibrationInputs, posterior_id: str | None = None) -> Path:
    """The file a calibration's posterior is cached in."""
    return inputs.cache / f"posterior-{(posterior_id or calibration_id(inputs))[:16]}.nc"


def cached_posterior(inputs: CalibrationInputs, posterior_id: str | None = None) -> Posterior | None:
    """The cached posterior of these inputs, checked whole, or None when there is none."""
    posterior_id = posterior_id or calibration_id(inputs)
    path = posterior_path(inputs, posterior_id)
    if not path.exists():
        return None
    posterior = load_posterior(path, expected_id=posterior_id)
    missing = [f"{fit}.{name}" for fit in fit_names(inputs.compute) for name in FITS[fit].parameters
               if fit not in posterior.fits or name not in posterior.fits[fit]]
    if missing:
        raise UserError(f"damaged posterior: {', '.join(missing)} missing; delete it or run "
                        "'tokensim calibrate --force'", where=str(path))
    return posterior


def calibrate(inputs: CalibrationInputs, *, force: bool = False, log: logging.Logger | None = None,
              processes: int | None = None) -> tuple[Posterior, Path]:
    """Fit (or reuse from ``inputs.cache``) the posterior for the inputs' observations (as of their
    vintage), priors and sampler settings; returns it and its file. A fit that fails the convergence gate
    raises :class:`~sim.calibration.sampling.ConvergenceError`."""
    outcome = calibrate_all([inputs], force=force, log=log, processes=processes)[0]
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def calibrate_all(vintages: Sequence[CalibrationInputs], *, force: bool = False, log: logging.Logger | None = None,
                  processes: int | None = None) -> list[tuple[Posterior, Path] | BaseException]:
    """Calibrate several inputs (vintages) at once, each cached by its id; returns, in order, each one's
    (posterior, file) or the error that stopped it (a fit failing the convergence gate). Fits of every
    vintage not cached yet run in ``processes`` worker processes (default: one per CPU)."""
    from sim.calibration.workers import run_jobs

    log = log or logging.getLogger("tokensim")
    results: list[tuple[Posterior, Path] | BaseException | None] = [None] * len(vintages)
    ids = [calibration_id(inputs) for inputs in vintages]
    pending: dict[str, int] = {}
    for index, (inputs, posterior_id) in enumerate(zip(vintages, ids)):
        posterior = None if force else cached_posterior(inputs, posterior_id)
        if posterior is not None:
            log.info("reusing posterior %s", posterior_path(inputs, posterior_id))
            results[index] = posterior, posterior_path(inputs, posterior_id)
        elif posterior_id not in pending:
            pending[posterior_id] = index
    jobs = [((index, fit), fit, vintages[index]) for fit in fit_names() for index in pending.values()
            if fit in fit_names(vintages[index].compute)]

    def done(label, fit, outcome) -> None:
        if not isinstance(outcome, BaseException):
            report = outcome[1]
            log.info("fitted %-18s in %5.1f s (max R-hat %.4f, min ESS %.0f)%s", fit, outcome[2],
                     float(report["rhat"].max()), float(min(report["ess_bulk"].min(), report["ess_tail"].min())),
                     "" if len(pending) == 1 else f" as of {vintages[label[0]].as_of}")

    outcomes = run_jobs(jobs, processes=processes, done=done) if jobs else {}
    for posterior_id, index in pending.items():
        inputs = vintages[index]
        fits = fit_names(inputs.compute)
        failed = [outcomes[(index, fit)] for fit in fits if isinstance(outcomes[(index, fit)], BaseException)]
        if failed:
            results[index] = failed[0]
            continue
        draws = {fit: outcomes[(index, fit)][0] for fit in fits}
        reports = {fit: outcomes[(index, fit)][1] for fit in fits}
        posterior = Posterior(posterior_id, draws, reports, _attributes(inputs))
        path = posterior_path(inputs, posterior_id)
        posterior.save(path)
        log.info("saved posterior %s", path)
        results[index] = posterior, path
    for index, posterior_id in enumerate(ids):  # a vintage asked for twice shares the first one's result
        if results[index] is None:
            results[index] = results[pending[posterior_id]]
    return results  # type: ignore[return-value]


def _attributes(inputs: CalibrationInputs) -> dict:
    """What a posterior file records about its inputs, besides its id."""
    observations, priors, settings, compute = inputs.observations, inputs.priors, inputs.settings, inputs.compute
    return {
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
        "libraries": json.dumps(library_versions()),
        "created": utc_now(),
    }
