"""A whole sensitivity run on a scenario file: calibrate if needed, analyse, write the outputs."""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from sim.core.errors import UserError
from sim.scenarios.scenario import Scenario
from sim.sensitivity.analysis import analyse
from sim.sensitivity.outputs import output_paths, write_outputs
from sim.sensitivity.sizes import DEFAULT_BASE_SAMPLES, DEFAULT_PATHS, check_sizes


def sensitivity(scenario: str | Path | Scenario, *, base_samples: int = DEFAULT_BASE_SAMPLES,
                paths: int = DEFAULT_PATHS, seed: int | None = None, out: str | Path | None = None,
                observations: str | Path | None = None, priors: str | Path | None = None,
                posteriors: str | Path | None = None, as_of=None, cut: str = "published",
                settings=None) -> xr.Dataset:
    """Calibrate if needed and run :func:`analyse` on a scenario file; optionally write the outputs."""
    from sim.calibration.calibrate import calibrate
    from sim.calibration.inputs import SamplerSettings
    from sim.core.paths import OBSERVATIONS, POSTERIORS, PRIORS
    from sim.scenarios.scenario import load_scenario

    check_sizes(base_samples, paths)
    if out is not None:
        output_paths(out)
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    if not scenario.claims:
        raise UserError("the scenario states no [[claims]], so there is nothing to rank; add one "
                        "(see scenarios/README.md)", where=str(scenario.path))
    posterior, _ = calibrate(observations or OBSERVATIONS, priors or PRIORS, posteriors or POSTERIORS,
                             as_of=as_of, cut=cut, settings=settings or SamplerSettings())
    dataset = analyse(posterior, scenario, base_samples=base_samples, paths=paths, seed=seed)
    if out is not None:
        write_outputs(dataset, out)
    return dataset
