"""What a calibration is computed from: the sampler settings (and, loaded once, the observations and priors)."""

from __future__ import annotations

from dataclasses import dataclass

#: NUTS implementations ``calibrate`` can use (both through ``pm.sample(nuts_sampler=...)``).
#: nutpie is the default: on these models it gives about twice PyMC's effective samples per second,
#: compile time included (``python benchmarks/run.py --only nuts``).
SAMPLERS = ("nutpie", "pymc")


@dataclass(frozen=True)
class SamplerSettings:
    """NUTS settings; part of the calibration id."""

    sampler: str = "nutpie"
    draws: int = 1000
    # 1500 tuning steps and 0.99: with 1000 and 0.98 two vintages of the backtest failed the gate
    # (the product fit as of 2025-08-31 at R-hat 1.0102, Gompertz as of 2024-09-14 with one divergence).
    tune: int = 1500
    chains: int = 4
    target_accept: float = 0.99
    seed: int = 20250901
