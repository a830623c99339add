"""Backtest: scores against closed forms, PIT of bounds, the probabilistic baselines, origins and leads, no
look-ahead (figures or priors), CLI, atomic output.

Calibration is replaced by :func:`tests.fakes.fake_posterior` (prior draws nudged by the vintage's figures: fast,
and sensitive to any leak of later figures), except in one end-to-end CLI test that runs the real ``calibrate``
with PyMC's sampler mocked by ``pymc.testing.mock_sample``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import re

import numpy as np
import pytest
import scoringrules as sr
import xarray as xr
from scipy import integrate, stats

from sim.analysis.backtest import run as backtest_run
from sim.analysis.backtest.baselines import TREND_HALF_LIFE, damped_trend, random_walk, series_history, truth_of
from sim.analysis.backtest.methods import METHODS
from sim.analysis.backtest.metrics import score
from sim.analysis.backtest.origins import check_origin, default_origins, held_out
from sim.analysis.backtest.run import run_backtest
from sim.analysis.backtest.tables import pit_frame, score_frame
from sim.analysis.forecasts import Ensemble, NoForecast, StudentT, pit_histogram, pit_interval
from sim.calibration.inputs import CalibrationInputs
from sim.cli import main
from sim.core.errors import UserError
from sim.plots import backtest as backtest_figures
from sim.plots.backtest import write_backtest
from tests.conftest import OBSERVATIONS, PRIORS
from tests.fakes import fake_posterior, scenario_mixing

D = dt.date.fromisoformat
#: The repository's calibration inputs (each backtest origin cuts them to its vintage).
INPUTS = CalibrationInputs.load(OBSERVATIONS, PRIORS)
REGISTRY = INPUTS.registry
FIGURE = {o.id: o for o in REGISTRY.observations}


@pytest.fixture
def fake_calibrate(monkeypatch):
    """Replace calibration inside the backtest by :func:`fake_posterior`; records each call's vintage."""
    calls = []

    def fake(vintages, *, log, drop_failing=False):
        for inputs in vintages:
            calls.append((inputs.as_of, inputs.cut))
        return [(fake_posterior(inputs), None) for inputs in vintages]

    monkeypatch.setattr(backtest_run, "calibrate_all", fake)
    return calls


@pytest.fixture(scope="module")
def mix(tmp_path_factory):
    return scenario_mixing(tmp_path_factory.mktemp("scenario"))


# --- scores ---------------------------------------------------------------------------------------


def test_student_t_crps_matches_the_integral_of_the_squared_cdf_difference():
    forecast, truth = StudentT(4.0, 0.3, 0.5), 1.1
    cdf = stats.t(4.0, 0.3, 0.5).cdf
    below, _ = integrate.quad(lambda x: cdf(x) ** 2, -np.inf, truth)
    above, _ = integrate.quad(lambda x: (1 - cdf(x)) ** 2, truth, np.inf)
    assert score(forecast, truth)["crps"] == pytest.approx(below + above, rel=1e-6)


@pytest.mark.parametrize("bound", ["lower", "upper"])
def test_censored_crps_is_the_part_of_the_crps_on_the_side_the_bound_rules_out(bound):
    forecast, limit = StudentT(4.0, 0.3, 0.5), 0.8
    cdf = stats.t(4.0, 0.3, 0.5).cdf
    ruled_out = (integrate.quad(lambda x: cdf(x) ** 2, -np.inf, limit)[0] if bound == "lower"
                 else integrate.quad(lambda x: (1 - cdf(x)) ** 2, limit, np.inf)[0])
    scores = score(forecast, limit, bound)
    assert scores["censored_crps"] == pytest.approx(ruled_out, rel=1e-6)
    # an exact value's scores are not defined for a bound, and never mixed with it
    assert all(np.isnan(scores[name]) for name in ("crps", "wis", "covered_50", "covered_80", "covered_95"))
    members = stats.t(4.0, 0.3, 0.5).rvs(200_000, random_state=np.random.default_rng(2))
    assert score(Ensemble(members), limit, bound)["censored_crps"] == pytest.approx(ruled_out, abs=3e-3)
    # a forecast with no mass where the bound says the value is not scores 0
    clear = np.linspace(1.0, 3.0, 100) * (1 if bound == "lower" else -1)
    assert score(Ensemble(clear), limit, bound)["censored_crps"] == pytest.approx(0.0, abs=1e-12)


