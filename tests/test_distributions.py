"""Priors written as quantiles: the written quantiles are the distribution's quantiles."""

from __future__ import annotations

import numpy as np
import pytest

from sim.data.distributions import parse_distribution


@pytest.mark.parametrize("spec", [
    {"dist": "lognormal", "p5": 5e13, "p95": 2e15},
    {"dist": "normal", "p5": -0.5, "p95": 0.5},
    {"dist": "beta", "p5": 0.5, "p95": 0.97},
    {"dist": "beta", "p5": 0.01, "p95": 0.2},
])
def test_written_quantiles_are_reproduced(spec):
    distribution = parse_distribution(spec)
    np.testing.assert_allclose(distribution.quantile(np.array([0.05, 0.95])), [spec["p5"], spec["p95"]], rtol=1e-6)


def test_samples_follow_the_distribution():
    distribution = parse_distribution({"dist": "uniform", "low": -2.5, "high": -1.5})
    draws = distribution.sample(np.random.default_rng(1), 20000)
    assert draws.min() >= -2.5 and draws.max() <= -1.5
    assert np.mean(draws) == pytest.approx(-2.0, abs=0.01)
    assert np.all(parse_distribution({"dist": "fixed", "value": 0.1}).sample(np.random.default_rng(1), 3) == 0.1)


@pytest.mark.parametrize("spec", [
    {"dist": "lognormal", "p5": 0.05, "p95": 0.5},
    {"dist": "lognormal", "p5": 5e9, "p95": 1e11},
    {"dist": "normal", "p5": -0.5, "p95": 0.5},
    {"dist": "normal", "p5": 1e3, "p95": 4e3},
])
def test_normal_and_lognormal_without_scipy_stats_are_scipy_bit_for_bit(spec):
    """Draws and quantiles computed without scipy.stats (Direct) are those of scipy's frozen distribution."""
    distribution = parse_distribution(spec)
    assert distribution.direct is not None
    for seed, size in ((1, 5000), (7, (40, 3)), (2**40, 1)):
        mine = distribution.sample(np.random.default_rng(seed), size)
        scipys = np.asarray(distribution.frozen.rvs(size=size, random_state=np.random.default_rng(seed)), dtype=float)
        assert mine.dtype == scipys.dtype and mine.shape == scipys.shape and np.array_equal(mine, scipys)
    levels = np.array([1e-12, 0.0005, 0.05, 0.25, 0.5, 0.95, 0.999999, 1 - 1e-16])
    assert np.array_equal(distribution.quantile(levels), distribution.frozen.ppf(levels))
    for q in (0.0005, 0.5, 0.95, 0.0, 1.0, np.array([0.0, 0.5, 1.0]), np.array([0.2, np.nan])):
        mine, scipys = distribution.quantile(q), distribution.frozen.ppf(q)
        assert type(mine) is type(scipys) and np.array_equal(mine, scipys, equal_nan=True), q


@pytest.mark.parametrize(("spec", "message"), [
    ({"dist": "lognormal", "p5": 0, "p95": 1}, "positive"),
    ({"dist": "lognormal", "p5": 2, "p95": 1}, "p5 must be less than p95"),
    ({"dist": "normal", "p5": 1, "p95": 1}, "p5 must be less than p95"),
    ({"dist": "beta", "p5": 0.5, "p95": 1.2}, "between 0 and 1"),
    ({"dist": "gamma", "p5": 1, "p95": 2}, "'dist' must be one of"),
    ({"dist": "normal", "p5": 1}, "'p95' is missing"),
    ({"dist": "normal", "p5": 1, "p95": float("inf")}, "finite number"),
    ({"dist": "normal", "p5": 1, "p95": "2"}, "finite number"),
    ({"dist": "normal", "p5": 1, "p95": 2, "mean": 1}, "unknown key 'mean'"),
    (0.5, "expected a table"),
])
def test_bad_specs_say_what_is_allowed(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_distribution(spec)
