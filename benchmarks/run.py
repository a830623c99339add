"""Run the tokensim benchmark suite and print one JSON object (stdout or ``--out``) and a table (stderr).

    python benchmarks/run.py [--quick | --smoke] [--out FILE.json] [--posteriors DIR] [--only NAME,...]

Figures (each measured in the same run as its peer, reported as a ratio with its target):

1. ``engine_throughput``: path-months/s of the engine vs one numpy normal per path-month;
2. ``engine_vs_pymc_predictive``: the engine's forecast vs ``pm.sample_posterior_predictive``;
3. ``peak_memory``: peak RSS of ``tokensim run`` from 1e4 to 1e7 paths (1e3 to 1e5 with --quick);
4. ``calibration_wall`` (cold vs cached ``tokensim calibrate``) and ``nuts_ess_per_second`` (nutpie vs
   PyMC's NUTS);
5. ``dask_speedup``: ``run_paths`` on 2 local dask workers vs 1;
6. what an analyst waits for (:mod:`benchmarks.workflow_bench`): ``run_cached`` (a cached ``tokensim run``),
   ``first_run_cold`` (the first run on fresh caches, parallel fits vs one process), ``backtest_wall``
   (every origin from fresh caches, likewise), ``sensitivity_wall`` and ``report_wall``.

``--quick`` shrinks every size; ``--smoke`` (for the tests) uses tiny sizes and skips the cold
calibration and nutpie. Everything the libraries print goes to stderr, so stdout holds only the JSON.
The exit status is 1 when a figure could not be measured at all (an error), 0 otherwise, whether or
not targets are met: missed targets are results, reported in the JSON and the table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import BASELINE, MODES, OBSERVATIONS, PRIORS, ROOT, Figure, Mode, Side, log, table  # noqa: E402

FIGURES = ("engine_throughput", "engine_vs_pymc_predictive", "calibration_wall", "nuts_ess_per_second",
           "peak_memory", "dask_speedup", "run_cached", "first_run_cold", "backtest_wall", "sensitivity_wall",
           "report_wall")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line of the suite."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smaller sizes (memory 1e3..1e5, dask 2e5 paths)")
    size.add_argument("--smoke", action="store_true", help="tiny sizes for the tests; no cold calibration, no nutpie")
    parser.add_argument("--out", type=Path, help="write the JSON here instead of stdout")
    parser.add_argument("--posteriors", type=Path, default=ROOT / "calibration" / "posteriors",
                        help="posterior cache folder (default: %(default)s); a posterior is fitted there if missing")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(FIGURES)}")
    args = parser.parse_args(argv)
    args.posteriors = args.posteriors.resolve()
    args.only = tuple(FIGURES if not args.only else args.only.split(","))
    unknown = set(args.only) - set(FIGURES)
    if unknown:
        parser.error(f"unknown figure(s) {sorted(unknown)}; choose from {', '.join(FIGURES)}")
    return args


class Inputs:
    """The posterior (``calibrate`` on ``posteriors``: reused if cached, else fitted) and the baseline scenario.

    Loaded on first use, so that figures that need neither (the calibration ones) can run alone.
    """

    def __init__(self, posteriors: Path) -> None:
        self.posteriors = posteriors
        self.path: Path | None = None
        self.load_s: float | None = None
        self._loaded: tuple[Any, Any] | None = None

    def __call__(self) -> tuple[Any, Any]:
        if self._loaded is None:
            from sim.calibration.calibrate import calibrate
            from sim.calibration.inputs import CalibrationInputs
            from sim.scenarios.scenario import load_scenario

            started = time.perf_counter()
            posterior, self.path = calibrate(CalibrationInputs.load(OBSERVATIONS, PRIORS, self.posteriors))
            self.load_s = time.perf_counter() - started
            self._loaded = posterior, load_scenario(BASELINE)
        return self._loaded


def _runners(mode: Mode, inputs: Inputs) -> dict[str, Callable[[], Figure]]:
    """Each figure's measurement."""
    from benchmarks import engine_bench, process_bench, pymc_bench, workflow_bench

    def memory() -> Figure:
        inputs()  # a posterior must be cached before the subprocesses reuse it
        return process_bench.peak_memory(mode, inputs.posteriors)

    def _cached_then(measure: Callable[[Mode, Path], Figure]) -> Callable[[], Figure]:
        def run() -> Figure:
            inputs()  # the command reuses the posterior cached in ``posteriors``
            return measure(mode, inputs.posteriors)
        return run

    def calibration() -> Figure:
        if not mode.cold_calibration:
            inputs()  # without a cold run, the cached runs reuse the posterior in ``posteriors``
        return process_bench.calibration_wall(mode, inputs.posteriors)

    return {
        "engine_throughput": lambda: engine_bench.engine_throughput(*inputs(), mode),
        "engine_vs_pymc_predictive": lambda: pymc_bench.predictive_vs_engine(*inputs(), mode),
        "calibration_wall": calibration,
        "nuts_ess_per_second": lambda: pymc_bench.nuts_vs_nutpie(mode),
        "peak_memory": memory,
        "dask_speedup": lambda: engine_bench.dask_speedup(*inputs(), mode),
        **{name: _cached_then(getattr(workflow_bench, name)) for name in
           ("run_cached", "sensitivity_wall", "report_wall")},
        "first_run_cold": lambda: workflow_bench.first_run_cold(mode, inputs.posteriors),
        "backtest_wall": lambda: workflow_bench.backtest_wall(mode, inputs.posteriors),
    }


