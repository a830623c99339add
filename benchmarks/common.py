"""Shared pieces of the benchmark suite: figures, targets, timing and subprocess measurement.

Every figure is a :class:`Figure`: a measured ``value``, the ``peer`` it is compared with (measured in
the same run), their ``ratio`` (always stated in words by ``ratio_meaning``) and the targets it is
checked against. A side that was not measured (skipped in ``--smoke`` mode, or a package that is not
installed) is recorded with the reason instead of a number, so the JSON always has both sides.
"""

from __future__ import annotations

import logging
import math
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.toml"
OBSERVATIONS = ROOT / "calibration" / "observations.toml"
PRIORS = ROOT / "calibration" / "priors.toml"
GIB = 1024**3

log = logging.getLogger("bench")
T = TypeVar("T")


@dataclass(frozen=True)
class Mode:
    """How big each benchmark is: ``full`` (the default), ``quick`` or ``smoke`` (tests only)."""

    name: str
    repeats: int
    throughput_paths: int
    predictive_paths: int
    memory_paths: tuple[int, ...]
    dask_paths: int
    dask_repeats: int
    cold_calibration: bool
    nutpie: bool
    nuts_draws: int
    nuts_chains: int


MODES = {
    "full": Mode("full", repeats=3, throughput_paths=500_000, predictive_paths=4000,
                 memory_paths=(10_000, 100_000, 1_000_000, 10_000_000), dask_paths=10_000_000, dask_repeats=1,
                 cold_calibration=True, nutpie=True, nuts_draws=1000, nuts_chains=4),
    "quick": Mode("quick", repeats=3, throughput_paths=100_000, predictive_paths=1000,
                  memory_paths=(1_000, 10_000, 100_000), dask_paths=200_000, dask_repeats=3,
                  cold_calibration=True, nutpie=True, nuts_draws=1000, nuts_chains=4),
    "smoke": Mode("smoke", repeats=1, throughput_paths=1_000, predictive_paths=100,
                  memory_paths=(3_000, 10_000), dask_paths=20_000, dask_repeats=1,
                  cold_calibration=False, nutpie=False, nuts_draws=150, nuts_chains=2),
}


@dataclass
class Side:
    """One side of a comparison: a number with its unit, or the reason it was not measured."""

    label: str
    value: float | None
    unit: str
    skipped: str | None = None

    @classmethod
    def missing(cls, label: str, unit: str, reason: str) -> "Side":
        """A side that was not measured, and why."""
        return cls(label, None, unit, reason)


@dataclass
class Target:
    """One check of a figure: ``observed <op> threshold`` (``met`` is None when it cannot be judged)."""

    what: str
    op: str
    threshold: float
    observed: float | None
    met: bool | None = None

    def __post_init__(self) -> None:
        if self.observed is None or not math.isfinite(self.observed):
            self.met = None
        else:
            self.met = {"<": self.observed < self.threshold, "<=": self.observed <= self.threshold,
                        ">": self.observed > self.threshold, ">=": self.observed >= self.threshold}[self.op]


@dataclass
class Figure:
    """A benchmark figure: value, peer, their ratio and the targets it is checked against."""

    name: str
    meaning: str
    value: Side
    peer: Side
    ratio: float | None
    ratio_meaning: str
    targets: list[Target] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def met(self) -> bool | None:
        """True when every target is met, False when one is missed, None when none can be judged."""
        judged = [t.met for t in self.targets if t.met is not None]
        if not judged:
            return None
        return all(judged)

    def as_json(self) -> dict[str, Any]:
        """The figure as a JSON-ready dict (``met`` included)."""
        out = asdict(self)
        out["met"] = self.met
        return out


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``, or None when either side is missing or the denominator is zero."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def timed(function: Callable[[], T], repeats: int) -> tuple[float, list[float], T]:
    """Run ``function`` ``repeats`` times; returns the median wall time, every time and the last result."""
    times, result = [], None
    for _ in range(max(repeats, 1)):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times, result  # type: ignore[return-value]


