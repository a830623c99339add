"""The Monte Carlo engine: posterior draws x stochastic deviations x events -> simulated paths.

Each path takes one growth family and one variant of the open-source model (drawn with the
scenario's weights), one posterior draw of each (resampled with replacement, reweighted when the
scenario replaces a prior), and follows their monthly trends (:mod:`sim.engine.trends`; each
month's value is the exact mean over the month). From the month after the calibration's last data
on, it adds AR(1) deviations (log scale for volume, logit scale for adoption and for usage within
adopters), a random walk in the growth rate of volume and the scenario's events
(:mod:`sim.engine.shocks`); a scenario's compute bound then caps the path itself, after all of
them. The open share of calls is ``adoption^call_weight x usage``. The per-month work is one fused loop
(:mod:`sim.engine.kernel`); the random numbers are drawn here, in a fixed order per block.

The blocks, their random streams and the :class:`~sim.engine.paths.Paths` they produce are
:mod:`sim.engine.paths`.
"""

from __future__ import annotations

import math

import numpy as np

from sim.core.timeaxis import month_windows
from sim.curves.families import T_ANCHOR, VOLUME_PARAMETERS, anchor_levels
from sim.curves.open_source import OPEN_DERIVED, OPEN_PARAMETERS
from sim.engine.paths import BLOCK, Paths, block_rng, draw_labels, time_grid
from sim.engine.innovations import innovations
from sim.engine.kernel import fused_paths
from sim.engine.shocks import event_effect
from sim.engine.summary import Summary
from sim.engine.trends import Trends
from sim.scenarios.scenario import Scenario


def pick_draws(rng: np.random.Generator, size: int, available: int, weights: np.ndarray | None) -> np.ndarray:
    """Posterior draw indices, resampled with replacement (by importance weight when given)."""
    if weights is None:
        return rng.integers(0, available, size=size)
    return rng.choice(available, size=size, p=weights)


def choose(rng: np.random.Generator, weighted: tuple[tuple[str, float], ...], size: int) -> np.ndarray:
    """Which of the weighted names (families, open-source variants) each path follows, by index."""
    probabilities = np.array([weight for _, weight in weighted])
    return rng.choice(len(weighted), size=size, p=probabilities / probabilities.sum())


def simulate_block(trends: Trends, scenario: Scenario, seed: int, block: int, size: int, times: np.ndarray) -> Paths:
    """Simulate the ``size`` paths of logical block ``block``."""
    rng = block_rng(seed, block)
    shape = (size, len(times))
    names = [name for name, _ in scenario.family_weights]
    choice = choose(rng, scenario.family_weights, size)
    volume_row = np.zeros(size, dtype=np.int64)  # each path's trend: its row of the run's store
    volume_parameters = {name: np.full(size, np.nan) for name in VOLUME_PARAMETERS}
    draw_index = np.zeros(size, dtype=np.int64)
    for index, name in enumerate(names):
        rows = np.flatnonzero(choice == index)
        picks = pick_draws(rng, rows.size, trends.volume[name].size, trends.weights.get(name))
        draw_index[rows] = picks
        volume_row[rows] = trends.volume[name].fill(picks)
        for p, values in trends.volume_parameters[name].items():
            volume_parameters[p][rows] = values[picks]
    variants = [name for name, _ in scenario.open_weights]
    open_choice = choose(rng, scenario.open_weights, size)
    open_row = np.zeros(size, dtype=np.int64)
    open_index = np.zeros(size, dtype=np.int64)
    open_parameters = {p: np.empty(size) for p in (*OPEN_PARAMETERS, *OPEN_DERIVED)}
    for index, name in enumerate(variants):
        rows = np.flatnonzero(open_choice == index)
        model = trends.open[name]
        picks = pick_draws(rng, rows.size, model.rows.size, trends.weights.get(name))
        open_index[rows] = picks
        open_row[rows] = model.rows.fill(picks)
        for p, values in model.parameters.items():
            open_parameters[p][rows] = values[picks]

    first = trends.first_free
    noise = dict(zip(("volume", "adoption", "share", "growth"), innovations(rng, (4, size, len(times) - first))))
    events = {kind: np.zeros((0, len(times))) for kind in ("volume", "adoption", "share")}
    for event in scenario.events:
        effect = event_effect(rng, event, times, size)
        events[event.target] = effect if not len(events[event.target]) else events[event.target] + effect
    compute_parameters, bound = {}, None
    if scenario.compute is not None:
        bound, compute_parameters = compute_bound(rng, scenario, volume_parameters, times)
    volume, adoption, share = np.empty(shape), np.empty(shape), np.empty(shape)
    step_years = scenario.step_months / 12.0
    fused_paths(trends.volume_store, volume_row, *trends.open_store, open_row, open_parameters["call_weight"], first,
                _ar(scenario.volatility["volume"]), _ar(scenario.volatility["adoption"]),
                _ar(scenario.volatility["share"]), scenario.growth_shock * math.sqrt(step_years), step_years,
                noise["volume"], noise["adoption"], noise["share"], noise["growth"],
                events["volume"], events["adoption"], events["share"],
                np.zeros((0, len(times))) if bound is None else bound, volume, adoption, share)
    parameters = {**volume_parameters, **compute_parameters, "posterior_draw": draw_index,
                  "open_posterior_draw": open_index, **open_parameters}
    labels = np.stack([draw_labels(names, choice, draw_index), draw_labels(variants, open_choice, open_index)])
    return Paths(volume, share, adoption, np.array(names)[choice], np.array(variants)[open_choice], parameters, labels,
                 bound)


