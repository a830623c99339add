"""The standard normal innovations of the engine's deviations, and how they are drawn.

A path-month needs four standard normals (the AR(1) innovations of volume, adoption and usage, and the
step of the growth rate's walk), and drawing them is most of the engine's work. numpy's ziggurat draws a
normal in about 11 ns on the 2-core machine the benchmarks run on (float32 or float64 alike), five
times the cost of a uniform. The Box-Muller transform of float32 uniforms, ``sqrt(-2 log(1 - u1))``
times the cosine and the sine of ``2 pi u2``, costs under 5 ns: numpy evaluates float32 logarithms,
square roots, sines and cosines on vector instructions.

What float32 costs in the distribution: 2^24 levels of each uniform, so ``|z|`` never exceeds
``sqrt(-2 log 2^-24) = 5.77`` (a standard normal does with probability 8e-9), and values are rounded to
float32 (7 significant digits). Neither moves a quantile, a claim probability or a band the engine reports
beyond its Monte Carlo error (``tests/test_innovations.py`` runs the baseline both ways); the paths
themselves are computed in float64.

Every value depends only on its own pair of uniforms, drawn in a fixed order from the block's stream, so
results stay bit-identical across chunk sizes and workers.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

#: The largest ``|z|`` :func:`box_muller` can return: the radius at the largest float32 uniform below 1.
BOX_MULLER_BOUND = math.sqrt(-2.0 * math.log(2.0**-24))


def box_muller(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normals of ``shape`` (float32) by the Box-Muller transform of float32 uniforms: the first
    half are the cosines, the second half the sines of the same pairs."""
    count = math.prod(shape)
    pairs = (count + 1) // 2
    uniform = rng.random((2, pairs), dtype=np.float32)
    radius = np.log1p(np.negative(uniform[0], out=uniform[0]), out=uniform[0])  # log(1 - u): u = 0 gives 0
    radius *= np.float32(-2.0)
    np.sqrt(radius, out=radius)
    angle = np.multiply(uniform[1], np.float32(2.0 * math.pi), out=uniform[1])
    out = np.empty(2 * pairs, dtype=np.float32)
    np.cos(angle, out=out[:pairs])
    np.sin(angle, out=out[pairs:])
    out[:pairs] *= radius
    out[pairs:] *= radius
    return out[:count].reshape(shape)


def ziggurat(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normals of ``shape`` (float64) by numpy's ziggurat: the reference :func:`box_muller` is
    checked against."""
    return rng.standard_normal(shape)


#: Ways of drawing the innovations, by name; the engine uses :data:`INNOVATIONS`.
GENERATORS: dict[str, Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]] = {
    "box_muller": box_muller, "ziggurat": ziggurat}
INNOVATIONS = "box_muller"


def innovations(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """The engine's standard normal innovations of ``shape``, drawn by :data:`INNOVATIONS`."""
    return GENERATORS[INNOVATIONS](rng, shape)
