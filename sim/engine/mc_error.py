"""Monte Carlo standard errors of what a run reports: shares of paths (claim probabilities) and quantiles.

Paths that rest on the same posterior draw share their parameters, so they are not independent: with
``n_c`` paths on draw ``c``, the effective number of independent paths is Kish's ``(sum n_c)^2 /
sum n_c^2`` (:func:`effective_paths`), which counts the paths on one draw as one. That is an upper bound
on the simulation's error given the posterior draws (paths on one draw still differ by their noise),
and it is what keeps a 10-million-path run from claiming the precision of 10 million independent
draws when only a few thousand posterior draws stand behind it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def cluster_sizes(labels: np.ndarray) -> dict[int, int]:
    """How many paths rest on each posterior draw (by cluster label)."""
    values, counts = np.unique(labels, return_counts=True)
    return dict(zip(values.tolist(), counts.tolist()))


def effective_paths(sizes: dict[int, int]) -> float:
    """Kish's effective number of independent paths, counting the paths on one posterior draw as one."""
    counts = np.fromiter(sizes.values(), dtype=float, count=len(sizes))
    return float(counts.sum() ** 2 / np.sum(counts**2)) if counts.size else 0.0


def probability_se(probability: np.ndarray, effective: float) -> np.ndarray:
    """Monte Carlo standard error of a share of paths."""
    return np.sqrt(np.clip(probability * (1.0 - probability), 0.0, None) / max(effective, 1.0))


def quantile_se(quantile: Callable[[Sequence[float]], np.ndarray], levels: Sequence[float],
                effective: float) -> np.ndarray:
    """Monte Carlo standard error of quantiles ``(level, time)``: half the distance between the quantiles one
    binomial standard error either side of each level (the order-statistic interval)."""
    levels = np.asarray(levels, dtype=float)
    step = np.sqrt(levels * (1.0 - levels) / max(effective, 1.0))
    upper = quantile(tuple(np.clip(levels + step, 0.0, 1.0)))
    lower = quantile(tuple(np.clip(levels - step, 0.0, 1.0)))
    return (np.asarray(upper) - np.asarray(lower)) / 2.0
