"""The calibration report: predictive checks that are right where the answer is known, stacking
weights that are weights, and a report figure that is a valid PNG written atomically."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy import optimize, stats

from sim.calibration import checks as calibration_checks
from sim.calibration import report as calibration_report
from sim.calibration.posterior import Posterior
from sim.calibration.prior_vs_posterior import prior_fan
from sim.cli import main
from sim.curves.families import FAMILIES, anchor_levels
from sim.calibration.fits import OPEN_FITS
from sim.calibration.inputs import CalibrationInputs
from sim.calibration.prior_draws import prior_posterior
from sim.plots import calibration_report as figures
from sim.scenarios.scenario import load_scenario
from tests.conftest import BASELINE, OBSERVATIONS, PRIORS

INPUTS = CalibrationInputs.load(OBSERVATIONS, PRIORS)
REGISTRY = INPUTS.observations
PRIOR_SET = INPUTS.priors
BASELINE_SCENARIO = load_scenario(BASELINE)
BASELINE_WEIGHTS = dict(BASELINE_SCENARIO.family_weights)
OPEN_WEIGHTS = dict(BASELINE_SCENARIO.open_weights)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
VOLUME_FIGURES = 12  # every fitted volume figure of the registry


@pytest.fixture(scope="module")
def prior():
    return prior_posterior(INPUTS, draws=1000)


@pytest.fixture(scope="module")
def report(posterior, prior):
    """The report of the real baseline calibration (draws thinned to 1,000 per fit to stay fast)."""
    return calibration_report.build_report(posterior, REGISTRY, PRIOR_SET, BASELINE_WEIGHTS, prior, OPEN_WEIGHTS,
                                           compute=INPUTS.compute, weights_from=str(BASELINE), max_draws=1000)


def test_weighted_quantiles_and_percentile_match_a_sample_whose_answer_is_known():
    rng = np.random.default_rng(1)
    values = rng.normal(size=20_000)
    equal = np.ones_like(values)
    assert calibration_checks.weighted_quantiles(values, equal, (0.05, 0.5, 0.95)) == pytest.approx(
        np.quantile(values, [0.05, 0.5, 0.95], method="hazen"), abs=1e-9)
    assert calibration_checks.predictive_percentile(values, equal, 1.0) == pytest.approx(stats.norm.cdf(1.0), abs=0.01)
    # Two equal-sized samples weighted 3:1 give the quantiles of the 3:1 mixture of their distributions.
    mixed = np.r_[rng.normal(0, 1, 20_000), rng.normal(3, 1, 20_000)]
    weights = np.r_[np.full(20_000, 0.75), np.full(20_000, 0.25)]
    for q in (0.05, 0.5, 0.9):
        exact = optimize.brentq(lambda x: 0.75 * stats.norm.cdf(x) + 0.25 * stats.norm.cdf(x - 3) - q, -10, 10)
        assert calibration_checks.weighted_quantiles(mixed, weights, (q,))[0] == pytest.approx(exact, abs=0.05)
    assert calibration_checks.predictive_percentile(mixed, weights, 3.0) == pytest.approx(0.75 * stats.norm.cdf(3) + 0.125, abs=0.01)


def _synthetic_fit(family: str, offset: float, draws: int) -> xr.Dataset:
    """Draws that all put the F&S 2025H1 mean at ``exp(-offset)`` times the published value."""
    target = next(o for o in REGISTRY.observations if o.id == "fs_daily_2025h1")
    a, b = target.window
    params = {"v_ref": 1.0, "growth": 3.0, "ceiling_headroom": 20.0}
    params["ceiling"] = anchor_levels(params)[1] * (1 + params["ceiling_headroom"])  # as in the model
    # The curves are linear in v_ref (the ceiling scales with the anchor level), so one division sets it.
    unit_mean = FAMILIES[family].window_mean(a, b, params)
    values = {"v_ref": target.comparable_value * np.exp(-offset) / unit_mean, "growth": params["growth"]}
    if "ceiling" in FAMILIES[family].parameters:
        values["ceiling_headroom"] = params["ceiling_headroom"]  # the sampled parameter; PyMC derives the ceiling
    for series in ("idc_public_cloud", "doubao", "national"):
        values[f"{series}_scale"], values[f"{series}_drift"] = 1.0, 0.0
    names = list(values)
    return xr.Dataset({n: (("chain", "draw"), np.full((1, draws), values[n])) for n in names})


def test_observed_percentile_is_the_normal_cdf_on_a_synthetic_posterior():
    """With every draw equal, the predictive of a log value is Normal(mu, sigma) exactly: sigma combines the F&S
    figure noise (0.05) and its release's (0.10, drawn anew: the stored draws keep no latent release offset), so
    the published value's percentile is Phi(+-0.1 / sigma) here, and 0.5 mixed."""
    sigma = np.hypot(0.05, 0.10)
    posterior = Posterior("synthetic", {"exponential": _synthetic_fit("exponential", 0.1, 4000),
                                        "logistic": _synthetic_fit("logistic", -0.1, 4000)}, {})
    checks = {fit: calibration_checks.check_fit(fit, posterior, REGISTRY, PRIOR_SET, seed=3, log_likelihood=False)
              for fit in posterior.fits}
    table = calibration_checks.predictive_table(checks, {"exponential": 0.5, "logistic": 0.5}, REGISTRY)
    rows = table.xs("fs_daily_2025h1", level="observation").droplevel("series")
    assert rows.loc["exponential", "percentile"] == pytest.approx(stats.norm.cdf(0.1 / sigma), abs=0.025)
    assert rows.loc["logistic", "percentile"] == pytest.approx(stats.norm.cdf(-0.1 / sigma), abs=0.025)
    assert rows.loc[calibration_checks.MIX, "percentile"] == pytest.approx(0.5, abs=0.025)
    published = rows.loc["exponential", "observed"]
    assert rows.loc["exponential", "p50"] == pytest.approx(published * np.exp(-0.1), rel=0.01)
    assert rows.loc["exponential", "p95"] == pytest.approx(published * np.exp(-0.1 + 1.645 * sigma), rel=0.02)
    assert rows.loc["exponential", "inside_90"] and not rows.loc["exponential", "inside_50"]


