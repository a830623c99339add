"""Figures of what an analyst waits for: whole ``tokensim`` commands, each in a fresh process.

* ``first_run_cold``: the first ``tokensim run`` on a fresh machine (no posterior, every compile cache
  fresh: it calibrates, simulates, writes the results and the chart), against the same with the fits run
  one after the other in one process (``TOKENSIM_CALIBRATION_PROCESSES=1``, the old code path);
* ``run_cached``: ``tokensim run`` on a cached posterior, against ``tokensim calibrate`` on it (the floor:
  start-up, reading the inputs and finding the posterior);
* ``backtest_wall``: ``tokensim backtest`` over every default origin from fresh caches, against the same
  with one calibration process;
* ``sensitivity_wall`` and ``report_wall``: ``tokensim sensitivity scenarios/baseline.toml`` and
  ``tokensim report scenarios/baseline.toml`` on the cached posterior (no peer: informational).

Cold figures are measured once (minutes each); the others are the median of ``mode.repeats`` runs. Every
measure records CPU seconds beside wall time (``details``): on a machine shared with other work, CPU time
moves much less than wall time.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import (
    BASELINE,
    Figure,
    Mode,
    ProcessMeasure,
    Side,
    Target,
    cli_command,
    fresh_cache_env,
    measure_process,
    ratio,
)

#: One calibration process: the fits one after the other, as before they ran in parallel.
SEQUENTIAL = {"TOKENSIM_CALIBRATION_PROCESSES": "1"}


def _failed(measure: ProcessMeasure) -> str:
    return f"exit status {measure.returncode}: {measure.stderr_tail.strip().splitlines()[-1:]}"


def _side(label: str, measure: ProcessMeasure | None, skipped: str = "skipped in this mode") -> Side:
    if measure is None:
        return Side.missing(label, "s", skipped)
    return Side(label, measure.wall_s, "s") if measure.returncode == 0 else Side.missing(label, "s", _failed(measure))


def _record(measure: ProcessMeasure | None) -> dict[str, Any] | None:
    return None if measure is None else {"wall_s": measure.wall_s, "cpu_s": measure.cpu_s,
                                         "max_rss_bytes": measure.max_rss_bytes, "returncode": measure.returncode}


def _cold(command: list[str], extra_env: dict[str, str] | None = None) -> ProcessMeasure:
    """``command`` (which takes ``{posteriors}`` and ``{tmp}`` placeholders) from fresh caches and posteriors."""
    with tempfile.TemporaryDirectory(prefix="tokensim-bench-cold-") as tmp:
        filled = [part.format(posteriors=Path(tmp) / "posteriors", tmp=tmp) for part in command]
        return measure_process(filled, env={**fresh_cache_env(Path(tmp) / "caches"), **(extra_env or {})})


def first_run_cold(mode: Mode, posteriors: Path) -> Figure:
    """The first ``tokensim run`` of the baseline on fresh caches, parallel fits vs one process."""
    command = cli_command("-q", "run", str(BASELINE), "--posteriors", "{posteriors}", "--out", "{tmp}/baseline.nc")
    value = _cold(command) if mode.cold_calibration else None
    peer = _cold(command, SEQUENTIAL) if mode.cold_calibration and mode.name == "full" else None
    return Figure(
        name="first_run_cold",
        meaning=("wall time of the first 'tokensim run scenarios/baseline.toml' on a fresh machine: no posterior, "
                 "fresh compile caches (calibrate every fit, simulate, write the results and the chart)"),
        value=_side("fits in parallel processes", value),
        peer=_side("fits one after the other (TOKENSIM_CALIBRATION_PROCESSES=1)", peer,
                   "measured in the full mode only (a second cold calibration)"),
        ratio=ratio(peer.wall_s if peer and peer.returncode == 0 else None,
                    value.wall_s if value and value.returncode == 0 else None),
        ratio_meaning="speed-up of parallel fits over one process (higher is better)",
        targets=[],
        details={"parallel": _record(value), "sequential": _record(peer),
                 "command": "PYTENSOR_FLAGS=base_compiledir=<fresh> NUMBA_CACHE_DIR=<fresh> "
                            "tokensim run scenarios/baseline.toml --posteriors <fresh>"},
    )


def run_cached(mode: Mode, posteriors: Path) -> Figure:
    """``tokensim run`` of the baseline on a cached posterior vs ``tokensim calibrate`` finding it."""
    with tempfile.TemporaryDirectory(prefix="tokensim-bench-run-") as tmp:
        runs = [measure_process(cli_command("-q", "run", str(BASELINE), "--posteriors", str(posteriors), "--out",
                                            str(Path(tmp) / "baseline.nc"))) for _ in range(mode.repeats)]
    finds = [measure_process(cli_command("-q", "calibrate", "--posteriors", str(posteriors)))
             for _ in range(mode.repeats)]
    value, peer = _median(runs, "cached tokensim run"), _median(finds, "cached tokensim calibrate")
    return Figure(
        name="run_cached",
        meaning=("wall time of 'tokensim run scenarios/baseline.toml' on a cached posterior (4,000 paths, results and "
                 "chart written), against 'tokensim calibrate' finding the same posterior"),
        value=value,
        peer=peer,
        ratio=ratio(value.value, peer.value),
        ratio_meaning="run time over the time to find the cached posterior",
        targets=[Target("cached tokensim run (s)", "<", 2.0, value.value)],
        details={"runs": [_record(m) for m in runs], "calibrate": [_record(m) for m in finds]},
    )


def _median(measures: list[ProcessMeasure], label: str) -> Side:
    failed = [m for m in measures if m.returncode != 0]
    if failed:
        return Side.missing(label, "s", _failed(failed[0]))
    return Side(label, statistics.median(m.wall_s for m in measures), "s")


def backtest_wall(mode: Mode, posteriors: Path) -> Figure:
    """``tokensim backtest`` over every default origin from fresh caches, parallel fits vs one process."""
    command = cli_command("-q", "backtest", "--posteriors", "{posteriors}", "--out", "{tmp}/backtest.nc")
    value = _cold(command) if mode.cold_calibration else None
    peer = _cold(command, SEQUENTIAL) if mode.cold_calibration and mode.name == "full" else None
    return Figure(
        name="backtest_wall",
        meaning="wall time of 'tokensim backtest' (every default origin) from fresh caches and no posterior",
        value=_side("fits in parallel processes", value, "skipped in this mode (a cold calibration per origin)"),
        peer=_side("fits one after the other (TOKENSIM_CALIBRATION_PROCESSES=1)", peer,
                   "measured in the full mode only"),
        ratio=ratio(peer.wall_s if peer and peer.returncode == 0 else None,
                    value.wall_s if value and value.returncode == 0 else None),
        ratio_meaning="speed-up of parallel fits over one process (higher is better)",
        targets=[Target("cold backtest (s)", "<", 180.0, value.wall_s if value and value.returncode == 0 else None)],
        details={"parallel": _record(value), "sequential": _record(peer)},
    )


def sensitivity_wall(mode: Mode, posteriors: Path) -> Figure:
    """``tokensim sensitivity`` on the baseline (its default design; 8 base samples x 100 paths in smoke)."""
    sizes = ["--base-samples", "8", "--paths", "100"] if mode.name == "smoke" else []
    with tempfile.TemporaryDirectory(prefix="tokensim-bench-sens-") as tmp:
        measure = measure_process(cli_command("-q", "sensitivity", str(BASELINE), *sizes, "--posteriors",
                                              str(posteriors), "--out", str(Path(tmp) / "baseline-sensitivity.nc")))
    return Figure(
        name="sensitivity_wall",
        meaning=f"wall time of 'tokensim sensitivity scenarios/baseline.toml {' '.join(sizes)}' on a cached posterior",
        value=_side("tokensim sensitivity", measure),
        peer=Side.missing("peer", "s", "none: no other tool computes these indices"),
        ratio=None,
        ratio_meaning="no peer",
        details={"run": _record(measure)},
    )


def report_wall(mode: Mode, posteriors: Path) -> Figure:
    """``tokensim report`` of the baseline (it runs the scenario; 2,000 paths in smoke) on a cached posterior."""
    draws = ["--draws", "2000"] if mode.name == "smoke" else []
    with tempfile.TemporaryDirectory(prefix="tokensim-bench-report-") as tmp:
        measure = measure_process(cli_command("-q", "report", str(BASELINE), *draws, "--posteriors", str(posteriors),
                                              "--results", tmp, "--backtest", str(Path(tmp) / "none.nc"),
                                              "-o", str(Path(tmp) / "report.html")))
    return Figure(
        name="report_wall",
        meaning=f"wall time of 'tokensim report scenarios/baseline.toml {' '.join(draws)}' on a cached posterior "
                "(fresh results folder, so the scenario is run)",
        value=_side("tokensim report", measure),
        peer=Side.missing("peer", "s", "none"),
        ratio=None,
        ratio_meaning="no peer",
        details={"run": _record(measure)},
    )
