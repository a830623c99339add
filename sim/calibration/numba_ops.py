"""Numba implementations PyTensor lacks in a cacheable form, registered before a kernel is compiled.

PyTensor compiles ``erfcx`` (the scaled complementary error function, which PyMC's normal log CDF uses for
the censored figures) and ``betainc`` (the regularized incomplete beta function, the normaliser of the
truncated adoption prior) by calling SciPy's Cython functions through pointers, and a kernel that embeds a
pointer cannot be cached on disk: every such model, its whole log density included, was compiled again by
every process, warm cache or not. :func:`erfcx` and :func:`betainc` are plain numba functions instead, and
:func:`register` gives PyTensor a cache key for each, so these kernels load from the compile cache.
Their arithmetic is not SciPy's to the last bit, so :data:`KERNELS_VERSION` is part of the calibration id.
"""

from __future__ import annotations

import hashlib
import math

#: Where the direct formula hands over to the asymptotic series (``erfc`` underflows soon after 26).
ASYMPTOTIC_FROM = 26.0
#: Bump when :func:`erfcx` or :func:`betainc` changes, so that no cached kernel or posterior keeps the old
#: arithmetic (part of PyTensor's cache keys and of the calibration id).
KERNELS_VERSION = 1
#: The continued fraction of :func:`betainc` stops at this relative change, or after this many terms.
_BETAINC_TOLERANCE, _BETAINC_TERMS = 1e-16, 1000
_INV_SQRT_PI = 1.0 / math.sqrt(math.pi)


def erfcx(x: float) -> float:
    """``exp(x**2) erfc(x)``: directly below :data:`ASYMPTOTIC_FROM` (``inf`` once ``exp`` overflows, for
    ``x`` below about -26.6, as SciPy's), above it the asymptotic series ``1 / (x sqrt(pi)) sum_n
    (-1)^n (2n-1)!! / (2x^2)^n`` to eight terms (its remainder is below 1e-16 there). Relative error
    against SciPy's ``erfcx``: below 1e-12 (``tests/test_numba_ops.py``)."""
    if x < ASYMPTOTIC_FROM:
        return math.exp(x * x) * math.erfc(x)
    step = 1.0 / (2.0 * x * x)
    term = total = 1.0
    for n in range(1, 8):
        term *= -(2 * n - 1) * step
        total += term
    return total * _INV_SQRT_PI / x


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function ``I_x(a, b)`` (``a, b > 0``): its continued fraction
    (modified Lentz, Numerical Recipes 6.4) on ``x`` or, on the far side of the mean, on ``1 - x`` by
    symmetry. Relative error against SciPy's ``betainc``: below 1e-10 (``tests/test_numba_ops.py``)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    flip = x >= (a + 1.0) / (a + b + 2.0)
    if flip:
        a, b, x = b, a, 1.0 - x
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    fraction = d
    for m in range(1, _BETAINC_TERMS + 1):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            step = c * d
            fraction *= step
        if abs(step - 1.0) < _BETAINC_TOLERANCE:
            break
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    value = math.exp(log_front) * fraction / a
    return 1.0 - value if flip else value


_REGISTERED = False


def register() -> None:
    """Register :func:`erfcx` and :func:`betainc` as the numba implementations of PyTensor's ``Erfcx`` and
    ``BetaInc`` ops, each with a cache key (once per process)."""
    global _REGISTERED
    if _REGISTERED:
        return
    from pytensor.link.numba.dispatch.basic import numba_njit, register_funcify_and_cache_key
    from pytensor.scalar.math import BetaInc, Erfcx

    # fastmath off whatever PyTensor's flags say: with it on, a kernel loaded from the cache and one compiled
    # fresh round differently (sim.calibration.compiled), and draws would depend on the cache.
    for op_type, function in {Erfcx: numba_njit(erfcx, fastmath=False),
                              BetaInc: numba_njit(betainc, fastmath=False)}.items():
        key = hashlib.sha256(f"tokensim {op_type.__name__} v{KERNELS_VERSION} fastmath off".encode()).hexdigest()

        def funcify(op, node=None, _function=function, _key=key, **kwargs):
            return _function, _key

        register_funcify_and_cache_key(op_type)(funcify)
    _REGISTERED = True
