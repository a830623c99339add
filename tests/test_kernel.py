"""The engine's fused loop computes what the step-by-step numpy reference computes, and so do its trends, soft
cap, histogram and claim passes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from sim.engine.kernel import fused_paths
from sim.engine.shocks import ar1_deviations, soft_cap
from sim.scenarios.scenario import Volatility, load_scenario
from tests.conftest import BASELINE


def _reference(trend, logit_adoption, logit_usage, call_weight, first, volatility, growth_sd, step_years, noise,
               events, bound):
    """The paths computed the numpy way, one whole-array step at a time (as the engine did before fusing)."""
    shape = trend.shape

    class Replay:  # hands ar1_deviations the innovations drawn for the kernel
        def __init__(self, values):
            self.values = values

        def standard_normal(self, _shape):
            return self.values

    deviation = {kind: ar1_deviations(Replay(noise[kind].astype(float)), shape, volatility[kind], first)
                 for kind in ("volume", "adoption", "share")}
    growth = np.zeros(shape)
    rate = np.cumsum(noise["growth"].astype(float) * (growth_sd * np.sqrt(step_years)), axis=1)
    growth[:, first:] = np.cumsum(rate * step_years, axis=1)
    deviation["volume"] = deviation["volume"] + growth
    for kind, shift in events.items():
        deviation[kind] = deviation[kind] + shift
    volume = trend * np.exp(deviation["volume"])
    if bound is not None:
        volume = soft_cap(volume, bound)
    adoption = special.expit(logit_adoption + deviation["adoption"])
    share = adoption ** call_weight[:, None] * special.expit(logit_usage + deviation["share"])
    return volume, adoption, share


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("capped", [False, True])
def test_the_fused_loop_reproduces_the_numpy_steps(dtype, capped):
    rng = np.random.default_rng(7)
    paths, steps, first = 300, 40, 12
    trend = np.exp(rng.normal(30.0, 1.0, (paths, steps)))
    logit_adoption, logit_usage = rng.normal(0.0, 1.0, (paths, steps)), rng.normal(-0.5, 1.0, (paths, steps))
    call_weight = rng.uniform(0.3, 1.0, paths)
    volatility = {"volume": Volatility(0.2, 0.8), "adoption": Volatility(0.3, 0.9), "share": Volatility(0.1, 0.5)}
    noise = {kind: rng.standard_normal((paths, steps - first), dtype=dtype)
             for kind in ("volume", "adoption", "share", "growth")}
    events = {"volume": rng.normal(0.0, 0.3, (paths, steps)), "adoption": rng.normal(0.0, 0.3, (paths, steps))}
    bound = trend * np.exp(rng.normal(1.0, 0.5, (paths, steps))) if capped else None
    expected = _reference(trend, logit_adoption, logit_usage, call_weight, first, volatility, 0.3, 1 / 12, noise,
                          events, bound)
    out = [np.empty((paths, steps)) for _ in range(3)]
    ar = lambda v: np.array([v.persistence, v.sd * np.sqrt(1 - v.persistence**2)])  # noqa: E731
    rows = np.arange(paths)[::-1].copy()  # each path reads its trends from the stores by row number
    fused_paths(trend[::-1].copy(), rows, logit_adoption[::-1].copy(), logit_usage[::-1].copy(), rows, call_weight,
                first, ar(volatility["volume"]),
                ar(volatility["adoption"]), ar(volatility["share"]), 0.3 * np.sqrt(1 / 12), 1 / 12,
                noise["volume"], noise["adoption"], noise["share"], noise["growth"], events["volume"],
                events["adoption"], np.zeros((0, steps)), np.zeros((0, steps)) if bound is None else bound, *out)
    for got, want in zip(out, expected):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0.0)
    if capped:
        assert np.all(out[0] <= bound)


def test_trends_are_evaluated_per_draw_as_paths_pick_them_with_the_same_numbers(posterior):
    from sim.core.timeaxis import month_windows
    from sim.curves.families import FAMILIES
    from sim.curves.open_source import open_adoption_window_mean, open_share_window_mean
    from sim.engine.paths import time_grid
    from sim.engine.trends import DRAWS_AT_ONCE, build_trends

    scenario = load_scenario(BASELINE)
    a, b = month_windows(time_grid(scenario), scenario.step_months)
    lazy = build_trends(posterior, scenario, {})
    picks = np.random.default_rng(5).integers(0, 4000, 3 * DRAWS_AT_ONCE + 7)
    for name, rows in lazy.volume.items():
        assert not rows.done.any(), "nothing is evaluated before a path picks a draw"
        some, = rows.take(picks)
        assert rows.done.sum() == np.unique(picks).size
        params = {p: v[:, None] for p, v in lazy.volume_parameters[name].items()}
        every = FAMILIES[name].window_mean(a, b, params)  # every draw at once, as the engine did before
        np.testing.assert_array_equal(some, every[picks])
        np.testing.assert_array_equal(rows.full()[0], every)
    for name, model in lazy.open.items():
        logit_adoption, logit_usage = model.rows.take(picks[::-1])
        np.testing.assert_array_equal(logit_adoption, model.logit_adoption[picks[::-1]])  # the same, bit for bit
        np.testing.assert_array_equal(logit_usage, model.logit_usage[picks[::-1]])
        columns = {p: v[:, None] for p, v in model.parameters.items()}  # the numpy quadrature, every draw at once
        adoption = np.clip(open_adoption_window_mean(a, b, columns), 1e-12, 1 - 1e-12)
        usage = np.clip(open_share_window_mean(a, b, columns) / adoption ** columns["call_weight"], 1e-12, 1 - 1e-12)
        np.testing.assert_allclose(model.logit_adoption, special.logit(adoption), rtol=1e-11, atol=1e-11)
        np.testing.assert_allclose(model.logit_usage, special.logit(usage), rtol=1e-11, atol=1e-11)
        fresh = build_trends(posterior, scenario, {}).open[name]  # whatever the draws evaluated together
        for draw in picks[:5]:
            np.testing.assert_array_equal(fresh.rows.take(np.array([draw]))[0][0], model.logit_adoption[draw])


def test_the_compiled_soft_cap_agrees_with_the_reference_everywhere():
    from sim.engine.kernel import _soft_cap

    rng = np.random.default_rng(11)
    bound = 10.0 ** rng.uniform(8.0, 22.0, 100_000)
    value = bound * 10.0 ** rng.uniform(-6.0, 6.0, bound.size)  # far below, near and far above the bound
    value[:5] = bound[:5] * np.array([1e-3, 0.0075, 1.0, 1.0 + 1e-15, 0.9999])
    got = np.array([_soft_cap(v, b) for v, b in zip(value, bound)])
    np.testing.assert_allclose(got, soft_cap(value, bound), rtol=1e-14, atol=0.0)
    assert np.all(got <= np.minimum(value, bound))
    far = value <= bound * 1e-3  # far below: the value itself, bit for bit, as the numpy cap gives
    np.testing.assert_array_equal(got[far], value[far])
    np.testing.assert_array_equal(soft_cap(value[far], bound[far]), value[far])
    assert np.isnan(_soft_cap(np.nan, 1e15)) and _soft_cap(np.inf, 1e15) == 1e15


def test_the_compiled_histogram_pass_counts_as_the_numpy_one_and_returns_the_values_beyond_its_range():
    from sim.engine.kernel import histogram_pass

    rng = np.random.default_rng(4)
    values = np.exp(rng.normal(28.0, 3.0, (400, 9)))
    values[0, 0], values[1, 1], values[2, 2], values[3, 3] = 1e5, 1e25, np.nan, 0.0  # beyond both ends, NaN
    counts = np.zeros((9, 10_000), dtype=np.int64)
    index, position = np.empty(values.size, dtype=np.int64), np.empty(values.size)
    outside = histogram_pass(counts, np.log10(np.maximum(values, 1e-300)), 9.0, 19.0, index, position)
    expected = (np.log10(np.maximum(values, 1e-300)) - 9.0) / 10.0 * 10_000
    inside = (expected >= 0) & (expected <= 10_000)
    assert outside == (~inside).sum() >= 4
    np.testing.assert_array_equal(np.sort(index[:outside]), np.flatnonzero(~inside))
    np.testing.assert_allclose(position[:outside], expected.ravel()[index[:outside]], rtol=1e-13)
    bins = np.minimum(np.where(inside, expected, 0).astype(np.int64), 9_999)
    want = np.stack([np.bincount(bins[inside[:, t], t], minlength=10_000) for t in range(9)])
    np.testing.assert_array_equal(counts, want)


@pytest.mark.parametrize("direction", ["above", "below"])
@pytest.mark.parametrize("kind", ["at_date", "first_passage"])
def test_the_compiled_claim_pass_counts_as_the_claim_reads_itself(direction, kind):
    from sim.engine.kernel import claim_pass
    from sim.scenarios.scenario import Claim

    values = np.random.default_rng(8).uniform(0.0, 1.0, (500, 12))
    values[0, 3] = np.nan
    claim = Claim("c", "open_share", 0.6, (), direction, kind)
    crossed, passed = np.zeros(12, dtype=np.int64), np.zeros(12, dtype=np.int64)
    claim_pass(values, claim.threshold, direction == "above", kind == "first_passage", crossed, passed)
    np.testing.assert_array_equal(crossed, claim.holds(values).sum(axis=0))
    np.testing.assert_array_equal(passed, claim.passed(values).sum(axis=0))


@pytest.mark.parametrize("fit", ["open_call_weighted", "open_equal_weight"])
def test_month_nodes_integrate_the_open_source_curves_to_rounding_across_their_prior(fit):
    """The engine's open-source trends use MONTH_NODES Gauss-Legendre nodes a window: on draws from the prior
    (wider than any posterior) they give the logits of 24 nodes to 1e-11 over a month, and to 1e-9 over two
    months (60 days: the longest two months a short rule serves), at the prior's fastest rates."""
    from sim.calibration.inputs import CalibrationInputs
    from sim.calibration.prior_draws import prior_sample
    from sim.curves.open_source import MONTH_NODES, OPEN_PARAMETERS
    from sim.core.timeaxis import DAYS_PER_YEAR
    from sim.curves.quadrature import legendre
    from sim.engine.trends import _open_grid, _open_rows

    _, sampled = prior_sample(CalibrationInputs.load(), fit, draws=1000)
    params = {p: sampled.prior[p].values.ravel() for p in OPEN_PARAMETERS}
    equal_weight = bool(np.all(params["call_weight"] == 1.0))
    for days, tolerance in ((31, 1e-11), (60, 1e-9)):
        a = np.arange(-1.0, 6.5, days / DAYS_PER_YEAR)
        grid = _open_grid(a, a + days / DAYS_PER_YEAR)
        assert len(grid[3]) == MONTH_NODES < 8
        precise = (*grid[:3], *legendre(24))
        for coarse, fine in zip(_open_rows(grid, equal_weight, params), _open_rows(precise, equal_weight, params)):
            np.testing.assert_allclose(coarse, fine, rtol=0, atol=tolerance)
