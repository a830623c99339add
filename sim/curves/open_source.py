"""The open-source curves: enterprise adoption (Bass), usage within adopters (Fisher-Pry), and their product.

Like the volume families, each function serves numpy arrays and pytensor tensors alike; times
are model years (see :mod:`sim.core.timeaxis`).
"""

from __future__ import annotations

from typing import Any

from sim.curves.backend import ops_for
from sim.curves.quadrature import Params, quadrature_window_mean


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
