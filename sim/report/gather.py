"""What a report is built from: per scenario its results (reused when they match, simulated otherwise) and
sensitivity results, the observations and priors, the backtest and the revision.

For each scenario the report reuses ``results/<name>.nc`` when it was made from the same scenario
text, calibration, seed and number of paths, and otherwise simulates it now on the calibration all
scenarios share (:func:`sim.api.simulate`) and writes that file; it says which.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import xarray as xr

from sim.calibration.calibrate import calibrate
from sim.calibration.inputs import CalibrationInputs
from sim.calibration.posterior import Posterior
from sim.core.errors import UserError
from sim.core.files import load_netcdf, settle
from sim.core.outputs import check_outputs
from sim.core.paths import BACKTEST, RESULTS, REVISE
from sim.core.provenance import utc_now
from sim.data.observations import ObservationSet
from sim.data.priors import Priors
from sim.scenarios.scenario import Scenario, load_scenario


@dataclass(frozen=True)
class ScenarioResult:
    """One scenario of the report: its results, where they came from, and its sensitivity results."""

    scenario: Scenario
    dataset: xr.Dataset
    origin: str
    results_path: Path
    sensitivity: xr.Dataset | None
    sensitivity_path: Path


@dataclass(frozen=True)
class ReportInputs:
    """Everything the HTML is built from."""

    results: tuple[ScenarioResult, ...]
    observations: ObservationSet
    priors: Priors
    backtest: xr.Dataset | None
    backtest_path: Path
    command: str
    generated: str
    revision: xr.Dataset | None = None
    revision_path: Path = REVISE


def check_output(out: str | Path) -> Path:
    """The report path, refused (before anything runs) unless it is an .html file, not a folder."""
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise UserError(f"the report must be an .html file, got {out.name!r}", where="-o/--out")
    return check_outputs((out,), "-o/--out")[0]


def _matches(path: Path, scenario: Scenario, calibration_id: str, seed: int, draws: int) -> bool:
    """Whether ``path`` holds results of exactly this scenario text, calibration, seed and size."""
    from sim.engine.results import open_results

    if not path.is_file():
        return False
    try:
        attrs = open_results(path).attrs
    except UserError:
        return False
    return (attrs.get("scenario_sha256") == scenario.sha256 and attrs.get("calibration_id") == calibration_id
            and int(attrs.get("seed", -1)) == seed and int(attrs.get("paths_simulated", -1)) == draws)


def scenario_result(scenario: Scenario, posterior: Posterior, results_dir: Path, registry: ObservationSet, *,
                    draws: int | None = None, seed: int | None = None,
                    files: dict[str, str] | None = None) -> ScenarioResult:
    """Reuse ``results_dir/<name>.nc`` if it matches the scenario and its fan chart ``<name>.png`` is there, or
    simulate it now on ``posterior`` and write both as one set, as ``tokensim run`` does (so the pair never
    disagrees)."""
    from sim.api import simulate
    from sim.engine.results import open_results
    from sim.plots.fan import write_run

    path = results_dir / f"{scenario.name}.nc"
    settle(results_dir)  # a set a killed tokensim committed there is completed before it is judged
    seed, draws = scenario.seed if seed is None else seed, scenario.draws if draws is None else draws
    matches = _matches(path, scenario, posterior.id, seed, draws)
    if matches and path.with_suffix(".png").is_file():
        dataset = open_results(path)
        origin = f"reused {path} (same scenario text, calibration {posterior.id[:12]}, seed and paths)"
    else:
        why = ("none existed" if not path.is_file() else "its fan chart was missing" if matches
               else "the existing one was made from other inputs")
        dataset = simulate(posterior, scenario, draws=draws, seed=seed, files=files)
        write_run(dataset, path, registry)
        origin = f"simulated now and written to {path} and its fan chart ({why})"
    sensitivity_path = results_dir / f"{scenario.name}-sensitivity.nc"
    sensitivity = load_netcdf(sensitivity_path, "", "not a readable sensitivity results file") \
        if sensitivity_path.is_file() else None
    return ScenarioResult(scenario, dataset, origin, path, sensitivity, sensitivity_path)


def load_scenarios(paths: Sequence[str | Path]) -> tuple[Scenario, ...]:
    """Every scenario of a report (all of them read before anything runs), each name once."""
    scenarios = tuple(load_scenario(path) for path in paths)
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        repeated = ", ".join(sorted({n for n in names if names.count(n) > 1}))
        raise UserError(f"two scenario files share a name ({repeated}); each scenario appears once", where="SCENARIO")
    return scenarios


def _revision(path: Path) -> xr.Dataset | None:
    """The revision written by ``tokensim revise``, if there is one; a file of another kind is refused."""
    from sim.analysis.revise import TITLE

    if not path.is_file():
        return None
    dataset = load_netcdf(path, "", "not a readable revision file")
    if dataset.attrs.get("title") != TITLE:
        raise UserError("not a revision written by 'tokensim revise'", where=f"--revise {path}")
    return dataset


def gather(scenarios: Sequence[Scenario], inputs: CalibrationInputs, *, results_dir: str | Path = RESULTS,
           backtest: str | Path = BACKTEST, revise: str | Path = REVISE, draws: int | None = None,
           seed: int | None = None, command: str = "") -> ReportInputs:
    """Calibrate once, then reuse or run each scenario on that posterior, and read the backtest and revision
    results."""
    backtest, revise = Path(backtest), Path(revise)
    backtest_data = load_netcdf(backtest, "", "not a readable backtest results file") if backtest.is_file() else None
    from sim.api import calibration_files

    revision = _revision(revise)
    posterior, posterior_path = calibrate(inputs)
    files = calibration_files(inputs, posterior_path)
    results = tuple(scenario_result(s, posterior, Path(results_dir), inputs.registry, draws=draws, seed=seed,
                                    files=files) for s in scenarios)
    return ReportInputs(results, inputs.registry, inputs.priors, backtest_data, backtest, command, utc_now(), revision,
                        revise)
