"""The engine's inner loop, fused: the AR(1) filters, the growth random walk, events, the compute cap and
the inverse links of a block of paths in one pass, and the histogram pass of the streamed summary.

numpy computed each of these as a separate pass over ``(paths, months)`` arrays (a temporary per step);
here one numba loop per path reads each innovation once and writes each simulated value once. The
arithmetic is the same as :mod:`sim.engine.shocks` step by step (the filter ``x_t = phi x_{t-1} + s e_t``,
the walk ``g_t = g_{t-1} + c e_t``, ``level_t = level_{t-1} + g_t dt``), so in float64 the paths agree with
the numpy reference to rounding (``tests/test_kernel.py``). Kernels are compiled once and cached on disk
by numba (``cache=True``, beside this file's ``__pycache__``), ``fastmath`` off, so every process
computes the same bits.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sim.engine.shocks import CAP_SHARPNESS

#: The dtype of the engine's standard normal innovations. float32 draws cost about half as much as float64
#: ones; the difference in every reported figure is far inside its Monte Carlo error
#: (``tests/test_kernel.py``), and the paths themselves are computed in float64.
INNOVATIONS = np.float32
#: Below this ``n (log v - log b)`` the soft cap's factor ``exp(-log1p(exp(excess)) / n)`` is 1 to the last bit.
_UNTOUCHED = -37.0


@njit(cache=True, nogil=True)
def _expit(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@njit(cache=True, nogil=True)
def fused_paths(trend, logit_adoption, logit_usage, call_weight, first,
                volume_ar, adoption_ar, share_ar, growth_step, step_years,
                volume_noise, adoption_noise, share_noise, growth_noise,
                volume_events, adoption_events, share_events, bound,
                volume, adoption, share):
    """Fill ``volume``, ``adoption`` and ``share`` ``(path, time)`` for one block of paths.

    ``*_ar`` are ``(persistence, innovation scale)`` of each AR(1) deviation (log scale for volume, logit
    for adoption and usage), ``growth_step`` the sd of the growth rate's step; the ``*_noise`` arrays hold
    the standard normal innovations from column ``first`` on, the ``*_events`` arrays the events' shifts
    (or have zero rows when there are none), ``bound`` the compute bound (zero rows without one).
    """
    paths, steps = trend.shape
    has_volume_events, has_adoption_events = volume_events.shape[0] > 0, adoption_events.shape[0] > 0
    has_share_events, has_bound = share_events.shape[0] > 0, bound.shape[0] > 0
    for i in range(paths):
        x_volume = x_adoption = x_share = rate = level = 0.0
        for t in range(steps):
            if t >= first:
                k = t - first
                x_volume = volume_ar[1] * volume_noise[i, k] + volume_ar[0] * x_volume
                x_adoption = adoption_ar[1] * adoption_noise[i, k] + adoption_ar[0] * x_adoption
                x_share = share_ar[1] * share_noise[i, k] + share_ar[0] * x_share
                rate += growth_noise[i, k] * growth_step
                level += rate * step_years
            deviation = x_volume + level
            if has_volume_events:
                deviation += volume_events[i, t]
            value = trend[i, t] * math.exp(deviation)
            if has_bound:
                limit = bound[i, t]
                excess = CAP_SHARPNESS * (math.log(value) - math.log(limit))
                # Far below the bound the cap changes nothing: exp(-softplus / n) rounds to exactly 1.
                if excess > _UNTOUCHED:
                    softplus = max(excess, 0.0) + math.log1p(math.exp(-abs(excess)))
                    value = min(value * math.exp(-softplus / CAP_SHARPNESS), limit)
            volume[i, t] = value
            a = logit_adoption[i, t] + x_adoption
            if has_adoption_events:
                a += adoption_events[i, t]
            u = logit_usage[i, t] + x_share
            if has_share_events:
                u += share_events[i, t]
            adopted = _expit(a)
            adoption[i, t] = adopted
            share[i, t] = adopted ** call_weight[i] * _expit(u)


@njit(cache=True, nogil=True)
def count_into(counts, values, logarithmic, low, high):
    """Add every value ``(path, time)`` to the histogram ``counts`` ``(time, bin)`` of equal bins from ``low``
    to ``high`` (of ``log10`` of the value when ``logarithmic``); values outside fall in the end bins."""
    paths, steps = values.shape
    bins = counts.shape[1]
    for i in range(paths):
        for t in range(steps):
            value = values[i, t]
            if logarithmic:
                value = math.log10(max(value, 1e-300))
            position = (value - low) / (high - low) * bins  # as the numpy pass did, bin for bin
            index = int(position) if position > 0 else 0
            counts[t, min(index, bins - 1)] += 1
