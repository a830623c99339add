"""The results contract: simulated paths as a self-describing ``xarray.Dataset`` (netCDF).

Dims ``draw`` and ``time`` (month starts, datetime64); variables ``daily_tokens``,
``open_share``, ``open_adoption`` (``draw``, ``time``), ``compute_bound`` in a scenario with one,
``family``, ``open_model`` and the per-draw parameters (``draw``); summaries over *all* simulated
paths, which large runs stream rather than keep: ``<variable>_quantiles`` (``quantile``, ``time``),
``claim_probability`` and ``claim_first_passage`` (``claim``, ``time``), each probability and quantile
with its Monte Carlo standard error (``*_mc_se``, :mod:`sim.engine.mc_error`). Every variable has
``units`` and ``long_name``; the dataset carries CF-style provenance (title, source, history, the
scenario text and hash, seed, calibration id, vintage). Files are written atomically and open with
plain ``xr.open_dataset``.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import xarray as xr

from sim.calibration.posterior import Posterior
from sim.core.errors import UserError
from sim.core.files import atomic_write, load_netcdf, netcdf_bytes
from sim.core.provenance import provenance
from sim.core.variables import VARIABLES
from sim.curves.parameters import PARAMETERS
from sim.engine.contract import check_results
from sim.engine.runner import RunOutput
from sim.engine.mc_error import probability_se, quantile_se
from sim.engine.summary import SUMMARY_QUANTILES
from sim.scenarios.scenario import Claim, Scenario

#: Whether a results file's floats are compressed: no. Simulated paths are noise in their last bits, so zlib
#: saved 6% of a 4,000-path file (10.6 against 11.4 MB) for 0.27 s of CPU, a tenth of a cached run's work; the
#: values, attributes and layout read back the same either way.
COMPRESSED = False

#: units and long_name of every variable a results Dataset can hold: the simulated variables and their
#: quantiles, the claims, and each path's family, parameters and posterior draws.
ATTRIBUTES: dict[str, tuple[str, str]] = {
    **{name: (v.units, v.long_name) for name, v in VARIABLES.items()},
    **{f"{name}_quantiles": (v.units, f"quantiles of {name} across all simulated paths")
       for name, v in VARIABLES.items()},
    **{f"{name}_quantiles_mc_se": (v.units, f"Monte Carlo standard error of {name}_quantiles")
       for name, v in VARIABLES.items()},
    "claim_probability": ("1", "share of all simulated paths in which the claim holds in this month (its kind: "
                               "at_date, beyond the threshold then; first_passage, beyond it at some time by then)"),
    "claim_probability_mc_se": ("1", "Monte Carlo standard error of claim_probability"),
    "claim_first_passage": ("1", "share of all simulated paths that have crossed the claim's threshold by this month"),
    "compute_bound": ("day-1", "the path's compute bound on daily tokens (scenarios with a [compute] table)"),
    "family": ("", "volume growth family of the draw"),
    "open_model": ("", "structural variant of the open-source model the draw follows"),
    **{name: (p.units, p.long_name) for name, p in PARAMETERS.items()},
    "posterior_draw": ("1", "index of the volume posterior draw used (chains flattened)"),
    "open_posterior_draw": ("1", "index of the open-source posterior draw used (chains flattened)"),
}
TITLE = "tokensim forecast of China's enterprise LLM token market"
TIME_LONG_NAME = "start of the month (values are means over the month, bounded by time_bnds)"


def _summaries(output: RunOutput, claims) -> dict[str, tuple[tuple[str, ...], np.ndarray]]:
    """Quantiles per variable and claim shares over all paths (exact from the paths, or streamed), each with
    its Monte Carlo standard error."""
    summary = output.summary
    if output.streamed:
        quantile = {name: (lambda levels, name=name: summary.quantiles(name, levels)) for name in VARIABLES}
        holds, passed = summary.crossed_share(), summary.passed_share()
    else:
        series = output.paths.series()
        quantile = {name: (lambda levels, values=values: np.quantile(values, levels, axis=0))
                    for name, values in series.items()}
        holds = np.array([c.holds(series[c.variable]).mean(axis=0) for c in claims]).reshape(len(claims), -1)
        passed = np.array([c.passed(series[c.variable]).mean(axis=0) for c in claims]).reshape(len(claims), -1)
    out = {}
    for name in VARIABLES:
        out[f"{name}_quantiles"] = (("quantile", "time"), quantile[name](SUMMARY_QUANTILES))
        out[f"{name}_quantiles_mc_se"] = (("quantile", "time"),
                                          quantile_se(quantile[name], SUMMARY_QUANTILES, summary.effective(name)))
    out["claim_probability"] = (("claim", "time"), holds.reshape(len(claims), len(output.times)))
    out["claim_probability_mc_se"] = (("claim", "time"), np.array(
        [probability_se(row, summary.effective(c.variable)) for c, row in zip(claims, holds)]).reshape(
        len(claims), len(output.times)))
    out["claim_first_passage"] = (("claim", "time"), passed.reshape(len(claims), len(output.times)))
    return out


SUMMARY_METHODS = {
    False: "exact, from every simulated path",
    True: "streamed: histograms over all paths (volume: 1000 log bins per decade; shares: 10000 bins); quantiles "
          "exact to one bin, claim shares exact",
}
MC_SE_METHOD = ("Monte Carlo standard errors from the effective number of paths, counting the paths that rest on one "
                "posterior draw as one (Kish): an upper bound of the simulation's error given the posterior draws")


def to_dataset(output: RunOutput, scenario: Scenario, posterior: Posterior, seed: int) -> xr.Dataset:
    """Assemble a run into the results Dataset, with units and provenance."""
    paths = output.paths
    variables = {name: (("draw", "time"), values) for name, values in paths.series().items()}
    if paths.compute_bound is not None:
        variables["compute_bound"] = (("draw", "time"), paths.compute_bound)
    variables.update(_summaries(output, scenario.claims))
    variables["family"] = ("draw", paths.family.astype(str))
    variables["open_model"] = ("draw", paths.open_model.astype(str))
    variables.update({name: ("draw", values) for name, values in paths.parameters.items()})
    dataset = xr.Dataset(variables, coords={"draw": output.index, "time": output.times,
                                            "quantile": list(SUMMARY_QUANTILES),
                                            "claim": [claim.name for claim in scenario.claims]})
    for name, variable in dataset.data_vars.items():
        units, long_name = ATTRIBUTES[name]
        variable.attrs.update({"long_name": long_name, **({"units": units} if units else {})})
    _time_bounds(dataset, scenario.step_months)
    dataset["time"].attrs.update({"long_name": TIME_LONG_NAME, "standard_name": "time"})
    dataset["draw"].attrs.update({"long_name": "index of the simulated path among all paths of the run"})
    dataset["quantile"].attrs.update({"long_name": "quantile across all simulated paths"})
    dataset["claim"].attrs.update({"long_name": "claim name (see the 'claims' attribute)"})
    dataset.attrs.update({
        "title": TITLE,
        "institution": "tokensim",
        **provenance("sim.run", version=False),
        "Conventions": "CF-1.10",
        "scenario": scenario.name,
        "scenario_description": scenario.description,
        "scenario_text": scenario.text,
        "scenario_sha256": scenario.sha256,
        "scenario_file": str(Path(scenario.path).resolve()),
        **({"compute_file": str(Path(scenario.compute.trend.source).resolve())} if scenario.compute else {}),
        "seed": int(seed),
        "calibration_id": posterior.id,
        "calibration_as_of": posterior.attrs.get("as_of") or "all data",
        "last_data_month": str(posterior.attrs["last_data_month"]),
        "family_weights": ", ".join(f"{name}={weight:g}" for name, weight in scenario.family_weights),
        "open_model_weights": ", ".join(f"{name}={weight:g}" for name, weight in scenario.open_weights),
        "paths_simulated": int(output.draws),
        "paths_kept": int(paths.daily_tokens.shape[0]),
        "summary_method": SUMMARY_METHODS[output.streamed],
        "mc_se_method": MC_SE_METHOD,
        "claims": claims_to_attr(scenario.claims),
    })
    return dataset


def _time_bounds(dataset: xr.Dataset, step_months: int) -> None:
    """CF cell bounds: ``time_bnds`` (each step's first day and the next step's), ``cell_methods`` on every
    variable that is a mean over its step, and no fill value on the coordinates (CF forbids one there)."""
    starts = dataset["time"].values.astype("datetime64[M]")
    bounds = np.stack([starts, starts + step_months], axis=1).astype("datetime64[ns]")
    dataset["time_bnds"] = (("time", "nv"), bounds)  # its metadata is its coordinate's (CF 7.1)
    dataset["time"].attrs["bounds"] = "time_bnds"
    for stored in ("time", "time_bnds"):  # one encoding for both, as CF asks of a coordinate and its bounds
        dataset[stored].encoding.update({"units": "days since 2000-01-01", "calendar": "proleptic_gregorian"})
    for name, variable in VARIABLES.items():
        for stored in (name, f"{name}_quantiles", f"{name}_quantiles_mc_se"):
            if stored in dataset:
                dataset[stored].attrs["cell_methods"] = variable.cell_methods
    for coordinate in dataset.coords.values():
        coordinate.encoding["_FillValue"] = None
    dataset["time_bnds"].encoding["_FillValue"] = None


def write_dataset(dataset: xr.Dataset, path: str | Path) -> Path:
    """Write ``dataset`` to netCDF atomically (an earlier file is replaced only on success)."""
    return atomic_write(path, results_bytes(dataset))


def results_bytes(dataset: xr.Dataset) -> bytes:
    """A results Dataset encoded as netCDF (floats uncompressed, :data:`COMPRESSED`)."""
    return netcdf_bytes(dataset, compress=COMPRESSED)


def open_results(path: str | Path) -> xr.Dataset:
    """Open a results file, or explain why it is not one: not a netCDF file, not written by tokensim, or
    not following the results contract (:func:`sim.engine.contract.check_results`)."""
    path = Path(path)
    dataset = load_netcdf(path, "results file not found", "not a readable netCDF file")
    missing = [name for name in VARIABLES if name not in dataset]
    if dataset.attrs.get("title") != TITLE:
        raise UserError(f"not a tokensim results file (missing {', '.join(missing) or 'its title'})", where=str(path))
    return check_results(dataset, str(path))


def claims_to_attr(claims: tuple[Claim, ...]) -> str:
    """The claims as JSON, to store in a results file's attributes."""
    return json.dumps([{**asdict(c), "by": [str(b) for b in c.by]} for c in claims])


def claims_from_attr(dataset: xr.Dataset) -> tuple[Claim, ...]:
    """The claims a results file was run with."""
    entries = json.loads(dataset.attrs.get("claims", "[]"))
    return tuple(Claim(**{**e, "by": tuple(np.datetime64(b, "M") for b in e["by"])}) for e in entries)
