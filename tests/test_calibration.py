"""Calibration with real NUTS sampling: recovery of known parameters, the gate, the cache."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest
import xarray as xr

from sim.calibration import calibrate as calibrate_module
from sim.calibration.calibrate import calibrate, calibration_id
from sim.calibration.inputs import CalibrationInputs, SamplerSettings
from sim.calibration.fits import build_model
from sim.calibration.models import volume_observations
from sim.calibration.posterior import load_posterior
from sim.calibration.sampling import ConvergenceError, ConvergenceGate, fit_one, gate_failures
from sim.core.errors import UserError
from sim.core.timeaxis import window_days
from sim.curves.families import FAMILIES, drifted_window_mean
from sim.data.observations import UNITS, load_observations
from tests.conftest import OBSERVATIONS, PRIORS, posterior_file

TRUTH = {"v_ref": 2.0e12, "growth": 2.2, "ceiling": 6.0e13}
SERIES_TRUTH = {"idc_public_cloud": (0.4, 0.2), "doubao": (1.5, 0.8), "national": (3.0, -0.3)}


def synthetic_registry(family: str):
    """The real registry's windows, with values generated exactly by the model from TRUTH: each series'
    drift inside its windows, and a figure published as a bound set a fifth below the value it bounds."""
    registry = load_observations(OBSERVATIONS)
    curve = FAMILIES[family]
    volume_ids = {o.id for o in volume_observations(registry)}
    replaced = []
    for o in registry.observations:
        if o.id in volume_ids:
            a, b = o.window
            scale, drift = SERIES_TRUTH.get(o.series, (1.0, 0.0))
            if o.kind == "at_date":
                level = curve.level(a, TRUTH) * np.exp(drift * a)
            else:
                level = float(drifted_window_mean(curve, np.array([a]), np.array([b]), TRUTH, np.array([drift]))[0])
            daily = scale * level * (0.8 if o.bound == "lower" else 1.0)
            base = daily * window_days(o.start, o.end) if o.kind == "window_total" else daily
            o = dataclasses.replace(o, value_base=float(base), value=float(base / UNITS[o.unit][0]))
        replaced.append(o)
    return dataclasses.replace(registry, observations=tuple(replaced))


@pytest.mark.slow
def test_volume_fit_recovers_known_parameters_from_synthetic_data():
    registry = synthetic_registry("gompertz")
    groups, report = fit_one("gompertz", registry, CalibrationInputs.load(OBSERVATIONS, PRIORS).priors,
                             SamplerSettings())
    posterior = groups["posterior"]
    assert report.attrs["divergences"] == 0
    for name, truth in (("v_ref", TRUTH["v_ref"]), ("growth", TRUTH["growth"]),
                        ("idc_public_cloud_scale", 0.4), ("idc_public_cloud_drift", 0.2)):
        low, median, high = posterior[name].quantile([0.05, 0.5, 0.95]).values
        assert low < truth < high, name
    assert float(posterior["v_ref"].median()) == pytest.approx(TRUTH["v_ref"], rel=0.1)
    assert float(posterior["growth"].median()) == pytest.approx(TRUTH["growth"], rel=0.1)


@pytest.mark.slow
def test_gate_rejects_a_short_chain_with_its_diagnostics():
    inputs = CalibrationInputs.load(OBSERVATIONS, PRIORS)
    with pytest.raises(ConvergenceError) as error:
        fit_one("exponential", inputs.observations, inputs.priors, SamplerSettings(draws=30, tune=30, chains=2))
    message = str(error.value)
    assert "convergence gate" in message and "ess" in message.lower() and "rhat" in message


def _scripted_sampling(monkeypatch, reports):
    """fit_one's sampler replaced by diagnostics given in turn (this test is about what fit_one does with them)."""
    from sim.calibration import sampling

    calls = []

    def sample(model, settings, seed, cores, hidden):
        calls.append((settings.target_accept, seed))
        rhat, divergences = reports[len(calls) - 1]
        report = xr.Dataset({"rhat": ("parameter", [rhat]), "ess_bulk": ("parameter", [900.0]),
                             "ess_tail": ("parameter", [800.0])}, coords={"parameter": ["growth"]},
                            attrs={"divergences": divergences, "draws": 4000, "target_accept": settings.target_accept})
        return None, report

    monkeypatch.setattr(sampling, "_sample_and_diagnose", sample)
    monkeypatch.setattr(sampling, "arviz_groups", lambda idata, model, hidden: {})
    return calls


