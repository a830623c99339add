"""Every posterior draw's monthly trend, computed once per run and shared by all blocks.

A path only chooses which posterior draw it follows; the trend of each draw (a Gauss-Legendre window
mean for most curves) is therefore computed once per run rather than once per path, and only for the
draws some path picks (:class:`DrawRows`): daily tokens for each growth family the scenario mixes, and
logit adoption and logit usage for each variant of the open-source model.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim.calibration.posterior import Posterior
from sim.core.timeaxis import DAYS_PER_YEAR, month_windows
from sim.curves.families import FAMILIES
from sim.curves.open_source import MONTH_NODES, OPEN_DERIVED, OPEN_PARAMETERS, T_OPEN
from sim.curves.quadrature import gauss_legendre_rule
from sim.engine.kernel import node_means, open_curve_nodes, open_equal_weight_means
from sim.engine.paths import time_grid
from sim.scenarios.scenario import Scenario

_EPS = 1e-12  # shares are kept this far from 0 and 1 before taking logits


#: Posterior draws whose trends are evaluated together: their (draw, month, node) temporaries then stay in
#: the processor's cache (64 draws x 78 months x 8 nodes is 320 kB a temporary), several times faster than
#: evaluating every draw at once. Every draw's numbers are the same whatever the draws evaluated with it.
DRAWS_AT_ONCE = 64
#: A fit whose draws expect at least this many paths each is evaluated whole before the run starts: every draw
#: will be picked anyway (a draw is missed with probability e^-5), and whole batches of draws cost less than
#: the part-batches each block would ask for (0.24 s against 0.4 s for the baseline's fits); dask workers
#: then receive the rows instead of each evaluating them again.
WHOLE_AT = 5.0


class DrawRows:
    """Per-draw rows ``(draw, time)`` of one or more tables, each draw's computed the first time a path picks
    it (:meth:`take`), by ``compute(params of some draws) -> tuple of (draws, time) arrays``.

    A run of a few thousand paths picks only some of the posterior draws, and a large one picks every
    draw in its first blocks; either way no draw is evaluated twice or needlessly. A draw's rows do not
    depend on which other draws were evaluated with it (``tests/test_kernel.py``), so results do not
    depend on the order in which blocks, chunks or workers ask for them. ``compute`` must pickle (a
    module-level function or a ``functools.partial`` of one) for dask workers.

    The rows live in ``store`` (one array ``(rows, time)`` per table, shared by the fits of a run) from row
    ``start`` on, so the engine's compiled loop reads a path's trend from the store by row number, with no
    copy per block; the store and every fit's place in it pickle together (for dask workers).
    """

    def __init__(self, compute: Callable[[dict[str, np.ndarray]], tuple[np.ndarray, ...]],
                 params: dict[str, np.ndarray], store: tuple[np.ndarray, ...], start: int = 0) -> None:
        self.compute = compute
        self.params = params
        self.size = len(next(iter(params.values())))
        self.store, self.start = store, start
        self.done = np.zeros(self.size, dtype=bool)

    @classmethod
    def alone(cls, compute: Callable[[dict[str, np.ndarray]], tuple[np.ndarray, ...]], params: dict[str, np.ndarray],
              steps: int, tables: int) -> "DrawRows":
        """Rows in a store of their own."""
        size = len(next(iter(params.values())))
        return cls(compute, params, tuple(np.empty((size, steps)) for _ in range(tables)))

    @property
    def tables(self) -> tuple[np.ndarray, ...]:
        """Every table's rows ``(draw, time)`` (views of the store)."""
        return tuple(table[self.start:self.start + self.size] for table in self.store)

    def fill(self, draws: np.ndarray) -> np.ndarray:
        """Evaluate the rows of ``draws`` not evaluated yet; returns the draws' row numbers in the store."""
        missing = np.flatnonzero(np.bincount(draws, minlength=self.size).astype(bool) & ~self.done)
        if missing.size:
            tables = self.tables
            for start in range(0, missing.size, DRAWS_AT_ONCE):
                rows = missing[start:start + DRAWS_AT_ONCE]
                for table, values in zip(tables, self.compute({p: v[rows] for p, v in self.params.items()})):
                    table[rows] = values
            self.done[missing] = True
        return draws + self.start

    def take(self, draws: np.ndarray) -> tuple[np.ndarray, ...]:
        """Every table's rows of ``draws`` (evaluated first where needed)."""
        rows = self.fill(draws)
        return tuple(table[rows] for table in self.store)

    def full(self) -> tuple[np.ndarray, ...]:
        """Every table, every draw evaluated."""
        return self.take(np.arange(self.size))


