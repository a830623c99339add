"""The Monte Carlo engine: reproducible, block-keyed, deviations only after the data, events."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import xarray as xr

import sim
from sim.core.errors import UserError
from sim.data.distributions import parse_distribution
from sim.engine.paths import BLOCK, time_grid
from sim.engine.runner import run_paths
from sim.engine.shocks import ar1_deviations, event_effect, growth_shocks
from sim.scenarios.scenario import Event, Volatility, load_scenario
from tests.conftest import BASELINE, OBSERVATIONS, PRIORS, ROOT


def run(posterior_dir, scenario=BASELINE, **kwargs):
    return sim.run(scenario, observations=OBSERVATIONS, priors=PRIORS, posteriors=posterior_dir, **kwargs)


def without_history(dataset: xr.Dataset) -> xr.Dataset:
    return dataset.assign_attrs(history="")


def test_same_seed_gives_an_identical_dataset(posterior_dir):
    first, second = run(posterior_dir, draws=700, seed=5), run(posterior_dir, draws=700, seed=5)
    xr.testing.assert_identical(without_history(first), without_history(second))
    other = run(posterior_dir, draws=700, seed=6)
    assert not np.array_equal(first["daily_tokens"].values, other["daily_tokens"].values)


def test_a_block_is_the_same_whatever_the_run_size(posterior):
    scenario = load_scenario(BASELINE)
    small = run_paths(posterior, scenario, draws=BLOCK, seed=11)
    large = run_paths(posterior, scenario, draws=BLOCK + 300, seed=11)
    np.testing.assert_array_equal(small.paths.daily_tokens, large.paths.daily_tokens[:BLOCK])
    np.testing.assert_array_equal(small.paths.open_adoption, large.paths.open_adoption[:BLOCK])


def test_trends_evaluated_before_the_run_give_the_same_paths_as_trends_evaluated_as_paths_pick_them(posterior,
                                                                                                   monkeypatch):
    from sim.engine import trends

    scenario = load_scenario(BASELINE)
    outputs = {}
    for whole_at in (float("inf"), 0.0):  # never, and for every fit
        monkeypatch.setattr(trends, "WHOLE_AT", whole_at)
        built = trends.build_trends(posterior, scenario, {}, paths=3000)
        assert all(rows.done.all() == (whole_at == 0.0) for rows in built.volume.values())
        outputs[whole_at] = run_paths(posterior, scenario, draws=3000, seed=4)
    lazy, whole = outputs.values()
    for name in ("daily_tokens", "open_share", "open_adoption"):
        np.testing.assert_array_equal(getattr(lazy.paths, name), getattr(whole.paths, name))


@pytest.mark.parametrize("keep_paths", [None, 500])
def test_results_do_not_depend_on_the_chunk_size(posterior_dir, keep_paths):
    small = run(posterior_dir, draws=6000, seed=3, chunk_size=1000, keep_paths=keep_paths)
    large = run(posterior_dir, draws=6000, seed=3, chunk_size=50000, keep_paths=keep_paths)
    xr.testing.assert_identical(without_history(small), without_history(large))


def test_dask_workers_give_the_same_result_as_one_process(posterior_dir):
    local = run(posterior_dir, draws=5000, seed=8, chunk_size=1000, keep_paths=700)
    distributed = run(posterior_dir, draws=5000, seed=8, chunk_size=1000, keep_paths=700, workers=2)
    xr.testing.assert_identical(without_history(local), without_history(distributed))


def test_streamed_summaries_match_exact_ones(posterior_dir):
    exact = run(posterior_dir, draws=20000, seed=4)
    streamed = run(posterior_dir, draws=20000, seed=4, keep_paths=400)
    assert exact.attrs["summary_method"].startswith("exact") and streamed.attrs["summary_method"].startswith("streamed")
    assert streamed.sizes["draw"] == 400 and streamed.attrs["paths_simulated"] == 20000
    # The histogram brackets the smallest value whose empirical CDF reaches q, so streamed quantiles
    # lie within one bin of the inverted-CDF quantile of all paths: 0.23% for volume, 1e-4 for shares.
    quantiles = list(streamed["quantile"].values)
    for name, tolerance in (("daily_tokens", {"rtol": 0.0024}), ("open_share", {"atol": 1.01e-4}),
                            ("open_adoption", {"atol": 1.01e-4})):
        reference = np.quantile(exact[name].values, quantiles, axis=0, method="inverted_cdf")
        np.testing.assert_allclose(streamed[f"{name}_quantiles"].values, reference, **tolerance)
    for name in ("claim_probability", "claim_first_passage", "claim_probability_mc_se"):
        np.testing.assert_array_equal(streamed[name], exact[name])
    # the kept paths are every 50th path of the full run
    np.testing.assert_array_equal(streamed["daily_tokens"].values, exact["daily_tokens"].values[::50])


EXTREMES = "".join(f"""
[[events]]
name = "{name}"
target = "volume"
probability = 0.5
start = "2027-01"
size = {{ dist = "fixed", value = {size} }}
""" for name, size in (("boom", 10), ("boom again", 10), ("bust", -10), ("bust again", -10)))


#: A scenario outside scenarios/ that extends the baseline names the compute figures the baseline uses.
COMPUTE_BESIDE = f'\n[compute]\nseries = "{ROOT / "calibration" / "compute.toml"}"\n'


def test_streamed_quantiles_beyond_the_histogram_range_are_not_clipped(posterior_dir, tmp_path):
    """Volumes pushed far above 1e19 and below 1e9 tokens/day (outside the dense bins): the streamed quantiles
    still agree with the exact ones within a bin across the 20,000-path switch, instead of reading 1e19."""
    scenario = tmp_path / "extremes.toml"
    # a compute bound far above any volume (a tiny model at full utilisation), so that it caps nothing
    unbounded = COMPUTE_BESIDE + ('utilisation = { dist = "fixed", value = 0.9 }\n'
                                  'active_parameters = { dist = "fixed", value = 1e3 }\n')
    scenario.write_text(f'extends = "{BASELINE}"\nname = "extremes"\n' + EXTREMES + unbounded, encoding="utf-8")
    exact = run(posterior_dir, scenario, draws=20000, seed=4)
    streamed = run(posterior_dir, scenario, draws=20000, seed=4, keep_paths=400)
    assert exact.attrs["summary_method"].startswith("exact") and streamed.attrs["summary_method"].startswith("streamed")
    quantiles = list(streamed["quantile"].values)
    reference = np.quantile(exact["daily_tokens"].values, quantiles, axis=0, method="inverted_cdf")
    assert reference.max() > 1e21 and reference.min() < 1e7  # far outside the dense range 1e9..1e19
    np.testing.assert_allclose(streamed["daily_tokens_quantiles"].values, reference, rtol=0.0024)


def test_deviations_start_after_the_last_data_month(posterior):
    scenario = load_scenario(BASELINE)
    calm = dataclasses.replace(scenario, volatility={k: Volatility(0.0, 0.0) for k in scenario.volatility},
                               growth_shock=0.0)
    noisy, still = run_paths(posterior, scenario, draws=300, seed=3), run_paths(posterior, calm, draws=300, seed=3)
    last = np.datetime64(posterior.attrs["last_data_month"], "M")
    assert last == np.datetime64("2025-12")  # the vintage's last fitted window, F&S 2025H2
    data_months = noisy.times.astype("datetime64[M]") <= last
    np.testing.assert_array_equal(noisy.paths.daily_tokens[:, data_months], still.paths.daily_tokens[:, data_months])
    assert not np.allclose(noisy.paths.daily_tokens[:, ~data_months], still.paths.daily_tokens[:, ~data_months])


def test_ar1_deviations_reach_the_stated_sd_and_persistence():
    deviations = ar1_deviations(np.random.default_rng(0), (20000, 120), Volatility(0.3, 0.9), first=12)
    assert np.all(deviations[:, :12] == 0)
    late = deviations[:, 100]
    assert np.std(late) == pytest.approx(0.3, rel=0.03)
    assert np.corrcoef(deviations[:, 99], late)[0, 1] == pytest.approx(0.9, abs=0.01)


def test_growth_shocks_are_a_random_walk_in_the_growth_rate():
    step = 1 / 12
    shocks = growth_shocks(np.random.default_rng(0), (20000, 73), 0.2, first=13, step_years=step)
    assert np.all(shocks[:, :13] == 0)
    rates = np.diff(shocks[:, 12:], axis=1) / step  # the growth rate each month
    assert np.std(rates[:, 12] - rates[:, 0]) == pytest.approx(0.2, rel=0.03)  # sd 0.2 after one year
    assert np.std(rates[:, 48]) == pytest.approx(0.2 * np.sqrt(49 / 12), rel=0.03)  # it keeps widening


def test_an_event_fires_with_its_probability_inside_its_window_and_decays():
    scenario = load_scenario(BASELINE)
    times = time_grid(scenario)
    event = Event("shock", "volume", 0.3, np.datetime64("2026-01", "M"), np.datetime64("2026-12", "M"),
                  parse_distribution({"dist": "fixed", "value": -0.4}), half_life_months=12)
    effect = event_effect(np.random.default_rng(1), event, times, 20000)
    fired = (effect != 0).any(axis=1)
    assert fired.mean() == pytest.approx(0.3, abs=0.015)
    first = np.argmax(effect[fired] != 0, axis=1)
    months = times.astype("datetime64[M]")[first]
    assert months.min() == np.datetime64("2026-01") and months.max() == np.datetime64("2026-12")
    row = effect[fired][0]
    start = np.argmax(row != 0)
    assert row[start] == pytest.approx(-0.4) and row[start + 12] == pytest.approx(-0.2)


def test_family_and_open_model_weights_are_honoured(posterior):
    scenario = load_scenario(BASELINE)
    paths = run_paths(posterior, scenario, draws=6000, seed=2).paths
    for name, weight in scenario.family_weights:
        assert np.mean(paths.family == name) == pytest.approx(weight, abs=0.025)
    for name, weight in scenario.open_weights:
        assert np.mean(paths.open_model == name) == pytest.approx(weight, abs=0.025)
    fixed = np.isin(paths.family, ["logistic", "gompertz", "richards", "product"])
    assert np.all(np.isnan(paths.parameters["ceiling"][~fixed]))
    assert np.all(paths.parameters["ceiling"][fixed] > paths.parameters["v_ref"][fixed])
    assert np.all(paths.parameters["call_weight"][paths.open_model == "open_equal_weight"] == 1.0)


def test_assumptions_reweight_the_posterior(posterior_dir, tmp_path):
    surge = run(posterior_dir, ROOT / "scenarios" / "open_source_surge.toml", draws=4000)
    base = run(posterior_dir, draws=4000)
    assert float(surge["m"].median()) > float(base["m"].median()) + 0.03
    extreme = tmp_path / "extreme.toml"
    extreme.write_text(f'extends = "{BASELINE}"\nname = "extreme"\n[assumptions]\n'
                       'adoption_headroom = {{ dist = "beta", p5 = 0.001, p95 = 0.01 }}\n'.replace("{{", "{")
                       .replace("}}", "}"))
    with pytest.raises(UserError, match="effective posterior draws"):
        run(posterior_dir, extreme, draws=100)


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("*.toml")), ids=lambda p: p.stem)
def test_every_library_scenario_parses_and_runs(posterior_dir, path):
    results = run(posterior_dir, path, draws=1000)
    assert results.attrs["scenario"] == path.stem
    assert np.isfinite(results["daily_tokens"].values).all()
    equal = results["open_model"] == "open_equal_weight"  # only there can the share not exceed adoption
    assert bool((results["open_adoption"] >= results["open_share"]).where(equal, True).all())
    if "compute_bound" in results:
        assert bool((results["daily_tokens"] <= results["compute_bound"]).all())


def test_results_contract(baseline_results, tmp_path):
    data = baseline_results
    assert data["daily_tokens"].dims == ("draw", "time")
    assert np.issubdtype(data["time"].dtype, np.datetime64)
    assert str(data["time"].values[0])[:10] == "2024-07-01" and str(data["time"].values[-1])[:7] == "2030-12"
    bounds = {coordinate.attrs["bounds"] for coordinate in data.coords.values() if "bounds" in coordinate.attrs}
    for name, variable in data.data_vars.items():
        if name in bounds:  # a cell-bounds variable takes its metadata from its coordinate (CF 7.1)
            continue
        assert "long_name" in variable.attrs, name
        # names have no units; dates keep theirs in the encoding
        if name not in ("family", "open_model") and not np.issubdtype(variable.dtype, np.datetime64):
            assert "units" in variable.attrs, name
    for attr in ("title", "source", "history", "scenario_text", "scenario_sha256", "seed", "calibration_id"):
        assert data.attrs[attr] != "", attr
    path = tmp_path / "r.nc"
    from sim.engine.results import write_dataset

    write_dataset(data, path)
    with xr.open_dataset(path) as reopened:
        xr.testing.assert_identical(reopened.load(), data)


def test_accessor_uses_the_same_summaries_as_the_cli(baseline_results):
    from sim.analysis.tables import claims_frame

    table = baseline_results.tokensim.quantiles()
    assert set(table.data_vars) == {"daily_tokens", "open_share", "open_adoption"}
    assert table["daily_tokens"].sel(quantile=0.5).dims == ("time",)
    assert baseline_results.tokensim.claims().equals(claims_frame(baseline_results))
    assert baseline_results.tokensim.fan() is not None


def test_every_probability_and_quantile_carries_its_monte_carlo_error(baseline_results):
    data = baseline_results
    errors = data["claim_probability_mc_se"]
    p = data["claim_probability"]
    assert errors.dims == p.dims and bool((errors >= 0).all())
    # paths on one posterior draw count once: never less error than independent paths would have
    assert bool((errors >= np.sqrt(p * (1 - p) / data.attrs["paths_simulated"]) - 1e-12).all())
    for name in ("daily_tokens", "open_share", "open_adoption"):
        se = data[f"{name}_quantiles_mc_se"]
        assert se.dims == ("quantile", "time") and bool((se >= 0).all())
    assert "posterior draw" in data.attrs["mc_se_method"]


def test_a_claim_on_a_date_is_never_more_likely_than_having_crossed_by_then(baseline_results):
    data = baseline_results
    assert bool((data["claim_probability"] <= data["claim_first_passage"] + 1e-12).all())
    assert bool((data["claim_first_passage"].diff("time") >= 0).all())


def test_the_monte_carlo_error_counts_paths_on_one_posterior_draw_as_one():
    from sim.engine.mc_error import cluster_sizes, effective_paths, probability_se

    assert effective_paths(cluster_sizes(np.arange(1000))) == pytest.approx(1000)
    assert effective_paths(cluster_sizes(np.repeat(np.arange(10), 100))) == pytest.approx(10)
    assert probability_se(np.array([0.5]), 100)[0] == pytest.approx(0.05)
