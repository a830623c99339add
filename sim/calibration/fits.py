"""The fits of a calibration, a registry: one per volume family, and one per variant of the open-source model.

A fit is what ``calibrate`` samples and what the rest of the package asks about by name: the
parameters the engine draws from it, how its PyMC model is built, and the scale on which its
published figures enter the likelihood (which names the model's observed variable and the data
container holding those figures). Adding a fit means adding an entry here, not a branch elsewhere.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from sim.calibration.models import (
    LOG_OBSERVED,
    LOG_VALUES,
    LOGIT_OBSERVED,
    LOGIT_VALUES,
    build_open_model,
    build_volume_model,
)
from sim.curves.families import FAMILIES, GrowthFamily
from sim.curves.open_source import OPEN_DERIVED, OPEN_PARAMETERS, OPEN_VARIANTS
from sim.data.compute_trend import ComputeTrend
from sim.data.observations import SHARE_QUANTITIES, VOLUME_QUANTITIES, Observation, ObservationSet
from sim.data.priors import Priors


@dataclass(frozen=True)
class ObservationScale:
    """How a kind of published figure enters a likelihood, and how it is reported.

    ``forward`` takes a value (daily tokens, a share) to the model's scale and ``inverse`` back;
    ``observed`` and ``data`` name the model's observed variable and the data container holding
    the published values on that scale; ``variable`` is the simulated variable such figures
    describe; ``natural`` and ``unit`` are how the calibration report states them.
    """

    name: str
    quantities: tuple[str, ...]
    forward: Callable[[np.ndarray], np.ndarray]
    inverse: Callable[[np.ndarray], np.ndarray]
    observed: str
    data: str
    variable: str
    natural: Callable[[np.ndarray], np.ndarray]
    unit: str


#: Volumes are observed with lognormal noise (the log scale), shares with logit-normal noise.
SCALES: dict[str, ObservationScale] = {
    scale.name: scale
    for scale in (
        ObservationScale("log", VOLUME_QUANTITIES, np.log, np.exp, LOG_OBSERVED, LOG_VALUES, "daily_tokens",
                         lambda x: np.exp(x) / 1e12, "T tokens/day"),
        ObservationScale("logit", SHARE_QUANTITIES, special.logit, special.expit, LOGIT_OBSERVED, LOGIT_VALUES,
                         "open_share", special.expit, "share of calls"),
    )
}


def scale_of(observation: Observation) -> ObservationScale:
    """The scale a figure is fitted and scored on (log for volumes, logit for shares)."""
    return next(scale for scale in SCALES.values() if observation.quantity in scale.quantities)


@dataclass(frozen=True)
class Fit:
    """One fit: the parameters the engine draws from it, its model builder and its observation scale."""

    name: str
    parameters: tuple[str, ...]
    build: Callable[[ObservationSet, Priors, ComputeTrend | None], Any]
    scale: ObservationScale
    family: GrowthFamily | None = None

    def available(self, compute: ComputeTrend | None) -> bool:
        """Whether the fit can be made with what was known: a family built on compute needs its trend."""
        return self.family is None or not self.family.needs_compute or compute is not None


FITS: dict[str, Fit] = {
    **{name: Fit(name, family.parameters, functools.partial(build_volume_model, family), SCALES["log"], family)
       for name, family in FAMILIES.items()},
    **{name: Fit(name, (*OPEN_PARAMETERS, *OPEN_DERIVED), functools.partial(build_open_model, variant=name),
                 SCALES["logit"]) for name in OPEN_VARIANTS},
}
#: The open-source model's fits, one per structural variant.
OPEN_FITS: tuple[str, ...] = tuple(OPEN_VARIANTS)


def fit_names(compute: ComputeTrend | None | bool = True) -> tuple[str, ...]:
    """Every fit of a full calibration, in order (the volume families, then the open-source variants); with
    ``compute`` None, only those that can be made without the compute trend."""
    return tuple(name for name, fit in FITS.items() if compute is True or fit.available(compute))


def build_model(fit: str, observations: ObservationSet, priors: Priors, compute: ComputeTrend | None = None):
    """The PyMC model of one fit."""
    return FITS[fit].build(observations, priors, compute)
