"""Compiled log densities: one per model structure, the same arithmetic however and wherever compiled."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest

from sim.calibration.compiled import compiled_fit, data_values, structure_key
from sim.calibration.fits import build_model
from sim.calibration.inputs import CalibrationInputs, SamplerSettings
from sim.calibration.models import LOG_VALUES, censoring, volume_observations
from sim.calibration.sampling import ConvergenceGate
from sim.calibration.toolchain import LIBRARIES, compile_cache, library_versions
from sim.calibration.workers import run_jobs
from tests.conftest import OBSERVATIONS, PRIORS

#: Short chains: what matters here is that two runs agree to the last bit, not that they converge.
SHORT = SamplerSettings(draws=60, tune=60, chains=2)
ANY_GATE = ConvergenceGate(max_rhat=np.inf, min_ess=0.0, max_divergences=10**9)
FITS = ("exponential", "open_equal_weight")


def _draws(outcomes) -> dict:
    for label, outcome in outcomes.items():
        assert not isinstance(outcome, BaseException), (label, outcome)
    return {label: outcome[0]["posterior"] for label, outcome in outcomes.items()}


@pytest.mark.slow
def test_fresh_processes_on_a_cold_and_a_warm_compile_cache_give_identical_draws(tmp_path):
    inputs = CalibrationInputs.load(OBSERVATIONS, PRIORS, tmp_path / "posteriors", settings=SHORT)
    jobs = [(fit, fit, inputs) for fit in FITS]
    cold = _draws(run_jobs(jobs, processes=2, gate=ANY_GATE))  # two fresh workers, empty compile cache
    cached = list(compile_cache(inputs.cache).rglob("*"))
    assert cached, "the workers compile into the cache beside the posteriors"
    warm = _draws(run_jobs(jobs, processes=2, gate=ANY_GATE))  # two fresh workers, kernels from the cache
    here = _draws(run_jobs(jobs, processes=1, gate=ANY_GATE))  # this process, its own compile
    for fit in FITS:
        for name in cold[fit].data_vars:
            assert np.array_equal(cold[fit][name].values, warm[fit][name].values), (fit, name)
            assert np.array_equal(cold[fit][name].values, here[fit][name].values), (fit, name)


def test_one_structure_is_compiled_once_and_serves_other_data():
    inputs = CalibrationInputs.load(OBSERVATIONS, PRIORS)
    model = build_model("exponential", inputs.observations, inputs.priors)
    keep = [v.name for v in (*model.free_RVs, *model.deterministics)]
    compiled = compiled_fit(model, keep)
    again = build_model("exponential", inputs.observations, inputs.priors)
    assert compiled_fit(again, keep) is compiled, "the same structure is not compiled twice"
    # New values in the data container (uncensored figures moved): the same structure, and the compiled log
    # density follows the data exactly as PyMC's own does.
    lower, upper = censoring(volume_observations(inputs.observations))
    moved = data_values(model)[LOG_VALUES] + np.where(np.isinf(lower) & np.isinf(upper), 0.3, 0.0)
    with again:
        again.set_data(LOG_VALUES, moved)
    assert structure_key(again, keep) == structure_key(model, keep)
    point = compiled.initial_point(1)
    values = {v.name: point[part].reshape(shape) for v, part, shape in
              zip((again.rvs_to_values[rv] for rv in again.free_RVs), *compiled.layout(again)[1:])}
    for fitted in (model, again):
        kernel = compiled.logp_kernel(point, *(data_values(fitted)[n] for n in compiled.logp_data))[0]
        assert kernel == pytest.approx(fitted.compile_logp()(values), rel=1e-10)
    assert compiled.logp_kernel(point, *(data_values(again)[n] for n in compiled.logp_data))[0] \
        != compiled.logp_kernel(point, *(data_values(model)[n] for n in compiled.logp_data))[0]


def test_a_vintage_with_fewer_figures_of_the_same_series_and_releases_is_the_same_structure():
    # Windows, series and release indices, censoring bounds and the compute trend are data containers: a
    # backtest origin shares the full calibration's compiled kernels, and each fit follows its own figures.
    full = CalibrationInputs.load(OBSERVATIONS, PRIORS)
    earlier = full.vintage(dt.date(2025, 11, 30))
    assert len(volume_observations(earlier.observations)) < len(volume_observations(full.observations))
    for fit in ("exponential", "compute_logistic"):
        models = [build_model(fit, inputs.observations, inputs.priors, inputs.compute) for inputs in (earlier, full)]
        keep = [v.name for v in (*models[0].free_RVs, *models[0].deterministics)]
        compiled = compiled_fit(models[0], keep)
        assert compiled_fit(models[1], keep) is compiled, fit
        point = compiled.initial_point(2)
        for model in models:
            names, slices, shapes = compiled.layout(model)
            assert shapes[names.index("window_level")] == (len(model.coords["obs"]),)
            (flat,) = compiled.expand_kernel(point, *(data_values(model)[n] for n in compiled.expand_data))
            assert flat.size == slices[-1].stop
            values = {v.name: point[part].reshape(shape) for v, part, shape in
                      zip((model.rvs_to_values[rv] for rv in model.free_RVs), slices, shapes)}
            kernel = compiled.logp_kernel(point, *(data_values(model)[n] for n in compiled.logp_data))[0]
            assert kernel == pytest.approx(model.compile_logp()(values), rel=1e-12), fit


def test_another_series_set_is_another_structure():
    full = CalibrationInputs.load(OBSERVATIONS, PRIORS)
    early = full.vintage(dt.date(2025, 5, 31))  # IDC and Doubao only
    models = [build_model("exponential", inputs.observations, inputs.priors) for inputs in (early, full)]
    keep = [v.name for v in (*models[1].free_RVs, *models[1].deterministics)]
    assert structure_key(models[0], keep) != structure_key(models[1], keep)


def test_another_prior_is_another_structure():
    inputs = CalibrationInputs.load(OBSERVATIONS, PRIORS)
    model = build_model("exponential", inputs.observations, inputs.priors)
    keep = [v.name for v in (*model.free_RVs, *model.deterministics)]
    growth = inputs.priors.volume["growth"]
    wider = dataclasses.replace(inputs.priors, volume={**inputs.priors.volume, "growth": dataclasses.replace(
        growth, build=lambda: (growth.frozen, ("LogNormal", {"mu": 1.0, "sigma": 2.0})))})
    other = build_model("exponential", inputs.observations, wider)
    assert structure_key(other, keep) != structure_key(model, keep)


def test_the_calibration_id_names_every_library_that_compiles_or_samples():
    versions = library_versions()
    assert set(versions) == set(LIBRARIES) >= {"pymc", "pytensor", "nutpie", "numba"}
    assert all(versions[name] != "not installed" for name in ("pymc", "pytensor", "nutpie", "numba"))
