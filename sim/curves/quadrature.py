"""Window means by fixed Gauss-Legendre quadrature, for curves whose integral has no closed form.

The rule is fixed (not adaptive), so a window mean is an ordinary expression of the curve's
parameters: it serves the PyMC model (pytensor) and the Monte Carlo engine (numpy) alike.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from sim.curves.backend import ops_for

#: The parameters of a curve by name (numbers, arrays or pytensor tensors).
Params = Mapping[str, Any]

#: Gauss-Legendre nodes and weights on [-1, 1] for window means without a closed form.
#: 24 nodes integrate these smooth curves over a half-year to ~1e-12 relative error.
GL_NODES, GL_WEIGHTS = np.polynomial.legendre.leggauss(24)
#: Windows no longer than this (years) need fewer nodes for the same accuracy: the engine's monthly trends,
#: where the rule's cost is that of the whole run's fixed part.
SHORT_WINDOW = 1.0 / 6.0
#: Nodes for short windows unless a curve says it needs fewer: 8 integrate every growth family over a month
#: to 1e-10 relative error on the posterior (the Richards family needs them) and to 1e-6 at the priors'
#: extremes (``tests/test_curves.py`` checks 1e-9 on its cases).
SHORT_NODES = 8


@functools.cache
def legendre(count: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``count`` Gauss-Legendre nodes and weights on [-1, 1]."""
    return np.polynomial.legendre.leggauss(count)


def gauss_legendre_rule(a: Any, b: Any, short_nodes: int = SHORT_NODES) -> tuple[np.ndarray, np.ndarray]:
    """The nodes and weights for windows ``[a, b]``: ``short_nodes`` when all are short (known numbers), else 24."""
    known = all(isinstance(x, (np.ndarray, np.generic, float, int)) for x in (a, b))
    if known and np.size(a) and float(np.max(np.asarray(b) - np.asarray(a))) <= SHORT_WINDOW:
        return legendre(short_nodes)
    return GL_NODES, GL_WEIGHTS


def gauss_legendre_mean(level: Callable[[Any], Any], a: Any, b: Any, *params: Any) -> Any:
    """Mean of ``level(t)`` over ``[a, b]`` by fixed Gauss-Legendre quadrature.

    ``level`` receives times with one trailing node axis; ``params`` are the arrays it closes
    over, padded here with the same trailing axis so that they broadcast against it.
    """
    ops = ops_for(a, b, *params)
    nodes, weights = gauss_legendre_rule(a, b)
    mid, half = (a + b) / 2.0, (b - a) / 2.0
    t = ops.pad_last(mid) + ops.pad_last(half) * nodes
    padded = [ops.pad_last(p) for p in params]
    return ops.sum_last(level(t, *padded) * weights) / 2.0


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
