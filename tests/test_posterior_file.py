"""The posterior file: every fit an ArviZ-standard tree, every byte of it under a content hash that each
load recomputes, the convergence gate applied again on load, and one fit at a time per cache folder.

The cases where a damaged, edited or forged posterior makes ``tokensim run`` refuse are in the
bad-input corpus (``tests/test_bad_inputs.py``, ``TAMPERED_POSTERIOR_CASES``).
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from sim.calibration import calibrate as calibrate_module
from sim.calibration.calibrate import calibrate, calibration_id
from sim.calibration.fits import fit_names
from sim.calibration.inputs import CalibrationInputs
from sim.calibration.posterior import DIAGNOSTICS, FORMAT, GROUPS, load_posterior
from sim.core.errors import UserError
from tests.conftest import OBSERVATIONS, PRIORS, posterior_file


@pytest.fixture
def stored(posterior_dir) -> Path:
    return posterior_file(posterior_dir)


def test_each_fit_opens_in_arviz_as_a_standard_tree_with_the_draws_tokensim_uses(stored, posterior):
    import arviz as az

    for fit in posterior.fits:
        idata = az.InferenceData.from_netcdf(stored, base_group=fit)  # the documented one-liner
        assert {"posterior", *GROUPS} <= set(idata.groups()), fit
        for name, values in posterior.fits[fit].data_vars.items():
            np.testing.assert_array_equal(idata.posterior[name].values, values.values)
        observed = idata.observed_data
        pointwise = idata.log_likelihood
        assert set(pointwise.data_vars) == set(observed.data_vars)
        for name in observed.data_vars:
            assert pointwise[name].dims[:2] == ("chain", "draw")
            assert pointwise[name].shape[2:] == observed[name].shape
        assert int(idata.sample_stats["diverging"].sum()) == posterior.diagnostics[fit].attrs["divergences"] == 0
    tree = xr.open_datatree(stored, engine="h5netcdf")
    assert set(az.from_datatree(tree["logistic"]).groups()) >= {"posterior", *GROUPS, DIAGNOSTICS}


@pytest.mark.filterwarnings("ignore:Estimated shape parameter of Pareto")
def test_the_stored_log_likelihood_is_the_fitted_likelihood(stored):
    """PSIS-LOO runs on a stored fit as it is, and the pointwise values are the model's: for an F&S figure
    alone in its release (reference series: scale 1, no drift, not a bound) the Normal log density of its
    log at the log of the exponential curve's window mean, with its own and its release's noise combined,
    computed here from the stored draws with the numpy curves."""
    import arviz as az
    from scipy import stats

    from sim.calibration.models import release_of, series_parameter, volume_observations
    from sim.curves.families import FAMILIES

    idata = az.InferenceData.from_netcdf(stored, base_group="exponential")
    assert np.isfinite(float(az.loo(idata).elpd_loo))
    observations = CalibrationInputs.load(OBSERVATIONS, PRIORS).observations
    fitted = volume_observations(observations)
    releases = [release_of(o) for o in fitted]
    alone = [o for o, release in zip(fitted, releases) if releases.count(release) == 1 and not o.bound
             and o.kind != "at_date" and observations.series[o.series].role == "reference"]
    assert alone, "no F&S figure alone in its release to check against"
    family, draws = FAMILIES["exponential"], idata.posterior
    for figure in alone:
        a, b = figure.window
        mean = family.window_mean(np.array([a]), np.array([b]),
                                  {name: draws[name].values[..., None] for name in family.parameters})[..., 0]
        sigma = np.hypot(draws[series_parameter(figure.series, "sigma")].values,
                         draws[series_parameter(figure.series, "release_sigma")].values)
        expected = stats.norm.logpdf(np.log(figure.comparable_value), np.log(mean), sigma)
        stored_values = idata.log_likelihood["log_observed"].sel(obs=figure.id).values
        np.testing.assert_allclose(stored_values, expected, rtol=1e-8)
        assert float(idata.observed_data["log_observed"].sel(obs=figure.id)) == pytest.approx(
            np.log(figure.comparable_value))


GROUP_EDITS = {
    "posterior": "logistic/posterior/growth",
    "sample_stats": "gompertz/sample_stats/diverging",
    "observed_data": "richards/observed_data/log_observed",
    "log_likelihood": "open_call_weighted/log_likelihood/logit_observed",
    "diagnostics": "product/diagnostics/rhat",
}


@pytest.mark.parametrize("group", GROUP_EDITS)
def test_an_edit_to_any_group_of_any_fit_is_refused(stored, tmp_path, group):
    import h5py

    path = tmp_path / stored.name
    shutil.copyfile(stored, path)
    with h5py.File(path, "r+") as handle:
        values = handle[GROUP_EDITS[group]][()]
        values.flat[0] = 1 - values.flat[0] if values.dtype.kind in "bi" else values.flat[0] * 1.0001
        handle[GROUP_EDITS[group]][...] = values
    with pytest.raises(UserError, match="changed since it was written: its content no longer matches"):
        load_posterior(path)


def test_an_edited_root_attribute_is_refused(stored, tmp_path):
    import h5py

    path = tmp_path / stored.name
    shutil.copyfile(stored, path)
    with h5py.File(path, "r+") as handle:
        handle.attrs["priors_json"] = "{}"  # what reweighting reads the fitted priors from
    with pytest.raises(UserError, match="changed since it was written"):
        load_posterior(path)


def test_any_flipped_bit_is_refused(stored, tmp_path):
    """The hash covers every byte: a bit flipped anywhere (metadata, draws, free space) is never read as a
    posterior."""
    data = stored.read_bytes()
    rng = np.random.default_rng(14)
    for offset in (0, 100, *rng.integers(0, len(data), 12), len(data) - 1):
        flipped = bytearray(data)
        flipped[offset] ^= 1 << int(rng.integers(8))
        path = tmp_path / f"flipped-{offset}.nc"
        path.write_bytes(bytes(flipped))
        with pytest.raises(UserError, match="changed since it was written|not a readable posterior|"
                                            "not a tokensim posterior|damaged posterior"):
            load_posterior(path)


def test_a_copy_loads_identically_and_the_format_is_part_of_the_id(stored, tmp_path, monkeypatch):
    copy = tmp_path / "copy.nc"
    shutil.copyfile(stored, copy)
    original, copied = load_posterior(stored), load_posterior(copy)
    assert copied.id == original.id
    for fit in original.fits:
        xr.testing.assert_identical(copied.fits[fit], original.fits[fit])
    inputs = CalibrationInputs.load(OBSERVATIONS, PRIORS)
    before = calibration_id(inputs)
    monkeypatch.setattr(calibrate_module, "FORMAT", FORMAT + "-next")
    assert calibration_id(inputs) != before  # a file of another format is never looked for, so never misread


def test_calibrate_force_refits_a_tampered_file_and_the_new_file_proves_itself(stored, tmp_path, fits_in_process):
    """``calibrate --force`` is the way out the refusals name: it replaces the file (the fit itself is
    replayed from the stored groups here, to keep NUTS out of this test)."""
    import h5py

    cache = tmp_path / "cache"
    cache.mkdir()
    path = cache / stored.name
    shutil.copyfile(stored, path)
    with h5py.File(path, "r+") as handle:
        handle["open_call_weighted/posterior/adoption_headroom"][...] = 1.0
    inputs = CalibrationInputs.load(OBSERVATIONS, PRIORS, cache)
    with pytest.raises(UserError, match="changed since it was written"):
        calibrate(inputs)
    tree = xr.open_datatree(stored, engine="h5netcdf")
    replayed = []

    def replay(fit, observations, priors, settings, *gate, **options):
        replayed.append(fit)
        groups = {name: tree[fit][name].to_dataset().load() for name in ("posterior", *GROUPS)}
        return groups, tree[fit][DIAGNOSTICS].to_dataset().load()

    fits_in_process(replay)
    refitted, written = calibrate(inputs, force=True, log=logging.getLogger("tokensim.tests"))
    assert written == path and replayed == list(fit_names(inputs.compute))
    assert float(load_posterior(path).fits["open_call_weighted"]["adoption_headroom"].max()) < 1.0
    reused, _ = calibrate(inputs)
    xr.testing.assert_identical(reused.fits["open_call_weighted"], refitted.fits["open_call_weighted"])


def test_a_second_process_waits_for_the_cache_folder_and_then_reuses(posterior_dir, tmp_path, caplog):
    """A process fitting into a cache folder holds it exclusively; another calibrate of the same inputs waits
    (saying so), and then reuses the file instead of fitting the same posterior twice."""
    cache = tmp_path / "cache"
    cache.mkdir()
    descriptor = os.open(cache, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(descriptor, fcntl.LOCK_EX)  # as a fitting process does
    done: list = []
    caplog.set_level(logging.INFO, logger="tokensim")
    worker = threading.Thread(target=lambda: done.append(calibrate(CalibrationInputs.load(OBSERVATIONS, PRIORS, cache))))
    try:
        worker.start()
        deadline = time.monotonic() + 60
        while "waiting" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
        assert worker.is_alive() and not done
        assert "another tokensim process is calibrating there" in caplog.text
        for fitted in posterior_dir.glob("posterior-*.nc"):  # the other process saves its posterior
            shutil.copy(fitted, cache / fitted.name)
    finally:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        os.close(descriptor)
    worker.join(timeout=60)
    assert done and done[0][0].id


def test_a_cached_posterior_is_read_while_another_vintage_is_being_fitted(posterior_dir, caplog):
    """Files are replaced whole, so a posterior already in the folder is reused at once, even while another
    process holds the folder to fit something else."""
    descriptor = os.open(posterior_dir, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    caplog.set_level(logging.INFO, logger="tokensim")
    try:
        posterior, _ = calibrate(CalibrationInputs.load(OBSERVATIONS, PRIORS, posterior_dir))
    finally:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        os.close(descriptor)
    assert posterior.id and "waiting" not in caplog.text
    assert "reusing posterior" in caplog.text