def _volume_rows(name: str, a: np.ndarray, b: np.ndarray, params: dict[str, np.ndarray]) -> tuple[np.ndarray]:
    """The monthly trend of some draws of growth family ``name``."""
    return (FAMILIES[name].window_mean(a, b, {p: v[:, None] for p, v in params.items()}),)


def _open_grid(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, ...]:
    """What :func:`sim.engine.kernel.open_curve_nodes` needs of the windows ``[a, b]``: their centres, the
    half-width of each (windows of equal length in days share one: ``kind``, ``halves``), and the
    Gauss-Legendre nodes and weights."""
    nodes, weights = gauss_legendre_rule(a, b, MONTH_NODES)
    days = np.rint((b - a) * DAYS_PER_YEAR).astype(np.int64)
    lengths, kind = np.unique(days, return_inverse=True)
    halves = np.array([(b - a)[kind == i][0] / 2.0 for i in range(len(lengths))])
    return (a + b) / 2.0, kind.astype(np.int64), halves, nodes, weights


def _open_rows(grid: tuple[np.ndarray, ...], equal_weight: bool,
               params: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The monthly logits of adoption and of usage within adopters of some draws of one open-source fit
    (windows ``grid``, :func:`_open_grid`); usage is what makes the call-weighted share come out as its window
    mean, ``s / a^gamma``.

    A fit whose every draw has ``gamma = 1`` (the equal-weight variant; decided per fit, never per batch of
    draws, so a draw's numbers never depend on the draws evaluated with it) has its share ``a u`` summed in
    one compiled pass (:func:`sim.engine.kernel.open_equal_weight_means`). Otherwise the curves at the
    quadrature nodes come from one compiled pass (:func:`sim.engine.kernel.open_curve_nodes`), the share
    ``a^gamma u`` from numpy, whose vectorised exp and log are several times faster than one value at a time,
    and the window sums from :func:`sim.engine.kernel.node_means`.
    """
    centre, kind, halves, nodes, weights = grid
    draws, steps = len(params["k"]), len(centre)
    curves = [np.ascontiguousarray(params[p], dtype=float) for p in OPEN_PARAMETERS]
    mean_adoption, mean_share = np.empty((draws, steps)), np.empty((draws, steps))
    gamma = params["call_weight"][:, None]
    if equal_weight:
        open_equal_weight_means(*curves, centre, kind, halves, nodes, weights, T_OPEN, mean_adoption, mean_share)
    else:  # s = exp(gamma log a) u, as open_share has it
        adoption, usage = np.empty((draws, steps, len(nodes))), np.empty((draws, steps, len(nodes)))
        open_curve_nodes(*curves, centre, kind, halves, nodes, T_OPEN, adoption, usage)
        node_means(adoption, weights, mean_adoption)
        share = np.log(adoption, out=adoption)
        share *= gamma[:, :, None]
        np.exp(share, out=share)
        share *= usage
        node_means(share, weights, mean_share)
    np.clip(mean_adoption, _EPS, 1 - _EPS, out=mean_adoption)
    called = mean_adoption if equal_weight else np.exp(np.log(mean_adoption) * gamma)  # mean adoption ** gamma
    mean_usage = np.clip(np.divide(mean_share, called, out=mean_share), _EPS, 1 - _EPS, out=mean_share)
    return _logit(mean_adoption), _logit(mean_usage)


def _logit(p: np.ndarray) -> np.ndarray:
    """``log(p / (1 - p))``, as scipy's logit, with numpy's vectorised log (in place: ``p`` is overwritten)."""
    odds = np.subtract(1.0, p)
    np.divide(p, odds, out=odds)
    return np.log(odds, out=p)


@dataclass(frozen=True)
class OpenTrends:
    """One open-source variant's monthly trends for every posterior draw (logits of adoption and of usage
    within adopters, :class:`DrawRows` evaluated as paths pick draws), the call weight linking them, and
    the draws' parameters."""

    rows: DrawRows
    call_weight: np.ndarray
    parameters: dict[str, np.ndarray]

    @property
    def logit_adoption(self) -> np.ndarray:
        """Logit adoption ``(draw, time)`` of every draw."""
        return self.rows.full()[0]

    @property
    def logit_usage(self) -> np.ndarray:
        """Logit usage within adopters ``(draw, time)`` of every draw."""
        return self.rows.full()[1]


@dataclass(frozen=True)
class Trends:
    """The trends of every fit a scenario uses (:class:`DrawRows` by family, evaluated as paths pick draws),
    the resampling weights of its draws, and the first step free of data (process noise, growth shocks and
    events start there)."""

    volume: dict[str, DrawRows]
    volume_parameters: dict[str, dict[str, np.ndarray]]
    open: dict[str, OpenTrends]
    weights: dict[str, np.ndarray | None]
    first_free: int

    @property
    def volume_store(self) -> np.ndarray:
        """Daily tokens ``(row, time)`` of every family's draws (:attr:`DrawRows.start` says where each begins)."""
        return next(iter(self.volume.values())).store[0]

    @property
    def open_store(self) -> tuple[np.ndarray, np.ndarray]:
        """Logit adoption and logit usage ``(row, time)`` of every open-source variant's draws."""
        return next(iter(self.open.values())).rows.store


def first_free_step(times: np.ndarray, last_data_month: str) -> int:
    """The first simulated step after the calibration's last data month."""
    return int(np.searchsorted(times.astype("datetime64[M]"), np.datetime64(last_data_month, "M"), side="right"))


def open_trends(samples: dict[str, np.ndarray], a: np.ndarray, b: np.ndarray,
                store: tuple[np.ndarray, np.ndarray] | None = None, start: int = 0) -> OpenTrends:
    """The monthly trends of every draw of one open-source fit (evaluated as paths pick draws), in ``store`` from
    row ``start`` on (or a store of its own)."""
    params = {p: samples[p] for p in (*OPEN_PARAMETERS, *OPEN_DERIVED)}
    equal_weight = bool(np.all(params["call_weight"] == 1.0))
    compute = functools.partial(_open_rows, _open_grid(a, b), equal_weight)
    inputs = {p: params[p] for p in OPEN_PARAMETERS}
    rows = DrawRows.alone(compute, inputs, len(a), 2) if store is None else DrawRows(compute, inputs, store, start)
    return OpenTrends(rows, params["call_weight"], params)


def build_trends(posterior: Posterior, scenario: Scenario, weights: dict[str, np.ndarray | None],
                 paths: int = 0) -> Trends:
    """The trend of every posterior draw of every family and open-source variant the scenario uses, each kind in
    one store: evaluated now for the fits whose draws expect at least :data:`WHOLE_AT` of the run's ``paths``
    each (drawn uniformly: a reweighted fit's draws are picked unevenly), and otherwise when a path first picks
    the draw."""
    times = time_grid(scenario)
    a, b = month_windows(times, scenario.step_months)
    families = [name for name, _ in scenario.family_weights]
    variants = [name for name, _ in scenario.open_weights]
    volume_store = (np.empty((sum(posterior.size(name) for name in families), len(a))),)
    open_rows = sum(posterior.size(name) for name in variants)
    open_store = (np.empty((open_rows, len(a))), np.empty((open_rows, len(a))))
    volume, volume_parameters, opened, start = {}, {}, {}, 0
    for name in families:
        samples = posterior.samples(name)
        params = {p: samples[p] for p in FAMILIES[name].parameters}
        volume[name] = DrawRows(functools.partial(_volume_rows, name, a, b), params, volume_store, start)
        volume_parameters[name] = params
        start += volume[name].size
    start = 0
    for name in variants:
        opened[name] = open_trends(posterior.samples(name), a, b, open_store, start)
        start += opened[name].rows.size
    rows = {**volume, **{name: trend.rows for name, trend in opened.items()}}
    for weighted in (scenario.family_weights, scenario.open_weights):
        total = sum(weight for _, weight in weighted)
        for name, weight in weighted:
            if weights.get(name) is None and paths * weight / total >= WHOLE_AT * rows[name].size:
                rows[name].full()
    return Trends(volume, volume_parameters, opened, weights,
                  first_free_step(times, posterior.attrs["last_data_month"]))
