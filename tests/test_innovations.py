"""The engine's innovations: Box-Muller float32 normals are standard normals (to float32's resolution), drawn
reproducibly, and change no reported figure beyond its Monte Carlo error against numpy's float64 ziggurat."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from sim.engine import innovations
from sim.engine.innovations import BOX_MULLER_BOUND, box_muller
from sim.engine.runner import run_paths
from sim.engine.summary import SUMMARY_QUANTILES, Summary
from sim.scenarios.scenario import load_scenario
from tests.conftest import BASELINE


def test_box_muller_draws_standard_normals_within_its_documented_bound():
    values = box_muller(np.random.default_rng(3), (4, 500, 1_001))  # an odd count: the last pair half used
    assert values.shape == (4, 500, 1_001) and values.dtype == np.float32
    flat = values.astype(float).ravel()
    assert stats.kstest(flat, "norm").pvalue > 1e-3
    assert abs(flat.mean()) < 5 / np.sqrt(flat.size)
    assert abs(flat.var() - 1.0) < 5 * np.sqrt(2 / flat.size)
    assert abs(stats.kurtosis(flat)) < 5 * np.sqrt(24 / flat.size)
    assert np.abs(flat).max() <= BOX_MULLER_BOUND
    # Both halves (cosines and sines of the same pairs) are uncorrelated standard normals.
    half = flat.size // 2
    assert abs(np.corrcoef(flat[:half], flat[half:2 * half])[0, 1]) < 5 / np.sqrt(half)


def test_box_muller_reaches_its_bound_and_zero_at_the_extreme_uniforms():
    class Extremes:  # hands the transform the smallest and the largest float32 uniforms
        def random(self, shape, dtype):
            u = np.zeros(shape, dtype=dtype)
            u[0] = [0.0, np.nextafter(np.float32(1.0), np.float32(0.0))]
            return u

    values = box_muller(Extremes(), (4,))
    np.testing.assert_allclose(values.astype(float), [0.0, BOX_MULLER_BOUND, 0.0, 0.0], rtol=1e-6, atol=0.0)


def test_the_same_stream_gives_the_same_innovations_bit_for_bit():
    first = box_muller(np.random.default_rng(np.random.SeedSequence(5, spawn_key=(2,))), (4, 1000, 60))
    again = box_muller(np.random.default_rng(np.random.SeedSequence(5, spawn_key=(2,))), (4, 1000, 60))
    np.testing.assert_array_equal(first, again)


def _figures(output):
    summary: Summary = output.summary
    return summary.quantiles("daily_tokens"), summary.crossed_share(), summary.effective("daily_tokens")


@pytest.mark.slow
def test_box_muller_float32_changes_no_reported_figure_beyond_its_monte_carlo_error(posterior, monkeypatch):
    scenario = load_scenario(BASELINE)
    draws = 40_000
    figures = {}
    for generator in ("box_muller", "ziggurat"):
        monkeypatch.setattr(innovations, "INNOVATIONS", generator)
        figures[generator] = _figures(run_paths(posterior, scenario, draws=draws, seed=11, keep_paths=1000))
    (q32, p32, n32), (q64, p64, _) = figures["box_muller"], figures["ziggurat"]
    assert not np.array_equal(p32, p64), "the two runs draw different innovations"
    # A claim's probability: the two runs' difference is within 4 standard errors of a difference.
    se = np.sqrt(2 * np.clip(p64 * (1 - p64), 1e-12, None) / n32)
    assert np.all(np.abs(p32 - p64) <= 4 * se + 1e-12)
    # The median path's volume: the two runs' difference within 4 standard errors of a difference too. A
    # median's standard error is sqrt(0.25 / n) / f(median), the density read from the quartiles (0.1% of
    # the median in the first months, 1.6% in 2031 at this many paths).
    (lower, median, upper), quartiles = (q64[i] for i in (3, 4, 5)), np.diff(np.array(SUMMARY_QUANTILES)[[3, 5]])
    bound = 4 * np.sqrt(2) * np.sqrt(0.25 / n32) * (upper - lower) / quartiles
    assert np.all(np.abs(q32[4] - median) <= bound)
    assert np.all(bound < 0.12 * median), "the test no longer resolves a shift of an eighth of the median"
