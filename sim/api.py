"""The Python API: the same steps the CLI runs, as functions.

>>> import sim
>>> results = sim.run("scenarios/baseline.toml", draws=2000)   # doctest: +SKIP
>>> results["daily_tokens"].sel(time="2030-12").median("draw")   # doctest: +SKIP

``run``, ``sensitivity`` and ``predict`` calibrate first (reusing a cached posterior); they take the calibration
inputs loaded (:class:`~sim.calibration.inputs.CalibrationInputs`), or ``run`` the files to load
them from. ``simulate`` runs a scenario on a posterior already at hand; ``predict`` forecasts one figure.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from pathlib import Path

import xarray as xr

from sim.calibration.calibrate import calibrate, last_data_month
from sim.calibration.inputs import CalibrationInputs, SamplerSettings
from sim.calibration.posterior import Posterior
from sim.calibration.prior_draws import prior_posterior
from sim.core import paths
from sim.core.errors import UserError
from sim.engine.results import open_results, to_dataset, write_dataset
from sim.engine.runner import DEFAULT_CHUNK, Progress, run_paths
from sim.scenarios.scenario import MAX_DRAWS, Scenario, load_scenario


def run(
    scenario: str | Path | Scenario,
    *,
    draws: int | None = None,
    seed: int | None = None,
    out: str | Path | None = None,
    observations: str | Path | None = None,
    priors: str | Path | None = None,
    posteriors: str | Path | None = None,
    as_of: dt.date | None = None,
    cut: str = "published",
    chunk_size: int = DEFAULT_CHUNK,
    keep_paths: int | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Progress | None = None,
    settings: SamplerSettings = SamplerSettings(),
    log: logging.Logger | None = None,
    inputs: CalibrationInputs | None = None,
    prior_only: bool = False,
) -> xr.Dataset:
    """Calibrate if needed, simulate ``scenario`` and return the results Dataset.

    Parameters
    ----------
    scenario
        A scenario file or a loaded :class:`~sim.scenarios.scenario.Scenario`.
    draws, seed
        Override the scenario's number of paths and root seed.
    out
        If given, also write the Dataset there (atomically).
    observations, priors, posteriors
        The observation registry, the priors file and the posterior cache folder (default: as
        :mod:`sim.core.paths` finds them: ``./calibration/`` when there is one, else the shipped copies
        and the user's cache folder).
    as_of, cut
        Calibrate only on figures published by this date (``cut="published"``) or whose window
        ended by then (``cut="window"``).
    chunk_size, keep_paths
        Paths simulated per chunk (a multiple of 1000), and how many paths to keep in the Dataset
        (default: all up to 20,000); summaries always cover every simulated path.
    workers, scheduler
        Run the chunks on a local dask.distributed cluster of ``workers`` processes, or on the
        existing cluster at ``scheduler``; results are identical to a single-process run.
    settings
        The NUTS settings of a new fit.
    inputs
        The calibration inputs already loaded; when given, ``observations``, ``priors``,
        ``posteriors``, ``as_of``, ``cut`` and ``settings`` are not read.
    prior_only
        Simulate from the priors alone (no data touch them): the same paths, on prior draws of every fit
        (:func:`sim.calibration.prior_draws.prior_posterior`) instead of the posterior.
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    _check_overrides(draws, seed)
    if inputs is None:
        inputs = CalibrationInputs.load(observations, priors, posteriors, as_of=as_of, cut=cut, settings=settings)
    scenario.check_months(last_data_month(inputs.observations))
    if prior_only:
        posterior, path = prior_posterior(inputs), None
    else:
        posterior, path = calibrate(inputs, log=log)
    return simulate(posterior, scenario, draws=draws, seed=seed, out=out, chunk_size=chunk_size,
                    keep_paths=keep_paths, workers=workers, scheduler=scheduler, progress=progress,
                    files=calibration_files(inputs, path))


def simulate(posterior: Posterior, scenario: Scenario, *, draws: int | None = None, seed: int | None = None,
             out: str | Path | None = None, chunk_size: int = DEFAULT_CHUNK, keep_paths: int | None = None,
             workers: int | None = None, scheduler: str | None = None,
             progress: Progress | None = None, files: dict[str, str] | None = None) -> xr.Dataset:
    """Simulate ``scenario`` on a fitted posterior and return the results Dataset (the options are
    :func:`run`'s; ``files`` names the calibration files used, :func:`calibration_files`, for the provenance)."""
    _check_overrides(draws, seed)
    scenario.check_months(posterior.attrs["last_data_month"])
    if scenario.compute is not None:  # the bound as known at the posterior's vintage, like its data
        as_of = posterior.attrs.get("as_of") or None
        scenario = dataclasses.replace(scenario, compute=scenario.compute.known_by(
            None if as_of is None else dt.date.fromisoformat(str(as_of))))
    seed = scenario.seed if seed is None else seed
    output = run_paths(posterior, scenario, draws=scenario.draws if draws is None else draws, seed=seed,
                       chunk_size=chunk_size, keep_paths=keep_paths, workers=workers, scheduler=scheduler,
                       progress=progress)
    dataset = to_dataset(output, scenario, posterior, seed)
    dataset.attrs.update(files or {})
    if out is not None:
        write_dataset(dataset, out)
    return dataset


def calibration_files(inputs: CalibrationInputs, posterior: Path | None) -> dict[str, str]:
    """Which observation registry, priors, analogs, compute figures and posterior file a run used (absolute
    paths; no posterior file for a run from the priors alone), as attributes of its results: ./calibration/'s
    files, or the copies shipped with tokensim (:mod:`sim.core.paths`)."""
    files = {"observations_file": inputs.registry.path, "priors_file": inputs.prior_book.path,
             "analogs_file": inputs.analogs.path,
             "compute_figures_file": inputs.compute_figures.path, "posterior_file": posterior}
    return {name: str(Path(path).resolve()) for name, path in files.items() if path is not None}


def _check_overrides(draws: int | None, seed: int | None) -> None:
    """Refuse a number of paths or a seed out of range, before any work."""
    if draws is not None and not 1 <= draws <= MAX_DRAWS:
        raise UserError(f"must be between 1 and {MAX_DRAWS}, got {draws}", where="--draws")
    if seed is not None and not 0 <= seed < 2**63:
        raise UserError(f"must be between 0 and 2**63 - 1, got {seed}", where="--seed")


def predict(series: str, *, date: dt.date | None = None, window: tuple[dt.date, dt.date] | None = None,
            kind: str | None = None, value: float | None = None, bound: str = "",
            scenario: str | Path | Scenario | None = None, as_of: dt.date | None = None, members: int = 20_000,
            inputs: CalibrationInputs | None = None):
    """The posterior predictive of a fitted series' next figure, as ``tokensim predict`` prints it: a
    :class:`~sim.analysis.predict.Prediction` with its quantiles (and, with ``value``, its PIT); the
    scenario's weights mix the fits (default: the baseline, :func:`sim.core.paths.baseline`).

    >>> sim.api.predict("doubao", date=dt.date(2026, 6, 30), value=1e14).pit   # doctest: +SKIP
    """
    from sim.analysis.predict import check_value, figure_target
    from sim.analysis.predict import predict as predict_figure

    inputs = (inputs if inputs is not None else CalibrationInputs.load()).vintage(as_of)
    target = figure_target(inputs.registry, series, date=date, window=window, kind=kind)
    check_value(target, value, bound)
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(paths.baseline() if scenario is None else scenario)
    return predict_figure(inputs, target, scenario, value=value, bound=bound, size=members)


def load(path: str | Path) -> xr.Dataset:
    """Open a results file written by :func:`run` or ``tokensim run``."""
    return open_results(path)


def sensitivity(scenario: str | Path | Scenario, *, inputs: CalibrationInputs | None = None,
                base_samples: int | None = None, paths: int | None = None, seed: int | None = None,
                out: str | Path | None = None) -> xr.Dataset:
    """Calibrate if needed and run the sensitivity analysis (:func:`sim.analysis.sensitivity.analysis.analyse`)
    on a scenario; optionally write its outputs (``out``, .nc, with the .csv table and the tornado chart
    next to it). ``inputs`` default to the files in ``calibration/``; ``base_samples`` and ``paths`` to
    the design sizes of :mod:`sim.analysis.sensitivity.sizes`."""
    from sim.analysis.sensitivity.analysis import analyse
    from sim.analysis.sensitivity.outputs import output_paths
    from sim.analysis.sensitivity.sizes import DEFAULT_BASE_SAMPLES, DEFAULT_PATHS, check_sizes
    from sim.plots.tornado import write_sensitivity

    base_samples = DEFAULT_BASE_SAMPLES if base_samples is None else base_samples
    paths = DEFAULT_PATHS if paths is None else paths
    check_sizes(base_samples, paths)
    if out is not None:
        output_paths(out)
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    if not scenario.claims:
        raise UserError("the scenario states no [[claims]], so there is nothing to rank; add one "
                        "(see scenarios/README.md)", where=str(scenario.path))
    posterior, _ = calibrate(inputs if inputs is not None else CalibrationInputs.load())
    dataset = analyse(posterior, scenario, base_samples=base_samples, paths=paths, seed=seed)
    if out is not None:
        write_sensitivity(dataset, out)
    return dataset
