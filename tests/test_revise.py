"""tokensim revise: the new figures' PIT under the older vintage, claims and medians compared under one seed, the
Monte Carlo noise rule, every user error refused before calibration, atomic output and the report's section.

Calibration is replaced by :func:`tests.fakes.fake_posterior` (prior draws that depend on the vintage), which
the engine simulates like any posterior.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import xarray as xr

from sim.analysis import revise as revise_module
from sim.analysis.predictive import Target, figure_forecast, origin_of
from sim.analysis.revise import _shift, claim_frame, figure_frame, median_frame, published_between, revise
from sim.analysis.tables import claim_label
from sim.calibration.inputs import CalibrationInputs
from sim.calibration.models import vendor_open_shares
from sim.cli import main
from sim.core.errors import UserError
from sim.plots import revise as revise_plots
from sim.plots.revise import write_revise
from tests.conftest import OBSERVATIONS, PRIORS
from tests.fakes import fake_posterior, scenario_mixing

D = dt.date.fromisoformat
INPUTS = CalibrationInputs.load(OBSERVATIONS, PRIORS)


@pytest.fixture(scope="module")
def mix(tmp_path_factory):
    return scenario_mixing(tmp_path_factory.mktemp("scenario"))


@pytest.fixture(scope="module")
def revision(mix):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(revise_module, "calibrate", lambda inputs, log=None: (fake_posterior(inputs), None))
        return revise(INPUTS, D("2025-09-30"), None, mix, draws=1000, size=2000)


def test_the_new_figures_are_those_published_between_the_vintages_each_with_its_pit(revision, mix):
    # doubao_2025_09 describes 2025-09-30 but was published on 2025-10-01: new to the vintage of 2025-09-30; the
    # 2025H2 vendor shares are a second look at the open share, read with the noise the model gives them
    implied = "fs_qwen_share_2025h2+fs_doubao_share_2025h2+fs_deepseek_share_2025h2"
    assert list(revision["figure"].values) == ["fs_daily_2025h2", "doubao_2025_09", "doubao_2025_12", implied]
    assert "fs_qwen_share_2025h2" not in revision.attrs["figure_ids_context"]
    assert "vendor_estimates_doubao_2025_12" in revision.attrs["figure_ids_context"]
    assert [o.id for o in published_between(INPUTS.registry, D("2025-09-30"), D("2025-11-30"))] == ["doubao_2025_09"]
    # the PIT is the older vintage's predictive read at the published value (an interval for a bound)
    older = INPUTS.vintage(D("2025-09-30"))
    origin = origin_of(older, fake_posterior(older), mix)
    figures = {o.id: o for o in INPUTS.registry.observations}
    fs = figures["fs_daily_2025h2"]
    forecast = figure_forecast(origin, fs, seed=mix.seed, size=2000)
    assert float(revision["pit_lower"].sel(figure=fs.id)) == forecast.cdf(np.log(fs.value_base))
    assert float(revision["pit_upper"].sel(figure=fs.id)) == float(revision["pit_lower"].sel(figure=fs.id))
    assert float(revision["pit_upper"].sel(figure="doubao_2025_12")) == 1.0  # "more than 50T": [F(50T), 1]
    (label, _, share, sd), = vendor_open_shares(INPUTS.observations, INPUTS.priors)
    target = Target("fs_open_share", "open_share", "window_average", D("2025-07-01"), D("2025-12-31"), label=label,
                    noise=sd)
    assert float(revision["figure_value"].sel(figure=implied)) == share
    assert float(revision["pit_lower"].sel(figure=implied)) == figure_forecast(origin, target, seed=mix.seed,
                                                                               size=2000).cdf(np.log(share / (1 - share)))
    p5, p50, p95 = revision["predictive"].sel(figure=fs.id).values
    assert p5 < p50 < p95 and p50 == pytest.approx(np.exp(np.median(forecast.members)), rel=0.01)
    frame = figure_frame(revision)
    assert frame.loc["doubao_2025_12", "value"] == "> 5e+13" and frame.loc["doubao_2025_12", "PIT"].startswith("[")


def test_claims_and_medians_are_compared_under_one_seed(revision, mix):
    labels = [claim_label(c, b) for c in mix.claims for b in c.by]
    assert list(revision["claim"].values) == labels
    shift = revision["claim_probability_after"] - revision["claim_probability_before"]
    xr.testing.assert_allclose(revision["claim_shift"], shift)
    assert set(revision["variable"].values) == {"daily_tokens", "open_share", "open_adoption"}
    assert [str(t)[:7] for t in revision["time"].values][-1] == "2030-12"
    assert revision.attrs["seed"] == mix.seed and revision.attrs["paths"] == 1000
    assert revision.attrs["last_data_month_before"] == "2025-06" and revision.attrs["last_data_month_after"] == "2025-12"
    assert revision.attrs["calibration_id_before"] != revision.attrs["calibration_id_after"]
    assert len(claim_frame(revision)) == len(labels) and len(median_frame(revision)) == 3 * revision.sizes["time"]


def test_the_same_calibration_twice_moves_nothing(mix, monkeypatch):
    """Both runs share their seed and paths: on one posterior they are identical, so every shift is exactly 0."""
    same = fake_posterior(INPUTS.vintage(D("2025-09-30")))
    monkeypatch.setattr(revise_module, "calibrate", lambda inputs, log=None: (same, None))
    ds = revise(INPUTS, D("2025-09-30"), None, mix, draws=1000, size=500)
    assert (ds["claim_shift"] == 0).all() and (ds["median_shift"] == 0).all()
    assert not ds["claim_exceeds_noise"].any() and not ds["median_exceeds_noise"].any()


def test_a_shift_exceeds_noise_beyond_twice_the_standard_error_of_the_difference():
    before, after = xr.DataArray([0.50, 0.50, 0.50]), xr.DataArray([0.55, 0.5565, 0.60])
    se = xr.DataArray([0.02, 0.02, 0.02])  # difference sd 0.0283: 2 sd = 0.0566
    shifted = _shift(before, se, after, se)
    assert shifted["exceeds_noise"].values.tolist() == [False, False, True]
    assert shifted["shift"].values == pytest.approx([0.05, 0.0565, 0.10])


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "2025-09-30", "--to", "2025-09-30"], "is not after --from"),
    (["--from", "2026-02-01"], "no fitted figure was published after 2026-02-01"),
    (["--from", "2024-01-01"], "nothing had been published by 2024-01-01"),
    (["--from", "2025-09-30", "--out", "{tmp}/revise.txt"], "must end in .nc"),
    (["--from", "2025-09-30", "--draws", "0"], "must be at least 1"),
    (["--from", "yesterday"], "expected a date"),
    (["--to", "2025-12-31"], "the following arguments are required: --from"),
])
def test_cli_bad_input_exits_2_and_writes_nothing(args, message, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(revise_module, "calibrate", lambda *a, **k: pytest.fail("calibrated"))
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    out = [] if "--out" in args else ["--out", str(tmp_path / "revise.nc")]
    status = main(["revise", *args, *out, "--observations", str(OBSERVATIONS), "--priors", str(PRIORS),
                   "--posteriors", str(tmp_path / "post")])
    assert status == 2 and message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_cli_prints_the_new_figures_pit_and_the_claims_and_writes_both_files(mix, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(revise_module, "calibrate", lambda inputs, log=None: (fake_posterior(inputs), None))
    out = tmp_path / "rev" / "revise.nc"
    out.parent.mkdir()  # only ./results/ is made on demand
    status = main(["revise", "--from", "2025-09-30", "--scenario", str(mix.path), "--draws", "1000",
                   "--out", str(out), "--observations", str(OBSERVATIONS), "--priors", str(PRIORS)])
    printed = capsys.readouterr().out
    assert status == 0
    assert "fs_daily_2025h2" in printed and "PIT" in printed and "open-source adoption above 80% | on 2030-12" in printed
    assert "beyond MC noise" in printed and "Year-end medians" in printed
    assert out.is_file() and out.with_suffix(".png").stat().st_size > 10_000
    assert xr.open_dataset(out, engine="h5netcdf").attrs["from"] == "2025-09-30"


def test_outputs_are_written_atomically_and_a_failure_leaves_earlier_files(revision, tmp_path, monkeypatch):
    out = tmp_path / "revise.nc"
    write_revise(revision, out)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    monkeypatch.setattr(revise_plots, "revise_figure", lambda *a: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        write_revise(revision, out)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    with pytest.raises(UserError, match="must end in .nc"):
        write_revise(revision, tmp_path / "revise.png")


def test_the_report_section_shows_the_figures_claims_and_medians(revision, tmp_path):
    from sim.report.gather import ReportInputs
    from sim.report.sections import SECTIONS

    section = dict((anchor, build) for anchor, _, build in SECTIONS)["revision"]
    report = ReportInputs((), INPUTS.registry, INPUTS.priors, None, tmp_path / "backtest.nc", "", "now", revision,
                          tmp_path / "revise.nc")
    html = section(report)
    assert "fs_daily_2025h2" in html and "Moved beyond noise" in html and "data:image/png;base64," in html
    empty = section(ReportInputs((), INPUTS.registry, INPUTS.priors, None, tmp_path / "b.nc", "", "now"))
    assert "run &#x27;tokensim revise --from DATE&#x27;" in empty
