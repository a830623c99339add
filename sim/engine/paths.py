"""Simulated paths and the logical blocks they are computed in.

Paths are computed in fixed logical blocks of :data:`BLOCK` draws; block ``i`` draws all its
random numbers from ``SeedSequence(seed, spawn_key=(i,))``, so the result depends only on the
seed, never on the chunk size or the number of workers that compute the blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.core.timeaxis import month_grid
from sim.scenarios.scenario import FIRST_MONTH, Scenario

BLOCK = 1000


@dataclass(frozen=True)
class Paths:
    """Simulated paths ``(path, time)`` with the per-path parameters."""

    daily_tokens: np.ndarray
    open_share: np.ndarray
    open_adoption: np.ndarray
    family: np.ndarray
    parameters: dict[str, np.ndarray]

    def series(self) -> dict[str, np.ndarray]:
        """The three simulated variables by name."""
        return {"daily_tokens": self.daily_tokens, "open_share": self.open_share, "open_adoption": self.open_adoption}

    def take(self, rows: np.ndarray) -> "Paths":
        """The paths at ``rows``."""
        return Paths(self.daily_tokens[rows], self.open_share[rows], self.open_adoption[rows], self.family[rows],
                     {k: v[rows] for k, v in self.parameters.items()})

    @staticmethod
    def concatenate(parts: list["Paths"]) -> "Paths":
        """Paths of several blocks, in order."""
        return Paths(*(np.concatenate([getattr(p, f) for p in parts]) for f in
                       ("daily_tokens", "open_share", "open_adoption", "family")),
                     {k: np.concatenate([p.parameters[k] for p in parts]) for k in parts[0].parameters})


def time_grid(scenario: Scenario) -> np.ndarray:
    """The month starts simulated for a scenario (datetime64[ns])."""
    return month_grid(FIRST_MONTH, scenario.horizon, scenario.step_months)


def block_rng(seed: int, block: int) -> np.random.Generator:
    """The random stream of one logical block of draws."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(block,)))


def blocks(draws: int) -> list[tuple[int, int]]:
    """``(block index, size)`` of each logical block of a run of ``draws`` paths."""
    return [(block, min(BLOCK, draws - start)) for block, start in enumerate(range(0, draws, BLOCK))]
