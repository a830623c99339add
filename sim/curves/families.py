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
    deeper use by existing ones (see :func:`product_level`).

The two F&S windows pin ``v_ref`` and ``growth`` almost directly in every family, whatever the
ceiling; the ceiling, which they cannot identify, is where the prior (an assumption) does the
work. Anchoring the curves this way (rather than at an inflection time) keeps the posterior free
of the ridge where a low ceiling would need an ever steeper curve, which NUTS cannot cross.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sim.curves.backend import ops_for
from sim.curves.quadrature import Params, quadrature_window_mean


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
    """Exact mean of the logistic over ``[a, b]``: ``K/(r (b-a)) * [softplus(logit(V/K))]_a^b``."""
    ops = ops_for(a, b, p["v_ref"], p["growth"], p["ceiling"])
    start, rate = _logistic_line(p)
    integral = ops.softplus(start + rate * (b + T_ANCHOR)) - ops.softplus(start + rate * (a + T_ANCHOR))
    return p["ceiling"] * integral / (rate * (b - a))


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


@dataclass(frozen=True)
class GrowthFamily:
    """A volume growth family: its parameters, its level and its exact window mean."""

    name: str
    parameters: tuple[str, ...]
    level: Callable[[Any, Params], Any]
    window_mean: Callable[[Any, Any, Params], Any]
    summary: str


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
    )
}


#: Every volume parameter of any family (a path records each; NaN where its family has none).
VOLUME_PARAMETERS: tuple[str, ...] = tuple(dict.fromkeys(p for f in FAMILIES.values() for p in f.parameters))
