"""tokensim predict: the predictive of a series' next figure against closed forms and quadrature, its PIT, the JSON
contract, every user error refused before calibration, and the real posterior end to end."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
from scipy import integrate, stats

from sim.analysis import predict as predict_module
from sim.analysis.predict import figure_target, predict
from sim.calibration.inputs import CalibrationInputs
from sim.cli import main
from sim.core.timeaxis import years
from sim.curves.families import FAMILIES
from tests.conftest import OBSERVATIONS, PRIORS
from tests.fakes import constant_posterior, scenario_mixing

D = dt.date.fromisoformat
INPUTS = CalibrationInputs.load(OBSERVATIONS, PRIORS)
VALUES = {"v_ref": 4e12, "growth": 3.0, "ceiling": 5e14, "doubao_scale": 2.0, "doubao_drift": 0.4,
          "doubao_sigma": 0.3, "doubao_release_sigma": 0.25, "idc_public_cloud_scale": 0.3,
          "idc_public_cloud_drift": -0.2, "idc_public_cloud_sigma": 0.05, "idc_public_cloud_release_sigma": 0.08}
SD = {"doubao": np.hypot(0.3, 0.25), "idc_public_cloud": np.hypot(0.05, 0.08)}


@pytest.fixture
def constant(monkeypatch, tmp_path):
    """Calibration replaced by a logistic posterior whose every draw is VALUES; the scenario mixes only it."""
    monkeypatch.setattr(predict_module, "calibrate", lambda inputs: (constant_posterior(VALUES, "logistic"), None))
    return scenario_mixing(tmp_path, {"logistic": 1.0})


def test_a_value_at_a_date_is_scale_times_level_times_drift_with_lognormal_noise(constant):
    target = figure_target(INPUTS.registry, "doubao", date=D("2026-06-30"))
    t = years(D("2026-06-30"))
    level = float(FAMILIES["logistic"].level(t, VALUES)) * 2.0 * np.exp(0.4 * t)
    prediction = predict(INPUTS, target, constant, value=level * np.exp(SD["doubao"]), size=40_000)
    for q, value in prediction.quantiles.items():
        assert value == pytest.approx(level * np.exp(SD["doubao"] * stats.norm.ppf(q)), rel=0.02)
    assert prediction.pit == pytest.approx(stats.norm.cdf(1.0), abs=0.01)  # one sd above the median
    assert prediction.pit_interval == (prediction.pit, prediction.pit) and prediction.unit == "tokens/day"


def test_a_window_total_is_the_day_count_times_the_drifted_window_mean(constant):
    start, end = D("2025-01-01"), D("2025-12-31")
    target = figure_target(INPUTS.registry, "idc_public_cloud", window=(start, end))
    assert target.kind == "window_total"  # how IDC publishes its window figures
    a, b = years(start), years(end + dt.timedelta(days=1))
    integral, _ = integrate.quad(lambda t: float(FAMILIES["logistic"].level(t, VALUES)) * np.exp(-0.2 * t), a, b)
    total = 0.3 * integral / (b - a) * 365  # the drift inside the window integral, not at its midpoint
    prediction = predict(INPUTS, target, constant, size=40_000)
    assert prediction.quantiles[0.5] == pytest.approx(total, rel=0.005) and prediction.unit == "tokens"
    assert prediction.quantiles[0.95] == pytest.approx(total * np.exp(SD["idc_public_cloud"] * 1.645), rel=0.01)
    average = predict(INPUTS, figure_target(INPUTS.registry, "idc_public_cloud", window=(start, end),
                                            kind="window_average"), constant, size=40_000)
    assert average.quantiles[0.5] * 365 == pytest.approx(prediction.quantiles[0.5], rel=0.005)


def test_a_figure_to_be_published_as_a_bound_has_a_pit_interval(constant):
    target = figure_target(INPUTS.registry, "doubao", date=D("2025-12-01"))
    lower = predict(INPUTS, target, constant, value=5e13, bound="lower", size=4000)
    upper = predict(INPUTS, target, constant, value=5e13, bound="upper", size=4000)
    assert lower.pit_interval == (lower.pit, 1.0) and upper.pit_interval == (0.0, upper.pit)
    assert "its PIT is the interval" in lower.as_text()


def test_cli_json_prints_quantiles_by_probability_and_the_pit(constant, monkeypatch, capsys):
    from sim.cli import forecasting

    monkeypatch.setattr(forecasting, "_inputs", lambda args, vintage=True: INPUTS)
    scenario = constant.path
    status = main(["predict", "doubao", "--date", "2026-06-30", "--value", "1.8e15", "--format", "json",
                   "--scenario", str(scenario), "--members", "2000"])
    out = json.loads(capsys.readouterr().out)
    assert status == 0 and set(out["quantiles"]) == {"0.05", "0.25", "0.5", "0.75", "0.95"}
    assert list(out["quantiles"].values()) == sorted(out["quantiles"].values()) and 0 < out["pit"] < 1


@pytest.mark.parametrize(("args", "message"), [
    (["nosuch", "--date", "2026-06-30"], "unknown series 'nosuch'; fitted series: fs_enterprise"),
    (["baidu_ernie", "--date", "2026-06-30"], "kept as context, not fitted"),
    (["doubao"], "one of the arguments --date --window is required"),
    (["doubao", "--date", "2026-06-30", "--window", "2026-01-01", "2026-06-30"], "not allowed with argument"),
    (["doubao", "--date", "2026-06-30", "--kind", "window_total"], "--kind applies to --window only"),
    (["doubao", "--window", "2026-06-30", "2026-01-01"], "ends (2026-01-01) before it starts"),
    (["fs_open_share", "--window", "2026-01-01", "2026-06-30", "--kind", "window_total"], "has no window total"),
    (["fs_open_share", "--window", "2026-01-01", "2026-06-30", "--value", "44.4"], "a share is a fraction"),
    (["doubao", "--date", "2026-06-30", "--value", "-3"], "finite positive number"),
    (["doubao", "--date", "2026-06-30", "--value", "lots"], "expected a number"),
    (["doubao", "--date", "2026-06-30", "--bound", "lower"], "give --value too"),
    (["doubao", "--date", "2026-06-31"], "expected a date"),
    (["doubao", "--date", "2026-06-30", "--scenario", "{tmp}/none.toml"], "none.toml"),
    (["doubao", "--date", "2026-06-30", "--as-of", "2024-01-01"], "nothing had been published by 2024-01-01"),
])
def test_cli_bad_input_exits_2_before_any_calibration(args, message, tmp_path, capsys, fits_in_process):
    def no_sampling(*args, **kwargs):
        raise AssertionError("sampled")

    fits_in_process(no_sampling)
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    status = main(["predict", *args, "--observations", str(OBSERVATIONS), "--priors", str(PRIORS),
                   "--posteriors", str(tmp_path / "post")])
    assert status == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "post").exists()


def test_real_posterior_predicts_doubao_and_an_idc_year(posterior_dir, capsys):
    common = ["--posteriors", str(posterior_dir), "--observations", str(OBSERVATIONS), "--priors", str(PRIORS),
              "--members", "4000", "--format", "json"]
    assert main(["predict", "doubao", "--date", "2026-06-30", "--value", "1e14", *common]) == 0
    doubao = json.loads(capsys.readouterr().out)
    quantiles = [doubao["quantiles"][k] for k in ("0.05", "0.25", "0.5", "0.75", "0.95")]
    assert quantiles == sorted(quantiles) and quantiles[0] > 5e12 and 0 < doubao["pit"] < 1
    assert main(["predict", "idc_public_cloud", "--window", "2025-01-01", "2025-12-31", *common]) == 0
    year = json.loads(capsys.readouterr().out)
    assert year["kind"] == "window_total" and year["unit"] == "tokens"
    # the 2025H1 total published (536.7万亿 tokens) is part of the year, so the year's median exceeds it
    assert year["quantiles"]["0.5"] > 5.367e14


def test_the_python_api_cuts_the_inputs_to_the_vintage_asked_for(constant, monkeypatch):
    import sim.api

    seen = []
    monkeypatch.setattr(predict_module, "calibrate",
                        lambda inputs: seen.append(inputs.as_of) or (constant_posterior(VALUES, "logistic"), None))
    prediction = sim.api.predict("doubao", date=D("2026-06-30"), value=1e14, scenario=constant, as_of=D("2025-09-30"),
                                 members=1000, inputs=INPUTS)
    assert seen == [D("2025-09-30")] and prediction.as_of == D("2025-09-30") and 0 <= prediction.pit <= 1
