"""The Monte Carlo engine: posterior draws x stochastic deviations x events -> simulated paths.

Each path takes one growth family (drawn with the scenario's weights), one posterior draw of that
family and one posterior draw of the open-source model (resampled with replacement, reweighted
when the scenario replaces a prior), builds the monthly trend from the curves in
:mod:`sim.curves` (each month's value is the exact mean over the month), adds AR(1) deviations
from the month after the last data month onwards (log scale for volume, logit scale for
adoption and for usage within adopters) and applies the scenario's events.

The blocks, their random streams and the :class:`~sim.engine.paths.Paths` they produce are
:mod:`sim.engine.paths`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import signal, special

from sim.calibration.fits import OPEN_FIT
from sim.calibration.posterior import Posterior
from sim.core.timeaxis import month_windows
from sim.curves.families import FAMILIES, T_ANCHOR, VOLUME_PARAMETERS, anchor_levels
from sim.curves.open_source import OPEN_PARAMETERS, bass_adoption_window_mean, open_share_window_mean
from sim.engine.paths import BLOCK, Paths, block_rng, time_grid
from sim.engine.summary import Summary
from sim.scenarios.scenario import LAST_DATA_MONTH, Event, Scenario, Volatility

_EPS = 1e-12  # shares are kept this far from 0 and 1 before taking logits


def ar1_deviations(rng: np.random.Generator, shape: tuple[int, int], volatility: Volatility, first: int) -> np.ndarray:
    """AR(1) paths: zero before column ``first``, then ``x_t = phi x_{t-1} + e_t`` tending to sd ``volatility.sd``."""
    size, steps = shape
    innovations = rng.standard_normal((size, steps - first))
    out = np.zeros(shape)
    if volatility.sd > 0.0 and steps > first:
        scale = volatility.sd * math.sqrt(1.0 - volatility.persistence**2)
        out[:, first:] = signal.lfilter([scale], [1.0, -volatility.persistence], innovations, axis=1)
    return out


@dataclass(frozen=True)
class Trends:
    """Every posterior draw's monthly trend, computed once per run and shared by all blocks.

    A path only chooses which posterior draw it follows; the trend of each draw (a Gauss-Legendre
    window mean for some curves) is therefore computed once here rather than once per path.
    """

    volume: dict[str, np.ndarray]
    volume_parameters: dict[str, dict[str, np.ndarray]]
    logit_adoption: np.ndarray
    logit_usage: np.ndarray
    open_parameters: dict[str, np.ndarray]
    weights: dict[str, np.ndarray | None]


def build_trends(posterior: Posterior, scenario: Scenario, weights: dict[str, np.ndarray | None]) -> Trends:
    """The trend of every posterior draw of every family the scenario uses, and of the open model."""
    a, b = month_windows(time_grid(scenario), scenario.step_months)
    volume, volume_parameters = {}, {}
    for name, _ in scenario.family_weights:
        samples = posterior.samples(name)
        params = {p: samples[p] for p in FAMILIES[name].parameters}
        volume[name] = FAMILIES[name].window_mean(a, b, {p: v[:, None] for p, v in params.items()})
        volume_parameters[name] = params
    open_samples = posterior.samples(OPEN_FIT)
    open_params = {p: open_samples[p] for p in OPEN_PARAMETERS}
    columns = {p: v[:, None] for p, v in open_params.items()}
    adoption = np.clip(bass_adoption_window_mean(a, b, columns), _EPS, 1 - _EPS)
    usage = np.clip(open_share_window_mean(a, b, columns) / adoption, _EPS, 1 - _EPS)
    return Trends(volume, volume_parameters, special.logit(adoption), special.logit(usage), open_params, weights)


def pick_draws(rng: np.random.Generator, size: int, available: int, weights: np.ndarray | None) -> np.ndarray:
    """Posterior draw indices, resampled with replacement (by importance weight when given)."""
    if weights is None:
        return rng.integers(0, available, size=size)
    return rng.choice(available, size=size, p=weights)


def simulate_block(trends: Trends, scenario: Scenario, seed: int, block: int, size: int, times: np.ndarray) -> Paths:
    """Simulate the ``size`` paths of logical block ``block``."""
    rng = block_rng(seed, block)
    names = [name for name, _ in scenario.family_weights]
    probabilities = np.array([weight for _, weight in scenario.family_weights])
    choice = rng.choice(len(names), size=size, p=probabilities / probabilities.sum())
    first_free = int(np.searchsorted(times.astype("datetime64[M]"), LAST_DATA_MONTH, side="right"))

    trend = np.empty((size, len(times)))
    volume_parameters = {name: np.full(size, np.nan) for name in VOLUME_PARAMETERS}
    draw_index = np.zeros(size, dtype=np.int64)
    for index, name in enumerate(names):
        rows = np.flatnonzero(choice == index)
        picks = pick_draws(rng, rows.size, trends.volume[name].shape[0], trends.weights.get(name))
        draw_index[rows] = picks
        trend[rows] = trends.volume[name][picks]
        for p, values in trends.volume_parameters[name].items():
            volume_parameters[p][rows] = values[picks]
    open_picks = pick_draws(rng, size, trends.logit_adoption.shape[0], trends.weights.get(OPEN_FIT))
    compute_parameters = {}
    if scenario.compute is not None:
        trend, compute_parameters = compute_capped(rng, scenario, trend, volume_parameters, times)

    shape = (size, len(times))
    deviation = {kind: ar1_deviations(rng, shape, scenario.volatility[kind], first_free)
                 for kind in ("volume", "adoption", "share")}
    for event in scenario.events:
        deviation[event.target] += event_effect(rng, event, times, size)
    volume = trend * np.exp(deviation["volume"])
    adoption = special.expit(trends.logit_adoption[open_picks] + deviation["adoption"])
    usage = special.expit(trends.logit_usage[open_picks] + deviation["share"])

    parameters = {**volume_parameters, **compute_parameters, "posterior_draw": draw_index,
                  "open_posterior_draw": open_picks,
                  **{p: values[open_picks] for p, values in trends.open_parameters.items()}}
    return Paths(volume, adoption * usage, adoption, np.array(names)[choice], parameters)


def compute_capped(rng: np.random.Generator, scenario: Scenario, trend: np.ndarray,
                   volume_parameters: dict[str, np.ndarray], times: np.ndarray) -> tuple[np.ndarray, dict]:
    """The trend capped month by month by each path's compute bound (see :mod:`sim.scenarios.compute_bound`)."""
    bound = scenario.compute
    floor = anchor_levels(volume_parameters)[1]  # the path's own fitted level at the 2025-04 anchor
    utilisation, active = bound.sample(rng, T_ANCHOR, floor)
    a, b = month_windows(times, scenario.step_months)
    capped = np.minimum(trend, bound.tokens_per_day((a + b) / 2.0, utilisation, active))
    return capped, {"compute_utilisation": utilisation, "active_parameters": active}


