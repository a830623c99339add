"""Simulation-based calibration: the rank tests, and a reduced SBC run that tells a right likelihood
from one whose window integral is deliberately wrong (the mean over a window replaced by the level at
its midpoint)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from sim.calibration.sbc.ranks import chi_square_uniformity, ecdf_band, rank_ecdf, rank_statistic, thin
from sim.calibration.sbc.run import midpoint_window_family
from sim.calibration.sbc.settings import QUICK, SBCSettings
from sim.cli import main
from sim.core.errors import UserError
from tests.conftest import OBSERVATIONS, PRIORS

# --- the rank statistic and its uniformity tests (no sampling) ----------------------------------


def test_rank_counts_posterior_draws_below_the_true_value():
    draws = np.array([0.1, 0.5, 0.9, 0.3])
    assert rank_statistic(0.0, draws) == 0
    assert rank_statistic(0.4, draws) == 2
    assert rank_statistic(1.0, draws) == 4


def test_thinning_keeps_evenly_spaced_draws_including_both_ends():
    kept = thin(np.arange(1000), 100)
    assert kept.size == 100 and kept[0] == 0 and kept[-1] == 999
    assert np.all(np.diff(kept) >= 9) and np.all(np.diff(kept) <= 11)


def test_uniform_ranks_pass_and_shifted_ranks_fail_both_tests():
    rng = np.random.default_rng(3)
    uniform = rng.integers(0, 20, size=200)
    shifted = np.minimum(uniform + 4, 19)  # posteriors that sit systematically below the truth
    level = 0.01 / 8
    lower, upper = ecdf_band(200, 19, 1 - level)
    assert chi_square_uniformity(uniform, 19, 10)[1] > level
    assert np.all((rank_ecdf(uniform, 19) >= lower) & (rank_ecdf(uniform, 19) <= upper))
    assert chi_square_uniformity(shifted, 19, 10)[1] < 1e-6
    assert not np.all((rank_ecdf(shifted, 19) >= lower) & (rank_ecdf(shifted, 19) <= upper))


def test_failed_refits_are_left_out_of_the_tests():
    ranks = np.array([0, 5, 10, 15, np.nan] * 20)
    statistic, p = chi_square_uniformity(ranks, 19, 4)
    assert statistic == 0.0 and p == 1.0
    assert rank_ecdf(ranks, 19)[0] == pytest.approx(0.25)


def test_automatic_bins_divide_the_ranks_and_leave_five_expected_per_bin():
    assert QUICK.rank_bins == 10
    assert SBCSettings().rank_bins == 10
    assert SBCSettings(simulations=20).rank_bins == 4


@pytest.mark.parametrize("field, value", [("simulations", 5), ("ranks", 2000), ("bins", 7), ("backend", "stan"),
                                          ("alpha", 0.7)])
def test_impossible_settings_are_user_errors_naming_the_setting(field, value):
    with pytest.raises(UserError, match=field):
        SBCSettings(**{field: value})


def test_midpoint_family_evaluates_the_level_at_the_window_middle():
    from sim.curves.families import FAMILIES

    family = FAMILIES["exponential"]
    wrong = midpoint_window_family(family)
    params = {"v_ref": 5e12, "growth": 3.0}
    assert wrong.window_mean(-0.5, 0.0, params) == pytest.approx(family.level(-0.25, params))
    # over a half-year at 3/yr the true mean is about 9% above the midpoint level
    assert family.window_mean(-0.5, 0.0, params) / wrong.window_mean(-0.5, 0.0, params) == pytest.approx(1.0959, rel=1e-3)


# --- the command line: bad input fails before any fitting, nothing written -------------------------


@pytest.mark.parametrize("argv, where", [
    (["--fits", "logistic,sigmoid", "--out", "{tmp}/sbc"], "--fits"),
    (["--out", "{tmp}/sbc.csv"], "--out"),
    (["--simulations", "5", "--out", "{tmp}/sbc"], "simulations"),
])
def test_bad_sbc_arguments_exit_2_and_write_nothing(tmp_path, capsys, argv, where):
    status = main(["sbc", *(a.replace("{tmp}", str(tmp_path)) for a in argv)])
    assert status == 2
    assert where in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


# --- the reduced run (real refits) ------------------------------------------------------------------


@pytest.mark.slow
def test_reduced_sbc_passes_for_the_exact_window_likelihood(tmp_path, capsys):
    """The suite's reduced run through the command line: every exponential parameter's ranks uniform."""
    status = main(["sbc", "--fits", "exponential", "--quick", "--out", str(tmp_path / "sbc"),
                   "--observations", str(OBSERVATIONS), "--priors", str(PRIORS)])
    printed = capsys.readouterr().out
    assert status == 0, printed
    assert "exponential: passed" in printed
    with xr.open_dataset(tmp_path / "sbc.nc", engine="h5netcdf") as dataset:
        assert dataset.sizes["simulation"] == QUICK.simulations
        assert set(dataset["parameter"].values) >= {"v_ref", "growth", "idc_public_cloud_scale"}
        assert bool(dataset["passed"].all())
        assert float(dataset["p_value"].min()) > 0.01  # far from the Bonferroni threshold 0.00125
        assert int((dataset["divergences"] < 0).sum()) == 0  # no refit failed
        ranks = dataset["rank"].values
        assert np.all((ranks >= 0) & (ranks <= QUICK.ranks))
        for key in ("tokensim_version", "seed", "calibration_id", "observations_sha256", "priors_sha256", "settings"):
            assert dataset.attrs[key] != ""
    assert (tmp_path / "sbc.png").stat().st_size > 10_000


@pytest.mark.slow
def test_reduced_sbc_fails_when_the_likelihood_takes_window_means_at_the_midpoint():
    """Data simulated with exact window means, refitted by a model that uses the midpoint level."""
    import logging

    from sim.calibration.fits import fit_names
    from sim.calibration.inputs import CalibrationInputs
    from sim.calibration.models import build_volume_model
    from sim.calibration.sbc.run import sbc_fit
    from sim.curves.families import FAMILIES

    logging.getLogger("pymc").setLevel(logging.ERROR)
    inputs = CalibrationInputs.load(OBSERVATIONS, PRIORS)
    observations, priors = inputs.observations, inputs.priors
    family = FAMILIES["exponential"]
    exact = build_volume_model(family, observations, priors)
    wrong = build_volume_model(midpoint_window_family(family), observations, priors)
    # the same random streams as the passing run above: only the refitted likelihood differs
    dataset = sbc_fit("exponential (midpoint)", exact, wrong, QUICK, stream=fit_names().index("exponential"))
    verdict = dataset.swap_dims(check="parameter")
    assert not bool(dataset["passed"].all())
    # the level is biased up (the midpoint sits below the window mean), so the true v_ref ranks low
    assert not bool(verdict["passed"].sel(parameter="v_ref"))
    # rejected at the fit's Bonferroni level, by a margin (a chance failure would sit near the threshold)
    assert float(verdict["p_value"].sel(parameter="v_ref")) < QUICK.alpha / verdict.sizes["parameter"] / 4
    assert float(verdict["rank"].sel(parameter="v_ref").mean()) < QUICK.ranks / 2


def test_figures_published_as_bounds_are_simulated_as_censored():
    """SBC draws its datasets from the model's prior predictive: a "more than X" figure is drawn censored at X,
    as it would have been published, never as an exact value above it."""
    import pymc as pm

    from sim.calibration.fits import build_model
    from sim.calibration.inputs import CalibrationInputs
    from sim.calibration.models import LOG_OBSERVED, LOG_VALUES

    inputs = CalibrationInputs.load(OBSERVATIONS, PRIORS)
    model = build_model("exponential", inputs.observations, inputs.priors)
    drawn = pm.sample_prior_predictive(draws=500, model=model, var_names=[LOG_OBSERVED], random_seed=1)
    simulated = drawn.prior_predictive[LOG_OBSERVED].isel(chain=0)
    bounds = dict(zip(model.coords["obs"], model[LOG_VALUES].get_value()))
    for figure in ("doubao_2025_09", "doubao_2025_12", "national_2025_06"):
        values = simulated.sel(obs=figure).values
        assert values.max() <= bounds[figure] + 1e-12
        assert 0.05 < np.mean(np.isclose(values, bounds[figure])) < 0.95  # censored when the draw passes the bound
    assert np.ptp(simulated.sel(obs="fs_daily_2025h1").values) > 1.0  # exact figures are not clipped
