"""How an SBC run is sized and tested (simulations, refit sampling, ranks, bins, alpha); the full and quick presets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from sim.calibration.sbc.compilers import COMPILERS
from sim.core.errors import UserError


@dataclass(frozen=True)
class SBCSettings:
    """How many simulations, how each refit samples, and how ranks are tested.

    ``ranks`` is ``L``: posterior draws kept per refit (evenly thinned from ``chains x draws``),
    so ranks run over ``0..L``. ``bins`` is ``B`` for the chi-square test; ``None`` picks the
    largest divisor of ``L + 1`` up to 10 that leaves at least 5 expected ranks per bin.
    """

    simulations: int = 100
    draws: int = 500
    tune: int = 500
    chains: int = 2
    ranks: int = 99
    bins: int | None = None
    alpha: float = 0.01
    target_accept: float = 0.9
    backend: str = "numba"
    seed: int = 20250901

    def __post_init__(self) -> None:
        problems = []
        if self.simulations < 10:
            problems.append(f"simulations must be at least 10 (got {self.simulations})")
        if self.ranks < 4 or self.ranks > self.chains * self.draws:
            problems.append(f"ranks must be between 4 and chains x draws = {self.chains * self.draws} (got {self.ranks})")
        if self.bins is not None and (self.bins < 2 or (self.ranks + 1) % self.bins):
            problems.append(f"bins must divide ranks + 1 = {self.ranks + 1} and be at least 2 (got {self.bins})")
        if not 0 < self.alpha < 0.5:
            problems.append(f"alpha must be in (0, 0.5) (got {self.alpha})")
        if self.backend not in COMPILERS:
            problems.append(f"backend must be one of {', '.join(COMPILERS)} (got {self.backend!r})")
        if problems:
            raise UserError("; ".join(problems), where="SBC settings")

    @property
    def rank_bins(self) -> int:
        """``B``: the number of equal-width rank bins of the chi-square test."""
        if self.bins is not None:
            return self.bins
        divisors = [b for b in range(2, 11) if (self.ranks + 1) % b == 0 and self.simulations / b >= 5]
        return max(divisors, default=2)


#: The reduced run of the test suite (``tokensim sbc --quick``): enough refits to catch a wrong window
#: integral (p about 1e-8 for ``v_ref`` under a midpoint likelihood, against p > 0.1 for the right one)
#: at about half a second per refit on a loaded 2-core machine. One chain of 100 tuning and 80 kept
#: draws (ESS about 50) thinned to L = 19, 50 simulations, 10 bins of 2 ranks (5 expected per bin).
QUICK = SBCSettings(simulations=50, draws=80, tune=100, chains=1, ranks=19, target_accept=0.8, backend="pytensor")


def preset(quick: bool = False, **overrides: Any) -> SBCSettings:
    """The full-run settings (or :data:`QUICK`), with the given fields replaced where not None."""
    return dataclasses.replace(QUICK if quick else SBCSettings(),
                               **{k: v for k, v in overrides.items() if v is not None})