def test_pit_of_a_bound_is_the_interval_the_bound_allows():
    forecast = StudentT(1e9, 0.0, 1.0)
    assert pit_interval(forecast, 0.5) == (pytest.approx(stats.norm.cdf(0.5)),) * 2
    assert pit_interval(forecast, 0.5, "lower") == (pytest.approx(stats.norm.cdf(0.5)), 1.0)
    assert pit_interval(forecast, 0.5, "upper") == (0.0, pytest.approx(stats.norm.cdf(0.5)))
    scores = score(forecast, 0.5, "lower")
    assert (scores["pit_lower"], scores["pit_upper"]) == (pytest.approx(stats.norm.cdf(0.5)), 1.0)


def test_pit_histogram_counts_exact_pits_and_spreads_intervals_over_their_bins():
    mass = pit_histogram(np.array([0.1, 0.55, 0.5, np.nan]), np.array([0.1, 0.55, 1.0, np.nan]), 5)
    # 0.1 -> bin 0; 0.55 -> bin 2; [0.5, 1] -> 0.2 in bin 2 and 0.4 in bins 3 and 4; NaN left out
    assert mass == pytest.approx(np.array([1, 0, 1 + 0.2, 0.4, 0.4]) / 3)
    assert mass.sum() == pytest.approx(1.0)


def test_weighted_interval_score_matches_its_definition_on_a_normal():
    forecast, truth = StudentT(1e9, 0.0, 1.0), 1.0  # a t with huge df is the standard normal
    total = 0.5 * abs(truth - 0.0)
    for alpha in (0.05, 0.2, 0.5):
        lower, upper = stats.norm.ppf(alpha / 2), stats.norm.ppf(1 - alpha / 2)
        interval = (upper - lower) + 2 / alpha * (max(lower - truth, 0) + max(truth - upper, 0))
        total += alpha / 2 * interval
    assert score(forecast, truth)["wis"] == pytest.approx(total / 3.5, rel=1e-6)
    members = np.random.default_rng(1).standard_normal(200_000)
    assert score(Ensemble(members), truth)["crps"] == pytest.approx(float(sr.crps_normal(truth, 0, 1)), abs=3e-3)


@pytest.mark.parametrize(("truth", "covered"), [(0.5, (1, 1, 1)), (1.0, (0, 1, 1)), (1.5, (0, 0, 1)), (2.5, (0, 0, 0)),
                                                (-1.0, (0, 1, 1))])
def test_coverage_counts_the_central_intervals_that_hold_the_truth(truth, covered):
    scores = score(StudentT(1e9, 0.0, 1.0), truth)  # 50%: +-0.674, 80%: +-1.28, 95%: +-1.96
    assert tuple(scores[f"covered_{c}"] for c in (50, 80, 95)) == covered


def test_no_forecast_scores_nan():
    scores = score(NoForecast("why"), 1.0)
    assert all(np.isnan(value) for name, value in scores.items() if name != "quantiles")


# --- baselines ------------------------------------------------------------------------------------


def test_random_walk_uses_the_series_drift_and_a_spread_pooled_around_one_common_drift():
    import statsmodels.api as sm

    vintage = REGISTRY.vintage(D("2025-09-30"))  # doubao x3, fs x2, idc x2, national x2
    target = FIGURE["doubao_2025_12"]
    forecast = random_walk(vintage, target)
    history = series_history(vintage, target)
    times, values = history["doubao"]
    drift = (values[-1] - values[0]) / (times[-1] - times[0])
    h = target.midpoint - times[-1]
    # the pooled variance is the residual variance of a weighted regression of increments on their spans
    # through the origin (weights 1/span): one common drift, the random walk's variance proportional to time
    dt_, dy = (np.concatenate([np.diff(v[k]) for v in history.values()]) for k in (0, 1))
    pooled = sm.WLS(dy, dt_, weights=1 / dt_).fit()
    assert forecast.df == pooled.df_resid == dt_.size - 1 == 4
    assert forecast.loc == pytest.approx(values[-1] + drift * h)
    assert forecast.scale == pytest.approx(np.sqrt(pooled.scale * (h + h**2 / (times[-1] - times[0]))))


