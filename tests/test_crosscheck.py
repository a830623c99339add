"""Classical cross-checks: OLS reproduces the closed form; the ceiling drives the saturating fits."""

from __future__ import annotations

import numpy as np
import pytest

from sim.calibration.crosscheck import exponential_ols, saturating_nls
from sim.calibration.inputs import CalibrationInputs
from sim.data.observations import load_observations
from tests.conftest import OBSERVATIONS, PRIORS

REGISTRY = load_observations(OBSERVATIONS)
PRIOR_SET = CalibrationInputs.load(OBSERVATIONS, PRIORS).priors


def test_ols_growth_is_the_f_and_s_log_slope_when_other_series_have_free_trends():
    table = exponential_ols(REGISTRY)
    reference = [o for o in REGISTRY.observations if o.series == "fs_enterprise"]
    assert len(reference) == 3
    slope = np.polyfit([o.midpoint for o in reference], np.log([o.comparable_value for o in reference]), 1)[0]
    assert table["growth"].iloc[0] == pytest.approx(slope, rel=1e-9)
    assert (table["p5"] < table["p50"]).all() and (table["p50"] < table["p95"]).all()
    assert (table["df_resid"] == 4).all()  # 12 figures; a level and a trend for F&S and each of three series


@pytest.mark.parametrize("family", ["logistic", "gompertz", "richards", "product"])
def test_saturating_forecasts_rise_with_the_assumed_ceiling(family):
    table = saturating_nls(family, REGISTRY, PRIOR_SET)
    late = table[table["month"] == "2030-12"].set_index("assumption")["p50"]
    assert late["headroom p5"] < late["headroom p50"] < late["headroom p95"]
    assert np.all(np.abs(table["growth"] - 3.3) < 0.6)  # the data pin growth whatever the ceiling


def test_priors_alone_are_wider_than_the_posterior(posterior):
    from sim.calibration.implications import family_implications, prior_implications
    from sim.calibration.prior_draws import prior_posterior

    prior = prior_implications(prior_posterior(CalibrationInputs.load(OBSERVATIONS, PRIORS), draws=1500))
    assert np.isfinite(prior.values).all() and (prior["p5"] < prior["p50"]).all() and (prior["p50"] < prior["p95"]).all()
    fitted = family_implications(posterior)
    for family in ("logistic", "gompertz", "richards"):
        prior_width = prior.loc[(family, "2027-12"), "p95"] / prior.loc[(family, "2027-12"), "p5"]
        fitted_width = fitted.loc[(family, "2027-12"), "p95"] / fitted.loc[(family, "2027-12"), "p5"]
        assert fitted_width < prior_width


def test_the_report_states_agreement_on_growth_and_disagreement_on_the_long_run(posterior):
    import re

    from sim.calibration.crosscheck import agreement_text, crosscheck_table

    text = agreement_text(crosscheck_table(REGISTRY, PRIOR_SET, posterior))
    low, high, c_low, c_high = map(float, re.search(
        r"is ([\d.]+) to ([\d.]+) per year in the Bayesian fits and ([\d.]+) to ([\d.]+) in the classical", text).groups())
    assert 2.8 < low <= high < 3.7 and 2.4 < c_low <= c_high < 4.0  # both pin the 2024H2 -> 2025H2 growth
    spread = re.search(r"levels range from ([\d.e+]+) to ([\d.e+]+) T/day", text).groups()
    assert float(spread[1]) / float(spread[0]) > 10  # the assumed ceiling moves the long run by over 10x
