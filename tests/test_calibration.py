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
from sim.calibration.models import volume_observations
from sim.calibration.posterior import load_posterior
from sim.calibration.sampling import ConvergenceError, ConvergenceGate, fit_one, gate_failures
from sim.core.errors import UserError
from sim.core.timeaxis import window_days
from sim.curves.families import FAMILIES
from sim.data.observations import UNITS, load_observations
from sim.data.priors import load_priors
from tests.conftest import OBSERVATIONS, PRIORS

TRUTH = {"v_ref": 2.0e12, "growth": 2.2, "ceiling": 6.0e13}
SERIES_TRUTH = {"idc_public_cloud": (0.4, 0.2), "doubao": (1.5, 0.8), "national": (3.0, -0.3)}


def synthetic_registry(family: str):
    """The real registry's windows, with values generated exactly by the model from TRUTH."""
    registry = load_observations(OBSERVATIONS)
    curve = FAMILIES[family]
    volume_ids = {o.id for o in volume_observations(registry)}
    replaced = []
    for o in registry.observations:
        if o.id in volume_ids:
            a, b = o.window
            level = curve.level(a, TRUTH) if o.kind == "at_date" else curve.window_mean(a, b, TRUTH)
            scale, drift = SERIES_TRUTH.get(o.series, (1.0, 0.0))
            daily = scale * level * np.exp(drift * o.midpoint)
            base = daily * window_days(o.start, o.end) if o.kind == "window_total" else daily
            o = dataclasses.replace(o, value_base=float(base), value=float(base / UNITS[o.unit][0]))
        replaced.append(o)
    return dataclasses.replace(registry, observations=tuple(replaced))


@pytest.mark.slow
def test_volume_fit_recovers_known_parameters_from_synthetic_data():
    registry = synthetic_registry("gompertz")
    groups, report = fit_one("gompertz", registry, load_priors(PRIORS), SamplerSettings())
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
    registry = load_observations(OBSERVATIONS)
    with pytest.raises(ConvergenceError) as error:
        fit_one("exponential", registry, load_priors(PRIORS), SamplerSettings(draws=30, tune=30, chains=2))
    message = str(error.value)
    assert "convergence gate" in message and "ess" in message.lower() and "rhat" in message


def test_gate_lists_every_failure():
    report = xr.Dataset({"rhat": ("parameter", [1.0, 1.02]), "ess_bulk": ("parameter", [900.0, 300.0]),
                         "ess_tail": ("parameter", [800.0, 500.0])}, coords={"parameter": ["a", "b"]},
                        attrs={"divergences": 2, "draws": 4000})
    failures = gate_failures(report, ConvergenceGate())
    assert any("b: R-hat" in f for f in failures)
    assert any("b: ess bulk 300" in f for f in failures)
    assert any("2 divergent" in f for f in failures)
    assert not any(f.startswith("a:") for f in failures)


def test_calibration_id_depends_on_observations_priors_vintage_and_settings(tmp_path):
    registry, priors = load_observations(OBSERVATIONS), load_priors(PRIORS)
    fits = ("logistic",)
    base = calibration_id(registry, priors, SamplerSettings(), fits)
    assert base == calibration_id(registry, priors, SamplerSettings(), fits)
    import datetime as dt

    assert base != calibration_id(registry.vintage(dt.date(2025, 8, 31)), priors, SamplerSettings(), fits)
    assert base != calibration_id(registry, priors, SamplerSettings(seed=2), fits)
    changed = tmp_path / "priors.toml"
    changed.write_text(PRIORS.read_text(encoding="utf-8").replace("p5 = 0.3, p95 = 8.0", "p5 = 0.3, p95 = 9.0"),
                       encoding="utf-8")
    assert base != calibration_id(registry, load_priors(changed), SamplerSettings(), fits)


def test_cached_posterior_is_reused_without_refitting(posterior_dir, monkeypatch):
    def refit(*args, **kwargs):
        raise AssertionError("refitted although a matching posterior exists")

    monkeypatch.setattr(calibrate_module, "fit_one", refit)
    posterior, path = calibrate(CalibrationInputs.load(OBSERVATIONS, PRIORS, posterior_dir))
    assert path == posterior_dir / f"posterior-{posterior.id[:16]}.nc"


def test_every_fit_passed_the_gate(posterior):
    for fit, report in posterior.diagnostics.items():
        assert gate_failures(report, ConvergenceGate()) == [], fit
        assert report.attrs["draws"] == 4000


def test_stale_truncated_or_foreign_posteriors_are_refused(posterior_dir, tmp_path):
    original = next(posterior_dir.glob("posterior-*.nc"))
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

    from sim.calibration.fits import build_model

    vintage = dt.date(2025, 8, 31)
    registry, priors = load_observations(OBSERVATIONS), load_priors(PRIORS)
    changed = tmp_path / "observations.toml"
    changed.write_text(OBSERVATIONS.read_text(encoding="utf-8")
                       .replace("value = 101865", "value = 50000").replace("value_base = 1.01865e13", "value_base = 5.0e12"),
                       encoding="utf-8")
    altered = load_observations(changed)
    assert altered.digest() != registry.digest()
    settings, fits = SamplerSettings(), ("logistic", "open")
    assert (calibration_id(altered.vintage(vintage), priors, settings, fits)
            == calibration_id(registry.vintage(vintage), priors, settings, fits))
    model = build_model("logistic", registry.vintage(vintage), priors)
    fitted = set(model.coords["obs"])
    assert fitted and all(o.published <= vintage for o in registry.observations if o.id in fitted)
    assert "fs_daily_2025h1" not in fitted
    open_model = build_model("open", registry.vintage(vintage), priors)
    assert not open_model.observed_RVs  # no share figure yet: the open fit is its prior