def test_damped_trend_extrapolates_the_last_slope_with_a_one_year_half_life():
    vintage = REGISTRY.vintage(D("2025-11-30"))  # F&S: the 2024H2 and 2025H1 half-years
    target = FIGURE["fs_daily_2025h2"]
    times, values = series_history(vintage, target)["fs_enterprise"]
    slope = (values[-1] - values[-2]) / (times[-1] - times[-2])
    h = target.midpoint - times[-1]
    rate = np.log(2) / TREND_HALF_LIFE
    damped = integrate.quad(lambda s: np.exp(-rate * s), 0, h)[0]  # the slope fades by half each year
    forecast = damped_trend(vintage, target)
    assert forecast.loc == pytest.approx(values[-1] + slope * damped)
    assert damped_trend(vintage, target).loc < random_walk(vintage, target).loc  # damping pulls it below the line
    assert forecast.df == random_walk(vintage, target).df  # the same pooled spread


def test_baselines_say_why_they_cannot_forecast():
    early = REGISTRY.vintage(D("2025-05-31"))  # doubao x1, idc x1
    for baseline in (random_walk, damped_trend):
        assert "1 earlier figure(s) of the series" in baseline(early, FIGURE["doubao_2025_05"]).reason
        assert "0 earlier figure(s)" in baseline(early, FIGURE["fs_daily_2025h1"]).reason
    two = dataclasses.replace(REGISTRY, observations=(FIGURE["doubao_2024_09"], FIGURE["doubao_2025_05"]))
    assert "1 increment(s)" in random_walk(two, FIGURE["doubao_2025_09"]).reason
    # doubao's three figures make two increments: one degree of freedom, a Cauchy with no finite CRPS
    assert "2 increment(s)" in random_walk(REGISTRY.vintage(D("2025-07-31")), FIGURE["doubao_2025_09"]).reason
    assert isinstance(random_walk(REGISTRY.vintage(D("2025-08-31")), FIGURE["doubao_2025_09"]), StudentT)


def test_truth_reads_totals_as_daily_averages():
    idc = FIGURE["idc_total_2024"]
    assert truth_of(idc) == pytest.approx(np.log(1.142e14 / 366))


# --- origins --------------------------------------------------------------------------------------


def test_default_origins_are_the_days_before_each_release_with_volume_data_before_them():
    origins = default_origins(REGISTRY, "published")
    assert origins == tuple(D(d) for d in ("2025-02-28", "2025-05-31", "2025-07-31", "2025-08-31", "2025-09-30",
                                           "2025-11-30", "2026-01-31"))
    assert len(origins) >= 6 and max(origins) < D("2026-02-28")
    for as_of in origins:
        assert REGISTRY.vintage(as_of).fitted(("daily_tokens", "tokens_total")) and held_out(REGISTRY, as_of, "published")
    assert {o.id for o in held_out(REGISTRY, D("2026-01-31"), "published")} == {"fs_daily_2025h2"}
    assert len(default_origins(REGISTRY, "window")) >= 3


@pytest.mark.parametrize(("as_of", "message"), [("2024-06-30", "nothing to calibrate on"),
                                                ("2026-02-01", "nothing to forecast")])
def test_bad_origin_is_refused_before_any_calibration(as_of, message, fake_calibrate):
    with pytest.raises(UserError, match=message):
        check_origin(REGISTRY, D(as_of), "published")
    with pytest.raises(UserError, match=message):
        run_backtest([D("2025-05-31"), D(as_of)], inputs=INPUTS)
    assert fake_calibrate == []


# --- the whole backtest ---------------------------------------------------------------------------


@pytest.fixture
def small_backtest(fake_calibrate, mix):
    return run_backtest([D("2025-07-31"), D("2025-09-30")], inputs=INPUTS, scenario=mix, ensemble=2000)


