"""Priors and assumptions written as data: ``{ dist = "lognormal", p5 = 5e13, p95 = 2e15 }``.

Analysts know quantiles better than shape parameters, so every distribution is written by its 5%
and 95% quantiles (or bounds, or a fixed value), checked when read, and converted here, once, both to a
scipy frozen distribution (for the Monte Carlo engine and for checks) and to a PyMC random variable,
optionally truncated; both are built on first use, so that reading a priors file imports neither
``scipy.stats`` nor PyMC, and a distribution that takes work to build (a reference class's pooled
prior, :mod:`sim.data.analogs`) costs nothing until it is used. The normal and the lognormal draw and
give quantiles without building the scipy form (:class:`Direct`, scipy's own arithmetic, bit for bit), so
a run whose scenario needs no other kind never imports ``scipy.stats`` (half a second of a cached run). A
beta's shape parameters are solved for on first use too (a least-squares fit that imports ``scipy.optimize``,
a fifth of a second); when read, its quantiles are checked to lie in order strictly inside (0, 1), where a
beta with those quantiles exists, and only a failure of the solver itself waits for that first use.
Each kind is an entry of :data:`KINDS`; adding one means adding an entry, not a branch.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Z95 = statistics.NormalDist().inv_cdf(0.95)


@dataclass(frozen=True)
class Direct:
    """A normal or lognormal drawn and inverted with numpy, by the arithmetic of ``scipy.stats`` itself: a
    standard normal ``z`` (a draw, or ``scipy.special.ndtri(q)``), through ``exp(shape * z)`` for the
    lognormal, then ``* scale + loc``; the same numbers, bit for bit, as the frozen distribution's ``rvs`` and
    ``ppf`` (``tests/test_distributions.py`` compares them)."""

    scale: float
    loc: float = 0.0
    shape: float | None = None  # the lognormal's ``s``; None for the normal

    def _standard(self, z):
        return z if self.shape is None else np.exp(self.shape * z)

    def sample(self, rng: np.random.Generator, size: int | tuple[int, ...]) -> np.ndarray:
        return self._standard(rng.standard_normal(size)) * self.scale + self.loc

    def quantile(self, q: float | np.ndarray) -> float | np.ndarray | None:
        """The quantiles, or None unless every ``q`` lies strictly between 0 and 1 (scipy handles the ends)."""
        from scipy.special import ndtri

        q = np.asarray(q, dtype=float)
        if not np.all((q > 0) & (q < 1)):
            return None
        value = self._standard(ndtri(q)) * self.scale + self.loc
        return value[()] if isinstance(value, np.ndarray) and value.ndim == 0 else value


#: What a kind builds on first use: the scipy frozen distribution (None for a fixed value), and the name
#: of the PyMC distribution class with its parameters (``"Fixed"`` for a constant).
Built = tuple[Any, tuple[str, dict[str, float]]]


@dataclass(frozen=True)
class Distribution:
    """A validated distribution spec, with its scipy and PyMC forms built on first use."""

    kind: str
    spec: Mapping[str, Any]
    build: Callable[[], Built]
    why: str = field(default="", compare=False)
    #: For a distribution derived from other data (a pooled prior), the plain spec it comes to.
    derive: Callable[[], dict[str, Any]] | None = field(default=None, compare=False)
    #: Its draws and quantiles without scipy.stats, for the kinds that have them.
    direct: Direct | None = field(default=None, compare=False)

    @functools.cached_property
    def _built(self) -> Built:
        return self.build()

    @property
    def frozen(self) -> Any:
        """The scipy.stats frozen distribution, or None for a fixed value."""
        return self._built[0]

    def sample(self, rng: np.random.Generator, size: int | tuple[int, ...]) -> np.ndarray:
        """Independent draws from this distribution."""
        if self.direct is not None:
            return np.asarray(self.direct.sample(rng, size), dtype=float)
        if self.frozen is None:
            return np.full(size, self._built[1][1]["value"], dtype=float)
        return np.asarray(self.frozen.rvs(size=size, random_state=rng), dtype=float)

    def quantile(self, q: float | np.ndarray) -> float | np.ndarray:
        """The ``q`` quantile (a fixed value is its own every quantile)."""
        value = None if self.direct is None else self.direct.quantile(q)
        if value is not None:
            return value
        return self._built[1][1]["value"] if self.frozen is None else self.frozen.ppf(q)

    def to_pymc(self, name: str, *, lower: Any = None, upper: Any = None) -> Any:
        """The PyMC random variable (or, for a fixed value, a named deterministic constant), truncated to
        ``[lower, upper]`` when either is given; a bound may be a graph of other variables.

        The shape parameters are a data container, ``<name>_prior``, not constants of the graph: two versions
        of a prior of one kind (a prior at two vintages) give one compiled log density
        (:mod:`sim.calibration.compiled`)."""
        import pymc as pm

        kind, parameters = self._built[1]
        if kind == "Fixed":
            import pytensor.tensor as pt

            return pm.Deterministic(name, pt.as_tensor_variable(np.float64(parameters["value"])))
        family = getattr(pm, kind)
        values = np.array(list(parameters.values()), dtype=float)
        values = pm.Data(prior_data(name), values, shape=values.shape)  # static: as fast as constants
        parameters = {key: values[i] for i, key in enumerate(parameters)}
        if lower is None and upper is None:
            return family(name, **parameters)
        return pm.Truncated(name, family.dist(**parameters), lower=lower, upper=upper)

    def as_dict(self) -> dict[str, Any]:
        """The spec as written, for hashing and for writing back to TOML or JSON."""
        return {"dist": self.kind, **self.spec}

    def resolved(self) -> dict[str, Any]:
        """The spec as a plain distribution :func:`parse_distribution` reads (a derived one, worked out)."""
        return self.derive() if self.derive is not None else self.as_dict()


def prior_data(name: str) -> str:
    """The name of the data container holding the shape parameters of variable ``name``'s prior."""
    return f"{name}_prior"