def cli_command(*args: str) -> list[str]:
    """The ``tokensim`` command line, run with this interpreter (same as the ``tokensim`` script)."""
    return [sys.executable, "-m", "sim.cli", *args]


@dataclass(frozen=True)
class ProcessMeasure:
    """What ``/usr/bin/time -v`` reports about one finished command."""

    command: list[str]
    wall_s: float
    max_rss_bytes: int | None
    returncode: int
    stderr_tail: str
    cpu_s: float | None = None  # user + system CPU seconds, children included (steadier than wall on a busy machine)


_RSS = re.compile(r"Maximum resident set size \(kbytes\):\s*(\d+)")
_CPU = re.compile(r"(?:User|System) time \(seconds\):\s*([\d.]+)")


def measure_process(command: Sequence[str], *, env: dict[str, str] | None = None,
                    timeout: float | None = None) -> ProcessMeasure:
    """Run ``command`` from the repository root under ``/usr/bin/time -v`` (when present).

    The wall time is measured here (it includes interpreter start-up and imports, as a user sees it);
    the peak resident set size is the one GNU time reports for the command (children included).
    """
    gnu_time = Path("/usr/bin/time")
    full = [str(gnu_time), "-v", *command] if gnu_time.exists() else list(command)
    log.info("running %s", " ".join(command))
    started = time.perf_counter()
    proc = subprocess.run(full, cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=timeout)
    wall = time.perf_counter() - started
    match = _RSS.search(proc.stderr)
    rss = int(match.group(1)) * 1024 if match else None
    cpu = [float(v) for v in _CPU.findall(proc.stderr)]
    return ProcessMeasure(list(command), wall, rss, proc.returncode, proc.stderr[-2000:], sum(cpu) if cpu else None)


def fresh_cache_env(folder: Path) -> dict[str, str]:
    """Environment under which nothing compiled before is found: PyTensor's compile folder (its C and numba
    caches) and numba's own cache (the engine's kernels) in ``folder``, which the caller makes fresh."""
    existing = os.environ.get("PYTENSOR_FLAGS", "")
    return {"PYTENSOR_FLAGS": ",".join(f for f in (existing, f"base_compiledir={folder / 'pytensor'}") if f),
            "NUMBA_CACHE_DIR": str(folder / "numba")}


def fmt(value: float | None, unit: str = "") -> str:
    """A number for the table: 3 significant digits, bytes in MiB/GiB."""
    if value is None:
        return "-"
    if unit == "bytes":
        return f"{value / GIB:.2f} GiB" if value >= GIB else f"{value / 1024**2:.0f} MiB"
    text = f"{value:.3g}" if abs(value) < 1e5 else f"{value:.3e}"
    return f"{text} {unit}".strip()


def table(figures: list[Figure]) -> str:
    """A readable table of every figure: value, peer, ratio, targets and whether they are met."""
    rows = [("figure", "value", "peer", "ratio", "targets", "met")]
    for f in figures:
        value = f.value.skipped and f"skipped ({f.value.skipped})" or fmt(f.value.value, f.value.unit)
        peer = f.peer.skipped and f"skipped ({f.peer.skipped})" or fmt(f.peer.value, f.peer.unit)
        targets = "; ".join(f"{t.what} {t.op} {t.threshold:g}" + ("" if t.met is not False else " MISSED")
                            for t in f.targets) or "none (informational)"
        met = {True: "yes", False: "NO", None: "n/a"}[f.met]
        rows.append((f.name, value, peer, "-" if f.ratio is None else f"{f.ratio:.3g}x", targets, met))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for f in figures:
        lines.append(f"\n{f.name}: {f.meaning}\n  ratio = {f.ratio_meaning}")
        lines.extend(f"  note: {n}" for n in f.notes)
    return "\n".join(lines)