def test_a_fit_failing_by_divergences_alone_is_sampled_again_at_the_higher_target(monkeypatch):
    inputs = CalibrationInputs.load(OBSERVATIONS, PRIORS)
    calls = _scripted_sampling(monkeypatch, [(1.001, 1), (1.001, 0)])
    _, report = fit_one("exponential", inputs.observations, inputs.priors, inputs.settings)
    assert [target for target, _ in calls] == [0.99, 0.995] and calls[0][1] == calls[1][1]  # same seed
    assert report.attrs["target_accept"] == 0.995
    calls = _scripted_sampling(monkeypatch, [(1.001, 1), (1.001, 2)])
    with pytest.raises(ConvergenceError, match="at target acceptance 0.995: 2 divergent"):
        fit_one("exponential", inputs.observations, inputs.priors, inputs.settings)


def test_a_fit_failing_by_more_than_divergences_is_not_sampled_again(monkeypatch):
    inputs = CalibrationInputs.load(OBSERVATIONS, PRIORS)
    calls = _scripted_sampling(monkeypatch, [(1.05, 1)])
    with pytest.raises(ConvergenceError, match="at target acceptance 0.99: growth: R-hat 1.0500"):
        fit_one("exponential", inputs.observations, inputs.priors, inputs.settings)
    assert len(calls) == 1


def test_gate_lists_every_failure():
    report = xr.Dataset({"rhat": ("parameter", [1.0, 1.02]), "ess_bulk": ("parameter", [900.0, 300.0]),
                         "ess_tail": ("parameter", [800.0, 500.0])}, coords={"parameter": ["a", "b"]},
                        attrs={"divergences": 2, "draws": 4000})
    failures = gate_failures(report, ConvergenceGate())
    assert any("b: R-hat" in f for f in failures)
    assert any("b: ess bulk 300" in f for f in failures)
    assert any("2 divergent" in f for f in failures)
    assert not any(f.startswith("a:") for f in failures)


def test_calibration_id_depends_on_observations_priors_vintage_compute_and_settings(tmp_path):
    import datetime as dt

    inputs = CalibrationInputs.load(OBSERVATIONS, PRIORS)
    base = calibration_id(inputs)
    assert base == calibration_id(CalibrationInputs.load(OBSERVATIONS, PRIORS))
    assert base != calibration_id(inputs.vintage(dt.date(2025, 9, 30)))
    assert base != calibration_id(dataclasses.replace(inputs, settings=SamplerSettings(seed=2)))
    folder = tmp_path / "calibration"
    shutil.copytree(PRIORS.parent, folder, ignore=shutil.ignore_patterns("posteriors", "*.nc", "*.png"))
    changed = folder / "priors.toml"
    changed.write_text(PRIORS.read_text(encoding="utf-8").replace("p5 = 0.05, p95 = 0.5,", "p5 = 0.05, p95 = 0.7,"),
                       encoding="utf-8")
    assert base != calibration_id(CalibrationInputs.load(OBSERVATIONS, changed))
    compute = folder / "compute.toml"
    compute.write_text(compute.read_text(encoding="utf-8").replace("eflops = 725.3", "eflops = 700.0"),
                       encoding="utf-8")
    assert calibration_id(CalibrationInputs.load(OBSERVATIONS, changed, compute=compute)) != calibration_id(
        CalibrationInputs.load(OBSERVATIONS, changed))


def test_calibration_id_changes_with_the_libraries_that_compile_and_sample(monkeypatch):
    inputs = CalibrationInputs.load(OBSERVATIONS, PRIORS)
    base = calibration_id(inputs)
    versions = calibrate_module.library_versions()
    monkeypatch.setattr(calibrate_module, "library_versions", lambda: {**versions, "numba": "0.0.1"})
    assert calibration_id(inputs) != base