def test_backtest_dataset_follows_the_file_contract(small_backtest):
    ds = small_backtest
    assert list(ds["method"].values) == ["tokensim", "random_walk", "damped_trend"]
    assert ds.sizes["hindcast"] == sum(len(held_out(REGISTRY, D(d), "published")) for d in ("2025-07-31", "2025-09-30"))
    for name in ("crps", "censored_crps", "wis", "covered_50", "covered_80", "covered_95", "pit_lower", "pit_upper"):
        assert ds[name].dims == ("hindcast", "method")
    assert {"as_of", "observation", "series", "bound", "lead_days", "forecast"} <= set(ds["hindcast"].coords)
    assert set(json.loads(ds.attrs["calibration_ids"])) == {"2025-07-31", "2025-09-30"}
    # leads are counted from the origin to the figure's last day; only positive leads are forecasts
    for h in range(ds.sizes["hindcast"]):
        figure = FIGURE[str(ds["observation"].values[h])]
        lead = (figure.last_day - D(str(ds["as_of"].values[h]))).days
        assert int(ds["lead_days"][h]) == lead and bool(ds["forecast"][h]) == (lead > 0)
    assert ds["forecast"].any() and not ds["forecast"].all()
    tokensim = ds.sel({"method": "tokensim"})
    bound = ds["bound"].values != ""
    assert tokensim["censored_crps"].notnull().values.tolist() == bound.tolist()  # tokensim forecasts every figure,
    assert tokensim["crps"].notnull().values.tolist() == (~bound).tolist()  # scored as what it is
    assert (tokensim["pit_upper"].values[bound] == 1).all()  # "more than X": PIT [F(X), 1]
    assert np.allclose(tokensim["pit_lower"].values[~bound], tokensim["pit_upper"].values[~bound])
    walk = ds.sel({"method": "random_walk"})
    made = walk["pit_lower"].notnull().values
    assert set(ds["series"].values[made]) == {"doubao", "fs_enterprise"}
    assert set(ds["as_of"].values[made]) == {"2025-09-30"}  # on 2025-07-31 only doubao's 2 increments: too few
    assert all("earlier figure" in str(r) or "2 increment(s)" in str(r) for r in walk["reason"].values[~made])


def test_score_frame_keeps_forecasts_nowcasts_scales_and_bounds_apart(small_backtest):
    frame = score_frame(small_backtest)
    ds = small_backtest
    forecasts = frame.loc["forecasts (lead > 0), log scale"]
    on = ds["forecast"].values & (ds["scale"].values == "log")
    exact = on & (ds["bound"].values == "")
    assert forecasts.loc["tokensim", "n"] == exact.sum() and forecasts.loc["tokensim", "n bounds"] == (on & ~exact).sum()
    expected = float(ds["crps"].sel({"method": "tokensim"}).values[exact].mean())
    assert forecasts.loc["tokensim", "crps"] == pytest.approx(expected)
    assert "nowcasts (lead <= 0), log scale" in frame.index.get_level_values(0)
    head = frame.loc["forecasts where random_walk forecasts"]
    assert head.loc["tokensim", "n"] == head.loc["random_walk", "n"]
    assert head.loc["tokensim", "n bounds"] == head.loc["random_walk", "n bounds"]
    pits = pit_frame(small_backtest)
    shares = pits[[c for c in pits.columns if c != "n"]]
    assert np.allclose(shares[pits["n"] > 0].sum(axis=1), 1.0)
    assert pits.loc[("forecasts (lead > 0)", "tokensim"), "n"] == ds["forecast"].sum()


def test_no_look_ahead_later_figures_and_later_priors_do_not_change_an_origins_forecast(fake_calibrate, mix, tmp_path,
                                                                                        monkeypatch):
    changed = tmp_path / "observations.toml"
    text = OBSERVATIONS.read_text(encoding="utf-8")
    # fs_daily_2025h2 is published 2026-02-01, after both origins: multiply it by 10
    text = text.replace("value = 37.0\n", "value = 370.0\n").replace("value_base = 3.7e13\n", "value_base = 3.7e14\n")
    changed.write_text(text, encoding="utf-8")

    def run(observations):
        return run_backtest([D("2025-07-31"), D("2025-09-30")], inputs=CalibrationInputs.load(observations, PRIORS),
                            scenario=mix, ensemble=500)

    original, altered = run(observations=OBSERVATIONS), run(observations=changed)
    assert original.attrs["calibration_ids"] == altered.attrs["calibration_ids"]
    xr.testing.assert_equal(original["log_quantiles"], altered["log_quantiles"])
    moved = (original["observation"] == "fs_daily_2025h2").values
    assert np.allclose(altered["truth"].values[moved] - original["truth"].values[moved], np.log(10))
    # ...while a figure known at the origin does change it (the check above can fail)
    earlier = tmp_path / "earlier.toml"
    earlier.write_text(OBSERVATIONS.read_text(encoding="utf-8").replace("value = 16.4\n", "value = 32.8\n").replace(
        "value_base = 1.64e13\n", "value_base = 3.28e13\n"), encoding="utf-8")
    assert not run(observations=earlier)["log_quantiles"].equals(original["log_quantiles"])
    # every origin forecasts with the priors of its own vintage, never with a version citing later evidence
    seen = []
    real = METHODS["tokensim"].forecast
    monkeypatch.setitem(METHODS, "tokensim", dataclasses.replace(
        METHODS["tokensim"], forecast=lambda origin, *rest: seen.append(origin) or real(origin, *rest)))
    run(observations=OBSERVATIONS)
    assert {(o.as_of, o.priors.as_of) for o in seen} == {(D("2025-07-31"),) * 2, (D("2025-09-30"),) * 2}
    assert all(D(evidence) <= o.as_of for o in seen for _, evidence in o.priors.evidence)


