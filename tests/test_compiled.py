"""Compiled log densities: one per model structure, the same arithmetic however and wherever compiled."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest

from sim.calibration.compiled import compiled_fit, data_values, structure_key
from sim.calibration.fits import build_model
from sim.calibration.inputs import CalibrationInputs, SamplerSettings
from sim.calibration.models import LOG_VALUES, censoring, unpublished, volume_observations
from sim.calibration.sampling import ConvergenceGate
from sim.calibration.toolchain import LIBRARIES, compile_cache, library_versions
from sim.calibration.workers import run_jobs
from sim.data.distributions import prior_data
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


def test_every_vintage_of_a_registry_is_the_full_calibrations_structure():
    # Every number of a figure is a data container, and every vintage's model carries the whole registry's series
    # and shared releases: a backtest origin shares the full calibration's compiled kernels, even one where
    # series and releases are still unpublished, and each fit follows its own figures.
    full = CalibrationInputs.load(OBSERVATIONS, PRIORS)
    early = full.vintage(dt.date(2025, 5, 31))  # IDC and Doubao only
    assert {o.series for o in volume_observations(early.observations)} == {"idc_public_cloud", "doubao"}
    for fit in ("exponential", "compute_logistic"):
        models = [build_model(fit, inputs.observations, inputs.priors, inputs.compute) for inputs in (early, full)]
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


def test_what_a_vintage_has_not_published_is_named_and_observed_by_no_figure():
    full = CalibrationInputs.load(OBSERVATIONS, PRIORS)
    assert unpublished(full.observations) == []
    early = full.vintage(dt.date(2025, 5, 31))
    hidden = unpublished(early.observations)
    assert set(hidden) == {"fs_enterprise_sigma", "fs_enterprise_release_sigma",
                           *(f"national_{p}" for p in ("scale", "drift", "sigma", "release_sigma")),
                           "release_offset[fs_enterprise 2025-09-01]", "release_offset[doubao 2025-06-01]",
                           "release_offset[national 2025-08-01]"}
    model = build_model("exponential", early.observations, early.priors)
    stored = {v.name for v in (*model.free_RVs, *model.deterministics)} | \
        {f"release_offset[{r}]" for r in model.coords["release"]}
    assert set(hidden) <= stored
    # No figure reads them: moving them all leaves the figures' log-likelihood exactly as it was.
    likelihood = model.compile_fn(model.logp(vars=model.observed_RVs))
    start = model.initial_point()
    moved = dict(start, national_scale_log__=start["national_scale_log__"] + 1.0,
                 national_drift=start["national_drift"] - 0.5)
    moved["release_offset"] = start["release_offset"] + 2.0  # every shared release is still unpublished
    assert likelihood(moved) == likelihood(start)
    moved["idc_public_cloud_scale_log__"] = start["idc_public_cloud_scale_log__"] + 0.1  # a published series
    assert likelihood(moved) != likelihood(start)


def test_another_registry_is_another_structure():
    # Series and shared releases are the registry's: a registry without one series is another structure.
    full = CalibrationInputs.load(OBSERVATIONS, PRIORS).observations
    fewer = dataclasses.replace(full, observations=tuple(o for o in full.observations if o.series != "national"))
    priors = CalibrationInputs.load(OBSERVATIONS, PRIORS).priors
    models = [build_model("exponential", observations, priors) for observations in (fewer, full)]
    keep = [v.name for v in (*models[1].free_RVs, *models[1].deterministics)]
    assert structure_key(models[0], keep) != structure_key(models[1], keep)


def test_a_priors_parameters_are_data_and_its_kind_is_structure():
    inputs = CalibrationInputs.load(OBSERVATIONS, PRIORS)
    model = build_model("exponential", inputs.observations, inputs.priors)
    keep = [v.name for v in (*model.free_RVs, *model.deterministics)]
    growth = inputs.priors.volume["growth"]

    def growth_prior(kind, parameters):
        return dataclasses.replace(inputs.priors, volume={**inputs.priors.volume, "growth": dataclasses.replace(
            growth, build=lambda: (growth.frozen, (kind, parameters)))})

    wider = build_model("exponential", inputs.observations, growth_prior("LogNormal", {"mu": 1.0, "sigma": 2.0}))
    assert structure_key(wider, keep) == structure_key(model, keep)  # another version of the prior: its data
    assert data_values(wider)[prior_data("growth")].tolist() == [1.0, 2.0]
    compiled = compiled_fit(model, keep)
    point = compiled.initial_point(3)
    values = {v.name: point[part].reshape(shape) for v, part, shape in
              zip((wider.rvs_to_values[rv] for rv in wider.free_RVs), *compiled.layout(wider)[1:])}
    kernel = compiled.logp_kernel(point, *(data_values(wider)[n] for n in compiled.logp_data))[0]
    assert kernel == pytest.approx(wider.compile_logp()(values), rel=1e-12)
    other = build_model("exponential", inputs.observations, growth_prior("HalfNormal", {"sigma": 2.0}))
    assert structure_key(other, keep) != structure_key(model, keep)  # another kind of prior


def test_the_calibration_id_names_every_library_that_compiles_or_samples():
    versions = library_versions()
    assert set(versions) == set(LIBRARIES) >= {"pymc", "pytensor", "nutpie", "numba"}
    assert all(versions[name] != "not installed" for name in ("pymc", "pytensor", "nutpie", "numba"))