def event_effect(rng: np.random.Generator, event: Event, times: np.ndarray, size: int) -> np.ndarray:
    """The shift ``(path, time)`` one event adds: zero where it does not fire or before it happens."""
    months = times.astype("datetime64[M]")
    first = int(np.searchsorted(months, event.start, side="left"))
    last = int(np.searchsorted(months, event.end, side="right")) - 1
    fires = rng.random(size) < event.probability
    when = rng.integers(first, max(last, first) + 1, size=size)
    magnitude = event.size.sample(rng, size)
    elapsed = np.arange(len(times))[None, :] - when[:, None]
    months_elapsed = elapsed * (np.diff(months).astype(int).min() if len(months) > 1 else 1)
    decay = np.where(elapsed >= 0, 0.5 ** (np.maximum(months_elapsed, 0) / event.half_life_months), 0.0)
    return np.where(fires, magnitude, 0.0)[:, None] * decay


def simulate_blocks(trends: Trends, scenario: Scenario, seed: int, chunk: list[tuple[int, int]],
                    stride: int, keep_all: bool) -> tuple[Summary, Paths, np.ndarray]:
    """Simulate consecutive blocks; returns their summary, the kept paths and their global indices.

    With ``keep_all`` every path is kept and the summary is left empty (it is computed exactly from
    the paths later); otherwise paths are counted into the summary and every ``stride``-th is kept.
    """
    times = time_grid(scenario)
    summary = Summary.empty(len(times), len(scenario.claims))
    simulated, kept, kept_index = [], [], []
    for block, size in chunk:
        paths = simulate_block(trends, scenario, seed, block, size, times)
        if not keep_all:
            simulated.append(paths.series())
        index = block * BLOCK + np.arange(size)
        rows = np.flatnonzero(index % stride == 0)
        kept.append(paths.take(rows))
        kept_index.append(index[rows])
    if simulated:  # one histogram pass per chunk: its fixed cost is that of the (time x bin) table
        summary.add_paths({name: np.concatenate([s[name] for s in simulated]) for name in simulated[0]},
                          scenario.claims)
    return summary, Paths.concatenate(kept), np.concatenate(kept_index)