def test_cached_posterior_is_reused_without_refitting(posterior_dir, monkeypatch):
    from sim.calibration import workers

    def refit(*args, **kwargs):
        raise AssertionError("refitted although a matching posterior exists")

    monkeypatch.setattr(workers, "run_jobs", refit)
    posterior, path = calibrate(CalibrationInputs.load(OBSERVATIONS, PRIORS, posterior_dir))
    assert path == posterior_dir / f"posterior-{posterior.id[:16]}.nc"


def test_every_fit_passed_the_gate(posterior):
    for fit, report in posterior.diagnostics.items():
        assert gate_failures(report, ConvergenceGate()) == [], fit
        assert report.attrs["draws"] == 4000


def test_stale_truncated_or_foreign_posteriors_are_refused(posterior_dir, tmp_path):
    original = posterior_file(posterior_dir)
    with pytest.raises(UserError, match="stale posterior"):
        load_posterior(original, expected_id="0" * 64)
    truncated = tmp_path / "truncated.nc"
    truncated.write_bytes(original.read_bytes()[: original.stat().st_size // 2])
    with pytest.raises(UserError, match="not a readable posterior"):
        load_posterior(truncated)
    foreign = tmp_path / "foreign.nc"
    xr.Dataset({"x": ("t", [1.0, 2.0])}).to_netcdf(foreign, engine="h5netcdf")
    with pytest.raises(UserError, match="not a tokensim posterior"):
        load_posterior(foreign)
    copy = tmp_path / "copy.nc"
    shutil.copy(original, copy)
    assert load_posterior(copy).id == load_posterior(original).id


def test_figures_published_after_the_vintage_cannot_influence_it(tmp_path):
    import datetime as dt

    vintage = dt.date(2025, 8, 31)
    inputs = CalibrationInputs.load(OBSERVATIONS, PRIORS).vintage(vintage)
    changed = tmp_path / "observations.toml"
    changed.write_text(OBSERVATIONS.read_text(encoding="utf-8")
                       .replace("value = 101865", "value = 50000").replace("value_base = 1.01865e13", "value_base = 5.0e12"),
                       encoding="utf-8")
    altered = CalibrationInputs.load(changed, PRIORS).vintage(vintage)
    assert altered.registry.digest() != inputs.registry.digest()
    assert calibration_id(altered) == calibration_id(inputs)
    model = build_model("logistic", inputs.observations, inputs.priors, inputs.compute)
    fitted = set(model.coords["obs"])
    assert fitted and all(o.published <= vintage for o in inputs.registry.observations if o.id in fitted)
    assert "fs_daily_2025h1" not in fitted
    open_model = build_model("open_call_weighted", inputs.observations, inputs.priors)
    assert not open_model.observed_RVs  # no share figure yet: the open fit is its prior


def test_bounds_are_censored_and_releases_share_an_error():
    inputs = CalibrationInputs.load(OBSERVATIONS, PRIORS)
    model = build_model("logistic", inputs.observations, inputs.priors, inputs.compute)
    assert set(model.coords["release"]) == {"fs_enterprise 2025-09-01", "doubao 2025-06-01", "national 2025-08-01"}
    point = model.initial_point()
    logp = model.compile_logp(vars=[model["log_observed"]], sum=False)
    observed = dict(zip(model.coords["obs"], logp(point)[0]))
    values = dict(zip(model.coords["obs"], model["log_values"].get_value()))
    # a bound's likelihood is a probability (at most 1), a figure's a density; raising a bound's
    # value makes it less likely, while a figure published exactly is scored by its density
    assert observed["doubao_2025_12"] <= 0.0 and observed["national_2025_06"] <= 0.0
    model["log_values"].set_value(np.array([values[o] + (1.0 if o == "doubao_2025_12" else 0.0)
                                            for o in model.coords["obs"]]))
    assert dict(zip(model.coords["obs"], logp(point)[0]))["doubao_2025_12"] < observed["doubao_2025_12"]