def test_well_fitted_observations_fall_inside_their_predictive_intervals(report):
    table = report.predictive
    for observation in ("fs_daily_2024h2", "fs_daily_2025h1", "fs_daily_2025h2", "fs_open_share_2025h1"):
        rows = table.xs(observation, level="observation")
        if observation != "fs_daily_2025h2":  # the exponential cannot slow down for the third half-year
            assert rows["inside_90"].all(), rows
        mixed = rows.xs(calibration_checks.MIX, level="model") if observation.startswith("fs_daily") else rows
        assert (mixed["p5"] < mixed["observed"]).all() and (mixed["observed"] < mixed["p95"]).all()
    models = set(table.index.get_level_values("model"))
    assert models == {*FAMILIES, *OPEN_FITS, calibration_checks.MIX}
    assert (table["p5"] <= table["p25"]).all() and (table["p75"] <= table["p95"]).all()
    assert len(table.xs(calibration_checks.MIX, level="model")) == VOLUME_FIGURES  # every fitted volume figure


def test_stacking_weights_are_non_negative_and_sum_to_one_beside_the_prior_weights(report):
    stacking = report.stacking
    for column in ("stacking weight", "pseudo-BMA+ weight"):
        assert (stacking[column] >= 0).all() and stacking[column].sum() == pytest.approx(1.0, abs=2e-3)
    assert stacking["prior weight"].to_dict() == {f: BASELINE_WEIGHTS.get(f, 0.0) for f in FAMILIES}
    assert report.pareto_k.shape == (VOLUME_FIGURES, len(FAMILIES)) and np.isfinite(report.pareto_k.values).all()
    caveat = calibration_checks.stacking_caveat(stacking, report.pareto_k, report.pointwise_elpd, reference=3,
                                                data_end="2025-12-31")
    assert "weak evidence" in caveat and "Pareto k" in caveat and "exponential" in caveat


def test_the_data_pin_level_and_growth_but_not_the_ceiling(report):
    ratio = report.prior_posterior["width ratio"]
    assert (ratio.xs("v_ref", level="parameter") < 0.1).all()
    assert (ratio.xs("growth", level="parameter") < 0.2).all()
    assert (ratio.xs("ceiling_headroom", level="parameter") > 0.5).all()


