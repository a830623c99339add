"""Calibration: fit every model with NUTS, gate on convergence, cache the posterior by its id.

The id is a hash of everything the posterior depends on: the fitted observations (as cut to a
vintage), the priors chosen for that vintage (a pooled prior by its analogs file and vintage), the
compute figures the compute-logistic family is fitted with, the model version, the sampler settings, the
posterior file format and the versions of the libraries that compile and sample the fits. ``calibrate``
reuses the cached file whose name carries that id once it has proved itself, and refits when anything
changed: never silently stale, never silently edited. Computing the id reads only the TOML files (numpy, no
PyMC), so a cached posterior is found quickly.

Fits run in parallel worker processes (:mod:`sim.calibration.workers`); ``calibrate_all`` fits several
vintages at once (a backtest's origins), each fit's vintages in one process so that a structure they
share is compiled once. Processes sharing a cache folder take turns on its lock: one fits, the others
wait for it and then reuse its file; a file already there is read at once (files are replaced whole).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from sim.calibration.fits import FITS, fit_names
from sim.calibration.inputs import CalibrationInputs, SamplerSettings
from sim.calibration.numba_ops import KERNELS_VERSION
from sim.calibration.models import check_volume_inputs, volume_structure
from sim.calibration.posterior import FORMAT, Posterior, load_posterior
from sim.calibration.sampling import ConvergenceError, ConvergenceGate, gate_failures
from sim.calibration.toolchain import library_versions
from sim.core.errors import UserError
from sim.core.locks import folder_lock, folder_locks
from sim.core.provenance import utc_now
from sim.core.version import __version__
from sim.data.observations import SHARE_QUANTITIES, VOLUME_QUANTITIES, ObservationSet

#: Bump when the model's structure changes, so that old posteriors are refitted.
MODEL_VERSION = "7"
#: Free space a fit needs in the cache folder before it starts (a posterior file is about 6 MB).
POSTERIOR_ROOM = 32 * 10**6
#: What one fit costs cold, said before a calibration starts: 20 to 40 s on an idle 2-core machine, most of it
#: numba compiling the log density (README "Benchmarks": 236 s for nine fits cold, 106 s again on the compile
#: cache it leaves); a busy machine takes several times longer.
SECONDS_PER_FIT = (20, 40)


def expected_time(fits: int) -> str:
    """How long a cold calibration of ``fits`` models takes, in words."""
    low, high = (max(1, round(fits * seconds / 60)) for seconds in SECONDS_PER_FIT)
    return f"about {low} to {high} minutes on 2 idle cores, longer on a busy machine"


def calibration_id(inputs: CalibrationInputs, *, partial: bool = False) -> str:
    """The hash that names a posterior: the fitted observations and their vintage, the series and shared
    releases of the whole registry (a vintage's models carry them all), the priors chosen for it,
    the compute trend (when the fits use it), the model version, the sampler settings, the fits, the
    posterior file format and the library versions; ``partial`` names a calibration that left out fits
    failing the convergence gate (never a full calibration's id)."""
    compute = inputs.compute
    payload = {
        "model_version": MODEL_VERSION,
        "observations": inputs.observations.digest(),
        "structure": volume_structure(inputs.observations),  # what a vintage's model carries unpublished
        "as_of": str(inputs.observations.as_of),
        "cut": inputs.observations.cut,
        "priors": inputs.priors.digest(),
        "compute": None if compute is None else [compute.sha256, str(compute.as_of)],
        "settings": asdict(inputs.settings),
        "fits": list(fit_names(compute)),
        "libraries": library_versions(),
        "kernels": KERNELS_VERSION,
        "posterior_format": FORMAT,
        **({"failing_fits": "left out"} if partial else {}),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def last_data_month(observations: ObservationSet) -> str:
    """The last month any fitted figure describes (``YYYY-MM``): process noise, events and claims start after it."""
    fitted = observations.fitted((*VOLUME_QUANTITIES, *SHARE_QUANTITIES))
    if not fitted:
        raise UserError("no volume observation is left to calibrate on (check the vintage)",
                        where=str(observations.path))
    return str(max(o.last_day for o in fitted))[:7]


def posterior_path(inputs: CalibrationInputs, posterior_id: str | None = None) -> Path:
    """The file a calibration's posterior is cached in."""
    return inputs.cache / f"posterior-{(posterior_id or calibration_id(inputs))[:16]}.nc"


def cached_posterior(inputs: CalibrationInputs, posterior_id: str | None = None,
                     log: logging.Logger | None = None) -> Posterior | None:
    """The cached posterior of these inputs once it has proved itself (:func:`verified`), or None when there
    is none."""
    posterior_id = posterior_id or calibration_id(inputs)
    path = posterior_path(inputs, posterior_id)
    cache = inputs.cache
    if cache.exists() and not cache.is_dir():
        raise UserError("the posterior cache must be a folder, and this is a file", where=f"--posteriors {cache}")
    if not cache.is_dir():
        return None
    check = functools.partial(verified, path, posterior_id, inputs.settings, fit_names(inputs.compute),
                              log or logging.getLogger("tokensim"))
    if path.exists():  # files are replaced whole (a rename), so one that exists is read without waiting
        return check()
    with folder_lock(cache, shared=True, why="calibrating there"):  # perhaps being fitted: wait for it
        return check() if path.exists() else None


def calibrate(inputs: CalibrationInputs, *, force: bool = False, log: logging.Logger | None = None,
              processes: int | None = None, drop_failing: bool = False) -> tuple[Posterior, Path]:
    """Fit (or reuse from ``inputs.cache``) the posterior for the inputs' observations (as of their
    vintage), priors and sampler settings; returns it and its file. A fit that fails the convergence gate
    raises :class:`~sim.calibration.sampling.ConvergenceError` (unless ``drop_failing``, see
    :func:`calibrate_all`); a cached file that does not prove itself is refused with the reason, never
    reused."""
    outcome = calibrate_all([inputs], force=force, log=log, processes=processes, drop_failing=drop_failing)[0]
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def calibrate_all(vintages: Sequence[CalibrationInputs], *, force: bool = False, log: logging.Logger | None = None,
                  processes: int | None = None, drop_failing: bool = False
                  ) -> list[tuple[Posterior, Path] | BaseException]:
    """Calibrate several inputs (vintages) at once, each cached by its id; returns, in order, each one's
    (posterior, file) or the error that stopped it (a fit failing the convergence gate). Fits of every
    vintage not cached yet run in ``processes`` worker processes (default: one per CPU), holding the
    cache folders' locks.

    With ``drop_failing`` (the backtest, which calibrates many vintages), a fit that fails the convergence
    gate is left out instead of failing its vintage: the posterior lists it, with the finding, in its
    ``dropped_fits`` attribute and is cached under an id of its own (:func:`calibration_id` with
    ``partial``); when no fit fails it is the full calibration, under the full id. If every fit of a
    vintage fails, its first failure is its outcome.
    """
    log = log or logging.getLogger("tokensim")
    results: list[tuple[Posterior, Path] | BaseException | None] = [None] * len(vintages)
    ids = [calibration_id(inputs) for inputs in vintages]
    pending = _not_cached(vintages, ids, results, force, log, drop_failing)
    for index in pending.values():  # what no fit could use is refused before any work
        check_volume_inputs(vintages[index].observations, vintages[index].priors)
    if pending:
        for cache in {vintages[index].cache for index in pending.values()}:
            _check_writable(cache)
        with folder_locks([vintages[index].cache for index in pending.values()], why="calibrating there"):
            if not force:  # fitted by another process while this one waited
                pending = _not_cached([vintages[i] for i in pending.values()], list(pending), results, False, log,
                                      drop_failing, indices=list(pending.values()))
            _fit_pending(vintages, pending, results, log, processes, drop_failing)
    first: dict[str, int] = {}
    for index, posterior_id in enumerate(ids):
        if results[index] is not None:
            first.setdefault(posterior_id, index)
    for index, posterior_id in enumerate(ids):  # a vintage asked for twice shares the first one's result
        if results[index] is None:
            results[index] = results[first[posterior_id]]
    return results  # type: ignore[return-value]


def _not_cached(vintages, ids, results, force, log, drop_failing, indices=None) -> dict[str, int]:
    """Fill ``results`` with the verified cached posteriors (a partial one too, with ``drop_failing``); return
    the ids still to fit, each with the index of its first vintage."""
    pending: dict[str, int] = {}
    for index, inputs, posterior_id in zip(indices or range(len(vintages)), vintages, ids):
        found = None
        for candidate in (posterior_id, *((calibration_id(inputs, partial=True),) if drop_failing else ())):
            posterior = None if force or found else cached_posterior(inputs, candidate, log)
            found = found or (posterior and (posterior, posterior_path(inputs, candidate)))
        if found:
            results[index] = found
        elif posterior_id not in pending:
            pending[posterior_id] = index
    return pending


def _fit_pending(vintages, pending: dict[str, int], results, log, processes, drop_failing) -> None:
    """Fit every fit of each pending vintage in worker processes and save each vintage's posterior."""
    from sim.calibration.workers import run_jobs

    jobs = [((index, fit), fit, vintages[index]) for fit in fit_names() for index in pending.values()
            if fit in fit_names(vintages[index].compute)]
    if jobs:
        fits = dict.fromkeys(fit for _, fit, _ in jobs)
        log.info("no fitted posterior for these inputs in %s: calibrating %d models (%s)%s with NUTS; %s. The "
                 "posterior is cached there, so later runs start in seconds.", vintages[0].cache, len(fits),
                 ", ".join(fits), "" if len(pending) == 1 else f" at {len(pending)} vintages",
                 expected_time(len(jobs)))

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
        failed = {fit: outcomes[(index, fit)] for fit in fits if isinstance(outcomes[(index, fit)], BaseException)}
        droppable = drop_failing and all(isinstance(error, ConvergenceError) for error in failed.values())
        if failed and (not droppable or len(failed) == len(fits)):
            results[index] = next(iter(failed.values()))
            continue
        dropped = {fit: str(error).split(". Diagnostics:")[0] for fit, error in failed.items()}
        for fit, why in dropped.items():
            log.warning("left out %s as of %s: %s", fit, inputs.as_of, why)
        kept = [fit for fit in fits if fit not in failed]
        groups = {fit: dict(outcomes[(index, fit)][0]) for fit in kept}
        draws = {fit: groups[fit].pop("posterior") for fit in kept}
        reports = {fit: outcomes[(index, fit)][1] for fit in kept}
        attrs = {**_attributes(inputs), **({"dropped_fits": json.dumps(dropped)} if dropped else {})}
        posterior_id = calibration_id(inputs, partial=True) if dropped else posterior_id
        posterior = Posterior(posterior_id, draws, reports, attrs, groups)
        path = posterior_path(inputs, posterior_id)
        posterior.save(path)
        log.info("saved posterior %s", path)
        results[index] = posterior, path


def verified(path: Path, posterior_id: str, settings: SamplerSettings, fits: tuple[str, ...],
             log: logging.Logger) -> Posterior:
    """The cached posterior at ``path``, once it has proved itself: its content hashes, its id, every fit and
    parameter present with the draws the settings ask for, and every fit through the convergence gate again
    (divergences counted afresh from its NUTS statistics). Otherwise a UserError saying why."""
    posterior = load_posterior(path, expected_id=posterior_id)
    refit = "; it is not used. Refit with 'tokensim calibrate --force'"
    dropped = json.loads(posterior.attrs.get("dropped_fits", "{}"))  # left out of a partial calibration
    fits = tuple(fit for fit in fits if fit not in dropped)
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