def _error_figure(name: str, error: BaseException) -> Figure:
    reason = f"error: {type(error).__name__}: {error}"
    return Figure(name, "could not be measured", Side.missing("value", "", reason), Side.missing("peer", "", reason),
                  None, "-", details={"traceback": traceback.format_exc()[-4000:]})


def _finite(value: Any) -> Any:
    """The same structure with NaN and infinities replaced by None (strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _finite(value.item())
    return value


def _git_describe() -> str:
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip()
    except OSError:
        return "unknown"


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for package in ("numpy", "scipy", "pymc", "pytensor", "arviz", "nutpie", "numba", "distributed", "xarray"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "not installed"
    return out


def run_suite(args: argparse.Namespace) -> tuple[dict[str, Any], list[Figure]]:
    """Measure every requested figure; returns the JSON document and the figures."""
    mode = MODES["smoke" if args.smoke else "quick" if args.quick else "full"]
    started, wall, load_at_start = dt.datetime.now(dt.timezone.utc), time.perf_counter(), list(os.getloadavg())
    inputs = Inputs(args.posteriors)
    runners = _runners(mode, inputs)
    figures, elapsed, loads = [], {}, {}
    for name in args.only:
        log.info("--- %s", name)
        loads[name] = os.getloadavg()[0]  # other work on the machine skews timings: recorded, not removed
        begun = time.perf_counter()
        try:
            figures.append(runners[name]())
        except Exception as error:  # one broken figure must not lose the others
            log.error("%s failed: %s", name, error)
            figures.append(_error_figure(name, error))
        elapsed[name] = time.perf_counter() - begun
    meta = {
        "command": " ".join(["python", "benchmarks/run.py", *sys.argv[1:]]),
        "mode": mode.name, "started": started.isoformat(timespec="seconds"),
        "elapsed_s": time.perf_counter() - wall, "elapsed_by_figure_s": elapsed,
        "load_average_1min_before_figure": loads,
        "git": _git_describe(), "cpus": os.cpu_count(),
        "load_average_at_start": load_at_start, "load_average_at_end": list(os.getloadavg()),
        "versions": _versions(), "posteriors": str(args.posteriors),
        "posterior_file": str(inputs.path or ""), "posterior_load_s": inputs.load_s,
    }
    judged = {f.name: f.met for f in figures}
    document = {
        "meta": meta,
        "figures": {f.name: f.as_json() for f in figures},
        "summary": {"met": [n for n, m in judged.items() if m is True],
                    "missed": [n for n, m in judged.items() if m is False],
                    "not_judged": [n for n, m in judged.items() if m is None]},
    }
    return _finite(document), figures


def main(argv: list[str] | None = None) -> int:
    """Run the suite; JSON to ``--out`` or stdout, the table and all library output to stderr."""
    args = parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("bench: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    sys.stdout.flush()
    json_fd = os.dup(1)
    os.dup2(2, 1)  # whatever the libraries print (even from C or child processes) goes to stderr
    try:
        document, figures = run_suite(args)
    finally:
        sys.stdout.flush()
    text = json.dumps(document, indent=2, allow_nan=False) + "\n"
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        log.info("wrote %s", args.out)
    else:
        with os.fdopen(json_fd, "w") as stdout:
            stdout.write(text)
    print("\n" + table(figures), file=sys.stderr)
    errors = [f.name for f in figures if (f.value.skipped or "").startswith("error")]
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
