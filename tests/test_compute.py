"""The compute bound (DATA.md section 5): its arithmetic, its fit, its effect on paths, its errors."""

from __future__ import annotations

import numpy as np
import pytest

from sim.cli import main
from sim.core.errors import UserError
from sim.core.timeaxis import month_windows
from sim.curves.families import T_ANCHOR, anchor_levels
from sim.data.compute_trend import load_compute_figures, load_compute_trend
from sim.scenarios.compute_bound import TOKENS_PER_EFLOPS_DAY
from sim.scenarios.scenario import load_scenario
from tests.conftest import OBSERVATIONS, PRIORS, ROOT

COMPUTE = ROOT / "calibration" / "compute.toml"


def test_the_bound_reproduces_the_arithmetic_of_data_md():
    # "At 1,037 EFLOPS, 37B active parameters and 100% utilisation that is about 1.2e15 tokens/day."
    assert TOKENS_PER_EFLOPS_DAY * 1037.3 / 37e9 == pytest.approx(1.21e15, rel=0.01)


def test_the_compute_trend_is_the_least_squares_fit_with_a_level_per_series():
    figures = load_compute_figures(COMPUTE)
    trend = figures.trend()
    series = np.array([f[1] for f in figures.figures])
    t = np.array([f[2] for f in figures.figures])
    residuals = np.log([f[3] for f in figures.figures]) - np.log(trend.eflops(t))
    reference = series == figures.reference
    assert len(trend.figures) == 7
    # normal equations: residuals of the reference series sum to zero about its own level, every residual
    # is orthogonal to time once each series' own offset is taken out
    assert abs(residuals[reference].sum()) < 1e-9
    offsets = {s: residuals[series == s].mean() for s in set(series)}
    assert abs(sum((r - offsets[s]) * x for r, s, x in zip(residuals, series, t))) < 1e-9
    assert 0.3 < trend.growth < 0.45  # 725 EFLOPS (2024) -> 2,782 (2028) is about +40%/yr


def test_a_vintage_fits_only_the_compute_figures_published_by_then():
    import datetime as dt

    figures = load_compute_figures(COMPUTE)
    assert len(figures.trend(dt.date(2025, 9, 30)).figures) == 6  # MIIT's 2026-01 figure was not out yet
    assert figures.trend(dt.date(2024, 9, 14)) is None  # nothing of the reference series was published
    with pytest.raises(UserError, match="no compute trend can be fitted"):
        load_compute_trend(COMPUTE, dt.date(2024, 9, 14))


def test_a_scenario_bound_is_seen_as_its_vintage_saw_it():
    """A [compute] scenario run as of an earlier date bounds its paths by the compute figures published by
    then, as the calibration does, not by later ones."""
    import datetime as dt

    bound = load_scenario(ROOT / "scenarios" / "compute_constrained.toml").compute
    earlier = bound.known_by(dt.date(2025, 9, 30))
    assert bound.known_by(None) is bound and len(bound.trend.figures) == 7
    assert earlier.trend == load_compute_figures(bound.trend.source).trend(dt.date(2025, 9, 30))
    assert earlier.trend.growth != bound.trend.growth and earlier.utilisation is bound.utilisation


def _scenario(tmp_path, compute: str, volume_sd: float = 0.0):
    path = tmp_path / "bounded.toml"
    path.write_text(f'extends = "{ROOT / "scenarios" / "baseline.toml"}"\nname = "bounded"\ndraws = 2000\n'
                    f'[volatility]\nvolume = {{ sd = {volume_sd}, persistence = 0.9 }}\n[compute]\n{compute}\n'
                    f'series = "{COMPUTE}"\n')
    return path


PRIORS_TEXT = ('utilisation = { dist = "lognormal", p5 = 0.01, p95 = 0.2 }\n'
               'active_parameters = { dist = "lognormal", p5 = 5e9, p95 = 1e11 }')


