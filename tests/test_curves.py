"""Curves: exact window means against quadrature, one definition for numpy and pytensor."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad

from sim.curves.families import FAMILIES, T_ANCHOR, compute_ceiling, drifted_window_mean, growth_rate
from sim.curves.open_source import (
    OPEN_PARAMETERS,
    T_OPEN,
    eventual_adopters,
    open_adoption,
    open_adoption_window_mean,
    open_share,
    open_share_window_mean,
    usage_within_adopters,
)

_SPLITS = {"adopter_share_of_headroom": 0.3, "adopter_share_of_growth": 0.3}  # product family only
_COMPUTE = {"tokens_per_eflops_day": 4e11, "compute_eflops": 667.0, "compute_growth": 0.38}  # compute-logistic only
VOLUME_CASES = [
    {"v_ref": 4.4e12, "growth": 3.3, "ceiling": 2e14, "shape": 0.5, **_SPLITS, "growth_decay": 0.5,
     "long_run_growth": 0.2, "inference_share": 0.3, **_COMPUTE},
    {"v_ref": 4.4e12, "growth": 3.3, "ceiling": 1.5e13, "shape": 2.0, **_SPLITS,  # ceiling just above the data
     "growth_decay": 2.0, "long_run_growth": 0.05, "inference_share": 0.05, **_COMPUTE},
    {"v_ref": 1e11, "growth": 0.3, "ceiling": 5e15, "shape": 0.05,
     "adopter_share_of_headroom": 0.05, "adopter_share_of_growth": 0.9, "growth_decay": 0.1,
     "long_run_growth": 0.25, "inference_share": 0.01, **_COMPUTE},
    {"v_ref": 5e12, "growth": 6.0, "ceiling": 1e16, "shape": 1.0,
     "adopter_share_of_headroom": 0.9, "adopter_share_of_growth": 0.05, "growth_decay": 1.0,
     "long_run_growth": 0.6, "inference_share": 0.9, **_COMPUTE},
]
# Half-years (24 Gauss-Legendre nodes) and months (8 nodes, see sim.curves.quadrature.SHORT_WINDOW), where
# the curves are steepest and where they flatten.
WINDOWS = [(-0.504, 0.0), (0.0, 0.496), (-1.0, 0.0), (-1 / 12, 0.0), (0.25, 1 / 3), (2.0, 2.0833), (5.0, 6.0)]
OPEN_CASE = {"share_2025h1": 0.444, "adoption_2025h1": 0.6, "adoption_headroom": 0.5, "adoption_rate": 0.8,
             "usage_headroom": 0.4, "k": 1.2, "call_weight": 0.7}


def numerical_mean(level, a: float, b: float) -> float:
    return quad(level, a, b, epsabs=0, epsrel=1e-12, limit=200)[0] / (b - a)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("params", VOLUME_CASES)
@pytest.mark.parametrize("window", WINDOWS)
def test_window_mean_equals_quadrature_of_level(family, params, window):
    curve = FAMILIES[family]
    exact = curve.window_mean(np.float64(window[0]), np.float64(window[1]), params)
    assert exact == pytest.approx(numerical_mean(lambda t: curve.level(t, params), *window), rel=1e-9)


@pytest.mark.parametrize("family", FAMILIES)
def test_levels_pass_through_both_anchors(family):
    params = VOLUME_CASES[1]
    curve = FAMILIES[family]
    for sign in (-1, 1):
        expected = params["v_ref"] * np.exp(sign * params["growth"] * T_ANCHOR)
        assert curve.level(sign * T_ANCHOR, params) == pytest.approx(expected, rel=1e-12)


def test_richards_contains_logistic_and_gompertz():
    t = np.linspace(-2, 6, 50)
    base = {"v_ref": 4.4e12, "growth": 3.3, "ceiling": 2e14}
    richards = FAMILIES["richards"].level
    np.testing.assert_allclose(richards(t, {**base, "shape": 1.0}), FAMILIES["logistic"].level(t, base), rtol=1e-10)
    np.testing.assert_allclose(richards(t, {**base, "shape": 1e-9}), FAMILIES["gompertz"].level(t, base), rtol=1e-6)


@pytest.mark.parametrize("family", ["logistic", "gompertz", "richards", "product"])
def test_saturating_families_approach_the_ceiling_from_below(family):
    params = VOLUME_CASES[0]
    t = np.linspace(-2, 6, 500)
    level = FAMILIES[family].level(t, params)
    assert np.all(np.diff(level) > 0)
    assert np.all(level < params["ceiling"])
    assert FAMILIES[family].level(60.0, params) == pytest.approx(params["ceiling"], rel=1e-3)


@pytest.mark.parametrize("params", VOLUME_CASES)
def test_product_splits_the_anchor_growth_and_headroom_between_adopters_and_usage(params):
    from scipy.special import expit

    from sim.curves.families import _logit_line, anchor_levels

    first, second = anchor_levels(params)
    psi, phi = params["adopter_share_of_headroom"], params["adopter_share_of_growth"]
    adopted = (params["ceiling"] / second) ** -psi  # A(+T)
    adopted_before = adopted * np.exp(-2 * T_ANCHOR * phi * params["growth"])
    start, rate = _logit_line(adopted_before, adopted, 1.0)
    adopters = lambda t: expit(start + rate * (t + T_ANCHOR))  # noqa: E731
    # adoption carries phi of the growth and psi of the log-headroom; usage per adopter the rest
    assert np.log(adopters(T_ANCHOR) / adopters(-T_ANCHOR)) == pytest.approx(2 * T_ANCHOR * phi * params["growth"])
    assert -np.log(adopters(T_ANCHOR)) == pytest.approx(psi * np.log(params["ceiling"] / second))
    usage = FAMILIES["product"].level(np.array([-T_ANCHOR, T_ANCHOR, 400.0]), params) / adopters(
        np.array([-T_ANCHOR, T_ANCHOR, 400.0]))
    assert usage[0] < usage[1] < params["ceiling"] and adopters(400.0) == pytest.approx(1.0)


@pytest.mark.parametrize("window", WINDOWS[:3])
def test_open_share_window_means_equal_quadrature(window):
    for curve, window_mean in ((open_share, open_share_window_mean), (open_adoption, open_adoption_window_mean)):
        exact = window_mean(np.float64(window[0]), np.float64(window[1]), OPEN_CASE)
        assert exact == pytest.approx(numerical_mean(lambda t: curve(t, OPEN_CASE), *window), rel=1e-10)


def test_open_curves_pass_through_their_2025h1_anchors_and_tend_to_their_ceilings():
    assert open_share(T_OPEN, OPEN_CASE) == pytest.approx(OPEN_CASE["share_2025h1"], rel=1e-12)
    assert open_adoption(T_OPEN, OPEN_CASE) == pytest.approx(OPEN_CASE["adoption_2025h1"], rel=1e-12)
    assert open_adoption(80.0, OPEN_CASE) == pytest.approx(eventual_adopters(OPEN_CASE), rel=1e-9)
    assert eventual_adopters(OPEN_CASE) == pytest.approx(0.6 + 0.4 * 0.5)


def test_a_negative_substitution_rate_makes_the_share_fall():
    falling = {**OPEN_CASE, "k": -0.8}
    t = np.linspace(T_OPEN, 8.0, 50)
    assert np.all(np.diff(open_share(t, falling)) < 0) and open_share(40.0, falling) < 0.01


def test_the_call_weighted_share_can_exceed_adoption_and_the_equal_weight_one_cannot():
    heavy = {**OPEN_CASE, "share_2025h1": 0.5, "adoption_2025h1": 0.35, "call_weight": 0.5}
    assert open_share(T_OPEN, heavy) > open_adoption(T_OPEN, heavy)
    equal = {**heavy, "call_weight": 1.0, "adoption_2025h1": 0.7}
    t = np.linspace(-2, 10, 60)
    assert np.all(open_share(t, equal) <= open_adoption(t, equal))


def test_decay_growth_fades_from_the_anchor_rate_to_the_long_run_rate():
    params = VOLUME_CASES[0]
    level = FAMILIES["decay"].level
    assert np.log(level(T_ANCHOR, params) / level(-T_ANCHOR, params)) / (2 * T_ANCHOR) == pytest.approx(3.3)
    assert growth_rate(40.0, params) == pytest.approx(params["long_run_growth"], rel=1e-6)
    rates = growth_rate(np.array([0.0, 2.5, 4.5]), params)
    assert rates[0] > rates[1] > rates[2] > params["long_run_growth"]
    slope = (np.log(level(4.5 + 1e-5, params)) - np.log(level(4.5 - 1e-5, params))) / 2e-5
    assert slope == pytest.approx(rates[2], rel=1e-6)


def test_decay_without_a_long_run_rate_is_the_gompertz_curve():
    params = {**VOLUME_CASES[0], "long_run_growth": 0.0}
    rate = params["growth_decay"]
    excess = params["growth"] * rate * T_ANCHOR / np.sinh(rate * T_ANCHOR)
    ceiling = params["v_ref"] * np.exp(excess * np.cosh(rate * T_ANCHOR) / rate)
    t = np.linspace(-1, 8, 40)
    np.testing.assert_allclose(FAMILIES["decay"].level(t, params),
                               FAMILIES["gompertz"].level(t, {**params, "ceiling": ceiling}), rtol=1e-9)


def test_the_compute_ceiling_grows_with_compute_and_bounds_the_compute_logistic():
    params = VOLUME_CASES[0]
    t = np.linspace(-1, 12, 60)
    level, ceiling = FAMILIES["compute_logistic"].level(t, params), compute_ceiling(t, params)
    assert np.all(level < ceiling)
    assert np.allclose(np.diff(np.log(ceiling)) / np.diff(t), params["compute_growth"])
    late = np.log(FAMILIES["compute_logistic"].level(41.0, params) / FAMILIES["compute_logistic"].level(40.0, params))
    assert late == pytest.approx(params["compute_growth"], rel=1e-4)


@pytest.mark.parametrize("family", ["logistic", "decay", "compute_logistic"])
def test_a_drifted_window_mean_equals_quadrature_of_the_drifted_level(family):
    params, curve = VOLUME_CASES[0], FAMILIES[family]
    for a, b, drift in ((-1.0, 0.0, 0.4), (0.0, 0.496, -1.2), (1.0, 2.0, 0.0)):
        exact = drifted_window_mean(curve, np.array([a]), np.array([b]), params, np.array([drift]))[0]
        assert exact == pytest.approx(numerical_mean(lambda t: curve.level(t, params) * np.exp(drift * t), a, b),
                                      rel=1e-10)


@pytest.mark.parametrize("family", FAMILIES)
def test_pytensor_graph_matches_numpy(family):
    import pytensor
    import pytensor.tensor as pt

    curve = FAMILIES[family]
    symbols = {name: pt.dscalar(name) for name in curve.parameters}
    a, b = np.array([-0.504, 0.0, 0.33]), np.array([0.0, 0.496, 0.41])
    compiled = pytensor.function(list(symbols.values()), [curve.window_mean(a, b, symbols), curve.level(a, symbols)])
    params = VOLUME_CASES[0]
    graph_mean, graph_level = compiled(*(params[name] for name in curve.parameters))
    np.testing.assert_allclose(graph_mean, curve.window_mean(a, b, params), rtol=1e-12)
    np.testing.assert_allclose(graph_level, curve.level(a, params), rtol=1e-12)


def test_pytensor_open_share_matches_numpy():
    import pytensor
    import pytensor.tensor as pt

    symbols = {name: pt.dscalar(name) for name in OPEN_PARAMETERS}
    a, b = np.array([0.0]), np.array([0.496])
    compiled = pytensor.function(list(symbols.values()), open_share_window_mean(a, b, symbols))
    np.testing.assert_allclose(compiled(*(OPEN_CASE[n] for n in OPEN_PARAMETERS)),
                               open_share_window_mean(a, b, OPEN_CASE), rtol=1e-12)


volume_params = st.fixed_dictionaries({
    "v_ref": st.floats(1e9, 1e15),
    "growth": st.floats(0.05, 8.0),
    "headroom": st.floats(0.05, 1e4),
    "shape": st.floats(0.01, 10.0),
    "adopter_share_of_headroom": st.floats(0.01, 0.99),
    "adopter_share_of_growth": st.floats(0.01, 0.99),
})


@settings(max_examples=60, deadline=None)
@given(volume_params, st.floats(-3, 10), st.floats(0.01, 2.0))
def test_window_mean_lies_between_the_levels_at_its_ends(raw, start, width):
    """Monotone curves: the mean over a window lies between the levels at its two ends."""
    params = {name: value for name, value in raw.items() if name != "headroom"}
    params["ceiling"] = raw["v_ref"] * np.exp(raw["growth"] * T_ANCHOR) * (1 + raw["headroom"])
    params.update(growth_decay=raw["shape"], long_run_growth=min(raw["growth"], 0.3))  # growth stays positive
    for name, curve in FAMILIES.items():
        if name == "compute_logistic":  # its share of a growing ceiling may fall: not monotone in general
            continue
        low, high = curve.level(start, params), curve.level(start + width, params)
        mean = curve.window_mean(np.float64(start), np.float64(start + width), params)
        assert low <= high
        assert low * (1 - 1e-9) <= mean <= high * (1 + 1e-9)


@settings(max_examples=60, deadline=None)
@given(st.floats(0.02, 0.9), st.floats(0.05, 0.95), st.floats(0.01, 0.99), st.floats(0.05, 3.0),
       st.floats(0.01, 0.99), st.floats(-3.0, 5.0), st.floats(0.1, 1.0), st.floats(-5, 20))
def test_shares_stay_shares_and_adoption_below_its_ceiling(share, adoption, headroom, rate, usage, k, gamma, t):
    params = {"share_2025h1": min(share, adoption**gamma * 0.999), "adoption_2025h1": adoption,
              "adoption_headroom": headroom, "adoption_rate": rate, "usage_headroom": usage, "k": k,
              "call_weight": gamma}
    opened, adopted = open_share(t, params), open_adoption(t, params)
    assert 0.0 <= opened <= adopted**gamma * (1 + 1e-12) and 0.0 <= adopted <= eventual_adopters(params) + 1e-12
    assert 0.0 <= usage_within_adopters(t, params) <= 1.0


def test_short_windows_use_the_cheaper_rule_and_long_or_symbolic_ones_the_full_rule():
    import pytensor.tensor as pt

    from sim.curves.quadrature import gauss_legendre_rule

    months = np.arange(0, 12) / 12
    assert len(gauss_legendre_rule(months, months + 1 / 12)[0]) == 8
    assert len(gauss_legendre_rule(np.array([0.0, 0.0]), np.array([1 / 12, 0.5]))[0]) == 24
    assert len(gauss_legendre_rule(pt.dscalar("a"), pt.dscalar("b"))[0]) == 24


def test_the_logistic_mean_of_consecutive_windows_is_the_same_as_window_by_window():
    from sim.core.timeaxis import month_windows
    from sim.curves.families import logistic_window_mean

    a, b = month_windows(np.arange("2024-07", "2031-01", dtype="datetime64[M]"))
    rng = np.random.default_rng(1)
    p = {"v_ref": rng.uniform(1e13, 5e13, (50, 1)), "growth": rng.uniform(1, 4, (50, 1)),
         "ceiling": rng.uniform(1e14, 1e16, (50, 1))}
    each = np.stack([logistic_window_mean(a[i:i + 1], b[i:i + 1], p)[:, 0] for i in range(len(a))], axis=1)
    np.testing.assert_array_equal(logistic_window_mean(a, b, p), each)  # softplus once per edge: same numbers
