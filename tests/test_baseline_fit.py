"""The fitted baseline reproduces what was observed, as window averages: the three F&S half-years and the
2025H1 open share, in every family and open-source variant."""

from __future__ import annotations

import numpy as np
import pytest

from sim.calibration.fits import OPEN_FITS
from sim.curves.families import FAMILIES
from sim.curves.open_source import OPEN_PARAMETERS, open_share_window_mean
from sim.data.observations import load_observations
from tests.conftest import OBSERVATIONS

REGISTRY = {o.id: o for o in load_observations(OBSERVATIONS).observations}


@pytest.mark.parametrize("family", ["logistic", "gompertz", "decay", "compute_logistic"])
@pytest.mark.parametrize("observation", ["fs_daily_2024h2", "fs_daily_2025h1", "fs_daily_2025h2"])
def test_posterior_window_means_match_the_f_and_s_figures(posterior, family, observation):
    samples = posterior.samples(family)
    a, b = REGISTRY[observation].window
    means = FAMILIES[family].window_mean(np.float64(a), np.float64(b), samples)
    assert np.median(means) == pytest.approx(REGISTRY[observation].comparable_value, rel=0.10)


@pytest.mark.parametrize("fit", OPEN_FITS)
def test_posterior_open_share_matches_44_percent(posterior, fit):
    samples = posterior.samples(fit)
    a, b = REGISTRY["fs_open_share_2025h1"].window
    share = open_share_window_mean(np.float64(a), np.float64(b), {p: samples[p] for p in OPEN_PARAMETERS})
    assert np.median(share) == pytest.approx(0.444, abs=0.03)


def test_results_reproduce_the_observed_windows(baseline_results):
    tokens = baseline_results["daily_tokens"]
    for window, published in ((("2024-07", "2024-12"), 2.1999e12), (("2025-01", "2025-06"), 10.1865e12),
                              (("2025-07", "2025-12"), 3.7e13)):
        median = tokens.sel(time=slice(*window)).mean("time").median("draw")
        assert float(median) == pytest.approx(published, rel=0.10), window
    share = baseline_results["open_share"].sel(time=slice("2025-01", "2025-06")).mean("time").median("draw")
    assert float(share) == pytest.approx(0.444, abs=0.03)


def test_adoption_never_below_share_where_every_enterprise_weighs_the_same(baseline_results):
    equal = baseline_results["open_model"] == "open_equal_weight"
    assert bool((baseline_results["open_adoption"] >= baseline_results["open_share"]).where(equal, True).all())
