"""Every posterior draw's monthly trend, computed once per run and shared by all blocks.

A path only chooses which posterior draw it follows; the trend of each draw (a Gauss-Legendre window
mean for most curves) is therefore computed once here rather than once per path: daily tokens for
each growth family the scenario mixes, and logit adoption and logit usage for each variant of the
open-source model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from sim.calibration.posterior import Posterior
from sim.core.timeaxis import month_windows
from sim.curves.families import FAMILIES
from sim.curves.open_source import OPEN_DERIVED, OPEN_PARAMETERS, open_adoption_window_mean, open_share_window_mean
from sim.engine.paths import time_grid
from sim.scenarios.scenario import Scenario

_EPS = 1e-12  # shares are kept this far from 0 and 1 before taking logits


@dataclass(frozen=True)
class OpenTrends:
    """One open-source variant's monthly trends for every posterior draw (logits of adoption and of usage
    within adopters), the call weight linking them, and the draws' parameters."""

    logit_adoption: np.ndarray
    logit_usage: np.ndarray
    call_weight: np.ndarray
    parameters: dict[str, np.ndarray]


@dataclass(frozen=True)
class Trends:
    """The trends of every fit a scenario uses, the resampling weights of its draws, and the first step
    free of data (process noise, growth shocks and events start there)."""

    volume: dict[str, np.ndarray]
    volume_parameters: dict[str, dict[str, np.ndarray]]
    open: dict[str, OpenTrends]
    weights: dict[str, np.ndarray | None]
    first_free: int


def first_free_step(times: np.ndarray, last_data_month: str) -> int:
    """The first simulated step after the calibration's last data month."""
    return int(np.searchsorted(times.astype("datetime64[M]"), np.datetime64(last_data_month, "M"), side="right"))


def open_trends(samples: dict[str, np.ndarray], a: np.ndarray, b: np.ndarray) -> OpenTrends:
    """The monthly logits of adoption and of usage within adopters of every draw of one open-source fit;
    usage is what makes the call-weighted share come out as its window mean, ``s / a^gamma``."""
    params = {p: samples[p] for p in (*OPEN_PARAMETERS, *OPEN_DERIVED)}
    columns = {p: v[:, None] for p, v in params.items()}
    adoption = np.clip(open_adoption_window_mean(a, b, columns), _EPS, 1 - _EPS)
    called = adoption ** columns["call_weight"]
    usage = np.clip(open_share_window_mean(a, b, columns) / called, _EPS, 1 - _EPS)
    return OpenTrends(special.logit(adoption), special.logit(usage), params["call_weight"], params)


def build_trends(posterior: Posterior, scenario: Scenario, weights: dict[str, np.ndarray | None]) -> Trends:
    """The trend of every posterior draw of every family and open-source variant the scenario uses."""
    times = time_grid(scenario)
    a, b = month_windows(times, scenario.step_months)
    volume, volume_parameters = {}, {}
    for name, _ in scenario.family_weights:
        samples = posterior.samples(name)
        params = {p: samples[p] for p in FAMILIES[name].parameters}
        volume[name] = FAMILIES[name].window_mean(a, b, {p: v[:, None] for p, v in params.items()})
        volume_parameters[name] = params
    opened = {name: open_trends(posterior.samples(name), a, b) for name, _ in scenario.open_weights}
    return Trends(volume, volume_parameters, opened, weights,
                  first_free_step(times, posterior.attrs["last_data_month"]))
