"""The Monte Carlo engine: posterior draws x stochastic deviations -> simulated paths.

Each path takes one growth family (drawn with the scenario's weights), one posterior draw of that
family and one posterior draw of the open-source model (both resampled with replacement), builds
the monthly trend from the curves in :mod:`sim.curves` (each month's value is the exact mean over
the month), and adds AR(1) deviations around it from the month after the last data month onwards:
in log space for volume, on the logit scale for adoption and for usage within adopters.

Paths are computed in fixed logical blocks of :data:`BLOCK` draws; block ``i`` draws all its
random numbers from ``SeedSequence(seed, spawn_key=(i,))``, so the result depends only on the
seed, never on how the blocks are scheduled.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy import special

from sim.curves import FAMILIES, OPEN_PARAMETERS, bass_adoption_window_mean, open_share_window_mean
from sim.model import OPEN_FIT
from sim.posterior import Posterior
from sim.scenario import LAST_DATA_MONTH, Scenario, Volatility
from sim.timeaxis import month_grid, month_windows

BLOCK = 4096
START = np.datetime64("2024-07", "M")
#: Smallest share kept away from 0 and 1 before taking logits.
_EPS = 1e-12


@dataclass(frozen=True)
class Paths:
    """Simulated paths of one block (or of a whole run), with the per-draw parameters."""

    daily_tokens: np.ndarray
    open_share: np.ndarray
    open_adoption: np.ndarray
    family: np.ndarray
    parameters: dict[str, np.ndarray]


def time_grid(scenario: Scenario) -> np.ndarray:
    """The month starts simulated for a scenario (datetime64[ns])."""
    return month_grid(START, scenario.horizon, scenario.step_months)


def block_rng(seed: int, block: int) -> np.random.Generator:
    """The random stream of one logical block of draws."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(block,)))


def ar1_deviations(rng: np.random.Generator, shape: tuple[int, int], volatility: Volatility,
                   first: int) -> np.ndarray:
    """AR(1) paths that are zero before column ``first`` and then approach stationary sd ``volatility.sd``."""
    n, steps = shape
    innovations = rng.standard_normal((n, steps - first))
    out = np.zeros(shape)
    if volatility.sd == 0.0 or steps == first:
        return out
    scale = volatility.sd * np.sqrt(1.0 - volatility.persistence**2)
    state = np.zeros(n)
    for step in range(steps - first):
        state = volatility.persistence * state + scale * innovations[:, step]
        out[:, first + step] = state
    return out


def simulate_block(posterior: Posterior, scenario: Scenario, seed: int, block: int, size: int,
                   times: np.ndarray) -> Paths:
    """Simulate ``size`` paths of logical block ``block``."""
    rng = block_rng(seed, block)
    names = [name for name, _ in scenario.family_weights]
    weights = np.array([weight for _, weight in scenario.family_weights])
    choice = rng.choice(len(names), size=size, p=weights / weights.sum())
    a, b = month_windows(times, scenario.step_months)
    first_free = int(np.searchsorted(times.astype("datetime64[M]"), LAST_DATA_MONTH, side="right"))

    trend = np.empty((size, len(times)))
    volume_parameters = {name: np.full(size, np.nan) for name in ("v_ref", "growth", "ceiling")}
    draw_index = np.zeros(size, dtype=np.int64)
    for index, name in enumerate(names):
        rows = np.flatnonzero(choice == index)
        picks = rng.integers(0, posterior.size(name), size=rows.size)
        draw_index[rows] = picks
        samples = posterior.samples(name)
        params = {p: samples[p][picks][:, None] for p in FAMILIES[name].parameters}
        trend[rows] = FAMILIES[name].window_mean(a, b, params)
        for p in FAMILIES[name].parameters:
            volume_parameters[p][rows] = samples[p][picks]

    open_picks = rng.integers(0, posterior.size(OPEN_FIT), size=size)
    open_samples = posterior.samples(OPEN_FIT)
    open_params = {p: open_samples[p][open_picks][:, None] for p in OPEN_PARAMETERS}
    adoption = np.clip(bass_adoption_window_mean(a, b, open_params), _EPS, 1 - _EPS)
    usage = np.clip(open_share_window_mean(a, b, open_params) / adoption, _EPS, 1 - _EPS)

    shape = (size, len(times))
    volume = trend * np.exp(ar1_deviations(rng, shape, scenario.volatility["volume"], first_free))
    adoption = special.expit(special.logit(adoption) + ar1_deviations(rng, shape, scenario.volatility["adoption"], first_free))
    usage = special.expit(special.logit(usage) + ar1_deviations(rng, shape, scenario.volatility["share"], first_free))

    parameters = {**volume_parameters, "posterior_draw": draw_index, "open_posterior_draw": open_picks,
                  **{p: open_samples[p][open_picks] for p in OPEN_PARAMETERS}}
    return Paths(volume, adoption * usage, adoption, np.array(names)[choice], parameters)


def blocks(draws: int) -> Iterator[tuple[int, int]]:
    """``(block index, size)`` of each logical block of a run of ``draws`` paths."""
    for block, start in enumerate(range(0, draws, BLOCK)):
        yield block, min(BLOCK, draws - start)


def simulate(posterior: Posterior, scenario: Scenario, *, draws: int | None = None,
             seed: int | None = None) -> tuple[np.ndarray, Paths]:
    """All paths of a scenario, concatenated in block order; returns ``(times, paths)``."""
    draws = scenario.draws if draws is None else draws
    seed = scenario.seed if seed is None else seed
    times = time_grid(scenario)
    parts = [simulate_block(posterior, scenario, seed, block, size, times) for block, size in blocks(draws)]
    return times, Paths(
        np.concatenate([p.daily_tokens for p in parts]),
        np.concatenate([p.open_share for p in parts]),
        np.concatenate([p.open_adoption for p in parts]),
        np.concatenate([p.family for p in parts]),
        {k: np.concatenate([p.parameters[k] for p in parts]) for k in parts[0].parameters},
    )
