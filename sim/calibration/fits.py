"""The fits of a calibration, a registry: one per volume family, and the open-source model.

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
from sim.curves.open_source import OPEN_PARAMETERS
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
    build: Callable[[ObservationSet, Priors], Any]
    scale: ObservationScale
    family: GrowthFamily | None = None


#: The open-source model's fit; every other fit is a volume family, named after it.
OPEN_FIT = "open"

FITS: dict[str, Fit] = {
    **{name: Fit(name, family.parameters, functools.partial(build_volume_model, family), SCALES["log"], family)
       for name, family in FAMILIES.items()},
    OPEN_FIT: Fit(OPEN_FIT, OPEN_PARAMETERS, build_open_model, SCALES["logit"]),
}


def fit_names() -> tuple[str, ...]:
    """Every fit of a full calibration, in order: the volume families, then the open model."""
    return tuple(FITS)


def build_model(fit: str, observations: ObservationSet, priors: Priors):
    """The PyMC model of one fit."""
    return FITS[fit].build(observations, priors)
