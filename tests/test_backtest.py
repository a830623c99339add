"""Backtest: scores against closed forms, coverage, baselines, origins, no look-ahead, CLI, atomic output.

Calibration is replaced by a prior-drawn posterior that depends on the vintage it is given (fast, and
sensitive to any leak of later figures), except in one end-to-end CLI test that runs the real
``calibrate`` with PyMC's sampler mocked by ``pymc.testing.mock_sample``.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re

import numpy as np
import pytest
import scoringrules as sr
import xarray as xr
from scipy import integrate, stats

from sim.analysis.backtest import run as backtest_run
from sim.analysis.backtest.baselines import loglinear_trend, two_point_exponential
from sim.analysis.backtest.forecasts import Ensemble, NoForecast, Point, StudentT
from sim.analysis.backtest.methods import METHODS
from sim.analysis.backtest.metrics import score
from sim.analysis.backtest.origins import check_origin, default_origins, held_out, make_origin
from sim.analysis.backtest.predictive import tokensim_forecast
from sim.analysis.backtest.run import run_backtest
from sim.analysis.backtest.tables import score_frame
from sim.calibration.calibrate import calibration_id
from sim.calibration.fits import fit_names
from sim.calibration.inputs import CalibrationInputs
from sim.calibration.posterior import Posterior
from sim.cli import main
from sim.core.errors import UserError
from sim.curves.families import FAMILIES, anchor_levels
from sim.curves.open_source import OPEN_PARAMETERS
from sim.data.observations import load_observations
from sim.data.priors import load_priors
from sim.plots import backtest as backtest_figures
from sim.plots.backtest import write_backtest
from sim.scenarios.scenario import load_scenario
from tests.conftest import BASELINE, OBSERVATIONS, PRIORS

D = dt.date.fromisoformat
#: The repository's observations and priors (each backtest origin cuts them to its vintage).
INPUTS = CalibrationInputs.load(OBSERVATIONS, PRIORS)


# --- a fast stand-in for calibration -------------------------------------------------------------


def prior_posterior(observations_path, priors_path, as_of, cut, draws=400) -> Posterior:
    """Draws from the priors, with the volume level nudged by the vintage's data, so that the
    'posterior' changes whenever the figures it was given change (and only then)."""
    registry = load_observations(observations_path)
    vintage = registry.vintage(as_of, cut)
    priors = load_priors(priors_path)
    digest = vintage.digest()
    rng = np.random.default_rng(int(digest[:12], 16))
    shift = np.mean([np.log(o.comparable_value) for o in vintage.observations]) - 28.0
    fits = {}
    for fit in fit_names():
        if fit == "open":
            values = {p: priors.open[p].sample(rng, draws) for p in OPEN_PARAMETERS}
        else:
            values = {p: priors.volume[p].sample(rng, draws) for p in priors.volume}
            values["v_ref"] = values["v_ref"] * np.exp(0.1 * shift)
            values["ceiling"] = anchor_levels(values)[1] * (1 + values["ceiling_headroom"])
            values = {p: values[p] for p in FAMILIES[fit].parameters}
            for series in dict.fromkeys(o.series for o in vintage.fitted(("daily_tokens", "tokens_total"))):
                for name, prior in priors.series[series].items():
                    if vintage.series[series].role == "scaled" or name == "sigma":
                        values[f"{series}_{name}"] = prior.sample(rng, draws)
        fits[fit] = xr.Dataset({k: (("chain", "draw"), v[None, :]) for k, v in values.items()})
    ident = hashlib.sha256(f"{digest}{as_of}{cut}".encode()).hexdigest()
    return Posterior(ident, fits, {fit: xr.Dataset() for fit in fits}, {"as_of": str(as_of)})


@pytest.fixture
def fake_calibrate(monkeypatch):
    """Replace calibration inside the backtest by :func:`prior_posterior`; records each call."""
    calls = []

    def fake(vintages, *, log):
        for inputs in vintages:
            calls.append((inputs.as_of, inputs.cut))
        return [(prior_posterior(inputs.registry.path, inputs.priors.path, inputs.as_of, inputs.cut), None)
                for inputs in vintages]

    monkeypatch.setattr(backtest_run, "calibrate_all", fake)
    return calls


# --- scores ---------------------------------------------------------------------------------------


def test_point_forecast_scores_are_the_absolute_error_and_cover_only_on_a_hit():
    scores = score(Point(1.0), 1.7)
    assert scores["crps"] == pytest.approx(0.7) and scores["wis"] == pytest.approx(0.7)
    assert [scores[f"covered_{c}"] for c in (50, 80, 95)] == [0.0, 0.0, 0.0]
    hit = score(Point(1.7), 1.7)
    assert hit["crps"] == 0 and [hit[f"covered_{c}"] for c in (50, 80, 95)] == [1.0, 1.0, 1.0]


def test_student_t_crps_matches_the_integral_of_the_squared_cdf_difference():
    forecast, truth = StudentT(4.0, 0.3, 0.5), 1.1
    cdf = stats.t(4.0, 0.3, 0.5).cdf
    below, _ = integrate.quad(lambda x: cdf(x) ** 2, -np.inf, truth)
    above, _ = integrate.quad(lambda x: (1 - cdf(x)) ** 2, truth, np.inf)
    assert score(forecast, truth)["crps"] == pytest.approx(below + above, rel=1e-6)


def test_weighted_interval_score_matches_its_definition_on_a_normal():
    forecast, truth = StudentT(1e9, 0.0, 1.0), 1.0  # a t with huge df is the standard normal
    total = 0.5 * abs(truth - 0.0)
    for alpha in (0.05, 0.2, 0.5):
        lower, upper = stats.norm.ppf(alpha / 2), stats.norm.ppf(1 - alpha / 2)
        interval = (upper - lower) + 2 / alpha * (max(lower - truth, 0) + max(truth - upper, 0))
        total += alpha / 2 * interval
    assert score(forecast, truth)["wis"] == pytest.approx(total / 3.5, rel=1e-6)
    # and the ensemble estimator agrees with the normal's closed-form CRPS
    members = np.random.default_rng(1).standard_normal(200_000)
    assert score(Ensemble(members), truth)["crps"] == pytest.approx(float(sr.crps_normal(truth, 0, 1)), abs=3e-3)


@pytest.mark.parametrize(("truth", "covered"), [(0.5, (1, 1, 1)), (1.0, (0, 1, 1)), (1.5, (0, 0, 1)), (2.5, (0, 0, 0)),
                                                (-1.0, (0, 1, 1))])
def test_coverage_counts_the_central_intervals_that_hold_the_truth(truth, covered):
    scores = score(StudentT(1e9, 0.0, 1.0), truth)  # 50%: +-0.674, 80%: +-1.28, 95%: +-1.96
    assert tuple(scores[f"covered_{c}"] for c in (50, 80, 95)) == covered


def test_no_forecast_scores_nan():
    scores = score(NoForecast("why"), 1.0)
    assert all(np.isnan(scores[name]) for name in ("crps", "wis", "covered_50", "covered_80", "covered_95"))


# --- baselines ------------------------------------------------------------------------------------


def test_two_point_exponential_extrapolates_the_last_two_figures_of_the_series():
    registry = load_observations(OBSERVATIONS)
    vintage = registry.vintage(D("2025-05-31"), "published")  # doubao 2024-05 (window) and 2024-09 (date)
    target = next(o for o in registry.observations if o.id == "doubao_2025_05")
    first, last = (next(o for o in registry.observations if o.id == i) for i in ("doubao_2024_05", "doubao_2024_09"))
    slope = (np.log(last.comparable_value) - np.log(first.comparable_value)) / (last.midpoint - first.midpoint)
    forecast = two_point_exponential(vintage, target)
    assert forecast.value == pytest.approx(np.log(last.comparable_value) + slope * (target.midpoint - last.midpoint))
    national = next(o for o in registry.observations if o.id == "national_2025_06")
    assert isinstance(two_point_exponential(vintage, national), NoForecast)


def test_loglinear_trend_interval_is_the_statsmodels_prediction_interval():
    import pandas as pd
    import statsmodels.api as sm

    registry = load_observations(OBSERVATIONS)
    vintage = registry.vintage(D("2025-08-31"), "published")  # doubao x4, idc x1, national x2
    target = next(o for o in registry.observations if o.id == "idc_total_2025h1")
    forecast = loglinear_trend(vintage, target)
    known = vintage.fitted(("daily_tokens", "tokens_total"))
    series = list(dict.fromkeys(o.series for o in known))
    design = pd.DataFrame({s: [float(o.series == s) for o in known] for s in series})
    design["trend"] = [o.midpoint for o in known]
    fit = sm.OLS(np.log([o.comparable_value for o in known]), design).fit()
    row = pd.DataFrame({s: [float(s == target.series)] for s in series}).assign(trend=target.midpoint)
    assert forecast.df == fit.df_resid == len(known) - len(series) - 1
    for alpha in (0.05, 0.2, 0.5):
        frame = fit.get_prediction(row).summary_frame(alpha=alpha)
        lower, upper = forecast.quantiles([alpha / 2, 1 - alpha / 2])
        assert lower == pytest.approx(frame["obs_ci_lower"].iloc[0]) and upper == pytest.approx(frame["obs_ci_upper"].iloc[0])


def test_loglinear_trend_says_why_it_cannot_forecast():
    registry = load_observations(OBSERVATIONS)
    early = registry.vintage(D("2025-05-31"), "published")  # doubao x2 and idc x1: 3 figures, 3 parameters
    idc = next(o for o in registry.observations if o.id == "idc_total_2025h1")
    assert "no residual degrees of freedom" in loglinear_trend(early, idc).reason
    fs = next(o for o in registry.observations if o.id == "fs_daily_2025h1")
    assert "no earlier figure of the series" in loglinear_trend(early, fs).reason


# --- the tokensim predictive ----------------------------------------------------------------------


def _constant_posterior(values: dict[str, float], fit: str, draws: int = 50) -> Posterior:
    dataset = xr.Dataset({k: (("chain", "draw"), np.full((1, draws), v)) for k, v in values.items()})
    return Posterior("constant", {fit: dataset}, {fit: xr.Dataset()}, {})


def test_tokensim_volume_forecast_is_scale_times_window_mean_times_drift_with_lognormal_noise(tmp_path):
    registry = load_observations(OBSERVATIONS)
    vintage = registry.vintage(D("2025-05-31"), "published")
    scenario_file = tmp_path / "logistic.toml"
    scenario_file.write_text(f'extends = "{BASELINE}"\nname = "logistic_only"\n[families]\nlogistic = 1.0\n')
    values = {"v_ref": 4e12, "growth": 3.0, "ceiling": 5e14, "doubao_scale": 2.0, "doubao_drift": 0.4,
              "doubao_sigma": 0.4}
    origin = make_origin(D("2025-05-31"), vintage, _constant_posterior(values, "logistic"),
                         load_priors(PRIORS), load_scenario(scenario_file))
    target = next(o for o in registry.observations if o.id == "doubao_2025_05")
    members = tokensim_forecast(origin, target, seed=3, size=100_000).members
    a, b = target.window
    expected = np.log(FAMILIES["logistic"].window_mean(a, b, values)) + np.log(2.0) + 0.4 * target.midpoint
    assert members.mean() == pytest.approx(expected, abs=0.01) and members.std() == pytest.approx(0.4, rel=0.02)
    # a series with no figure at the origin takes scale and drift from its priors (wider); one
    # without any prior cannot be forecast, and says so
    national = next(o for o in registry.observations if o.id == "national_2025_06")
    assert tokensim_forecast(origin, national, seed=3).members.std() > 1.0
    priors = load_priors(PRIORS)
    bare = make_origin(D("2025-05-31"), vintage, _constant_posterior(values, "logistic"),
                       type(priors)(priors.path, priors.volume, {k: v for k, v in priors.series.items()
                                                                  if k != "national"}, priors.open),
                       load_scenario(scenario_file))
    assert "no scale prior for series 'national'" in tokensim_forecast(bare, national, seed=3).reason


# --- origins --------------------------------------------------------------------------------------


def test_default_origins_are_the_days_before_each_release_with_volume_data_before_them():
    registry = load_observations(OBSERVATIONS)
    origins = default_origins(registry, "published")
    assert origins == (D("2024-09-14"), D("2025-02-28"), D("2025-05-31"), D("2025-07-31"), D("2025-08-31"))
    for as_of in origins:
        assert registry.vintage(as_of).fitted(("daily_tokens", "tokens_total")) and held_out(registry, as_of, "published")
    assert {o.id for o in held_out(registry, D("2025-08-31"), "published")} == {
        "fs_daily_2024h2", "fs_daily_2025h1", "fs_open_share_2025h1", "idc_total_2025h1"}
    assert len(default_origins(registry, "window")) >= 3


@pytest.mark.parametrize(("as_of", "message"), [("2024-06-30", "nothing to calibrate on"),
                                                ("2025-09-01", "nothing to forecast")])
def test_bad_origin_is_refused_before_any_calibration(as_of, message, fake_calibrate):
    with pytest.raises(UserError, match=message):
        check_origin(load_observations(OBSERVATIONS), D(as_of), "published")
    with pytest.raises(UserError, match=message):
        run_backtest([D("2025-05-31"), D(as_of)], inputs=INPUTS)
    assert fake_calibrate == []


# --- the whole backtest ---------------------------------------------------------------------------


@pytest.fixture
def small_backtest(fake_calibrate):
    return run_backtest([D("2025-05-31"), D("2025-08-31")], inputs=INPUTS, ensemble=2000)


def test_backtest_dataset_follows_the_file_contract(small_backtest):
    ds = small_backtest
    assert list(ds["method"].values) == list(METHODS)
    assert ds.sizes["hindcast"] == len(held_out(load_observations(OBSERVATIONS), D("2025-05-31"), "published")) + 4
    for name in ("crps", "wis", "covered_50", "covered_80", "covered_95"):
        assert ds[name].dims == ("hindcast", "method")
    assert ds["log_quantiles"].dims == ("hindcast", "method", "quantile") and ds["truth"].dims == ("hindcast",)
    assert {"as_of", "observation", "series"} <= set(ds["hindcast"].coords)
    assert set(json.loads(ds.attrs["calibration_ids"])) == {"2025-05-31", "2025-08-31"}
    assert ds.attrs["tokensim_version"] and "log" in ds.attrs["scale"]
    tokensim = ds.sel({"method": "tokensim"})
    assert tokensim["crps"].notnull().all()  # tokensim forecasts every held-out figure
    # the two-point baseline can forecast only series with two earlier figures, and says why not
    two_point = ds.sel({"method": "two_point_exponential"})
    forecast = two_point["crps"].notnull().values
    assert set(ds["series"].values[forecast]) == {"doubao"}
    assert all("earlier figure" in str(r) for r in two_point["reason"].values[~forecast])


def test_score_frame_compares_each_baseline_head_to_head(small_backtest):
    frame = score_frame(small_backtest)
    own, share = frame.loc["all, log scale (volumes)"], frame.loc["all, logit scale (open share)"]
    assert own.loc["tokensim", "n"] + share.loc["tokensim", "n"] == small_backtest.sizes["hindcast"]
    assert share.loc["tokensim", "n"] == 2 and share.loc["loglinear_trend", "n"] == 0  # never averaged with logs
    head = frame.loc["where two_point_exponential forecasts"]
    assert head.loc["tokensim", "n"] == head.loc["two_point_exponential", "n"] == own.loc["two_point_exponential", "n"]
    picked = small_backtest.sel({"method": "two_point_exponential"})["crps"].notnull()
    expected = float(small_backtest.sel({"method": "tokensim"})["crps"].where(picked).mean())
    assert head.loc["tokensim", "crps"] == pytest.approx(expected)
    assert 0 <= own.loc["tokensim", "coverage_95"] <= 1


def test_no_look_ahead_later_figures_do_not_change_an_origins_forecast(fake_calibrate, tmp_path):
    changed = tmp_path / "observations.toml"
    text = OBSERVATIONS.read_text(encoding="utf-8")
    # fs_daily_2025h1 is published 2025-09-01, after both origins: multiply it by 10
    text = text.replace("value = 101865\n", "value = 1018650\n").replace("value_base = 1.01865e13\n",
                                                                         "value_base = 1.01865e14\n")
    changed.write_text(text, encoding="utf-8")
    def run(observations):
        return run_backtest([D("2025-05-31"), D("2025-08-31")], inputs=CalibrationInputs.load(observations, PRIORS),
                            ensemble=500)

    original, altered = run(observations=OBSERVATIONS), run(observations=changed)
    assert original.attrs["calibration_ids"] == altered.attrs["calibration_ids"]
    xr.testing.assert_equal(original["log_quantiles"], altered["log_quantiles"])
    moved = (original["observation"] == "fs_daily_2025h1").values
    assert np.allclose(altered["truth"].values[moved] - original["truth"].values[moved], np.log(10))
    # ...while a figure known at the origin does change it (the check above can fail)
    earlier = tmp_path / "earlier.toml"
    earlier.write_text(OBSERVATIONS.read_text(encoding="utf-8").replace("value = 16.4\n", "value = 32.8\n").replace(
        "value_base = 1.64e13\n", "value_base = 3.28e13\n"), encoding="utf-8")
    assert not run(observations=earlier)["log_quantiles"].equals(original["log_quantiles"])


def test_an_origin_that_fails_the_convergence_gate_is_skipped_and_listed(monkeypatch):
    from sim.calibration.sampling import ConvergenceError

    def gate(vintages, *, log):
        return [ConvergenceError("did not pass the convergence gate: v_ref: R-hat 1.0102 >= 1.01. Diagnostics:\n...",
                                 where="calibration fit 'product'") if inputs.as_of == D("2025-08-31") else
                (prior_posterior(inputs.registry.path, inputs.priors.path, inputs.as_of, inputs.cut), None)
                for inputs in vintages]

    monkeypatch.setattr(backtest_run, "calibrate_all", gate)
    ds = run_backtest([D("2025-05-31"), D("2025-08-31")], inputs=INPUTS, ensemble=200)
    assert set(ds["as_of"].values) == {"2025-05-31"}
    skipped = json.loads(ds.attrs["skipped_origins"])
    assert list(skipped) == ["2025-08-31"] and "R-hat 1.0102" in skipped["2025-08-31"]
    with pytest.raises(UserError, match="no origin's calibration passed the convergence gate"):
        run_backtest([D("2025-08-31")], inputs=INPUTS, ensemble=200)


def test_outputs_are_written_atomically_and_a_failure_leaves_earlier_files(small_backtest, tmp_path, monkeypatch):
    out = tmp_path / "bt" / "backtest.nc"
    out.parent.mkdir()  # only ./results/ is made on demand
    two = small_backtest.isel(hindcast=np.flatnonzero(np.isin(small_backtest["observation"].values,
                                                              ["idc_total_2025h1", "fs_open_share_2025h1"])))
    written = write_backtest(two, out, load_observations(OBSERVATIONS))
    assert [p.name for p in written] == ["backtest.nc", "backtest.csv", "backtest.png"]
    xr.testing.assert_identical(xr.open_dataset(out, engine="h5netcdf").load(), two)
    assert out.with_suffix(".png").stat().st_size > 10_000
    assert out.with_suffix(".csv").read_text().startswith("hindcast,as_of,observation")
    before = {p.name: p.read_bytes() for p in out.parent.iterdir()}
    monkeypatch.setattr(backtest_figures, "backtest_figure", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        write_backtest(small_backtest.isel(hindcast=[0]), out)
    assert {p.name: p.read_bytes() for p in out.parent.iterdir()} == before  # untouched, no temporary files


# --- command line ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "message"), [
    (["--as-of", "2024-06-30"], "nothing to calibrate on"),
    (["--as-of", "2026-01-01"], "nothing to forecast"),
    (["--as-of", "last-year"], "expected a date"),
    (["--out", "{tmp}/backtest.txt"], "must end in .nc"),
])
def test_cli_bad_input_exits_2_and_writes_nothing(args, message, tmp_path, capsys, fake_calibrate):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    out = ["--out", str(tmp_path / "bt.nc")] if "--out" not in args else []
    status = main(["backtest", *args, *out, "--observations", str(OBSERVATIONS), "--priors", str(PRIORS),
                   "--posteriors", str(tmp_path / "post")])
    assert status == 2 and message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [] and fake_calibrate == []


def test_cli_backtest_end_to_end_with_mocked_sampling(tmp_path, capsys, monkeypatch):
    """The real calibrate (PyMC models, gate, cache) with NUTS replaced by prior draws."""
    import pymc as pm
    from pymc.testing import mock_sample

    from sim.calibration import calibrate as calibrate_module
    from sim.calibration import sampling
    from sim.calibration.inputs import SamplerSettings
    from sim.cli import commands

    monkeypatch.setattr(pm, "sample", functools.partial(
        mock_sample, sample_stats={"diverging": lambda size: np.zeros(size, dtype=bool)}))
    monkeypatch.setattr(sampling, "gate_failures", lambda report, gate: [])  # prior draws, identical chains
    settings = SamplerSettings(sampler="pymc", draws=100, tune=0, chains=1)
    monkeypatch.setattr(commands, "_settings", lambda args: settings)  # what --sampler would choose, but tiny
    monkeypatch.setattr(calibrate_module, "fit_names", lambda: ("logistic", "open"))  # two fits keep it quick
    scenario = tmp_path / "logistic.toml"
    scenario.write_text(f'extends = "{BASELINE}"\nname = "logistic_only"\n[families]\nlogistic = 1.0\n')
    out = tmp_path / "bt.nc"
    status = main(["backtest", "--as-of", "2025-08-31", "--scenario", str(scenario), "--out", str(out),
                   "--observations", str(OBSERVATIONS), "--priors", str(PRIORS), "--posteriors", str(tmp_path / "post")])
    printed = capsys.readouterr().out
    assert status == 0
    assert re.search(r"where loglinear_trend forecasts\s+tokensim", printed) and "two_point_exponential" in printed
    assert "idc_total_2025h1" in printed and "fs_daily_2025h1" in printed
    assert out.is_file() and out.with_suffix(".csv").is_file() and out.with_suffix(".png").is_file()
    ds = xr.open_dataset(out, engine="h5netcdf")
    assert set(ds["observation"].values) == {"fs_daily_2024h2", "fs_daily_2025h1", "fs_open_share_2025h1",
                                             "idc_total_2025h1"}
    assert ds["crps"].sel({"method": "tokensim"}).notnull().all()  # the real posterior's names are understood
    ids = json.loads(ds.attrs["calibration_ids"])
    expected = calibration_id(load_observations(OBSERVATIONS).vintage(D("2025-08-31")), load_priors(PRIORS),
                              settings, ("logistic", "open"))
    assert ids == {"2025-08-31": expected}
    assert [p.name for p in (tmp_path / "post").iterdir()] == [f"posterior-{expected[:16]}.nc"]  # cached by id
