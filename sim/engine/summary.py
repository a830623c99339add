"""Summaries of all simulated paths, accumulated block by block in bounded memory.

A :class:`Summary` holds, for each variable, a histogram over fixed bins at every time step; for
each claim the number of paths in which it holds and the number that have crossed its threshold by
each time step; and, per variable, how many paths rest on each posterior draw (for the Monte Carlo
errors, :mod:`sim.engine.mc_error`). Summaries of disjoint sets of paths add up exactly (integer
counts), so the result does not depend on how paths were grouped into chunks or spread over workers.
Quantiles read off the histograms are exact to within one bin: 0.23% of the value for volume (log
bins), 0.0001 for shares.

The dense bins cover each variable's usual range (:class:`~sim.core.variables.Bins`); a value
outside it is not clipped but counted in a bin of the same width beyond the range (kept sparsely,
since such values are rare), and an infinite or NaN value in a bin of its own. So quantiles stay
exact to one bin whatever the values: a p95 of 6e20 tokens/day is reported as 6e20, an infinite
one as infinite, and a step with a NaN path has NaN quantiles, as ``numpy.quantile`` would give.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.core.variables import VARIABLES
from sim.engine.kernel import claim_pass, histogram_pass
from sim.scenarios.scenario import Claim

#: Quantiles kept for every variable: the 50/80/90/95% bands and the quartiles.
SUMMARY_QUANTILES = (0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.975)
#: Bins of values beyond the dense range that stand for -inf, +inf and NaN; finite values further out
#: than ``FAR`` bins (only on a linear axis, beyond 1e17 times its width) share the bin at ``FAR``.
NEG_INF, POS_INF, NAN = -(2**62), 2**62, 2**62 + 1
FAR = 2**60


def _merge_rows(rows: np.ndarray) -> np.ndarray:
    """Rows ``(step, bin, count)`` with equal ``(step, bin)`` summed into one, sorted by step and bin."""
    if len(rows) == 0:
        return np.zeros((0, 3), dtype=np.int64)
    keys, inverse = np.unique(rows[:, :2], axis=0, return_inverse=True)
    counts = np.bincount(inverse.ravel(), weights=rows[:, 2], minlength=len(keys)).astype(np.int64)
    return np.column_stack([keys, counts])


def _outside_rows(steps: np.ndarray, where: np.ndarray) -> np.ndarray:
    """``(step, bin, count)`` of the values at ``steps`` whose bin positions ``where`` are outside the dense range."""
    bins = np.where(np.isnan(where), NAN, np.where(where == np.inf, POS_INF, np.where(
        where == -np.inf, NEG_INF, np.floor(np.clip(where, -FAR, FAR)).astype(np.int64))))
    return _merge_rows(np.column_stack([steps, bins, np.ones_like(steps)]).astype(np.int64))


def _no_outside() -> dict[str, np.ndarray]:
    return {name: np.zeros((0, 3), dtype=np.int64) for name in VARIABLES}


class Histograms(dict):
    """Histogram counts ``(time, bin)`` by variable, each allocated (18 MB for the three) when first counted into:
    a run that keeps every path summarises them exactly and never counts into them."""

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = steps

    def __missing__(self, name: str) -> np.ndarray:
        counts = self[name] = np.zeros((self.steps, VARIABLES[name].bins.count), dtype=np.int64)
        return counts


def _no_clusters() -> dict[str, np.ndarray]:
    return {name: np.zeros((0, 2), dtype=np.int64) for name in VARIABLES}


def _merge_clusters(*parts: np.ndarray) -> np.ndarray:
    """Rows ``(label, paths)`` of several sets of paths, the rows of equal labels summed, sorted by label."""
    rows = np.concatenate(parts)
    labels, inverse = np.unique(rows[:, 0], return_inverse=True)
    return np.column_stack([labels, np.bincount(inverse, weights=rows[:, 1], minlength=len(labels)).astype(np.int64)])


@dataclass
class Summary:
    """Histogram counts per variable ``(time, bin)``, counts per claim ``(claim, time)`` of paths in which it
    holds and of paths that have crossed its threshold, per variable the paths on each posterior draw (rows
    ``(cluster label, paths)``, sorted by label), and the values beyond each variable's dense bins as rows
    ``(time, bin, count)``."""

    counts: dict[str, np.ndarray]
    crossed: np.ndarray
    passed: np.ndarray
    paths: int
    clusters: dict[str, np.ndarray] = field(default_factory=_no_clusters)
    outside: dict[str, np.ndarray] = field(default_factory=_no_outside)

    @classmethod
    def empty(cls, steps: int, claims: int) -> "Summary":
        return cls(Histograms(steps), np.zeros((claims, steps), dtype=np.int64),
                   np.zeros((claims, steps), dtype=np.int64), 0, _no_clusters(), _no_outside())

    def add_clusters(self, clusters: dict[str, np.ndarray]) -> None:
        """Count which posterior draw each path rests on (cluster labels, :meth:`Paths.clusters`), per variable."""
        for name, labels in clusters.items():
            found, counts = np.unique(labels, return_counts=True)
            self.clusters[name] = _merge_clusters(self.clusters[name], np.column_stack([found, counts]))

    def effective(self, variable: str) -> float:
        """The effective number of independent paths of one variable: Kish's, counting the paths on one posterior
        draw as one (:func:`sim.engine.mc_error.effective_paths`)."""
        counts = self.clusters[variable][:, 1].astype(float)
        return float(counts.sum() ** 2 / np.sum(counts**2)) if counts.size else 0.0

    def add_paths(self, series: dict[str, np.ndarray], claims: tuple[Claim, ...]) -> None:
        """Count a block of paths (arrays ``(paths, time)`` by variable name), one compiled pass per variable
        (:func:`sim.engine.kernel.histogram_pass`) and per claim (:func:`sim.engine.kernel.claim_pass`)."""
        for name, variable in VARIABLES.items():
            axis = variable.bins
            values = np.ascontiguousarray(axis.to_axis(series[name]), dtype=float)
            index, position = np.empty(values.size, dtype=np.int64), np.empty(values.size)
            outside = histogram_pass(self.counts[name], values, axis.low, axis.high, index, position)
            if outside:  # rare: values beyond the dense bins, kept as rows (time, bin, count)
                rows = _outside_rows(index[:outside] % values.shape[1], position[:outside])
                self.outside[name] = _merge_rows(np.concatenate([self.outside[name], rows]))
        for row, claim in enumerate(claims):
            values = np.ascontiguousarray(series[claim.variable], dtype=float)
            claim_pass(values, float(claim.threshold), claim.direction == "above", claim.kind == "first_passage",
                       self.crossed[row], self.passed[row])
        self.paths += next(iter(series.values())).shape[0]

    def __iadd__(self, other: "Summary") -> "Summary":
        if other.paths:  # a summary that counted no paths has nothing in its histograms, claims or outside rows
            for name, counts in other.counts.items():
                self.counts[name] += counts
            for name in VARIABLES:
                self.outside[name] = _merge_rows(np.concatenate([self.outside[name], other.outside[name]]))
            self.crossed += other.crossed
            self.passed += other.passed
            self.paths += other.paths
        for name, rows in other.clusters.items():
            self.clusters[name] = _merge_clusters(self.clusters[name], rows)
        return self

    def quantiles(self, variable: str, quantiles: tuple[float, ...] = SUMMARY_QUANTILES) -> np.ndarray:
        """Quantiles ``(quantile, time)`` read off the histogram (values beyond its range included), interpolating
        inside a bin."""
        axis = VARIABLES[variable].bins
        low, high, bins = axis.low, axis.high, axis.count
        width = (high - low) / bins
        dense = self.counts[variable]
        outside = self.outside[variable]
        out = np.empty((len(quantiles), dense.shape[0]))
        for step in range(dense.shape[0]):
            extra = outside[outside[:, 0] == step]
            if extra.size and (extra[:, 1] == NAN).any():
                out[:, step] = np.nan
                continue
            below, above = extra[extra[:, 1] < 0], extra[extra[:, 1] >= bins]
            index = np.concatenate([below[:, 1], np.arange(bins), above[:, 1]])
            cdf = np.cumsum(np.concatenate([below[:, 2], dense[step], above[:, 2]]))
            for row, q in enumerate(quantiles):
                target = q * self.paths
                at = min(int(np.searchsorted(cdf, target, side="left")), len(cdf) - 1)
                before = cdf[at - 1] if at > 0 else 0
                inside = cdf[at] - before
                fraction = (target - before) / inside if inside else 0.5
                out[row, step] = (-np.inf if index[at] == NEG_INF else np.inf if index[at] == POS_INF
                                  else low + (index[at] + fraction) * width)
        return axis.from_axis(out)

    def crossed_share(self) -> np.ndarray:
        """Share of all paths in which each claim holds at each time ``(claim, time)``."""
        return self.crossed / max(self.paths, 1)

    def passed_share(self) -> np.ndarray:
        """Share of all paths that have crossed each claim's threshold by each time ``(claim, time)``."""
        return self.passed / max(self.paths, 1)

    def beyond_range(self, variable: str) -> int:
        """How many path-steps of ``variable`` fell outside its dense bins (kept exactly, not clipped)."""
        return int(self.outside[variable][:, 2].sum())

