"""What a calibration is computed from, loaded once and handed down: the observations, the priors, the
reference class of analogs and the compute figures (each cut to the vintage), the sampler settings and
the folder where posteriors are cached."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from dataclasses import dataclass
from pathlib import Path

from sim.core import paths
from sim.data.analogs import ReferenceClass, load_reference_class
from sim.data.compute_trend import ComputeFigures, ComputeTrend, load_compute_figures
from sim.data.observations import ObservationSet, load_observations
from sim.data.priors import PriorBook, Priors, load_priors

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
    # A fit whose only failure of the gate is divergent transitions is sampled again, same seed, at this
    # target (smaller steps): the remedy for a rare trajectory into a steep wall of the posterior (the decay
    # fit diverged once in 4,000 draws in about one run in ten at 0.99, and in none of six at 0.995).
    divergence_retry_target_accept: float = 0.995
    # nutpie's mass matrix: "low_rank" adapts a diagonal plus the leading directions of the posterior's
    # correlation (half the leapfrog steps per draw and twice the effective draws on every fit here, against
    # "diagonal"); the PyMC sampler has only its diagonal one.
    mass_matrix: str = "low_rank"
    seed: int = 20250901


@dataclass(frozen=True)
class CalibrationInputs:
    """Everything a calibration reads, each file read once.

    ``registry`` is every figure of the observation file (charts and the report show them all);
    ``observations`` is what calibration fits: the registry cut to the vintage ``as_of`` and ``cut``.
    The priors, the analogs behind the pooled ones and the compute figures are cut to the same vintage:
    a calibration as of a date rests only on what was published by then.
    """

    registry: ObservationSet
    prior_book: PriorBook
    analogs: ReferenceClass
    compute_figures: ComputeFigures
    as_of: dt.date | None = None
    cut: str = "published"
    settings: SamplerSettings = SamplerSettings()
    cache: Path = Path(paths.CALIBRATION, "posteriors")

    @classmethod
    def load(cls, observations: str | Path | None = None, priors: str | Path | None = None,
             cache: str | Path | None = None, *, as_of: dt.date | None = None, cut: str = "published",
             settings: SamplerSettings = SamplerSettings(), analogs: str | Path | None = None,
             compute: str | Path | None = None) -> CalibrationInputs:
        """Read and validate the observation registry, the priors, the analogs and the compute figures; errors
        name the file, line and key. Files not named are found by :mod:`sim.core.paths` (``./calibration/``,
        else the shipped copies; posteriors beside them, else in the user's cache)."""
        return cls(load_observations(observations or paths.observations()), load_priors(priors or paths.priors()),
                   load_reference_class(analogs or paths.analogs()), load_compute_figures(compute or paths.compute()),
                   as_of, cut, settings, Path(cache or paths.posteriors()))

    @functools.cached_property
    def observations(self) -> ObservationSet:
        """The figures calibration fits: the registry as known on ``as_of`` (all of it without one)."""
        return self.registry.vintage(self.as_of, self.cut)

    @functools.cached_property
    def priors(self) -> Priors:
        """The priors as justified on ``as_of``, pooled ones from the analogs known then."""
        return self.prior_book.vintage(self.as_of, self.analogs)

    @functools.cached_property
    def compute(self) -> ComputeTrend | None:
        """The compute trend as known on ``as_of``, or None before two reference figures were published."""
        return self.compute_figures.trend(self.as_of)

    def vintage(self, as_of: dt.date | None, cut: str = "published") -> CalibrationInputs:
        """The same inputs cut to another vintage (a backtest's origins)."""
        return dataclasses.replace(self, as_of=as_of, cut=cut)
