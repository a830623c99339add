"""The benchmark suite runs end to end on tiny sizes and reports every figure with its peer."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIGURES = {"engine_throughput", "engine_vs_pymc_predictive", "peak_memory", "calibration_wall",
           "nuts_ess_per_second", "dask_speedup", "run_cached", "first_run_cold", "backtest_wall", "sensitivity_wall",
           "report_wall"}
#: What --smoke leaves out on purpose (cold calibrations, nutpie), and the peers that do not exist: (figure, side).
SKIPPED_IN_SMOKE = {("calibration_wall", "value"), ("nuts_ess_per_second", "value"), ("first_run_cold", "value"),
                    ("first_run_cold", "peer"), ("backtest_wall", "value"), ("backtest_wall", "peer"),
                    ("sensitivity_wall", "peer"), ("report_wall", "peer")}


def test_benchmark_suite_smoke(posterior_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--smoke", "--posteriors", str(posterior_dir),
         "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=1800,  # a hang guard, not a speed check
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout.strip() == "", "with --out, nothing but the JSON file is written; stdout stays empty"
    document = json.loads(out.read_text())
    assert document["meta"]["mode"] == "smoke"
    assert document["meta"]["posteriors"] == str(posterior_dir.resolve())
    figures = document["figures"]
    assert set(figures) == FIGURES
    for name, figure in figures.items():
        for side in ("value", "peer"):
            entry = figure[side]
            if (name, side) in SKIPPED_IN_SMOKE:
                assert entry["value"] is None and entry["skipped"], (name, side, entry)
            else:
                assert entry["skipped"] is None, (name, side, entry)
                assert isinstance(entry["value"], (int, float)) and math.isfinite(entry["value"]) and entry["value"] > 0
        both = all(figure[side]["value"] is not None for side in ("value", "peer"))
        assert (figure["ratio"] is not None) == both, name
        for target in figure["targets"]:
            assert target["met"] in (True, False, None)
        assert figure["met"] in (True, False, None)
    assert figures["dask_speedup"]["details"]["results_identical"] is True
    assert set(document["summary"]["met"] + document["summary"]["missed"] + document["summary"]["not_judged"]) == FIGURES
    assert "figure" in proc.stderr and "dask_speedup" in proc.stderr, "the table goes to stderr"
