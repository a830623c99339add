"""The engine's inner loops: every path-month of a block of paths in two compiled passes (numpy's vectorised
exponentials between them), the open-source trends at their quadrature nodes, and the histogram and claim
passes of the streamed summary.

A first numba loop per path reads each innovation once and writes each deviation once (the AR(1) filters,
the growth random walk, the events); numpy exponentiates them in place; a second loop applies the trends,
the inverse links and the compute bound's soft cap, with no temporary arrays. The kernels use numpy's error
model: a division by zero gives an infinity or a NaN, as numpy's, where Python's model would check every
divisor and raise, and that check kept LLVM from running any loop with a division on vector instructions
(the soft cap and the open-source curves' nodes ran one value at a time, 1.5x and 1.25x slower). The
arithmetic is that of :mod:`sim.engine.shocks` step by step (the filter ``x_t = phi x_{t-1} + s e_t``, the
walk ``g_t = g_{t-1} + c e_t``, ``level_t = level_{t-1} + g_t dt``), so in float64 the paths agree with the
numpy reference to rounding (``tests/test_kernel.py``). Kernels are compiled once and cached on disk by
numba (``cache=True``, beside this file's ``__pycache__``), ``fastmath`` off, so every process computes the
same bits.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sim.engine.shocks import CAP_SHARPNESS

assert CAP_SHARPNESS == 8.0, "_soft_cap raises to the 8th power by three squarings, to the -1/8th by three roots"


@njit(cache=True, nogil=True, error_model="numpy")
def _soft_cap(value, bound):
    """:func:`sim.engine.shocks.soft_cap` of one value, ``(v^-n + b^-n)^(-1/n)``, in a form with no
    transcendental function and no branch (the reference takes two logarithms, two exponentials and a
    log1p): ``min(v, b) (1 + q^n)^(-1/n)`` with ``q = min(v, b) / max(v, b)``, ``q^n`` by three squarings
    (never overflowing) and the ``-1/n`` power as three square roots, each correctly rounded; equal to the
    reference to rounding (``tests/test_kernel.py``). Never above ``min(v, b)``; where ``q^n`` is below half
    an ulp of 1 (``v`` below 1% of its bound) ``1 + q^n`` rounds to exactly 1 and the value is returned bit
    for bit. A NaN value stays NaN."""
    low = value if value <= bound else bound
    high = bound if value <= bound else value
    ratio = low / high
    ratio *= ratio
    ratio *= ratio
    ratio *= ratio  # CAP_SHARPNESS = 8
    return low / math.sqrt(math.sqrt(math.sqrt(1.0 + ratio)))


@njit(cache=True, nogil=True, error_model="numpy")
def _deviations(logit_adoption, logit_usage, open_row, first, volume_ar, adoption_ar, share_ar, growth_step,
                step_years, volume_noise, adoption_noise, share_noise, growth_noise, volume_events,
                adoption_events, share_events, volume, adoption, share):
    """First pass of :func:`fused_paths`: ``volume`` gets each path-month's log-scale deviation (AR(1), growth
    walk, events), ``adoption`` and ``share`` minus their logits (trend, AR(1), events)."""
    paths, steps = volume.shape
    has_volume_events, has_adoption_events = volume_events.shape[0] > 0, adoption_events.shape[0] > 0
    has_share_events = share_events.shape[0] > 0
    for i in range(paths):
        x_volume = x_adoption = x_share = rate = level = 0.0
        adoption_trend, usage_trend = logit_adoption[open_row[i]], logit_usage[open_row[i]]
        for t in range(steps):
            d_volume = d_adoption = d_share = 0.0
            if t >= first:
                k = t - first
                x_volume = volume_ar[1] * volume_noise[i, k] + volume_ar[0] * x_volume
                x_adoption = adoption_ar[1] * adoption_noise[i, k] + adoption_ar[0] * x_adoption
                x_share = share_ar[1] * share_noise[i, k] + share_ar[0] * x_share
                rate += growth_noise[i, k] * growth_step
                level += rate * step_years
                d_volume, d_adoption, d_share = x_volume + level, x_adoption, x_share
            if has_volume_events:
                d_volume += volume_events[i, t]
            if has_adoption_events:
                d_adoption += adoption_events[i, t]
            if has_share_events:
                d_share += share_events[i, t]
            volume[i, t] = d_volume
            adoption[i, t] = -(d_adoption + adoption_trend[t])
            share[i, t] = -(d_share + usage_trend[t])


@njit(cache=True, nogil=True, error_model="numpy")
def _links(trends, volume_row, bound, volume, adoption, share):
    """Second pass of :func:`fused_paths`, on the exponentials of the first's results: volume is its trend times
    ``exp(deviation)``, soft-capped by ``bound`` (no rows without one); adoption and usage within adopters
    are ``1 / (1 + exp(-logit))``. Each loop is free of branches and so runs on vector instructions."""
    paths, steps = volume.shape
    for i in range(paths):
        trend, row = trends[volume_row[i]], volume[i]
        if bound.shape[0] > 0:
            limit = bound[i]
            for t in range(steps):
                row[t] = _soft_cap(row[t] * trend[t], limit[t])
        else:
            for t in range(steps):
                row[t] *= trend[t]
    for values in (adoption.ravel(), share.ravel()):
        for j in range(values.size):
            values[j] = 1.0 / (1.0 + values[j])


def fused_paths(trends, volume_row, logit_adoption, logit_usage, open_row, call_weight, first, volume_ar,
                adoption_ar, share_ar, growth_step, step_years, volume_noise, adoption_noise, share_noise,
                growth_noise, volume_events, adoption_events, share_events, bound, volume, adoption, share):
    """Fill ``volume``, ``adoption`` and ``share`` ``(path, time)`` for one block of paths.

    Path ``i`` follows the volume trend ``trends[volume_row[i]]`` and the open-source trends (logits of
    adoption and of usage within adopters) ``logit_adoption[open_row[i]]``, ``logit_usage[open_row[i]]``:
    rows of the run's stores (:class:`sim.engine.trends.DrawRows`), read where they are. Per path and
    month: the AR(1) deviations and the growth walk from column ``first`` on (the ``*_noise`` arrays hold
    their standard normal innovations from that column), the events' shifts (the ``*_events`` arrays, or no
    rows), the inverse links, and the compute bound's soft cap (``bound``, no rows without one). ``*_ar``
    are ``(persistence, innovation scale)`` of each AR(1) deviation (log scale for volume, logit for
    adoption and usage), ``growth_step`` the sd of the growth rate's step. The share of calls is
    ``usage x adoption^call_weight``.

    Two compiled passes with numpy's exponentials and logarithm between them, in place: numpy evaluates
    them with vector instructions, 1.6x faster over a block than one libm call at a time inside the loop
    (every value is computed the same way wherever it sits in the array, so results do not depend on the
    block's size or neighbours).
    """
    _deviations(logit_adoption, logit_usage, open_row, first, volume_ar, adoption_ar, share_ar, growth_step,
                step_years, volume_noise, adoption_noise, share_noise, growth_noise, volume_events,
                adoption_events, share_events, volume, adoption, share)
    for values in (volume, adoption, share):
        np.exp(values, out=values)
    _links(trends, volume_row, bound, volume, adoption, share)
    called = np.log(adoption)  # adoption ** call_weight, as exp(call_weight log(adoption))
    called *= call_weight[:, None]
    np.exp(called, out=called)
    share *= called


@njit(cache=True, nogil=True, error_model="numpy")
def histogram_pass(counts, values, low, high, outside_index, outside_position):
    """Count every value ``(path, time)`` (on the binned axis already: numpy's vectorised log10 is several
    times faster than one value at a time) in the histogram ``counts`` ``(time, bin)`` of equal bins from
    ``low`` to ``high``, in one pass.

    A value outside the range (or NaN) is not counted: its flat index and its position in bins go to
    ``outside_index`` and ``outside_position`` (buffers of ``values.size``); returns how many there are.
    Inside, the bin is the one the numpy pass of :mod:`sim.engine.summary` gives.
    """
    paths, steps = values.shape
    bins = counts.shape[1]
    outside = 0
    for t in range(steps):  # month by month: the month's row of the table stays in cache (1.45x faster cold)
        row = counts[t]
        for i in range(paths):
            position = (values[i, t] - low) / (high - low) * bins
            if position >= 0.0 and position <= bins:  # the top edge is in the last bin; NaN is outside
                row[min(int(position), bins - 1)] += 1
            else:
                outside_index[outside] = i * steps + t
                outside_position[outside] = position
                outside += 1
    return outside


@njit(cache=True, nogil=True, error_model="numpy")
def claim_pass(values, threshold, above, first_passage, crossed, passed):
    """Add to ``crossed`` ``(time,)`` the paths ``(path, time)`` in which a claim holds at each time and to
    ``passed`` those that have been beyond its threshold at or before it (:class:`sim.scenarios.scenario.Claim`:
    ``above`` or below ``threshold``; holding means being beyond it then, or by then when ``first_passage``)."""
    paths, steps = values.shape
    for i in range(paths):
        gone = False
        for t in range(steps):
            beyond = values[i, t] > threshold if above else values[i, t] < threshold
            gone = gone or beyond
            if gone:
                passed[t] += 1
            if gone if first_passage else beyond:
                crossed[t] += 1


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _open_draw(d, share_2025h1, adoption_2025h1, adoption_headroom, adoption_rate, usage_headroom, k, call_weight,
               halves, nodes, adoption_factor, usage_factor):
    """Draw ``d``'s open-source curves as :func:`_open_window` reads them (each curve's ceiling, starting logit
    from its 2025H1 anchor, and rate), and its factors ``exp(-r h z)`` for every half-width ``h`` and node ``z``."""
    anchor = adoption_2025h1[d]
    adoption_ceiling = anchor + (1.0 - anchor) * adoption_headroom[d]
    ratio = anchor / adoption_ceiling
    adoption_start = math.log(ratio / (1.0 - ratio))
    usage_anchor = share_2025h1[d] * math.exp(-call_weight[d] * math.log(anchor))
    usage_ceiling = usage_anchor + (1.0 - usage_anchor) * usage_headroom[d]
    ratio = usage_anchor / usage_ceiling
    usage_start = math.log(ratio / (1.0 - ratio))
    for h in range(halves.size):
        for j in range(nodes.size):
            adoption_factor[h, j] = math.exp(-adoption_rate[d] * halves[h] * nodes[j])
            usage_factor[h, j] = math.exp(-k[d] * halves[h] * nodes[j])
    return adoption_ceiling, adoption_start, adoption_rate[d], usage_ceiling, usage_start, k[d]


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _open_window(offset, curves, adoption_factor, usage_factor, adoption, usage):
    """Both curves (a draw's, from :func:`_open_draw`) at the nodes of one window centred ``offset`` after the
    anchor (its half-width's factors), into ``adoption`` and ``usage`` (one value a node). No running sum here,
    so the divisions run on vector instructions."""
    adoption_ceiling, adoption_start, adoption_speed, usage_ceiling, usage_start, usage_speed = curves
    adoption_odds = math.exp(-(adoption_start + adoption_speed * offset))
    usage_odds = math.exp(-(usage_start + usage_speed * offset))
    for j in range(adoption.size):
        adoption[j] = adoption_ceiling / (1.0 + adoption_odds * adoption_factor[j])
        usage[j] = usage_ceiling / (1.0 + usage_odds * usage_factor[j])


@njit(cache=True, nogil=True, error_model="numpy")
def open_curve_nodes(share_2025h1, adoption_2025h1, adoption_headroom, adoption_rate, usage_headroom, k,
                     call_weight, centre, kind, halves, nodes, anchor_time, adoption, usage):
    """Fill ``adoption`` and ``usage`` ``(draw, time, node)`` with the open-source curves ``a(t)`` and ``u(t)`` of
    :mod:`sim.curves.open_source` (logistics through their 2025H1 anchors) of some draws at the Gauss-Legendre
    ``nodes`` of every window, ``t = centre[m] + halves[kind[m]] * node`` (months of equal length share a
    half-width); their window means come from :func:`node_means`.

    One exponential per window and curve instead of one per node: ``exp(-(x0 + r (c + h z - T)))`` is
    ``exp(-(x0 + r (c - T)))`` times ``exp(-r h z)``, the latter computed once per draw for every half-width
    and node. Equal to the numpy curves to rounding (``tests/test_kernel.py``).
    """
    draws, steps, count = adoption.shape
    adoption_factor, usage_factor = np.empty((halves.size, count)), np.empty((halves.size, count))
    for d in range(draws):
        curves = _open_draw(d, share_2025h1, adoption_2025h1, adoption_headroom, adoption_rate, usage_headroom, k,
                            call_weight, halves, nodes, adoption_factor, usage_factor)
        for m in range(steps):
            _open_window(centre[m] - anchor_time, curves, adoption_factor[kind[m]], usage_factor[kind[m]],
                         adoption[d, m], usage[d, m])


@njit(cache=True, nogil=True, error_model="numpy")
def open_equal_weight_means(share_2025h1, adoption_2025h1, adoption_headroom, adoption_rate, usage_headroom, k,
                            call_weight, centre, kind, halves, nodes, weights, anchor_time, mean_adoption, mean_share):
    """Fill ``mean_adoption`` and ``mean_share`` ``(draw, time)`` with the window means of ``a(t)`` and of the share
    ``a(t) u(t)`` (draws whose call weight is 1), without storing the curves at the nodes: the nodes as in
    :func:`open_curve_nodes`, the share and the sums as :func:`node_means` after ``adoption * usage`` (so the
    same bits)."""
    draws, steps = mean_adoption.shape
    count = nodes.size
    adoption_factor, usage_factor = np.empty((halves.size, count)), np.empty((halves.size, count))
    adoption, usage = np.empty(count), np.empty(count)
    for d in range(draws):
        curves = _open_draw(d, share_2025h1, adoption_2025h1, adoption_headroom, adoption_rate, usage_headroom, k,
                            call_weight, halves, nodes, adoption_factor, usage_factor)
        for m in range(steps):
            _open_window(centre[m] - anchor_time, curves, adoption_factor[kind[m]], usage_factor[kind[m]], adoption,
                         usage)
            total_adoption = total_share = 0.0
            for j in range(count):
                total_adoption += adoption[j] * weights[j]
                total_share += adoption[j] * usage[j] * weights[j]
            mean_adoption[d, m] = total_adoption / 2.0
            mean_share[d, m] = total_share / 2.0


@njit(cache=True, nogil=True, error_model="numpy")
def node_means(values, weights, out):
    """``out[d, m] = sum_j values[d, m, j] weights[j] / 2``: Gauss-Legendre window means from the values at the
    nodes, summed in node order (a draw's mean never depends on the draws computed with it, as a BLAS
    product's summation order might)."""
    draws, steps, count = values.shape
    for d in range(draws):
        for m in range(steps):
            total = 0.0
            for j in range(count):
                total += values[d, m, j] * weights[j]
            out[d, m] = total / 2.0
