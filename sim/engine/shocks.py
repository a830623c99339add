"""What moves a path off its trend: AR(1) deviations, persistent growth shocks, events, and the soft cap
of a compute bound.

Deviations start at the first step free of data (the month after the calibration's last fitted
window); volume moves on the log scale, adoption and usage within adopters on the logit scale.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import signal

from sim.scenarios.scenario import Event, Volatility

#: How sharply the compute cap bends a path near its bound: far below the bound a path is untouched (at
#: half the bound it loses 0.05%), and no path ever exceeds its bound.
CAP_SHARPNESS = 8.0


def ar1_deviations(rng: np.random.Generator, shape: tuple[int, int], volatility: Volatility, first: int) -> np.ndarray:
    """AR(1) paths: zero before column ``first``, then ``x_t = phi x_{t-1} + e_t`` tending to sd ``volatility.sd``."""
    size, steps = shape
    innovations = rng.standard_normal((size, steps - first))
    out = np.zeros(shape)
    if volatility.sd > 0.0 and steps > first:
        scale = volatility.sd * math.sqrt(1.0 - volatility.persistence**2)
        out[:, first:] = signal.lfilter([scale], [1.0, -volatility.persistence], innovations, axis=1)
    return out


def growth_shocks(rng: np.random.Generator, shape: tuple[int, int], sd_per_year: float, first: int,
                  step_years: float) -> np.ndarray:
    """Log-volume deviations from a random walk in the growth rate: zero before column ``first``; each step
    moves the growth rate by ``N(0, sd^2 x step)`` and the level by the accumulated rate times the step, so
    a shock to growth persists and the bands widen as ``t^1.5``."""
    size, steps = shape
    innovations = rng.standard_normal((size, steps - first))
    out = np.zeros(shape)
    if sd_per_year > 0.0 and steps > first:
        rate = np.cumsum(innovations * (sd_per_year * math.sqrt(step_years)), axis=1)
        out[:, first:] = np.cumsum(rate * step_years, axis=1)
    return out


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


def soft_cap(values: np.ndarray, bound: np.ndarray) -> np.ndarray:
    """``(v^-n + b^-n)^(-1/n)`` with ``n`` = :data:`CAP_SHARPNESS`: never above ``min(v, b)``, and ``v``
    itself far below the bound (computed on the log scale, so no power overflows)."""
    excess = CAP_SHARPNESS * (np.log(values) - np.log(bound))
    return np.minimum(values * np.exp(-np.logaddexp(0.0, excess) / CAP_SHARPNESS), bound)  # not even by rounding
