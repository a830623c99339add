"""The open-source curves: enterprise adoption, usage within adopters, and the call-weighted share they make.

Adoption ``a(t)`` is the share of LLM-using enterprises (the population the F&S survey samples) that are
currently using at least one open-source model; usage ``u(t)`` is the share of adopters' calls that go to
open models; the open share of all calls is ``s(t) = a(t)^call_weight u(t)``. Every curve is anchored in
the middle of 2025H1, where the data are, as the volume curves are anchored on the F&S windows. Like the
volume families, each function serves numpy arrays and pytensor tensors alike; times are model years
(see :mod:`sim.core.timeaxis`).
"""

from __future__ import annotations

from typing import Any

from sim.curves.backend import ops_for
from sim.curves.quadrature import Params, quadrature_window_mean

#: Model time of the open-source anchors: the middle of 2025H1, the window of the 44.4% share.
T_OPEN = (181 / 365.25) / 2
#: Gauss-Legendre nodes the engine's monthly windows of these curves need: logistics in time, they are
#: integrated by 5 nodes to rounding over a month and to 1e-9 in logit over two (the longest short window),
#: anywhere in the priors' range, where the growth families need :data:`sim.curves.quadrature.SHORT_NODES`
#: (``tests/test_kernel.py``).
MONTH_NODES = 5


def _anchored_logistic(t: Any, anchor: Any, headroom: Any, rate: Any) -> Any:
    """A logistic through ``anchor`` at :data:`T_OPEN` towards ``anchor + (1 - anchor) headroom``.

    ``rate`` (per year) may be negative: the curve then falls from the anchor towards zero.
    """
    ops = ops_for(t, anchor, headroom, rate)
    ceiling = anchor + (1.0 - anchor) * headroom
    return ceiling * ops.sigmoid(ops.logit(anchor / ceiling) + rate * (t - T_OPEN))


def open_adoption(t: Any, p: Params) -> Any:
    """Share of LLM-using enterprises currently using at least one open-source model.

    A logistic diffusion through ``adoption_2025h1`` in the middle of 2025H1, at ``adoption_rate`` per
    year, towards ``m = adoption_2025h1 + (1 - adoption_2025h1) adoption_headroom``.
    """
    return _anchored_logistic(t, p["adoption_2025h1"], p["adoption_headroom"], p["adoption_rate"])


def usage_2025h1(p: Params) -> Any:
    """The share of adopters' calls going to open models in the middle of 2025H1, ``s / a^gamma``."""
    ops = ops_for(p["share_2025h1"], p["adoption_2025h1"], p["call_weight"])
    return p["share_2025h1"] * ops.exp(-p["call_weight"] * ops.log(p["adoption_2025h1"]))


def usage_within_adopters(t: Any, p: Params) -> Any:
    """Fraction of adopting enterprises' calls that go to open models: Fisher-Pry substitution.

    A logistic through ``usage_2025h1`` (:func:`usage_2025h1`) in the middle of 2025H1 at rate ``k`` per
    year towards ``u_max = u(2025H1) + (1 - u(2025H1)) usage_headroom``; a negative ``k`` is a share that falls.
    """
    return _anchored_logistic(t, usage_2025h1(p), p["usage_headroom"], p["k"])


def open_share(t: Any, p: Params) -> Any:
    """Open-source share of enterprise calls, ``s(t) = a(t)^gamma u(t)``; ``s = share_2025h1`` at the anchor.

    ``a^gamma`` is the share of all calls made by adopting enterprises when those are the heavier users
    (``gamma = call_weight`` below 1: large firms self-hosting open models adopt first, so the share of
    calls can exceed the share of enterprises); ``gamma = 1`` is the special case in which every
    enterprise weighs the same, and then ``s <= a``.
    """
    ops = ops_for(t, p["call_weight"])
    return ops.exp(p["call_weight"] * ops.log(open_adoption(t, p))) * usage_within_adopters(t, p)


def eventual_adopters(p: Params) -> Any:
    """``m``: the share of LLM-using enterprises that eventually use open-source models."""
    return p["adoption_2025h1"] + (1.0 - p["adoption_2025h1"]) * p["adoption_headroom"]


def eventual_usage(p: Params) -> Any:
    """``u_max``: the long-run fraction of an adopter's calls going to open models (if ``k > 0``)."""
    usage = usage_2025h1(p)
    return usage + (1.0 - usage) * p["usage_headroom"]


OPEN_PARAMETERS = ("share_2025h1", "adoption_2025h1", "adoption_headroom", "adoption_rate", "usage_headroom", "k",
                   "call_weight")
#: Structural variants of the open-source model, each the parameters it fixes: the call-weighted link, and
#: the special case in which every enterprise weighs the same (then the share never exceeds adoption).
OPEN_VARIANTS: dict[str, dict[str, float]] = {"open_call_weighted": {}, "open_equal_weight": {"call_weight": 1.0}}
#: Quantities derived from them that a fit stores with every draw and a path with itself.
OPEN_DERIVED: dict[str, Any] = {"usage_2025h1": usage_2025h1, "m": eventual_adopters, "u_max": eventual_usage}


#: Mean open-source share and mean adoption over a window (no closed form).
open_share_window_mean = quadrature_window_mean(open_share, OPEN_PARAMETERS)
open_adoption_window_mean = quadrature_window_mean(open_adoption, OPEN_PARAMETERS)

