"""The reference class (``calibration/analogs.toml``): documented substitutions and adoptions, pooled.

Each analog's points give a logistic rate: the least-squares slope of ``logit(share)`` in time (per year;
negative for a share that fell), with its standard error from the residuals, or :data:`MIN_SE` when
two or three points leave too little to estimate it. The rates are then pooled hierarchically:
``rate_i ~ t_4(mu, sqrt(se_i^2 + tau^2))`` with ``mu`` flat and ``tau`` half-normal (:data:`TAU_SCALE`),
computed on a grid of ``(mu, tau)``; heavy tails keep one extreme analog from dragging the centre. The
predictive of a new analog's rate, ``t_4(mu, tau)`` over the posterior, is the prior of a rate the
Chinese market has not shown yet (written as a normal with the same 5% and 95% quantiles). A vintage
keeps only the points published by then.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.core.errors import UserError
from sim.core.timeaxis import years
from sim.core.tomlfile import TomlFile

QUANTITIES = ("usage_share", "adopter_share")
#: Smallest standard error of a rate (per year): two points fix a slope exactly, not its uncertainty.
MIN_SE = 0.25
#: Scale of the half-normal prior on the spread of rates between analogs (per year).
TAU_SCALE = 2.0
#: Degrees of freedom of the spread between analogs: heavy tails, so that one extreme analog (a price
#: shock's takeover) widens the prior without dragging its centre.
DF = 4
_MU_GRID = np.linspace(-5.0, 8.0, 131)
_TAU_GRID = np.linspace(0.01, 6.0, 120)


@dataclass(frozen=True)
class Point:
    """One dated value of an analog, with where it was published."""

    date: dt.date
    value: float
    published: dt.date
    source: str
    url: str
    quote: str
    use: bool = True


@dataclass(frozen=True)
class Analog:
    """One documented adoption or substitution process."""

    id: str
    what: str
    quantity: str
    market: str
    why_relevant: str
    why_different: str
    points: tuple[Point, ...]

    def rate(self) -> tuple[float, float] | None:
        """The logistic rate (slope of logit(share) per year) and its standard error; None with < 2 points."""
        used = [p for p in self.points if p.use]
        if len({p.date for p in used}) < 2:
            return None
        t = np.array([years(p.date) for p in used])
        y = np.log([p.value / (1 - p.value) for p in used])
        slope, intercept = np.polyfit(t, y, 1)
        se = MIN_SE
        if len(used) > 2:
            residual = y - (intercept + slope * t)
            spread = np.sqrt(np.sum(residual**2) / (len(used) - 2) / np.sum((t - t.mean()) ** 2))
            se = max(float(spread), MIN_SE)
        return float(slope), se


@dataclass(frozen=True)
class ReferenceClass:
    """The analogs known at a vintage."""

    path: Path
    analogs: tuple[Analog, ...]
    sha256: str
    as_of: dt.date | None = None

    def vintage(self, as_of: dt.date | None) -> "ReferenceClass":
        """Only the points published by ``as_of``."""
        if as_of is None:
            return self
        kept = tuple(Analog(a.id, a.what, a.quantity, a.market, a.why_relevant, a.why_different,
                            tuple(p for p in a.points if p.published <= as_of)) for a in self.analogs)
        return ReferenceClass(self.path, kept, self.sha256, as_of)

    def rates(self, quantity: str) -> dict[str, tuple[float, float]]:
        """Rate and standard error of every analog of ``quantity`` with at least two usable points."""
        return {a.id: rate for a in self.analogs if a.quantity == quantity and (rate := a.rate()) is not None}

    @functools.cache  # noqa: B019  (frozen and hashable: the pooled prior is worked out once per vintage)
    def pooled(self, quantity: str) -> tuple[float, float, dict[str, tuple[float, float]]]:
        """The 5% and 95% quantiles of the pooled predictive of a new analog's rate, and the rates pooled."""
        from scipy import stats

        rates = self.rates(quantity)
        if len(rates) < 2:
            raise UserError(f"fewer than two {quantity} analogs with two usable points at {self.as_of or 'this vintage'}:"
                            " nothing to pool", where=str(self.path))
        value, se = (np.array(column) for column in zip(*rates.values()))
        mu, tau = np.meshgrid(_MU_GRID, _TAU_GRID, indexing="ij")
        scale = np.sqrt(se[None, None, :] ** 2 + tau[..., None] ** 2)
        log_post = (stats.t.logpdf(value[None, None, :], DF, mu[..., None], scale).sum(axis=-1)
                    + stats.halfnorm.logpdf(tau, scale=TAU_SCALE))
        weight = np.exp(log_post - log_post.max()).ravel()
        kept = weight > 1e-8  # cells with no posterior weight add nothing to the predictive
        weight, centre, spread = weight[kept], mu.ravel()[kept], tau.ravel()[kept]
        # The predictive of a new rate, t_DF(mu, tau) over the posterior of (mu, tau): its CDF on a grid.
        grid = np.linspace(-15.0, 20.0, 1401)
        cdf = stats.t.cdf(grid[:, None], DF, centre[None, :], spread[None, :]) @ weight / weight.sum()
        p5, p95 = np.interp([0.05, 0.95], cdf, grid)
        return float(p5), float(p95), rates


def _date(source: TomlFile, entry: dict, key: str, table: tuple) -> dt.date:
    value = entry.get(key)
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise source.error(f"expected a date like 2025-06-30, got {value!r}", table, key)
    return value


def load_reference_class(path: str | Path) -> ReferenceClass:
    """Read and validate the analogs file; errors name the file, line and key."""
    source = TomlFile.read(path, "analogs file")
    source.check_keys(source.data, (), ("analog",))
    analogs = []
    for index, entry in enumerate(source.typed(source.data, "analog", list, ())):
        table = ("analog", index)
        if not isinstance(entry, dict):
            raise source.error("each [[analog]] must be a table", table)
        source.check_keys(entry, table, ("id", "what", "quantity", "market", "why_relevant", "why_different", "point"))
        text = {k: source.typed(entry, k, str, table) for k in ("id", "what", "quantity", "market", "why_relevant",
                                                               "why_different")}
        if text["quantity"] not in QUANTITIES:
            raise source.error(f"quantity must be one of {', '.join(QUANTITIES)}", table, "quantity")
        points = []
        for number, point in enumerate(source.typed(entry, "point", list, table)):
            where = (*table, "point", number)
            if not isinstance(point, dict):
                raise source.error("each [[analog.point]] must be a table", where)
            source.check_keys(point, where, ("date", "value", "published", "source", "url", "quote"),
                              ("note", "use", "forecast"))
            value = source.typed(point, "value", float, where)
            if not 0 < value < 1:
                raise source.error(f"a share strictly between 0 and 1, got {value!r}", where, "value")
            use = source.typed(point, "use", bool, where, True) and not source.typed(point, "forecast", bool, where,
                                                                                   False)
            points.append(Point(_date(source, point, "date", where), value, _date(source, point, "published", where),
                                source.typed(point, "source", str, where), source.typed(point, "url", str, where),
                                source.typed(point, "quote", str, where), use))
        analogs.append(Analog(**text, points=tuple(points)))
    ids = [a.id for a in analogs]
    for index, ident in enumerate(ids):
        if ids.index(ident) != index:
            raise source.error(f"duplicate id {ident!r}", ("analog", index), "id")
    return ReferenceClass(Path(path), tuple(analogs), hashlib.sha256(source.text.encode()).hexdigest())
