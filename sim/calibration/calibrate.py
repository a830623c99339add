"""Calibration: fit every model with NUTS, gate on convergence, cache the posterior by its id.

The id is a hash of everything the posterior depends on: the fitted observations (as cut to a
vintage), the priors chosen for that vintage (a pooled prior by its analogs file and vintage), the
compute figures the compute-logistic family is fitted with, the model version, the sampler settings and
the posterior file format. ``calibrate`` reuses the cached file whose name carries that id once it has
proved itself, and refits when anything changed: never silently stale, never silently edited.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from sim.calibration.fits import FITS, fit_names
from sim.calibration.inputs import CalibrationInputs, SamplerSettings
from sim.calibration.posterior import FORMAT, Posterior, load_posterior
from sim.calibration.sampling import ConvergenceGate, fit_one, gate_failures, quiet_pymc
from sim.core.errors import UserError
from sim.core.locks import folder_lock
from sim.core.provenance import utc_now
from sim.core.version import __version__
from sim.data.observations import SHARE_QUANTITIES, VOLUME_QUANTITIES, ObservationSet

#: Bump when the model's structure changes, so that old posteriors are refitted.
MODEL_VERSION = "4"
#: Free space a fit needs in the cache folder before it starts (a posterior file is about 6 MB).
POSTERIOR_ROOM = 32 * 10**6


def calibration_id(inputs: CalibrationInputs) -> str:
    """The hash that names a posterior: the fitted observations and their vintage, the priors chosen for it,
    the compute trend (when the fits use it), the model version, the sampler settings, the fits and the
    posterior file format."""
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
        "posterior_format": FORMAT,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def last_data_month(observations: ObservationSet) -> str:
    """The last month any fitted figure describes (``YYYY-MM``): process noise, events and claims start after it."""
    fitted = observations.fitted((*VOLUME_QUANTITIES, *SHARE_QUANTITIES))
    if not observations.fitted(VOLUME_QUANTITIES):
        raise UserError("no volume observation is left to calibrate on (check the vintage)",
                        where=str(observations.path))
    return str(max(o.last_day for o in fitted))[:7]


def calibrate(inputs: CalibrationInputs, *, force: bool = False,
              log: logging.Logger | None = None) -> tuple[Posterior, Path]:
    """Fit (or reuse from ``inputs.cache``) the posterior for the inputs' observations (as of their
    vintage), priors and sampler settings; returns it and its file.

    A cached file is used only once it proves itself (:func:`verified`); one that does not is refused
    with the reason, never reused. Processes sharing a cache folder take turns on its lock: one fits,
    the others wait for it and then reuse its file.
    """
    log = log or logging.getLogger("tokensim")
    fits = fit_names(inputs.compute)
    posterior_id = calibration_id(inputs)
    settings = inputs.settings
    cache = inputs.cache
    if cache.exists() and not cache.is_dir():
        raise UserError("the posterior cache must be a folder, and this is a file", where=f"--posteriors {cache}")
    path = cache / f"posterior-{posterior_id[:16]}.nc"
    if not force and cache.is_dir():
        with folder_lock(cache, shared=True, why="calibrating there"):
            if path.exists():
                return verified(path, posterior_id, settings, fits, log), path
    _check_writable(cache)
    with folder_lock(cache, why="calibrating there"):
        if not force and path.exists():  # fitted by another process while this one waited
            return verified(path, posterior_id, settings, fits, log), path
        posterior = _fit(inputs, posterior_id, fits, log)
        posterior.save(path)
    log.info("saved posterior %s", path)
    return posterior, path


def verified(path: Path, posterior_id: str, settings: SamplerSettings, fits: tuple[str, ...],
             log: logging.Logger) -> Posterior:
    """The cached posterior at ``path``, once it has proved itself: its content hashes, its id, every fit and
    parameter present with the draws the settings ask for, and every fit through the convergence gate again
    (divergences counted afresh from its NUTS statistics). Otherwise a UserError saying why."""
    posterior = load_posterior(path, expected_id=posterior_id)
    refit = "; it is not used. Refit with 'tokensim calibrate --force'"
    missing = [f"{fit}.{name}" for fit in fits for name in FITS[fit].parameters
               if fit not in posterior.fits or name not in posterior.fits[fit]]
    if missing:
        raise UserError(f"damaged posterior: {', '.join(missing)} missing" + refit, where=str(path))
    for fit in fits:
        shape = (posterior.fits[fit].sizes.get("chain"), posterior.fits[fit].sizes.get("draw"))
        if shape != (settings.chains, settings.draws):
            raise UserError(f"damaged posterior: fit '{fit}' holds {shape[0]} chains of {shape[1]} draws, where "
                            f"its settings ask for {settings.chains} of {settings.draws}" + refit, where=str(path))
        report = posterior.diagnostics[fit]
        if any(name not in report for name in ("rhat", "ess_bulk", "ess_tail")) or "parameter" not in report.coords:
            raise UserError(f"damaged posterior: fit '{fit}' has no convergence diagnostics" + refit, where=str(path))
        stats = posterior.groups.get(fit, {}).get("sample_stats")
        divergences = int(stats["diverging"].sum()) if stats is not None and "diverging" in stats else None
        report = report.assign_attrs(divergences=max(divergences or 0, int(report.attrs.get("divergences", 0))))
        failures = gate_failures(report, ConvergenceGate())
        if failures:
            raise UserError(f"fit '{fit}' does not pass the convergence gate ({'; '.join(failures)})" + refit,
                            where=str(path))
    log.info("reusing posterior %s (content hash, draws and convergence gate verified)", path)
    return posterior


def _check_writable(cache: Path) -> None:
    """Refuse, before any fitting, a cache folder the fitted posterior could not be saved in (a few MB)."""
    try:
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=cache):
            pass
        free = shutil.disk_usage(cache).free
    except OSError as exc:
        raise UserError(f"cannot save a posterior in this folder ({exc.strerror or exc}); choose another with "
                        "--posteriors", where=f"--posteriors {cache}") from None
    if free < POSTERIOR_ROOM:
        raise UserError(f"cannot save a posterior in this folder: {free / 1e6:.1f} MB are free on its disk and a "
                        f"posterior needs up to {POSTERIOR_ROOM / 1e6:.0f} MB", where=f"--posteriors {cache}")


def _fit(inputs: CalibrationInputs, posterior_id: str, fits: tuple[str, ...], log: logging.Logger) -> Posterior:
    """Sample every fit (each must pass the convergence gate) into a new Posterior."""
    observations, priors, settings, compute = inputs.observations, inputs.priors, inputs.settings, inputs.compute
    groups, reports = {}, {}
    for fit in fits:
        started = time.perf_counter()
        with quiet_pymc():
            groups[fit], reports[fit] = fit_one(fit, observations, priors, settings, compute=compute)
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
    draws = {fit: groups[fit].pop("posterior") for fit in fits}
    return Posterior(posterior_id, draws, reports, attrs, groups)
