"""Classical cross-checks: OLS reproduces the closed form; the ceiling drives the saturating fits."""

from __future__ import annotations

import numpy as np
import pytest

from sim.calibration.crosscheck import exponential_ols, saturating_nls
from sim.data.observations import load_observations
from sim.data.priors import load_priors
from tests.conftest import OBSERVATIONS, PRIORS

REGISTRY = load_observations(OBSERVATIONS)


def test_ols_growth_is_the_f_and_s_log_slope_when_other_series_have_free_trends():
    table = exponential_ols(REGISTRY)
    first, second = (o for o in REGISTRY.observations if o.id in ("fs_daily_2024h2", "fs_daily_2025h1"))
    slope = np.log(second.comparable_value / first.comparable_value) / (second.midpoint - first.midpoint)
    assert table["growth"].iloc[0] == pytest.approx(slope, rel=1e-9)
    assert (table["p5"] < table["p50"]).all() and (table["p50"] < table["p95"]).all()
    assert (table["df_resid"] == 2).all()


@pytest.mark.parametrize("family", ["logistic", "gompertz", "richards", "product"])
def test_saturating_forecasts_rise_with_the_assumed_ceiling(family):
    table = saturating_nls(family, REGISTRY, load_priors(PRIORS))
    late = table[table["month"] == "2030-12"].set_index("assumption")["p50"]
    assert late["headroom p5"] < late["headroom p50"] < late["headroom p95"]
    assert np.all(np.abs(table["growth"] - 3.3) < 0.6)  # the data pin growth whatever the ceiling


def test_priors_alone_are_wider_than_the_posterior(posterior):
    from sim.calibration.implications import family_implications, prior_implications

    prior = prior_implications(load_priors(PRIORS))
    assert np.isfinite(prior.values).all() and (prior["p5"] < prior["p50"]).all() and (prior["p50"] < prior["p95"]).all()
    fitted = family_implications(posterior)
    for family in ("logistic", "gompertz", "richards"):
        prior_width = prior.loc[(family, "2027-12"), "p95"] / prior.loc[(family, "2027-12"), "p5"]
        fitted_width = fitted.loc[(family, "2027-12"), "p95"] / fitted.loc[(family, "2027-12"), "p5"]
        assert fitted_width < prior_width


def test_the_report_states_agreement_on_growth_and_disagreement_on_the_long_run(posterior):
    import re

    from sim.calibration.crosscheck import agreement_text, crosscheck_table

    text = agreement_text(crosscheck_table(REGISTRY, load_priors(PRIORS), posterior))
    low, high, c_low, c_high = map(float, re.search(
        r"is ([\d.]+) to ([\d.]+) per year in the Bayesian fits and ([\d.]+) to ([\d.]+) in the classical", text).groups())
    assert 3.0 < low <= high < 3.7 and 2.8 < c_low <= c_high < 4.0  # both pin the 2024H2 -> 2025H1 growth
    spread = re.search(r"levels range from ([\d.e+]+) to ([\d.e+]+) T/day", text).groups()
    assert float(spread[1]) / float(spread[0]) > 10  # the assumed ceiling moves the long run by over 10x
