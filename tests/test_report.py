"""Claims in words and the HTML report: right numbers in the paragraphs, every section in one
self-contained page, bad input refused with exit 2, and a page that renders in headless Chromium."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import xarray as xr

from sim.analysis.narrative import claim_paragraph, crossing_distribution, prior_distributions
from sim.cli import main
from sim.calibration.inputs import CalibrationInputs
from sim.engine.results import claims_to_attr
from sim.plots.claims import crossing_chart
from sim.report.screenshot import CHROMIUM, screenshot
from sim.report.sections import SECTIONS
from sim.scenarios.scenario import Claim
from tests.conftest import BASELINE, OBSERVATIONS, PRIORS, ROOT

SURGE = ROOT / "scenarios" / "open_source_surge.toml"
ADOPTION = Claim("adoption above 80%", "open_adoption", 0.8,
                 (np.datetime64("2027-12", "M"), np.datetime64("2030-12", "M")))


def synthetic_results(crossed: np.ndarray, m: np.ndarray, *, claim: Claim = ADOPTION) -> xr.Dataset:
    """A results Dataset with one claim whose P(crossed by t) is ``crossed`` (monthly from 2024-07), as is the
    probability that it holds on each date (paths that cross stay across), with a Monte Carlo error of 1%."""
    times = np.arange(np.datetime64("2024-07"), np.datetime64("2024-07") + len(crossed)).astype("datetime64[ns]")
    draws = np.arange(len(m))
    return xr.Dataset(
        {"claim_probability": (("claim", "time"), crossed[None, :]),
         "claim_probability_mc_se": (("claim", "time"), np.full((1, len(crossed)), 0.01)),
         "claim_first_passage": (("claim", "time"), crossed[None, :]), "m": ("draw", m),
         "call_weight": ("draw", np.full(len(m), 1.0)),
         "u_max": ("draw", np.full(len(m), 0.9)),
         "ceiling": ("draw", np.full(len(m), 1e15)), "v_ref": ("draw", np.full(len(m), 5e12)),
         "growth": ("draw", np.full(len(m), 3.0))},
        coords={"claim": [claim.name], "time": times, "draw": draws},
        attrs={"scenario": "synthetic", "paths_simulated": 4000, "calibration_id": "c" * 64,
               "claims": claims_to_attr((claim,))})


def synthetic_sensitivity(claim: str, st: dict[str, tuple[float, float]], *, date: str = "2030-12",
                          calibration_id: str = "c" * 64) -> xr.Dataset:
    """A sensitivity Dataset following the contract: one claim target and one median target."""
    labels = list(st)
    total = np.array([[value for value, _ in st.values()], [0.5] * len(st)])
    conf = np.array([[c for _, c in st.values()], [0.01] * len(st)])
    return xr.Dataset(
        {"S1": (("target", "factor"), total * 0.8), "S1_conf": (("target", "factor"), conf),
         "ST": (("target", "factor"), total), "ST_conf": (("target", "factor"), conf),
         # what sim.analysis.sensitivity's files carry beyond the contract (its helpers read them)
         "output_mean": ("target", [0.7, 1e14]), "noise_floor": ("target", [0.01, 0.02])},
        coords={"target": [0, 1], "factor": [f"f{i}" for i in range(len(st))],
                "target_kind": ("target", ["claim", "median"]), "claim": ("target", [claim, ""]),
                "variable": ("target", ["open_adoption", "daily_tokens"]), "date": ("target", [date, date]),
                "target_label": ("target", [f"P({claim} by {date})", f"median daily_tokens {date}"]),
                "factor_label": ("factor", labels)},
        attrs={"scenario": "baseline", "seed": 1, "calibration_id": calibration_id, "tokensim_version": "test",
               "method": "Sobol (Saltelli)", "evaluations": 64, "paths_per_evaluation": 200,
               "design": "synthetic design for tests"})


def rising(months: int = 78, half: int = 30, top: float = 0.9) -> np.ndarray:
    """A P(crossed by t) curve: nondecreasing from 0 towards ``top``, half of it reached at ``half``."""
    return top / (1 + np.exp(-(np.arange(months) - half) / 4.0))


def test_paragraph_states_probability_by_each_date_median_and_top_driver():
    crossed = rising()
    dataset = synthetic_results(crossed, np.full(100, 0.9))
    sensitivity = synthetic_sensitivity(ADOPTION.name, {"eventual adopters m": (0.62, 0.05),
                                                         "volume volatility (sd)": (0.10, 0.03),
                                                         "Bass q": (0.20, 0.04)})
    text = claim_paragraph(dataset, ADOPTION, sensitivity=sensitivity)
    by_2027, by_2030 = crossed[41], crossed[77]  # 2027-12 and 2030-12 are months 41 and 77 from 2024-07
    assert (f"is above 80% on 2027-12 with probability {by_2027:.0%} (+- 1.0%) and on 2030-12 with probability "
            f"{by_2030:.0%} (+- 1.0%)") in text
    first = int(np.flatnonzero(crossed >= 0.5)[0])
    assert f"crossed at least once by {np.datetime64('2024-07') + first}" in text
    assert "moves this most is 'eventual adopters m' (total-order Sobol index ST = 0.62 +- 0.05" in text
    assert text.index("'Bass q' (0.20)") < text.index("'volume volatility (sd)' (0.10)")  # ranked by ST
    assert "not clearly ahead" not in text


def test_paragraph_says_when_no_median_within_horizon_and_when_ranking_is_within_error():
    dataset = synthetic_results(rising(top=0.3), np.full(100, 0.9))
    sensitivity = synthetic_sensitivity(ADOPTION.name, {"m": (0.40, 0.10), "k": (0.35, 0.10)})
    text = claim_paragraph(dataset, ADOPTION, sensitivity=sensitivity)
    assert "The median first-crossing date is not within the horizon: only 30% of paths get there by 2030-12" in text
    assert "moves this most is 'm'" in text and "followed by 'k' (0.35)" in text
    assert "the first is not clearly ahead of the second given the estimation error" in text


def test_paragraph_says_the_probability_is_mostly_the_prior_when_data_do_not_move_m():
    from sim.analysis.narrative import BOUNDS

    priors = prior_distributions(CalibrationInputs.load(OBSERVATIONS, PRIORS).priors)
    from_prior = BOUNDS["open_adoption"].from_prior(priors, None, np.random.default_rng(3))  # m as the prior has it
    text = claim_paragraph(synthetic_results(rising(), from_prior), ADOPTION, priors=priors)
    assert "mostly the prior on m" in text
    informed = claim_paragraph(synthetic_results(rising(), np.full(4000, 0.95)), ADOPTION, priors=priors)
    assert "The published figures move it by" in informed and "calibrated paths at 100%" in informed


def test_volume_claim_compares_the_ceiling_prior_and_names_other_assumptions_and_the_compute_cap():
    priors = prior_distributions(CalibrationInputs.load(OBSERVATIONS, PRIORS).priors)
    claim = Claim("tokens above 100T", "daily_tokens", 1e14, (np.datetime64("2030-12", "M"),))
    dataset = synthetic_results(rising(), np.full(500, 0.9), claim=claim)
    dataset["ceiling"] = ("draw", np.where(np.arange(500) < 100, np.nan, 5e13))  # 20% exponential paths
    text = claim_paragraph(dataset, claim, priors=priors, replaced=("k",))
    assert "daily enterprise token volume is above 100T tokens/day on 2030-12" in text
    assert "the calibrated paths at 20%" in text  # only the unbounded paths have a ceiling above 100T
    assert "The published figures and this scenario's other assumptions move it by" in text
    assert "caps volume by what China's compute can serve" not in text
    dataset["compute_utilisation"] = ("draw", np.full(500, 0.3))
    assert "caps volume by what China's compute can serve" in claim_paragraph(dataset, claim, priors=priors)


def test_missing_sensitivity_names_the_command_that_computes_it():
    text = claim_paragraph(synthetic_results(rising(), np.full(10, 0.9)), ADOPTION,
                           sensitivity_command="tokensim sensitivity scenarios/baseline.toml")
    assert "has not been computed for this scenario: run 'tokensim sensitivity scenarios/baseline.toml'" in text
    other = synthetic_sensitivity("some other claim", {"m": (0.5, 0.1)})
    assert "do not cover this claim" in claim_paragraph(synthetic_results(rising(), np.full(10, 0.9)), ADOPTION,
                                                        sensitivity=other)


def test_crossing_distribution_is_the_increments_of_the_crossed_curve_and_sums_to_one():
    crossed = rising()
    shares = crossing_distribution(synthetic_results(crossed, np.full(10, 0.9)), ADOPTION.name)
    assert shares.index[0] == "2024-07 (start)" and shares.index[1] == "rest of 2024"
    assert shares.index[-1] == "after 2030-12" and np.isclose(shares.sum(), 1.0)
    assert np.isclose(shares["2025"], crossed[17] - crossed[5])  # 2025-12 minus 2024-12
    assert np.isclose(shares["after 2030-12"], 1 - crossed[-1])
    figure = crossing_chart(synthetic_results(crossed, np.full(10, 0.9)))
    assert len(figure.axes) == 2


def _write_synthetic_backtest(path):
    """A small backtest file following the contract (two hindcasts, one of a bound; three methods)."""
    quantiles = [0.025, 0.1, 0.25, 0.5, 0.75, 0.9, 0.975]
    centre = np.log([5e12, 1.2e13])
    spread = np.array([-2, -1.3, -0.7, 0, 0.7, 1.3, 2]) * 0.3
    log_q = np.stack([np.stack([c + spread * w for w in (1.0, 0.5, 1.5)]) for c in centre])
    exact, bound = [[0.2, 0.5, 0.3], [np.nan] * 3], [[np.nan] * 3, [0.01, np.nan, 0.02]]
    ds = xr.Dataset(
        {"crps": (("hindcast", "method"), exact), "censored_crps": (("hindcast", "method"), bound),
         "wis": (("hindcast", "method"), exact),
         **{f"covered_{c}": (("hindcast", "method"), [[1.0, 0.0, 1.0], [np.nan] * 3]) for c in (50, 80, 95)},
         "pit_lower": (("hindcast", "method"), [[0.4, 0.9, 0.6], [0.3, np.nan, 0.2]]),
         "pit_upper": (("hindcast", "method"), [[0.4, 0.9, 0.6], [1.0, np.nan, 1.0]]),
         "truth": ("hindcast", centre + 0.1), "log_quantiles": (("hindcast", "method", "quantile"), log_q)},
        coords={"hindcast": [0, 1], "method": ["tokensim", "random_walk", "damped_trend"],
                "quantile": quantiles, "as_of": ("hindcast", ["2025-09-30", "2025-09-30"]),
                "observation": ("hindcast", ["fs_daily_2025h2", "doubao_2025_12"]),
                "series": ("hindcast", ["fs_enterprise", "doubao"]), "scale": ("hindcast", ["log", "log"]),
                "bound": ("hindcast", ["", "lower"]), "lead_days": ("hindcast", [92, 62]),
                "forecast": ("hindcast", [True, True])},
        attrs={"tokensim_version": "test", "calibration_ids": json.dumps({"2025-09-30": "x" * 64}),
               "scale": "log of daily tokens", "skipped_origins": json.dumps({"2025-02-28": "every fit failed"}),
               "dropped_fits": json.dumps({"2025-09-30": {"compute_logistic": "902 divergent transitions"}})})
    ds.to_netcdf(path, engine="h5netcdf")


def _write_revision(path):
    """A revision from 2025-09-30 computed on stand-in posteriors (prior draws that depend on the vintage)."""
    from sim.analysis import revise as revise_module
    from sim.calibration.inputs import CalibrationInputs
    from sim.plots.revise import write_revise
    from tests.fakes import fake_posterior, scenario_mixing

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(revise_module, "calibrate", lambda inputs, log=None: (fake_posterior(inputs), None))
        dataset = revise_module.revise(CalibrationInputs.load(OBSERVATIONS, PRIORS), dt.date(2025, 9, 30), None,
                                       scenario_mixing(path.parent), draws=1000, size=1000)
    write_revise(dataset, path)


@pytest.fixture(scope="module")
def report(posterior_dir, tmp_path_factory):
    """The baseline alone (simulated, nothing else computed), then the baseline (reused, with sensitivity
    and backtest files present) and a second scenario (simulated) in one report."""
    folder = tmp_path_factory.mktemp("report")
    results, out = folder / "results", folder / "report.html"
    results.mkdir()  # only ./results/ is made on demand
    common = ["--results", str(results), "--backtest", str(folder / "backtest.nc"), "--revise", str(folder / "revise.nc"),
              "--draws", "1000",
              "--observations", str(OBSERVATIONS), "--priors", str(PRIORS), "--posteriors", str(posterior_dir)]
    first = main(["report", str(BASELINE), "-o", str(out), *common])
    first_html = out.read_text(encoding="utf-8")
    calibration_id = xr.open_dataset(results / "baseline.nc").attrs["calibration_id"]
    synthetic_sensitivity("open-source adoption above 80%", {"eventual adopters m (prior)": (0.7, 0.05),
                                                             "Bass q": (0.1, 0.02)},
                          calibration_id=calibration_id).to_netcdf(results / "baseline-sensitivity.nc",
                                                                   engine="h5netcdf")
    _write_synthetic_backtest(folder / "backtest.nc")
    _write_revision(folder / "revise.nc")
    second = main(["report", str(BASELINE), str(SURGE), "-o", str(out), *common])
    return {"codes": (first, second), "first": first_html, "html": out.read_text(encoding="utf-8"), "out": out,
            "folder": folder}


def test_report_is_one_wellformed_page_with_every_section_and_embedded_figures(report):
    assert report["codes"] == (0, 0)
    root = ET.fromstring(report["html"].split("\n", 1)[1])  # parses as XML: every tag closed, text escaped
    headings = [h.text for h in root.iter("h2")]
    assert headings == [title for _, title, _ in SECTIONS]
    images = list(root.iter("img"))
    # per scenario a fan chart and a crossing chart, the comparison, the revision and backtest figures; a
    # tornado if sim.analysis.sensitivity is there to draw it
    assert len(images) >= 2 * 2 + 3
    assert all(img.get("src").startswith("data:image/png;base64,") for img in images)
    assert not list(root.iter("script")) and not list(root.iter("link"))
    assert "src=\"http" not in report["html"] and "url(" not in report["html"]
    assert report["html"].count('class="claim"') == 2 * 3  # three claims per scenario, one paragraph each
    assert "fs_daily_2025h1" in report["html"] and "101,865亿 tokens" in report["html"]  # a quoted source sentence


def test_report_says_what_is_missing_and_whether_results_were_reused(report):
    first, html = report["first"], report["html"]
    assert "run &#x27;tokensim backtest&#x27;" in first and "No sensitivity results" in first
    assert "simulated now and written to" in first
    assert "Only one scenario in this report" in first and "Only one scenario" not in html
    # the baseline reused, the surge simulated: each said in its section and in the provenance table
    assert html.count("reused ") == 2 and html.count("simulated now") == 2
    assert "moves this most is &#x27;eventual adopters m (prior)&#x27;" in html  # read from the sensitivity file
    assert "run &#x27;tokensim sensitivity" in html  # the surge scenario still has none
    assert html.count("has not been computed for this scenario") == 1  # said once for it, not once per claim
    assert first.count("has not been computed for this scenario") == 1
    assert "doubao_2025_12" in html and "No backtest results" not in html and "PIT histograms" in html
    assert "Origin 2025-02-28 skipped: every fit failed" in html and "compute_logistic (902 divergent" in html
    assert "run &#x27;tokensim revise --from DATE&#x27;" in first and "No revision results" not in html
    assert "fs_daily_2025h2" in html and "Moved beyond noise" in html


@pytest.mark.parametrize(("args", "message"), [
    (["report", "{tmp}/missing.toml"], "scenario file not found"),
    (["report", str(BASELINE), "-o", "{tmp}/report.txt"], "must be an .html file"),
    (["report", str(BASELINE), "-o", "{tmp}/folder.html"], "is a folder"),
    (["report", str(BASELINE), "-o", "{tmp}/r.html", "--screenshot", "{tmp}/shot.jpg"], "must be a .png"),
    (["report", str(BASELINE), "-o", "{tmp}/r.html", "--results", "{tmp}/resluts"], "does not exist"),
    (["report"], "the following arguments are required"),
])
def test_bad_report_input_exits_2_and_writes_nothing(tmp_path, capsys, args, message):
    (tmp_path / "folder.html").mkdir()
    before = sorted(os.listdir(tmp_path))
    code = main([a.replace("{tmp}", str(tmp_path)) for a in args])
    error = capsys.readouterr().err
    assert code == 2 and message in error and error.startswith("tokensim: error:")
    assert sorted(os.listdir(tmp_path)) == before


needs_chromium = pytest.mark.skipif(
    shutil.which(str(CHROMIUM)) is None,
    reason=f"no Chromium at {CHROMIUM} (Debian package 'chromium'); the rendering checks need it")


@needs_chromium
def test_report_screenshot_is_the_whole_page(report, tmp_path):
    from PIL import Image

    from sim.report.screenshot import page_height

    png = screenshot(report["out"], report["folder"] / "report.png")
    pixels = np.asarray(Image.open(png).convert("L"), dtype=float)
    height = page_height(report["out"].resolve(), CHROMIUM, tmp_path)
    assert pixels.shape == (height, 1280) and height > 4000  # two scenarios, every section: far past 4000 px
    dark = pixels < 200
    assert dark.mean() > 0.02  # text, tables and figures, not a blank page
    rows = np.flatnonzero(dark.any(axis=1))
    assert rows[0] < 200 and rows[-1] > height - 200  # from the title down to the provenance table at the end
    assert dark[:200].any() and dark[height // 2:].any()


def _glyph_cells(text: str, folder) -> list:
    """Each character of ``text`` rendered alone in a 48-pixel cell with the report's style sheet, in a
    ``lang="zh"`` element as the report marks Chinese quotes; returns the cells as grey-level arrays."""
    from PIL import Image

    from sim.report.html import STYLE, lang_attribute

    cells = "".join(f'<span style="position:absolute; left:{48 * i}px; top:0; width:48px; height:48px; '
                    f'font-size:32px; line-height:48px; text-align:center">{c}</span>' for i, c in enumerate(text))
    page = folder / "glyphs.html"
    page.write_text(f'<!DOCTYPE html><html><head><meta charset="utf-8" /><style>{STYLE}</style></head>'
                    f'<body style="margin:0"><div{lang_attribute("中文")} style="position:relative">{cells}'
                    "</div></body></html>", encoding="utf-8")
    image = np.asarray(Image.open(screenshot(page, folder / "glyphs.png", width=48 * len(text), height=48))
                       .convert("L"), dtype=float)
    return [image[:, 48 * i:48 * (i + 1)] for i in range(len(text))]


def _tofu(text: str, folder) -> list[str]:
    """The characters of ``text`` that render as boxes: without ink, or drawn the same as a character no font
    has (the private-use U+E000, which falls back to the .notdef box) or as another character."""
    cells = _glyph_cells(text + "\ue000", folder)
    missing, glyphs = cells[-1], cells[:-1]
    same = lambda a, b: np.abs(a - b).mean() < 1.0  # noqa: E731
    return [c for i, (c, cell) in enumerate(zip(text, glyphs))
            if (cell < 128).sum() < 10 or same(cell, missing)
            or any(same(cell, other) for j, other in enumerate(glyphs) if j != i and text[j] != c)]


def _chinese_quote() -> str:
    from sim.data.observations import load_observations

    quotes = [o.quote for o in load_observations(OBSERVATIONS).observations
              if any("\u4e00" <= c <= "\u9fff" for c in o.quote)]
    assert quotes, "the registry quotes Chinese sources"
    return "".join(dict.fromkeys(c for c in quotes[0] if "\u4e00" <= c <= "\u9fff"))


@needs_chromium
def test_chinese_quotes_render_as_characters_not_boxes(tmp_path):
    quote = _chinese_quote()
    assert len(quote) >= 5
    assert _tofu(quote, tmp_path) == [], "install a CJK font (Debian's fonts-noto-cjk) for the report's quotes"


@needs_chromium
def test_the_box_detector_finds_boxes_when_no_cjk_font_is_installed(tmp_path, monkeypatch):
    config = tmp_path / "fonts.conf"  # fontconfig limited to DejaVu, which has no Chinese characters
    config.write_text('<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
                      "<dir>/usr/share/fonts/truetype/dejavu</dir>"
                      f"<cachedir>{tmp_path / 'cache'}</cachedir></fontconfig>")
    monkeypatch.setenv("FONTCONFIG_FILE", str(config))
    quote = _chinese_quote()
    assert _tofu(quote, tmp_path) == list(quote)


def test_the_page_names_a_cjk_font_for_chinese_text():
    from sim.report.html import STYLE

    assert ":lang(zh)" in STYLE and "Noto Sans CJK SC" in STYLE
