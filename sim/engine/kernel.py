"""The engine's inner loop: the AR(1) filters and the growth random walk of a block of paths in one compiled
pass, the inverse links in place, and the histogram pass of the streamed summary.

The recursions run in one numba loop per path that reads each innovation once and writes each deviation
once; the exponentials and inverse logits, which numpy evaluates with vector instructions (several times
faster than one value at a time), then run in place, with no temporary arrays. The arithmetic is the same
as :mod:`sim.engine.shocks` step by step (the filter ``x_t = phi x_{t-1} + s e_t``,
the walk ``g_t = g_{t-1} + c e_t``, ``level_t = level_{t-1} + g_t dt``), so in float64 the paths agree with
the numpy reference to rounding (``tests/test_kernel.py``). Kernels are compiled once and cached on disk
by numba (``cache=True``, beside this file's ``__pycache__``), ``fastmath`` off, so every process
computes the same bits.
"""

from __future__ import annotations


import numpy as np
from numba import njit
from scipy import special

from sim.engine.shocks import soft_cap

#: The dtype of the engine's standard normal innovations. float32 draws cost about half as much as float64
#: ones; the difference in every reported figure is far inside its Monte Carlo error
#: (``tests/test_kernel.py``), and the paths themselves are computed in float64.
INNOVATIONS = np.float32


@njit(cache=True, nogil=True)
def deviations(first, volume_ar, adoption_ar, share_ar, growth_step, step_years, volume_noise, adoption_noise,
               share_noise, growth_noise, volume, adoption, share):
    """Fill ``volume``, ``adoption`` and ``share`` ``(path, time)`` with each path's deviations from its trend.

    ``*_ar`` are ``(persistence, innovation scale)`` of each AR(1) deviation (log scale for volume, logit
    for adoption and usage), ``growth_step`` the sd of the growth rate's step; the ``*_noise`` arrays hold
    the standard normal innovations from column ``first`` on. Volume's deviation adds the growth walk.
    """
    paths, steps = volume.shape
    for i in range(paths):
        x_volume = x_adoption = x_share = rate = level = 0.0
        for t in range(first):
            volume[i, t] = adoption[i, t] = share[i, t] = 0.0
        for t in range(first, steps):
            k = t - first
            x_volume = volume_ar[1] * volume_noise[i, k] + volume_ar[0] * x_volume
            x_adoption = adoption_ar[1] * adoption_noise[i, k] + adoption_ar[0] * x_adoption
            x_share = share_ar[1] * share_noise[i, k] + share_ar[0] * x_share
            rate += growth_noise[i, k] * growth_step
            level += rate * step_years
            volume[i, t] = x_volume + level
            adoption[i, t] = x_adoption
            share[i, t] = x_share


def fused_paths(trend, logit_adoption, logit_usage, call_weight, first, volume_ar, adoption_ar, share_ar,
                growth_step, step_years, volume_noise, adoption_noise, share_noise, growth_noise,
                volume_events, adoption_events, share_events, bound, volume, adoption, share):
    """Fill ``volume``, ``adoption`` and ``share`` ``(path, time)`` for one block of paths.

    The recursions (AR(1) filters, the growth walk) run in one compiled loop (:func:`deviations`); the
    inverse links, which numpy evaluates with vector instructions, run in place on the results. The
    ``*_events`` arrays hold the events' shifts (or have no rows), ``bound`` the compute bound (no rows
    without one).
    """
    deviations(first, volume_ar, adoption_ar, share_ar, growth_step, step_years, volume_noise, adoption_noise,
               share_noise, growth_noise, volume, adoption, share)
    for values, shift in ((volume, volume_events), (adoption, adoption_events), (share, share_events)):
        if len(shift):
            values += shift
    np.exp(volume, out=volume)
    volume *= trend
    if len(bound):
        np.copyto(volume, soft_cap(volume, bound))
    adoption += logit_adoption
    special.expit(adoption, out=adoption)
    share += logit_usage
    special.expit(share, out=share)
    share *= adoption ** call_weight[:, None]


@njit(cache=True, nogil=True)
def count_into(counts, values, low, high):
    """Add every value ``(path, time)`` to the histogram ``counts`` ``(time, bin)`` of equal bins from ``low``
    to ``high`` (on the binned axis already); values outside fall in the end bins."""
    paths, steps = values.shape
    bins = counts.shape[1]
    for i in range(paths):
        for t in range(steps):
            value = values[i, t]
            position = (value - low) / (high - low) * bins  # as the numpy pass did, bin for bin
            index = int(position) if position > 0 else 0
            counts[t, min(index, bins - 1)] += 1
