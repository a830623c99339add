"""The Python API: the same steps the CLI runs, as functions.

>>> import sim
>>> results = sim.run("scenarios/baseline.toml", draws=2000)   # doctest: +SKIP
>>> results["daily_tokens"].sel(time="2030-12").median("draw")   # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import xarray as xr

from sim.analysis import claims_to_attr
from sim.calibration import OBSERVATIONS, POSTERIORS, PRIORS, SamplerSettings, calibrate
from sim.engine import simulate
from sim.errors import UserError
from sim.results import open_results, to_dataset, write_dataset
from sim.scenario import MAX_DRAWS, Scenario, load_scenario


def run(
    scenario: str | Path | Scenario,
    *,
    draws: int | None = None,
    seed: int | None = None,
    out: str | Path | None = None,
    observations: str | Path = OBSERVATIONS,
    priors: str | Path = PRIORS,
    posteriors: str | Path = POSTERIORS,
    as_of: dt.date | None = None,
    settings: SamplerSettings = SamplerSettings(),
    log: logging.Logger | None = None,
) -> xr.Dataset:
    """Calibrate if needed, simulate ``scenario`` and return the results Dataset.

    Parameters
    ----------
    scenario
        A scenario file or a loaded :class:`~sim.scenario.Scenario`.
    draws, seed
        Override the scenario's number of paths and root seed.
    out
        If given, also write the Dataset there (atomically).
    observations, priors, posteriors
        The observation registry, the priors file and the posterior cache folder.
    as_of
        Calibrate only on figures published by this date.
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    if draws is not None and not 1 <= draws <= MAX_DRAWS:
        raise UserError(f"must be between 1 and {MAX_DRAWS}, got {draws}", where="--draws")
    if seed is not None and not 0 <= seed < 2**63:
        raise UserError(f"must be between 0 and 2**63 - 1, got {seed}", where="--seed")
    posterior, _ = calibrate(observations, priors, posteriors, as_of=as_of, settings=settings, log=log)
    seed = scenario.seed if seed is None else seed
    times, paths = simulate(posterior, scenario, draws=draws, seed=seed)
    dataset = to_dataset(times, paths, scenario, posterior, seed)
    dataset.attrs["claims"] = claims_to_attr(scenario.claims)
    if out is not None:
        write_dataset(dataset, out)
    return dataset


def load(path: str | Path) -> xr.Dataset:
    """Open a results file written by :func:`run` or ``tokensim run``."""
    return open_results(path)