def _stats():
    from scipy import stats

    return stats


def _require_order(low: float, high: float, names: tuple[str, str]) -> None:
    if not low < high:
        raise ValueError(f"{names[0]} must be less than {names[1]} (got {low} and {high})")


def _lognormal_parameters(spec: Mapping[str, float]) -> tuple[float, float]:
    """``mu`` and ``sigma`` of the log of a lognormal with these 5% and 95% quantiles."""
    p5, p95 = spec["p5"], spec["p95"]
    return (np.log(p5) + np.log(p95)) / 2, (np.log(p95) - np.log(p5)) / (2 * Z95)


def _normal_parameters(spec: Mapping[str, float]) -> tuple[float, float]:
    p5, p95 = spec["p5"], spec["p95"]
    return (p5 + p95) / 2, (p95 - p5) / (2 * Z95)


def _lognormal(spec: Mapping[str, float]) -> Callable[[], Built]:
    p5, p95 = spec["p5"], spec["p95"]
    if p5 <= 0:
        raise ValueError(f"lognormal quantiles must be positive (got p5 = {p5})")
    _require_order(p5, p95, ("p5", "p95"))
    mu, sigma = _lognormal_parameters(spec)
    return lambda: (_stats().lognorm(s=sigma, scale=np.exp(mu)), ("LogNormal", {"mu": float(mu), "sigma": float(sigma)}))


def _normal(spec: Mapping[str, float]) -> Callable[[], Built]:
    p5, p95 = spec["p5"], spec["p95"]
    _require_order(p5, p95, ("p5", "p95"))
    mu, sigma = _normal_parameters(spec)
    return lambda: (_stats().norm(mu, sigma), ("Normal", {"mu": float(mu), "sigma": float(sigma)}))


def beta_from_quantiles(p5: float, p95: float) -> tuple[float, float]:
    """Shape parameters ``(alpha, beta)`` of the Beta distribution with these 5% and 95% quantiles."""

    from scipy import optimize, special

    def mismatch(log_shapes: np.ndarray) -> np.ndarray:
        alpha, beta = np.exp(log_shapes)
        return special.betaincinv(alpha, beta, [0.05, 0.95]) - [p5, p95]

    mean = (p5 + p95) / 2
    guess = np.log([4 * mean + 0.5, 4 * (1 - mean) + 0.5])
    solution = optimize.least_squares(mismatch, guess, xtol=1e-12, ftol=1e-12)
    alpha, beta = np.exp(solution.x)
    if np.max(np.abs(mismatch(solution.x))) > 1e-6:
        raise ValueError(f"no beta distribution has p5 = {p5} and p95 = {p95}")
    return float(alpha), float(beta)


