"""What the priors alone imply: prior draws from the models themselves, a run from the priors alone, and the
gate a prior must pass (it must be able to produce the figures it is fitted on)."""

from __future__ import annotations

import numpy as np
import pytest

import sim
from sim.calibration.inputs import CalibrationInputs
from sim.calibration.prior_draws import prior_posterior
from sim.calibration.prior_predictive import gate_failures, prior_predictive_table
from sim.core.errors import UserError
from tests.conftest import BASELINE, OBSERVATIONS, PRIORS


@pytest.fixture(scope="module")
def inputs():
    return CalibrationInputs.load(OBSERVATIONS, PRIORS)


@pytest.fixture(scope="module")
def prior_run(inputs):
    return sim.run(BASELINE, inputs=inputs, draws=3000, prior_only=True)


def test_a_run_from_the_priors_alone_covers_every_published_f_and_s_figure(prior_run):
    """The priors can produce the data: each published window lies inside the prior run's central 80%."""
    for variable, window, published in (("daily_tokens", ("2024-07", "2024-12"), 2.1999e12),
                                        ("daily_tokens", ("2025-01", "2025-06"), 1.01865e13),
                                        ("open_share", ("2025-01", "2025-06"), 0.444)):
        means = prior_run[variable].sel(time=slice(*window)).mean("time")
        low, high = means.quantile([0.1, 0.9], dim="draw").values
        assert low < published < high, (variable, window, low, high)
    assert prior_run.attrs["calibration_id"].startswith("prior-")


def test_prior_draws_keep_the_models_truncations(inputs):
    prior = prior_posterior(inputs, draws=800)
    share = prior.samples("open_call_weighted")
    assert np.all(share["adoption_2025h1"] ** share["call_weight"] >= share["share_2025h1"] * (1 - 1e-9))
    logistic = prior.samples("compute_logistic")
    assert np.all(np.isfinite(logistic["inference_share"])) and np.all(logistic["inference_share"] <= 1.0)
    # the ceiling clears the level at both anchors, so every prior draw's curve is defined from 2024 to 2031
    from sim.curves.families import FAMILIES, T_ANCHOR, anchor_levels, compute_ceiling

    for t, level in zip((-T_ANCHOR, T_ANCHOR), anchor_levels(logistic)):
        assert np.all(compute_ceiling(t, logistic) > level)
    curve = FAMILIES["compute_logistic"].level(np.linspace(-1.0, 6.5, 16)[:, None], logistic)
    assert np.isfinite(curve).all()
    assert prior.attrs["last_data_month"] == "2025-12"


def test_the_prior_predictive_gate_passes_the_project_priors_and_catches_one_that_cannot_produce_its_data(
        inputs, tmp_path):
    table = prior_predictive_table(inputs, draws=1000)
    assert bool(table["passes"].all()), gate_failures(table)
    assert {"fs_daily_2025h2", "fs_open_share_2025h1"} <= set(table.index.get_level_values("figure"))
    narrow = tmp_path / "priors.toml"
    narrow.write_text(PRIORS.read_text(encoding="utf-8").replace(
        'share_2025h1 = { dist = "beta", p5 = 0.05, p95 = 0.8', 'share_2025h1 = { dist = "beta", p5 = 0.02, p95 = 0.06'),
        encoding="utf-8")
    refused = prior_predictive_table(CalibrationInputs.load(OBSERVATIONS, narrow), draws=1000)
    failures = gate_failures(refused)
    assert failures and all("open" in line for line in failures)
    assert any("fs_open_share_2025h1" in line for line in failures)


def test_a_failing_gate_is_one_user_error_naming_each_figure():
    import pandas as pd

    from sim.calibration.prior_predictive import check_priors

    frame = pd.DataFrame([{"fit": "logistic", "figure": "fs_daily_2025h2", "unit": "T tokens/day", "bound": "",
                           "published": 37.0, "prior p10": 0.1, "prior p90": 1.0, "share below": 1.0, "tail": 0.0,
                           "passes": False}]).set_index(["fit", "figure"])
    with pytest.raises(UserError, match="cannot produce the figures it is fitted on.*fs_daily_2025h2"):
        check_priors(frame, PRIORS)
