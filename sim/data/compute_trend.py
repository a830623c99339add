"""China's intelligent compute: the figures of ``calibration/compute.toml`` and their trend.

``EFLOPS(t) = c0 exp(growth t)`` is fitted by least squares on log EFLOPS to the figures (t in
years since 2025-01-01). A scenario's compute bound (:mod:`sim.scenarios.compute_bound`) turns it
into a cap on daily tokens that grows with compute.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.core.timeaxis import years
from sim.core.tomlfile import TomlFile


@dataclass(frozen=True)
class ComputeTrend:
    """``EFLOPS(t) = c0 exp(growth t)`` fitted to the compute figures, with where they came from."""

    c0: float
    growth: float
    source: Path
    sha256: str
    figures: tuple[tuple[str, float, float], ...]  # (id, t, EFLOPS)

    def eflops(self, t: np.ndarray | float) -> np.ndarray | float:
        """Installed intelligent compute at model time ``t`` (EFLOPS)."""
        return self.c0 * np.exp(self.growth * np.asarray(t))


def load_compute_trend(path: str | Path) -> ComputeTrend:
    """Read ``calibration/compute.toml`` strictly and fit the log-linear compute trend."""
    source = TomlFile.read(path, "compute figures file")
    source.check_keys(source.data, (), ("figure",))
    entries = source.typed(source.data, "figure", list, ())
    figures = []
    for index, entry in enumerate(entries):
        table = ("figure", index)
        if not isinstance(entry, dict):
            raise source.error("each [[figure]] must be a table", table)
        source.check_keys(entry, table, ("id", "year_end", "eflops", "kind", "published", "source", "quote"))
        when = source.typed(entry, "year_end", dt.date, table)
        value = source.typed(entry, "eflops", (int, float), table)
        if not np.isfinite(value) or value <= 0:
            raise source.error(f"eflops must be a positive number, got {value}", table, "eflops")
        figures.append((source.typed(entry, "id", str, table), float(years(when)), float(value)))
    if len({t for _, t, _ in figures}) < 2:
        raise source.error("at least two figures at different dates are needed to fit a trend", ("figure",))
    t, value = np.array([f[1] for f in figures]), np.array([f[2] for f in figures])
    growth, log_c0 = np.polyfit(t, np.log(value), 1)
    return ComputeTrend(float(np.exp(log_c0)), float(growth), Path(path),
                        hashlib.sha256(source.text.encode()).hexdigest(), tuple(figures))
