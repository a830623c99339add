"""Every curve of the model, defined once.

Each function works on numpy arrays (the Monte Carlo engine) and on pytensor tensors (the PyMC
model) alike, through :func:`sim.backend.ops_for`. Times are model years (see
:mod:`sim.timeaxis`); ``a`` and ``b`` bound an averaging window.

Volume families share one parameterisation so that their parameters mean the same thing:

``v_ref``
    daily tokens at the reference time ``t = 0`` (2025-01-01), F&S enterprise definition;
``growth``
    the continuous growth rate of volume at ``t = 0``, ``d log V / dt`` (per year);
``ceiling``
    the saturation level ``K`` (saturating families only), which must exceed ``v_ref``.

The two data points pin ``v_ref`` and ``growth``; the ceiling, which they cannot identify, is
where the prior (an assumption) does the work.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.backend import ops_for

Params = Mapping[str, Any]

#: Gauss-Legendre nodes and weights on [-1, 1] for window means without a closed form.
#: 24 nodes integrate these smooth curves over a half-year to ~1e-12 relative error.
GL_NODES, GL_WEIGHTS = np.polynomial.legendre.leggauss(24)


def gauss_legendre_mean(level: Callable[[Any], Any], a: Any, b: Any, *params: Any) -> Any:
    """Mean of ``level(t)`` over ``[a, b]`` by fixed Gauss-Legendre quadrature.

    ``level`` receives times with one trailing node axis; ``params`` are the arrays it closes
    over, padded here with the same trailing axis so that they broadcast against it.
    """
    ops = ops_for(a, b, *params)
    mid, half = (a + b) / 2.0, (b - a) / 2.0
    t = ops.pad_last(mid) + ops.pad_last(half) * GL_NODES
    padded = [ops.pad_last(p) for p in params]
    return ops.sum_last(level(t, *padded) * GL_WEIGHTS) / 2.0


def quadrature_window_mean(
    level: Callable[[Any, Params], Any], names: tuple[str, ...]
) -> Callable[[Any, Any, Params], Any]:
    """The window mean of ``level`` by Gauss-Legendre quadrature, for curves with no closed form."""

    def window_mean(a: Any, b: Any, p: Params) -> Any:
        return gauss_legendre_mean(
            lambda t, *values: level(t, dict(zip(names, values))), a, b, *(p[n] for n in names)
        )

    window_mean.__doc__ = f"Mean of ``{level.__name__}`` over ``[a, b]`` (Gauss-Legendre)."
    return window_mean


# --- volume families -------------------------------------------------------------------------


def exponential_level(t: Any, p: Params) -> Any:
    """Unbounded exponential growth, ``v_ref * exp(growth * t)`` (a reference, not a forecast)."""
    ops = ops_for(t, p["v_ref"], p["growth"])
    return p["v_ref"] * ops.exp(p["growth"] * t)


def exponential_window_mean(a: Any, b: Any, p: Params) -> Any:
    """Exact mean of the exponential over ``[a, b]``: ``V(a) * expm1(g (b-a)) / (g (b-a))``."""
    ops = ops_for(a, b, p["v_ref"], p["growth"])
    span = p["growth"] * (b - a)
    return p["v_ref"] * ops.exp(p["growth"] * a) * ops.expm1(span) / span


def _logistic_shape(p: Params) -> tuple[Any, Any]:
    """Rate ``r`` and offset ``log c`` of ``K / (1 + c exp(-r t))`` matching ``v_ref`` and ``growth``."""
    ops = ops_for(p["v_ref"], p["growth"], p["ceiling"])
    headroom = ops.log(p["ceiling"] / p["v_ref"])
    rate = p["growth"] / -ops.expm1(-headroom)  # d log V/dt = r (1 - V/K)
    return rate, ops.log(ops.expm1(headroom))


def logistic_level(t: Any, p: Params) -> Any:
    """Logistic growth to the ceiling ``K``: ``K * sigmoid(r t - log c)``."""
    ops = ops_for(t, p["v_ref"], p["growth"], p["ceiling"])
    rate, log_c = _logistic_shape(p)
    return p["ceiling"] * ops.sigmoid(rate * t - log_c)


def logistic_window_mean(a: Any, b: Any, p: Params) -> Any:
    """Exact mean of the logistic over ``[a, b]``: ``K/(r (b-a)) * [softplus(r t - log c)]_a^b``."""
    ops = ops_for(a, b, p["v_ref"], p["growth"], p["ceiling"])
    rate, log_c = _logistic_shape(p)
    integral = ops.softplus(rate * b - log_c) - ops.softplus(rate * a - log_c)
    return p["ceiling"] * integral / (rate * (b - a))


def gompertz_level(t: Any, p: Params) -> Any:
    """Gompertz growth, ``K * exp(-log(K/v_ref) * exp(-r t))`` with ``r = growth / log(K/v_ref)``.

    Growth decays exponentially in time rather than with the remaining headroom, so the
    Gompertz curve slows earlier than the logistic and approaches its ceiling more slowly.
    """
    ops = ops_for(t, p["v_ref"], p["growth"], p["ceiling"])
    headroom = ops.log(p["ceiling"] / p["v_ref"])
    rate = p["growth"] / headroom  # d log V/dt = r log(K/V)
    return p["ceiling"] * ops.exp(-headroom * ops.exp(-rate * t))


gompertz_window_mean = quadrature_window_mean(gompertz_level, ("v_ref", "growth", "ceiling"))


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
            "gompertz",
            ("v_ref", "growth", "ceiling"),
            gompertz_level,
            gompertz_window_mean,
            "asymmetric S-curve: growth decays over time, slowing early and saturating late",
        ),
    )
}


# --- open-source share of calls and enterprise adoption --------------------------------------


def bass_adoption(t: Any, p: Params) -> Any:
    """Share of enterprises using open-source models: Bass diffusion with ceiling ``m``.

    ``a(t) = m * F(t - t_start)``, ``F(x) = (1 - e^{-(p+q)x}) / (1 + (q/p) e^{-(p+q)x})`` for
    ``x >= 0``; ``p`` is innovation (adoption from outside pressure), ``q`` imitation.
    """
    ops = ops_for(t, p["bass_p"], p["bass_q"], p["m"], p["t_start"])
    elapsed = ops.maximum(t - p["t_start"], 0.0)
    decay = ops.exp(-(p["bass_p"] + p["bass_q"]) * elapsed)
    return p["m"] * (1.0 - decay) / (1.0 + (p["bass_q"] / p["bass_p"]) * decay)


def usage_within_adopters(t: Any, p: Params) -> Any:
    """Fraction of an adopter's calls that go to open models: Fisher-Pry substitution.

    ``u(t) = u_max * sigmoid(k (t - t_half))``: open models displace closed ones inside an
    adopting enterprise at rate ``k`` per year, halfway to ``u_max`` at ``t_half``.
    """
    ops = ops_for(t, p["u_max"], p["k"], p["t_half"])
    return p["u_max"] * ops.sigmoid(p["k"] * (t - p["t_half"]))


def open_share(t: Any, p: Params) -> Any:
    """Open-source share of enterprise calls, ``s(t) = a(t) * u(t)``; hence ``s <= a`` always."""
    return bass_adoption(t, p) * usage_within_adopters(t, p)


OPEN_PARAMETERS = ("bass_p", "bass_q", "m", "t_start", "u_max", "k", "t_half")


#: Mean open-source share and mean adoption over a window (the product has no closed form).
open_share_window_mean = quadrature_window_mean(open_share, OPEN_PARAMETERS)
bass_adoption_window_mean = quadrature_window_mean(bass_adoption, OPEN_PARAMETERS)