def test_a_fit_failing_the_gate_is_left_out_and_an_origin_left_with_nothing_is_skipped(monkeypatch, mix):
    from sim.calibration.sampling import ConvergenceError

    def calibrated(inputs):
        if inputs.as_of == D("2025-07-31"):
            return ConvergenceError("did not pass the convergence gate: v_ref: R-hat 1.0102 >= 1.01. Diagnostics:\n...",
                                    where="calibration fit 'logistic'")
        posterior = fake_posterior(inputs)
        left_out = ("decay",) if inputs.as_of == D("2025-09-30") else ("open_call_weighted", "open_equal_weight")
        for fit in left_out:
            del posterior.fits[fit]
        posterior.attrs["dropped_fits"] = json.dumps({fit: "902 divergent transitions" for fit in left_out})
        return posterior, None

    def gate(vintages, *, log, drop_failing=False):
        assert drop_failing  # the backtest asks calibrate to leave out what fails, not to give up
        return [calibrated(inputs) for inputs in vintages]

    monkeypatch.setattr(backtest_run, "calibrate_all", gate)
    ds = run_backtest([D("2025-07-31"), D("2025-08-31"), D("2025-09-30")], inputs=INPUTS, scenario=mix, ensemble=200)
    assert set(ds["as_of"].values) == {"2025-09-30"}
    skipped = json.loads(ds.attrs["skipped_origins"])
    assert list(skipped) == ["2025-07-31", "2025-08-31"] and "R-hat 1.0102" in skipped["2025-07-31"]
    assert "every fit the scenario weights in its open weights failed" in skipped["2025-08-31"]
    assert json.loads(ds.attrs["dropped_fits"]) == {"2025-09-30": {"decay": "902 divergent transitions"}}
    tokensim = ds.sel({"method": "tokensim"})
    assert tokensim["pit_lower"].notnull().all()  # forecast by the logistic family alone, its weight renormalised
    assert all("without decay" in str(reason) for reason in tokensim["reason"].values)
    with pytest.raises(UserError, match="no origin's calibration passed the convergence gate"):
        run_backtest([D("2025-07-31")], inputs=INPUTS, scenario=mix, ensemble=200)


def test_calibrate_leaves_out_a_failing_fit_only_when_asked_and_caches_that_apart(tmp_path, monkeypatch,
                                                                                  fits_in_process):
    import xarray as xr

    from sim.calibration import calibrate as calibrate_module
    from sim.calibration.calibrate import calibrate, calibration_id
    from sim.calibration.fits import FITS
    from sim.calibration.sampling import ConvergenceError

    fitted, failing = [], {"decay"}

    def fit_one(fit, *args, **kwargs):
        fitted.append(fit)
        if fit in failing:
            raise ConvergenceError("did not pass the convergence gate: 3 divergent transitions. Diagnostics:\n...",
                                   where=f"calibration fit '{fit}'")
        shape = (inputs.settings.chains, inputs.settings.draws)
        draws = xr.Dataset({p: (("chain", "draw"), np.ones(shape)) for p in FITS[fit].parameters})
        report = xr.Dataset({k: ("parameter", [1.0 if k == "rhat" else 4000.0]) for k in ("rhat", "ess_bulk", "ess_tail")},
                            coords={"parameter": ["v_ref"]}, attrs={"draws": shape[1], "divergences": 0})
        return {"posterior": draws}, report

    fits_in_process(fit_one)
    monkeypatch.setattr(calibrate_module, "fit_names", lambda compute=True: ("logistic", "decay"))
    inputs = dataclasses.replace(INPUTS.vintage(D("2025-09-30")), cache=tmp_path)
    with pytest.raises(ConvergenceError, match="3 divergent"):
        calibrate(inputs)
    posterior, path = calibrate(inputs, drop_failing=True)
    assert set(posterior.fits) == {"logistic"} and json.loads(posterior.attrs["dropped_fits"]) == {
        "decay": "calibration fit 'decay': did not pass the convergence gate: 3 divergent transitions"}
    assert posterior.id == calibration_id(inputs, partial=True) != calibration_id(inputs)
    fitted.clear()
    again, _ = calibrate(inputs, drop_failing=True)  # reused: the same fits would fail the same way
    assert fitted == [] and again.id == posterior.id and set(again.fits) == {"logistic"}
    with pytest.raises(ConvergenceError):
        calibrate(inputs)  # a partial calibration never stands in for a full one
    failing.clear()
    full, path = calibrate(inputs.vintage(D("2025-11-30")), drop_failing=True)  # nothing fails: the full id
    assert full.id == calibration_id(inputs.vintage(D("2025-11-30"))) and "dropped_fits" not in full.attrs
    fitted.clear()
    assert calibrate(inputs.vintage(D("2025-11-30")))[0].id == full.id and fitted == []