def _beta(spec: Mapping[str, float]) -> Callable[[], Built]:
    p5, p95 = spec["p5"], spec["p95"]
    if not (0 < p5 < 1 and 0 < p95 < 1):
        raise ValueError(f"beta quantiles must lie strictly between 0 and 1 (got {p5}, {p95})")
    _require_order(p5, p95, ("p5", "p95"))

    def build() -> Built:  # solved on first use: the solver imports scipy.optimize, which a cached run never needs
        alpha, beta = beta_from_quantiles(p5, p95)
        return _stats().beta(alpha, beta), ("Beta", {"alpha": alpha, "beta": beta})
    return build


def _uniform(spec: Mapping[str, float]) -> Callable[[], Built]:
    low, high = spec["low"], spec["high"]
    _require_order(low, high, ("low", "high"))
    return lambda: (_stats().uniform(low, high - low), ("Uniform", {"lower": low, "upper": high}))


def _fixed(spec: Mapping[str, float]) -> Callable[[], Built]:
    return lambda: (None, ("Fixed", {"value": spec["value"]}))


#: Each kind: the keys it is written with, and how to build it from them.
KINDS: dict[str, tuple[tuple[str, ...], Callable[[Mapping[str, float]], Callable[[], Built]]]] = {
    "lognormal": (("p5", "p95"), _lognormal),
    "normal": (("p5", "p95"), _normal),
    "beta": (("p5", "p95"), _beta),
    "uniform": (("low", "high"), _uniform),
    "fixed": (("value",), _fixed),
}


def _lognormal_direct(spec: Mapping[str, float]) -> Direct:
    mu, sigma = _lognormal_parameters(spec)
    return Direct(scale=np.exp(mu), shape=sigma)  # scipy.stats.lognorm(s=sigma, scale=np.exp(mu)), as in _lognormal


def _normal_direct(spec: Mapping[str, float]) -> Direct:
    mu, sigma = _normal_parameters(spec)
    return Direct(scale=sigma, loc=mu)  # scipy.stats.norm(mu, sigma), as in _normal


#: The kinds drawn and inverted without scipy.stats (:class:`Direct`), from their checked spec.
DIRECT: dict[str, Callable[[Mapping[str, float]], Direct]] = {"lognormal": _lognormal_direct, "normal": _normal_direct}


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond any float
        return False


def parse_distribution(spec: Mapping[str, Any]) -> Distribution:
    """Validate a written spec and build its :class:`Distribution`.

    Raises
    ------
    ValueError
        With a message saying what is wrong and what is allowed (callers add file and key).
    """
    if not isinstance(spec, Mapping):
        raise ValueError(
            f"expected a table like {{ dist = \"lognormal\", p5 = ..., p95 = ... }}, got {spec!r}"
        )
    kind = spec.get("dist")
    if not isinstance(kind, str) or kind not in KINDS:
        raise ValueError(f"'dist' must be one of {', '.join(KINDS)} (got {kind!r})")
    keys, build = KINDS[kind]
    extra = set(spec) - {"dist", "why", *keys}
    if extra:
        raise ValueError(f"unknown key {sorted(extra)[0]!r} for a {kind} distribution; "
                         f"it takes {', '.join(keys)} (and an optional 'why')")
    values: dict[str, float] = {}
    for key in keys:
        if key not in spec:
            raise ValueError(f"a {kind} distribution needs {', '.join(keys)}; '{key}' is missing")
        value = spec[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value):
            raise ValueError(f"'{key}' must be a finite number (got {value!r})")
        values[key] = float(value)
    why = spec.get("why", "")
    if not isinstance(why, str):
        raise ValueError(f"'why' must be a string (got {why!r})")
    return Distribution(kind, values, build(values), why, direct=DIRECT[kind](values) if kind in DIRECT else None)
