"""Simulated paths and the logical blocks they are computed in.

Paths are computed in fixed logical blocks of :data:`BLOCK` draws; block ``i`` draws all its
random numbers from ``SeedSequence(seed, spawn_key=(i,))``, so the result depends only on the
seed, never on the chunk size or the number of workers that compute the blocks.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from sim.core.timeaxis import month_grid
from sim.scenarios.scenario import FIRST_MONTH, Scenario

BLOCK = 1000


@dataclass(frozen=True)
class Paths:
    """Simulated paths ``(path, time)`` with the per-path parameters, the growth family and open-source
    variant each follows, the posterior draws they rest on as cluster labels ``(2, path)``
    (:func:`draw_labels` of the volume fit's and the open-source fit's), and (in a scenario with a compute
    bound) each path's bound."""

    daily_tokens: np.ndarray
    open_share: np.ndarray
    open_adoption: np.ndarray
    family: np.ndarray
    open_model: np.ndarray
    parameters: dict[str, np.ndarray]
    labels: np.ndarray
    compute_bound: np.ndarray | None = None

    def series(self) -> dict[str, np.ndarray]:
        """The three simulated variables by name."""
        return {"daily_tokens": self.daily_tokens, "open_share": self.open_share, "open_adoption": self.open_adoption}

    def clusters(self) -> dict[str, np.ndarray]:
        """Per variable, the posterior draw each path rests on (a fit and a draw index, as one integer label):
        paths resting on one draw are not independent, which the Monte Carlo errors account for."""
        volume, opened = self.labels
        return {"daily_tokens": volume, "open_share": opened, "open_adoption": opened}

    def take(self, rows: np.ndarray) -> "Paths":
        """The paths at ``rows``."""
        return Paths(self.daily_tokens[rows], self.open_share[rows], self.open_adoption[rows], self.family[rows],
                     self.open_model[rows], {k: v[rows] for k, v in self.parameters.items()}, self.labels[:, rows],
                     None if self.compute_bound is None else self.compute_bound[rows])

    @staticmethod
    def concatenate(parts: list["Paths"]) -> "Paths":
        """Paths of several blocks, in order."""
        if len(parts) == 1:
            return parts[0]
        bounds = None if parts[0].compute_bound is None else np.concatenate([p.compute_bound for p in parts])
        return Paths(*(np.concatenate([getattr(p, f) for p in parts]) for f in
                       ("daily_tokens", "open_share", "open_adoption", "family", "open_model")),
                     {k: np.concatenate([p.parameters[k] for p in parts]) for k in parts[0].parameters},
                     np.concatenate([p.labels for p in parts], axis=1), bounds)


def draw_labels(names: list[str], fit: np.ndarray, draw: np.ndarray) -> np.ndarray:
    """One integer per (fit, draw index) pair, the same in every block, for paths following fit ``names[fit]``:
    a checksum of the fit's name times a stride larger than any number of draws, plus the draw."""
    offsets = np.array([zlib.crc32(name.encode()) for name in names], dtype=np.int64) * 1_000_000_000
    return offsets[fit] + draw.astype(np.int64)


def time_grid(scenario: Scenario) -> np.ndarray:
    """The month starts simulated for a scenario (datetime64[ns])."""
    return month_grid(FIRST_MONTH, scenario.horizon, scenario.step_months)


def block_rng(seed: int, block: int) -> np.random.Generator:
    """The random stream of one logical block of draws."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(block,)))


def blocks(draws: int) -> list[tuple[int, int]]:
    """``(block index, size)`` of each logical block of a run of ``draws`` paths."""
    return [(block, min(BLOCK, draws - start)) for block, start in enumerate(range(0, draws, BLOCK))]
