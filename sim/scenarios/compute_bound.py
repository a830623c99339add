"""The compute bound on inference volume (calibration/compute.toml), an optional scenario assumption.

A day of inference on all of China's intelligent compute bounds daily tokens::

    tokens/day <= EFLOPS(t) x 1e18 x 86,400 x utilisation / (2 x active parameters per token)

``EFLOPS(t)`` is the trend fitted to ``calibration/compute.toml`` (:mod:`sim.data.compute_trend`),
so the bound grows with compute. ``utilisation`` (the share of that compute doing enterprise LLM
inference, times how busy it is) and ``active_parameters`` (token-weighted active parameters per
token) are the scenario's priors.

The data condition them: a path's bound must lie above its own fitted level at the 2025-04 anchor
(the F&S 2025H1 window middle), or the path would contradict the figures it was calibrated on.
Draws that violate this are redrawn, so each path samples the priors truncated to the bounds the
data allow. A path whose level no draw in ``MAX_REDRAWS`` can carry (a prior draw far above the
figures, in a run from the priors alone) keeps its most permissive draw and is capped from the start;
more than ``MAX_INFEASIBLE`` of such paths means the assumption contradicts the data, an error. The
bound then caps the path's trend month by month.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

import numpy as np

from sim.core.errors import UserError
from sim.data.compute_trend import ComputeTrend, load_compute_trend
from sim.data.distributions import Distribution

#: Tokens per day per EFLOPS per unit utilisation, for a model with one active parameter:
#: 1e18 FLOP/s x 86,400 s / (2 FLOP per parameter per token).
TOKENS_PER_EFLOPS_DAY = 1e18 * 86_400 / 2.0
#: Rounds of redrawing before a compute assumption is declared incompatible with the data.
MAX_REDRAWS = 1000
#: The share of paths allowed to find no compatible draw before the assumption is refused.
MAX_INFEASIBLE = 0.01


@dataclass(frozen=True)
class ComputeBound:
    """A scenario's compute assumption: the trend and the priors on utilisation and model size."""

    trend: ComputeTrend
    utilisation: Distribution
    active_parameters: Distribution
    where: str = "[compute]"

    def known_by(self, as_of: dt.date | None) -> "ComputeBound":
        """The same bound on the compute trend of the figures published by ``as_of`` (a vintage's view)."""
        if as_of is None:
            return self
        return dataclasses.replace(self, trend=load_compute_trend(self.trend.source, as_of))

    def tokens_per_day(self, t: np.ndarray, utilisation: np.ndarray, active_parameters: np.ndarray) -> np.ndarray:
        """The bound ``(path, time)`` for each path's utilisation and active parameters."""
        per_path = TOKENS_PER_EFLOPS_DAY * utilisation / active_parameters
        return per_path[:, None] * self.trend.eflops(t)[None, :]

    def sample(self, rng: np.random.Generator, floor_time: float, floor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Utilisation and active parameters per path, redrawn until the bound at ``floor_time``
        exceeds each path's ``floor`` (its fitted level there); see the module's note on stragglers."""
        size = floor.shape[0]
        utilisation = self.utilisation.sample(rng, size)
        active = self.active_parameters.sample(rng, size)
        capacity = TOKENS_PER_EFLOPS_DAY * self.trend.eflops(floor_time)
        short = np.flatnonzero(capacity * utilisation / active < floor)
        best_u, best_a = utilisation[short], active[short]
        for _ in range(MAX_REDRAWS):
            if short.size == 0:
                return utilisation, active
            u, a = self.utilisation.sample(rng, short.size), self.active_parameters.sample(rng, short.size)
            better = u / a > best_u / best_a
            best_u, best_a = np.where(better, u, best_u), np.where(better, a, best_a)
            utilisation[short], active[short] = u, a
            still = capacity * u / a < floor[short]
            short, best_u, best_a = short[still], best_u[still], best_a[still]
        if short.size > MAX_INFEASIBLE * size:
            raise UserError(f"the compute bound stays below the calibrated 2025 level for {short.size} of {size} "
                            f"paths after {MAX_REDRAWS} redraws: raise utilisation or lower active_parameters",
                            where=self.where)
        utilisation[short], active[short] = best_u, best_a
        return utilisation, active
