"""Summaries of all simulated paths, accumulated block by block in bounded memory.

A :class:`Summary` holds, for each variable, a histogram over fixed bins at every time step; for
each claim the number of paths in which it holds and the number that have crossed its threshold by
each time step; and, per variable, how many paths rest on each posterior draw (for the Monte Carlo
errors, :mod:`sim.engine.mc_error`). Summaries of disjoint sets of paths add up exactly (integer
counts), so the result does not depend on how paths were grouped into chunks or spread over workers.
Quantiles read off the histograms are exact to within one bin: 0.23% of the value for volume (log
bins), 0.0001 for shares.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.core.variables import VARIABLES
from sim.engine.mc_error import cluster_sizes, effective_paths
from sim.scenarios.scenario import Claim

#: Quantiles kept for every variable: the 50/80/90/95% bands and the quartiles.
SUMMARY_QUANTILES = (0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.975)


@dataclass
class Summary:
    """Histogram counts per variable ``(time, bin)``, counts per claim ``(claim, time)`` of paths in which it
    holds and of paths that have crossed its threshold, and per variable the paths on each posterior draw."""

    counts: dict[str, np.ndarray]
    crossed: np.ndarray
    passed: np.ndarray
    paths: int
    clusters: dict[str, dict[int, int]]

    @classmethod
    def empty(cls, steps: int, claims: int) -> "Summary":
        counts = {name: np.zeros((steps, variable.bins.count), dtype=np.int64) for name, variable in VARIABLES.items()}
        return cls(counts, np.zeros((claims, steps), dtype=np.int64), np.zeros((claims, steps), dtype=np.int64), 0,
                   {name: {} for name in VARIABLES})

    def add_clusters(self, clusters: dict[str, np.ndarray]) -> None:
        """Count which posterior draw each path of a block rests on, per variable."""
        for name, labels in clusters.items():
            _merge(self.clusters[name], cluster_sizes(labels))

    def effective(self, variable: str) -> float:
        """The effective number of independent paths of one variable (:func:`sim.engine.mc_error.effective_paths`)."""
        return effective_paths(self.clusters[variable])

    def add_paths(self, series: dict[str, np.ndarray], claims: tuple[Claim, ...]) -> None:
        """Count a block of paths (arrays ``(paths, time)`` by variable name)."""
        for name, variable in VARIABLES.items():
            values, axis = series[name], variable.bins
            low, high, bins = axis.low, axis.high, axis.count
            paths, steps = values.shape
            position = (axis.to_axis(values) - low) / (high - low) * bins
            index = np.clip(position.astype(np.int64), 0, bins - 1)
            flat = (np.arange(steps) * bins + index).ravel()
            self.counts[name] += np.bincount(flat, minlength=steps * bins).reshape(steps, bins)
        for row, claim in enumerate(claims):
            values = series[claim.variable]
            self.crossed[row] += claim.holds(values).sum(axis=0)
            self.passed[row] += claim.passed(values).sum(axis=0)
        self.paths += next(iter(series.values())).shape[0]

    def __iadd__(self, other: "Summary") -> "Summary":
        for name, counts in self.counts.items():
            counts += other.counts[name]
        self.crossed += other.crossed
        self.passed += other.passed
        self.paths += other.paths
        for name, sizes in other.clusters.items():
            _merge(self.clusters[name], sizes)
        return self

    def quantiles(self, variable: str, quantiles: tuple[float, ...] = SUMMARY_QUANTILES) -> np.ndarray:
        """Quantiles ``(quantile, time)`` read off the histogram, interpolating inside a bin."""
        axis = VARIABLES[variable].bins
        low, high, bins = axis.low, axis.high, axis.count
        cumulative = np.cumsum(self.counts[variable], axis=1)
        out = np.empty((len(quantiles), cumulative.shape[0]))
        width = (high - low) / bins
        for row, q in enumerate(quantiles):
            target = q * self.paths
            for step, cdf in enumerate(cumulative):
                index = int(np.searchsorted(cdf, target, side="left"))
                index = min(index, bins - 1)
                before = cdf[index - 1] if index > 0 else 0
                inside = cdf[index] - before
                fraction = (target - before) / inside if inside else 0.5
                out[row, step] = low + (index + fraction) * width
        return axis.from_axis(out)

    def crossed_share(self) -> np.ndarray:
        """Share of all paths in which each claim holds at each time ``(claim, time)``."""
        return self.crossed / max(self.paths, 1)

    def passed_share(self) -> np.ndarray:
        """Share of all paths that have crossed each claim's threshold by each time ``(claim, time)``."""
        return self.passed / max(self.paths, 1)


def _merge(into: dict[int, int], sizes: dict[int, int]) -> None:
    for label, count in sizes.items():
        into[label] = into.get(label, 0) + count
