"""The Monte Carlo engine: reproducible, block-keyed, deviations only after the data."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import xarray as xr

import sim
from sim.engine import BLOCK, ar1_deviations, simulate
from sim.scenario import Volatility, load_scenario
from tests.conftest import BASELINE, OBSERVATIONS, PRIORS


def run(posterior_dir, **kwargs):
    return sim.run(BASELINE, observations=OBSERVATIONS, priors=PRIORS, posteriors=posterior_dir, **kwargs)


def without_history(dataset: xr.Dataset) -> xr.Dataset:
    return dataset.assign_attrs(history="")


def test_same_seed_gives_an_identical_dataset(posterior_dir):
    first, second = run(posterior_dir, draws=700, seed=5), run(posterior_dir, draws=700, seed=5)
    xr.testing.assert_identical(without_history(first), without_history(second))
    other = run(posterior_dir, draws=700, seed=6)
    assert not np.array_equal(first["daily_tokens"].values, other["daily_tokens"].values)


def test_a_block_is_the_same_whatever_the_run_size(posterior, posterior_dir):
    scenario = load_scenario(BASELINE)
    _, small = simulate(posterior, scenario, draws=BLOCK, seed=11)
    _, large = simulate(posterior, scenario, draws=BLOCK + 300, seed=11)
    np.testing.assert_array_equal(small.daily_tokens, large.daily_tokens[:BLOCK])
    np.testing.assert_array_equal(small.open_adoption, large.open_adoption[:BLOCK])


def test_deviations_start_after_the_last_data_month(posterior):
    scenario = load_scenario(BASELINE)
    calm = dataclasses.replace(scenario, volatility={k: Volatility(0.0, 0.0) for k in scenario.volatility})
    times, noisy_paths = simulate(posterior, scenario, draws=300, seed=3)
    _, calm_paths = simulate(posterior, calm, draws=300, seed=3)
    data_months = times <= np.datetime64("2025-06-01")
    np.testing.assert_array_equal(noisy_paths.daily_tokens[:, data_months], calm_paths.daily_tokens[:, data_months])
    assert not np.allclose(noisy_paths.daily_tokens[:, ~data_months], calm_paths.daily_tokens[:, ~data_months])


def test_ar1_deviations_reach_the_stated_sd_and_persistence():
    deviations = ar1_deviations(np.random.default_rng(0), (20000, 120), Volatility(0.3, 0.9), first=12)
    assert np.all(deviations[:, :12] == 0)
    late = deviations[:, 100]
    assert np.std(late) == pytest.approx(0.3, rel=0.03)
    assert np.corrcoef(deviations[:, 99], late)[0, 1] == pytest.approx(0.9, abs=0.01)


def test_family_weights_are_honoured(posterior):
    scenario = load_scenario(BASELINE)
    _, paths = simulate(posterior, scenario, draws=6000, seed=2)
    share = {name: np.mean(paths.family == name) for name, _ in scenario.family_weights}
    for name, weight in scenario.family_weights:
        assert share[name] == pytest.approx(weight, abs=0.025)
    exponential = paths.family == "exponential"
    assert np.all(np.isnan(paths.parameters["ceiling"][exponential]))
    assert np.all(paths.parameters["ceiling"][~exponential] > paths.parameters["v_ref"][~exponential])


def test_results_contract(baseline_results, tmp_path):
    data = baseline_results
    assert data["daily_tokens"].dims == ("draw", "time")
    assert np.issubdtype(data["time"].dtype, np.datetime64)
    assert str(data["time"].values[0])[:10] == "2024-07-01" and str(data["time"].values[-1])[:7] == "2030-12"
    for name, variable in data.data_vars.items():
        assert "long_name" in variable.attrs, name
        if name != "family":
            assert "units" in variable.attrs, name
    for attr in ("title", "source", "history", "scenario_text", "scenario_sha256", "seed", "calibration_id"):
        assert data.attrs[attr] != "", attr
    path = tmp_path / "r.nc"
    from sim.results import write_dataset

    write_dataset(data, path)
    with xr.open_dataset(path) as reopened:
        xr.testing.assert_identical(reopened.load(), data)