def _ar(volatility) -> np.ndarray:
    """``(persistence, innovation scale)`` of an AR(1) deviation tending to sd ``volatility.sd``."""
    return np.array([volatility.persistence, volatility.sd * math.sqrt(1.0 - volatility.persistence**2)])


def compute_bound(rng: np.random.Generator, scenario: Scenario, volume_parameters: dict[str, np.ndarray],
                  times: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Each path's compute bound month by month (:mod:`sim.scenarios.compute_bound`), which caps the path after
    noise and events (no path exceeds it); returns the bounds and their parameters."""
    bound = scenario.compute
    floor = anchor_levels(volume_parameters)[1]  # the path's own fitted level at the 2025-04 anchor
    utilisation, active = bound.sample(rng, T_ANCHOR, floor)
    a, b = month_windows(times, scenario.step_months)
    limit = bound.tokens_per_day((a + b) / 2.0, utilisation, active)
    return limit, {"compute_utilisation": utilisation, "active_parameters": active}


def simulate_blocks(trends: Trends, scenario: Scenario, seed: int, chunk: list[tuple[int, int]],
                    stride: int, keep_all: bool) -> tuple[Summary, Paths, np.ndarray]:
    """Simulate consecutive blocks; returns their summary, the kept paths and their global indices.

    The summary always counts which posterior draw each path rests on (for Monte Carlo errors). With
    ``keep_all`` every path is kept and the summary's histograms are left empty (quantiles are computed
    exactly from the paths later); otherwise paths are counted into them and every ``stride``-th is kept.
    """
    times = time_grid(scenario)
    summary = Summary.empty(len(times), len(scenario.claims))
    labels, kept, kept_index = [], [], []
    for block, size in chunk:
        paths = simulate_block(trends, scenario, seed, block, size, times)
        labels.append(paths.clusters())
        if not keep_all:  # counted block by block, while its paths are still in cache
            summary.add_paths(paths.series(), scenario.claims)
        index = block * BLOCK + np.arange(size)
        rows = np.flatnonzero(index % stride == 0)
        kept.append(paths if rows.size == size else paths.take(rows))
        kept_index.append(index[rows])
    summary.add_clusters({name: np.concatenate([part[name] for part in labels]) for name in labels[0]})
    return summary, Paths.concatenate(kept), np.concatenate(kept_index)