def test_outputs_are_written_atomically_and_a_failure_leaves_earlier_files(small_backtest, tmp_path, monkeypatch):
    out = tmp_path / "bt" / "backtest.nc"
    out.parent.mkdir()  # only ./results/ is made on demand
    two = small_backtest.isel(hindcast=np.flatnonzero(np.isin(small_backtest["observation"].values,
                                                              ["doubao_2025_12", "fs_open_share_2025h1"])))
    written = write_backtest(two, out, REGISTRY)
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
    (["--as-of", "2026-02-01"], "nothing to forecast"),
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
    from sim.calibration.calibrate import calibration_id
    from sim.calibration.inputs import SamplerSettings
    from sim.cli import commands

    monkeypatch.setenv("TOKENSIM_CALIBRATION_PROCESSES", "1")  # the fits in this process, where the mock is
    monkeypatch.setattr(pm, "sample", functools.partial(
        mock_sample, sample_stats={"diverging": lambda size: np.zeros(size, dtype=bool)}))
    monkeypatch.setattr(sampling, "gate_failures", lambda report, gate: [])  # prior draws, identical chains
    settings = SamplerSettings(sampler="pymc", draws=100, tune=0, chains=1)
    monkeypatch.setattr(commands, "_settings", lambda args: settings)  # what --sampler would choose, but tiny
    two_fits = ("logistic", "open_call_weighted")  # two fits keep it quick
    monkeypatch.setattr(calibrate_module, "fit_names", lambda compute=True: two_fits)
    scenario = tmp_path / "logistic.toml"
    scenario_mixing(tmp_path, {"logistic": 1.0}, name="logistic_only")
    scenario.write_text(scenario.with_name("logistic_only.toml").read_text() + "[open_models]\nopen_call_weighted = 1.0\n")
    out = tmp_path / "bt.nc"
    status = main(["backtest", "--as-of", "2025-09-30", "--scenario", str(scenario), "--out", str(out),
                   "--observations", str(OBSERVATIONS), "--priors", str(PRIORS), "--posteriors", str(tmp_path / "post")])
    printed = capsys.readouterr().out
    assert status == 0, printed
    assert re.search(r"forecasts where random_walk forecasts\s+tokensim", printed) and "PIT histograms" in printed
    assert "fs_daily_2025h2" in printed and "doubao_2025_12" in printed
    assert out.is_file() and out.with_suffix(".csv").is_file() and out.with_suffix(".png").is_file()
    ds = xr.open_dataset(out, engine="h5netcdf")
    assert set(ds["observation"].values) == {"fs_daily_2025h2", "doubao_2025_09", "doubao_2025_12"}
    tokensim = ds.sel({"method": "tokensim"})
    assert (tokensim["pit_lower"].notnull()).all()  # the real posterior's names are understood
    ids = json.loads(ds.attrs["calibration_ids"])
    expected = calibration_id(dataclasses.replace(INPUTS.vintage(D("2025-09-30")), settings=settings))
    assert ids == {"2025-09-30": expected}
    assert [p.name for p in (tmp_path / "post").iterdir()] == [f"posterior-{expected[:16]}.nc"]  # cached by id