def test_prior_fan_quantiles_are_ordered_and_shares_stay_shares(prior):
    fan = prior_fan(prior, BASELINE_WEIGHTS, {"open_equal_weight": 1.0}, seed=5)
    for variable in ("daily_tokens", "open_share", "open_adoption"):
        assert (fan[variable].diff("quantile") >= 0).all()
    assert (fan["open_adoption"] >= fan["open_share"] - 1e-12).all()  # a >= s when every enterprise weighs the same
    assert float(fan["open_share"].max()) <= 1 and fan.sizes["time"] == 78
    assert set(fan["family"].values) == {name for name, w in BASELINE_WEIGHTS.items() if name in prior.fits}


def test_a_failed_figure_write_leaves_the_earlier_file_and_no_temporary(report, tmp_path, monkeypatch):
    import matplotlib.figure
    import matplotlib.pyplot as plt

    monkeypatch.setattr(figures, "report_figure", lambda _: plt.figure(figsize=(2, 2)))  # the write is under test
    out = figures.write_report_figure(report, tmp_path / "report.png")
    written = out.read_bytes()
    assert written.startswith(PNG_SIGNATURE)

    def broken_savefig(self, fname, **kwargs):
        fname.write(PNG_SIGNATURE + b"half a picture")  # figures render into memory before any file is touched
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", broken_savefig)
    with pytest.raises(RuntimeError):
        figures.write_report_figure(report, out)
    assert out.read_bytes() == written
    assert [p.name for p in tmp_path.iterdir()] == ["report.png"]  # no temporary file left


def _calibrate_args(out, posterior_dir, *extra):
    return ["calibrate", "--report", "--report-out", str(out), "--observations", str(OBSERVATIONS),
            "--priors", str(PRIORS), "--posteriors", str(posterior_dir), *extra]


def test_calibrate_report_prints_each_section_and_writes_the_figure(report, posterior, posterior_dir, tmp_path,
                                                                    capsys, monkeypatch):
    """The command's wiring; the report itself is the fixture's (built by the same function)."""

    def reuse(fitted, observations, priors, weights, prior, open_weights, **kwargs):
        assert fitted.id == posterior.id and weights == BASELINE_WEIGHTS and observations.as_of is None
        assert open_weights == OPEN_WEIGHTS and prior.id.startswith("prior-")
        return report

    monkeypatch.setattr(calibration_report, "build_report", reuse)
    out = tmp_path / "figures" / "report.png"
    out.parent.mkdir()  # only ./results/ is made on demand
    assert main(_calibrate_args(out, posterior_dir)) == 0
    printed = capsys.readouterr().out
    for section in ("divergences", "rhat", "ess_bulk", "ess_tail", "What each family alone implies",
                    "Classical cross-check", "Prior predictive", "Prior predictive of every fitted figure",
                    "The long run", "P(growth 2029 > 30%/yr)", "under each variant of the open-source model",
                    "Which prior carries the 2030 median", "Prior vs posterior", "Posterior predictive checks",
                    "Predictive percentile of each observation", "Stacking weights", "Pareto k", "weak evidence",
                    f"wrote {out}"):
        assert section in printed, section
    import matplotlib.image

    written = out.read_bytes()
    assert written.startswith(PNG_SIGNATURE) and len(written) > 100_000
    assert matplotlib.image.imread(out).shape[1] == 1700  # a valid PNG, 17 in at 100 dpi


@pytest.mark.parametrize(("extra", "message"), [
    (["--report-out", "{tmp}/report.txt"], "must be a .png file"),
    (["--report-out", "{tmp}/folder.png"], "is a folder"),
    (["--report-scenario", "{tmp}/missing.toml"], "scenario file not found"),
])
def test_bad_report_arguments_exit_2_before_fitting_and_leave_the_old_figure(tmp_path, capsys, extra, message):
    existing = tmp_path / "report.png"
    existing.write_bytes(PNG_SIGNATURE + b"earlier report")
    (tmp_path / "folder.png").mkdir()
    args = _calibrate_args(existing, tmp_path / "no-posteriors-here")
    args += [part.format(tmp=tmp_path) for part in extra]
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert existing.read_bytes() == PNG_SIGNATURE + b"earlier report"
    assert not (tmp_path / "no-posteriors-here").exists()  # failed before calibrating
