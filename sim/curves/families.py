"""The volume growth families, a registry: each family's level at a time and its exact window mean.

Each function works on numpy arrays (the Monte Carlo engine) and on pytensor tensors (the PyMC
model) alike, through :func:`sim.curves.backend.ops_for`. Times are model years (see
:mod:`sim.core.timeaxis`); ``a`` and ``b`` bound an averaging window.

Volume families share one parameterisation, anchored where the data are, so that their
parameters mean the same thing in every family:

``v_ref``
    the geometric mean of the levels at the anchors ``t = -/+ T_ANCHOR`` (2024-10-01 and
    2025-04-02, the middles of the two F&S windows); daily tokens, F&S enterprise definition;
``growth``
    the mean continuous growth rate between the anchors, ``log(V(+T)/V(-T)) / 2T`` (per year);
``ceiling``
    the saturation level ``K`` (saturating families only), which must exceed ``V(+T)``;
``shape``
    the Richards shape ``nu`` (Richards only): 1 is the logistic, towards 0 the Gompertz curve;
``adopter_share_of_headroom``, ``adopter_share_of_growth``
    (product family only) how the headroom and the growth split between new adopters and
    deeper use by existing ones (see :func:`product_level`);
``growth_decay``, ``long_run_growth``
    (decay family only) how fast growth fades, and the rate it fades to (see :func:`decay_level`);
``inference_share``, ``tokens_per_eflops_day``, ``compute_eflops``, ``compute_growth``
    (compute-logistic family only) the ceiling as a share of China's compute, the tokens a unit of
    compute serves, and the compute trend's constants (see :func:`compute_ceiling`).

The F&S windows pin ``v_ref`` and ``growth`` almost directly in every family, whatever the
ceiling; how growth slows after the data (the ceiling, the decay of growth, the share of compute) is
where the priors (assumptions) do the work. Anchoring the curves this way (rather than at an inflection time) keeps the posterior free
of the ridge where a low ceiling would need an ever steeper curve, which NUTS cannot cross.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.curves.backend import NUMPY, ops_for
from sim.curves.quadrature import Params, gauss_legendre_mean, quadrature_window_mean


def exponential_level(t: Any, p: Params) -> Any:
    """Unbounded exponential growth, ``v_ref * exp(growth * t)`` (a reference, not a forecast)."""
    ops = ops_for(t, p["v_ref"], p["growth"])
    return p["v_ref"] * ops.exp(p["growth"] * t)


def exponential_window_mean(a: Any, b: Any, p: Params) -> Any:
    """Exact mean of the exponential over ``[a, b]``: ``V(a) * expm1(g (b-a)) / (g (b-a))``."""
    ops = ops_for(a, b, p["v_ref"], p["growth"])
    span = p["growth"] * (b - a)
    return p["v_ref"] * ops.exp(p["growth"] * a) * ops.expm1(span) / span


#: Model time of the anchors (years either side of 2025-01-01): the F&S window middles.
T_ANCHOR = 0.25


def anchor_levels(p: Params) -> tuple[Any, Any]:
    """Levels ``V(-T_ANCHOR)`` and ``V(+T_ANCHOR)`` implied by ``v_ref`` and ``growth``."""
    ops = ops_for(p["v_ref"], p["growth"])
    return p["v_ref"] * ops.exp(-p["growth"] * T_ANCHOR), p["v_ref"] * ops.exp(p["growth"] * T_ANCHOR)


def _logit_line(first: Any, second: Any, ceiling: Any) -> tuple[Any, Any]:
    """The logistic to ``ceiling`` through ``first`` at ``-T_ANCHOR`` and ``second`` at ``+T_ANCHOR``:
    ``logit(V/K) = start + rate * (t + T_ANCHOR)``, a line on the logit scale."""
    ops = ops_for(first, second, ceiling)
    start = -ops.log(ceiling / first - 1.0)
    rate = (-ops.log(ceiling / second - 1.0) - start) / (2 * T_ANCHOR)
    return start, rate


def _logistic_line(p: Params) -> tuple[Any, Any]:
    """The logit line of the logistic family, through both anchors."""
    return _logit_line(*anchor_levels(p), p["ceiling"])


def logistic_level(t: Any, p: Params) -> Any:
    """Logistic growth to the ceiling ``K``, through both anchors."""
    ops = ops_for(t, p["v_ref"], p["growth"], p["ceiling"])
    start, rate = _logistic_line(p)
    return p["ceiling"] * ops.sigmoid(start + rate * (t + T_ANCHOR))


def logistic_window_mean(a: Any, b: Any, p: Params) -> Any:
    """Exact mean of the logistic over ``[a, b]``: ``K/(r (b-a)) * [softplus(logit(V/K))]_a^b``.

    For numpy windows that follow one another (each ``b`` the next ``a``, as the engine's months do) the
    softplus is evaluated once per edge rather than twice: the same numbers, half the work."""
    ops = ops_for(a, b, p["v_ref"], p["growth"], p["ceiling"])
    start, rate = _logistic_line(p)
    if ops is NUMPY and _consecutive(a, b):
        edges = ops.softplus(start + rate * (np.append(a, b[-1]) + T_ANCHOR))
        integral = edges[..., 1:] - edges[..., :-1]
    else:
        integral = ops.softplus(start + rate * (b + T_ANCHOR)) - ops.softplus(start + rate * (a + T_ANCHOR))
    return p["ceiling"] * integral / (rate * (b - a))


def _consecutive(a: Any, b: Any) -> bool:
    """Whether ``a`` and ``b`` are 1-d numpy arrays of windows, each ending where the next starts."""
    return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.ndim == 1 and a.shape == b.shape
            and a.size > 1 and bool(np.array_equal(b[:-1], a[1:])))


def gompertz_level(t: Any, p: Params) -> Any:
    """Gompertz growth to the ceiling ``K``, through both anchors.

    ``log log(K/V)`` is a line in time, so the growth rate ``r log(K/V)`` decays exponentially:
    the Gompertz curve slows earlier than the logistic and approaches its ceiling more slowly.
    """
    ops = ops_for(t, p["v_ref"], p["growth"], p["ceiling"])
    first, second = anchor_levels(p)
    start = ops.log(ops.log(p["ceiling"] / first))
    rate = (start - ops.log(ops.log(p["ceiling"] / second))) / (2 * T_ANCHOR)
    return p["ceiling"] * ops.exp(-ops.exp(start - rate * (t + T_ANCHOR)))


gompertz_window_mean = quadrature_window_mean(gompertz_level, ("v_ref", "growth", "ceiling"))


def richards_level(t: Any, p: Params) -> Any:
    """Richards (generalised logistic) growth to ``K`` with shape ``nu`` = ``p["shape"]``, through both anchors.

    ``log((K/V)^nu - 1)`` is a line in time, so ``V = K (1 + e^{y(t)})^{-1/nu}``: ``nu = 1`` is the
    logistic and ``nu -> 0`` the Gompertz curve; the shape sets where growth slows.
    """
    ops = ops_for(t, p["v_ref"], p["growth"], p["ceiling"], p["shape"])
    first, second = anchor_levels(p)
    start = ops.log(ops.expm1(p["shape"] * ops.log(p["ceiling"] / first)))
    rate = (start - ops.log(ops.expm1(p["shape"] * ops.log(p["ceiling"] / second)))) / (2 * T_ANCHOR)
    return p["ceiling"] * ops.exp(-ops.softplus(start - rate * (t + T_ANCHOR)) / p["shape"])


richards_window_mean = quadrature_window_mean(richards_level, ("v_ref", "growth", "ceiling", "shape"))


def product_level(t: Any, p: Params) -> Any:
    """Adopters x usage per adopter, each logistic, through both anchors; saturates at ``K``.

    ``A(t)``, the share of enterprises using LLMs, is a logistic to 1; ``U(t) = V/A``, the daily
    tokens of the market if every enterprise used LLMs as today's adopters do, a logistic to ``K``.
    Two shares split what the volume curve alone cannot tell apart:
    ``adopter_share_of_headroom`` (psi), the part of ``log(K / V(+T))`` that is enterprises not yet
    adopting, sets ``A(+T) = (K / V(+T))^-psi``; ``adopter_share_of_growth`` (phi), the part of the
    2024H2 -> 2025H1 growth that came from new adopters, sets ``A(-T) = A(+T) exp(-2 T phi growth)``.
    Both lie in (0, 1), so ``A < 1`` and ``U < K`` at the anchors by construction.
    """
    ops = ops_for(t, p["v_ref"], p["growth"], p["ceiling"], p["adopter_share_of_headroom"],
                  p["adopter_share_of_growth"])
    first, second = anchor_levels(p)
    adopted = ops.exp(-p["adopter_share_of_headroom"] * ops.log(p["ceiling"] / second))
    adopted_before = adopted * ops.exp(-2 * T_ANCHOR * p["adopter_share_of_growth"] * p["growth"])
    a_start, a_rate = _logit_line(adopted_before, adopted, 1.0)
    u_start, u_rate = _logit_line(first / adopted_before, second / adopted, p["ceiling"])
    return p["ceiling"] * ops.sigmoid(a_start + a_rate * (t + T_ANCHOR)) * ops.sigmoid(u_start + u_rate * (t + T_ANCHOR))


PRODUCT_PARAMETERS = ("v_ref", "growth", "ceiling", "adopter_share_of_headroom", "adopter_share_of_growth")
product_window_mean = quadrature_window_mean(product_level, PRODUCT_PARAMETERS)


def decay_level(t: Any, p: Params) -> Any:
    """Growth that decays from today's rate towards a long-run rate, through both anchors.

    ``g(t) = g_inf + (g_0 - g_inf) exp(-lambda t)`` with ``g_inf`` = ``long_run_growth`` and ``lambda`` =
    ``growth_decay``; ``g_0`` is set so that the mean growth between the anchors is ``growth``:
    ``g_0 - g_inf = (growth - g_inf) lambda T / sinh(lambda T)``. Integrating,
    ``log V(t) = log v_ref + g_inf t + (g_0 - g_inf) (cosh(lambda T) - exp(-lambda t)) / lambda``, whose
    anchors' geometric mean is ``v_ref``. With ``g_inf = 0`` this is the Gompertz curve (growth decaying
    to nothing); with ``g_inf > 0`` volume keeps growing at the long-run rate once the boom has passed.
    """
    ops = ops_for(t, p["v_ref"], p["growth"], p["growth_decay"], p["long_run_growth"])
    rate, floor = p["growth_decay"], p["long_run_growth"]
    excess = (p["growth"] - floor) * rate * T_ANCHOR / ops.sinh(rate * T_ANCHOR)
    return p["v_ref"] * ops.exp(floor * t + excess * (ops.cosh(rate * T_ANCHOR) - ops.exp(-rate * t)) / rate)


def growth_rate(t: Any, p: Params) -> Any:
    """The instantaneous growth rate ``d log V / dt`` of the decay family at ``t`` (per year)."""
    ops = ops_for(t, p["growth"], p["growth_decay"], p["long_run_growth"])
    rate, floor = p["growth_decay"], p["long_run_growth"]
    excess = (p["growth"] - floor) * rate * T_ANCHOR / ops.sinh(rate * T_ANCHOR)
    return floor + excess * ops.exp(-rate * t)


DECAY_PARAMETERS = ("v_ref", "growth", "growth_decay", "long_run_growth")
decay_window_mean = quadrature_window_mean(decay_level, DECAY_PARAMETERS)


def compute_eflops(t: Any, p: Params) -> Any:
    """China's intelligent compute at model time ``t`` (EFLOPS): the fitted trend
    ``compute_eflops x exp(compute_growth t)`` (:class:`~sim.data.compute_trend.ComputeTrend`)."""
    ops = ops_for(t, p["compute_eflops"], p["compute_growth"])
    return p["compute_eflops"] * ops.exp(p["compute_growth"] * t)


def compute_ceiling(t: Any, p: Params) -> Any:
    """A ceiling that grows with China's compute: ``share x tokens per EFLOPS-day x EFLOPS(t)``.

    ``EFLOPS(t) = compute_eflops x exp(compute_growth t)`` is the trend fitted to the compute figures
    (constants of the fit, carried with every draw); ``inference_share`` is the share of that compute
    serving enterprise LLM inference at saturation and ``tokens_per_eflops_day`` the tokens one EFLOPS
    serves in a day at realistic utilisation and model size.
    """
    ops = ops_for(t, p["inference_share"], p["compute_growth"])
    return p["inference_share"] * p["tokens_per_eflops_day"] * p["compute_eflops"] * ops.exp(p["compute_growth"] * t)


def compute_logistic_level(t: Any, p: Params) -> Any:
    """Logistic growth towards a ceiling that grows with compute, through both anchors.

    ``V(t) = K(t) sigmoid(y(t))`` with ``K`` from :func:`compute_ceiling` and ``y`` a line in time through
    ``logit(V/K)`` at both anchors: once the market saturates its share of compute, volume grows as
    compute does.
    """
    ops = ops_for(t, p["v_ref"], p["growth"], p["inference_share"], p["compute_growth"])
    first, second = anchor_levels(p)
    start = ops.logit(first / compute_ceiling(-T_ANCHOR, p))
    rate = (ops.logit(second / compute_ceiling(T_ANCHOR, p)) - start) / (2 * T_ANCHOR)
    return compute_ceiling(t, p) * ops.sigmoid(start + rate * (t + T_ANCHOR))


COMPUTE_LOGISTIC_PARAMETERS = ("v_ref", "growth", "inference_share", "tokens_per_eflops_day", "compute_eflops",
                               "compute_growth")
compute_logistic_window_mean = quadrature_window_mean(compute_logistic_level, COMPUTE_LOGISTIC_PARAMETERS)


@dataclass(frozen=True)
class GrowthFamily:
    """A volume growth family: its parameters, its level and its exact window mean."""

    name: str
    parameters: tuple[str, ...]
    level: Callable[[Any, Params], Any]
    window_mean: Callable[[Any, Any, Params], Any]
    summary: str
    needs_compute: bool = False  # its curve uses the compute trend (calibration/compute.toml)


FAMILIES: dict[str, GrowthFamily] = {
    family.name: family
    for family in (
        GrowthFamily(
            "exponential",
            ("v_ref", "growth"),
            exponential_level,
            exponential_window_mean,
            "constant growth rate, never slows: an upper reference, not a forecast",
        ),
        GrowthFamily(
            "logistic",
            ("v_ref", "growth", "ceiling"),
            logistic_level,
            logistic_window_mean,
            "symmetric S-curve: growth slows in proportion to the headroom left",
        ),
        GrowthFamily(
            "richards",
            ("v_ref", "growth", "ceiling", "shape"),
            richards_level,
            richards_window_mean,
            "generalised logistic: a free shape between Gompertz (0) and logistic (1) and beyond",
        ),
        GrowthFamily(
            "gompertz",
            ("v_ref", "growth", "ceiling"),
            gompertz_level,
            gompertz_window_mean,
            "asymmetric S-curve: growth decays over time, slowing early and saturating late",
        ),
        GrowthFamily(
            "product",
            PRODUCT_PARAMETERS,
            product_level,
            product_window_mean,
            "adopters x usage per adopter, each a logistic: adoption saturates at every enterprise, usage at K",
        ),
        GrowthFamily(
            "decay",
            DECAY_PARAMETERS,
            decay_level,
            decay_window_mean,
            "growth decays from today's rate towards a long-run rate: Gompertz with a floor under its growth",
        ),
        GrowthFamily(
            "compute_logistic",
            COMPUTE_LOGISTIC_PARAMETERS,
            compute_logistic_level,
            compute_logistic_window_mean,
            "logistic towards a ceiling that grows with China's compute: a share of compute, not a fixed level",
            needs_compute=True,
        ),
    )
}


#: Every volume parameter of any family (a path records each; NaN where its family has none).
VOLUME_PARAMETERS: tuple[str, ...] = tuple(dict.fromkeys(p for f in FAMILIES.values() for p in f.parameters))


def drifted_window_mean(family: GrowthFamily, a: Any, b: Any, p: Params, drift: Any) -> Any:
    """Mean over ``[a, b]`` of ``V(t) exp(drift t)``: what a series growing ``drift`` per year faster than the
    reference definition reports for a window (Gauss-Legendre; ``drift`` may differ per window)."""
    names = family.parameters

    def level(t: Any, slope: Any, *values: Any) -> Any:
        return family.level(t, dict(zip(names, values))) * ops_for(t, slope).exp(slope * t)

    return gauss_legendre_mean(level, a, b, drift, *(p[n] for n in names))