def test_every_path_stays_under_its_bound_and_the_bound_clears_its_own_2025_level(tmp_path, posterior_dir):
    import sim

    scenario = load_scenario(_scenario(tmp_path, PRIORS_TEXT, volume_sd=0.3))
    results = sim.run(scenario, observations=OBSERVATIONS, priors=PRIORS, posteriors=posterior_dir)
    u, active = results["compute_utilisation"].values, results["active_parameters"].values
    a, b = month_windows(results["time"].values.astype("datetime64[M]"), 1)
    bound = scenario.compute.tokens_per_day((a + b) / 2, u, active)
    np.testing.assert_allclose(results["compute_bound"].values, bound, rtol=1e-12)
    tokens = results["daily_tokens"].values
    assert np.all(tokens <= results["compute_bound"].values)  # after noise and events, every path and month
    assert np.mean(tokens[:, -1] > 0.8 * bound[:, -1]) > 0.2  # it binds for many paths by 2030
    floor = anchor_levels({"v_ref": results["v_ref"].values, "growth": results["growth"].values})[1]
    assert np.all(TOKENS_PER_EFLOPS_DAY * scenario.compute.trend.eflops(T_ANCHOR) * u / active >= floor)
    # the truncation moves the priors: small utilisations are the ones the data rule out
    assert np.quantile(u, 0.05) > 0.01


def test_an_unreachable_bound_is_refused_with_the_scenario_named(tmp_path, posterior_dir):
    import sim

    impossible = ('utilisation = { dist = "uniform", low = 1e-9, high = 2e-9 }\n'
                  'active_parameters = { dist = "lognormal", p5 = 5e9, p95 = 1e11 }')
    scenario = load_scenario(_scenario(tmp_path, impossible))
    with pytest.raises(UserError, match=r"bounded\.toml: \[compute\].*raise utilisation"):
        sim.run(scenario, draws=1000, observations=OBSERVATIONS, priors=PRIORS, posteriors=posterior_dir)


def test_a_few_paths_no_draw_can_carry_keep_their_most_permissive_draw_and_many_are_refused():
    import datetime as dt

    from sim.data.distributions import parse_distribution
    from sim.scenarios.compute_bound import MAX_INFEASIBLE, ComputeBound

    bound = ComputeBound(load_compute_trend(COMPUTE, dt.date(2026, 2, 28)),
                         parse_distribution({"dist": "uniform", "low": 0.1, "high": 0.2}),
                         parse_distribution({"dist": "uniform", "low": 1e10, "high": 2e10}))
    capacity = TOKENS_PER_EFLOPS_DAY * bound.trend.eflops(T_ANCHOR)
    top = capacity * 0.2 / 1e10  # the largest bound any draw can give
    floor = np.full(1000, 0.1 * top)
    floor[:5] = 2 * top  # five paths (0.5%) above anything the priors allow
    u, active = bound.sample(np.random.default_rng(1), T_ANCHOR, floor)
    assert np.all(capacity * u[5:] / active[5:] >= floor[5:])
    assert np.all(capacity * u[:5] / active[:5] > 0.9 * top)  # the best of a thousand redraws
    floor[:int(2 * MAX_INFEASIBLE * 1000)] = 2 * top
    with pytest.raises(UserError, match="20 of 1000 paths"):
        bound.sample(np.random.default_rng(1), T_ANCHOR, floor)


@pytest.mark.parametrize("compute, message", [
    ('utilisation = { dist = "lognormal", p5 = 0.01 }', "'p95' is missing"),
    (PRIORS_TEXT + '\nefficiency = 2', "efficiency"),
    ('utilisation = { dist = "normal", p5 = -0.1, p95 = 0.2 }\nactive_parameters = 1', "must be positive"),
])
def test_bad_compute_tables_exit_2_naming_the_key(tmp_path, capsys, compute, message):
    path = _scenario(tmp_path, compute)
    assert main(["run", str(path), "--out", str(tmp_path / "out.nc")]) == 2
    error = capsys.readouterr().err
    assert message in error and "bounded.toml" in error and "Traceback" not in error
    assert not (tmp_path / "out.nc").exists()


def test_a_missing_compute_figures_file_is_named(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(_scenario(tmp_path, PRIORS_TEXT).read_text().replace(str(COMPUTE), "nowhere.toml"))
    with pytest.raises(UserError, match="compute figures file not found"):
        load_scenario(path)


def test_a_bad_compute_figure_is_named_with_its_line(tmp_path):
    broken = tmp_path / "compute.toml"
    broken.write_text(COMPUTE.read_text().replace("eflops = 725.3", "eflops = -725.3"))
    with pytest.raises(UserError, match="eflops must be a positive number") as error:
        load_compute_trend(broken)
    assert "compute.toml" in str(error.value)
