"""Field conventions of the results file: the IOOS compliance checker finds no CF-1.10 error or warning in a
real results file, and monthly means carry their time bounds and cell methods."""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from sim.core.variables import VARIABLES
from sim.engine.results import write_dataset


def test_results_pass_the_cf_compliance_checker(baseline_results, tmp_path):
    from compliance_checker.runner import CheckSuite, ComplianceChecker

    path = write_dataset(baseline_results, tmp_path / "baseline.nc")
    report = tmp_path / "cf.json"
    CheckSuite.load_all_available_checkers()
    ComplianceChecker.run_checker(str(path), ["cf:1.10"], verbose=0, criteria="normal",
                                  output_filename=str(report), output_format="json")
    result = json.loads(report.read_text())["cf:1.10"]
    problems = [(check["name"], check["msgs"]) for level in ("high_priorities", "medium_priorities")
                for check in result[level] if check["msgs"]]
    assert result["high_count"] == 0 and result["medium_count"] == 0, problems


def test_monthly_means_carry_time_bounds_and_cell_methods(baseline_results, tmp_path):
    path = write_dataset(baseline_results, tmp_path / "baseline.nc")
    with xr.open_dataset(path, decode_times=False) as raw:
        assert raw["time"].attrs["bounds"] == "time_bnds" and "_FillValue" not in raw["quantile"].attrs
        assert raw["time_bnds"].attrs.get("units", raw["time"].attrs["units"]) == raw["time"].attrs["units"]
    with xr.open_dataset(path) as results:
        starts, ends = results["time_bnds"].values.T
        assert (starts == results["time"].values).all()
        assert (ends.astype("datetime64[M]") - starts.astype("datetime64[M]") == np.timedelta64(1, "M")).all()
        for name, variable in VARIABLES.items():
            assert results[name].attrs["cell_methods"] == "time: mean" == variable.cell_methods
            assert results[f"{name}_quantiles"].attrs["cell_methods"] == "time: mean"
        assert results["daily_tokens"].attrs["units"] == "day-1"
        assert results.attrs["calibration_as_of"] == "all data"
