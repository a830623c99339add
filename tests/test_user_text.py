"""User text is text: strings from configs, registries and results files reach figures and the report as
written, never as matplotlib mathematics or as a link to anything but an http(s) address."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import xarray as xr

from sim.cli import main
from sim.data.observations import load_observations
from sim.report.html import link_html
from tests.conftest import BASELINE, OBSERVATIONS, PRIORS, ROOT

DOLLARS = "a $x^$ b"  # matplotlib's mathtext fails to parse this


def scenario_with_claim(folder: Path, claim: str) -> Path:
    path = folder / "dollars.toml"
    path.write_text(f'extends = "{BASELINE}"\nname = "dollars"\n\n[[claims]]\nname = "{claim}"\n'
                    'variable = "open_adoption"\nthreshold = 0.5\nby = ["2028-12"]\n\n[compute]\n'
                    f'series = "{ROOT / "calibration" / "compute.toml"}"\n', encoding="utf-8")
    return path


def test_a_claim_with_dollars_runs_and_reports(posterior_dir, tmp_path, capsys):
    scenario = scenario_with_claim(tmp_path, DOLLARS)
    common = ["--observations", str(OBSERVATIONS), "--priors", str(PRIORS), "--posteriors", str(posterior_dir)]
    assert main(["-q", "run", str(scenario), "--draws", "300", "--out", str(tmp_path / "r.nc"), *common]) == 0
    assert (tmp_path / "r.png").stat().st_size > 10_000
    out = tmp_path / "report.html"
    (tmp_path / "results").mkdir()  # only ./results/ is made on demand
    assert main(["-q", "report", str(scenario), "-o", str(out), "--draws", "300", "--results", str(tmp_path / "results"),
                 "--backtest", str(tmp_path / "none.nc"), *common]) == 0
    assert DOLLARS in out.read_text(encoding="utf-8")
    capsys.readouterr()


def test_results_attributes_and_observation_ids_with_dollars_plot_and_compare(posterior_dir, tmp_path, capsys):
    common = ["--observations", str(OBSERVATIONS), "--priors", str(PRIORS), "--posteriors", str(posterior_dir)]
    assert main(["-q", "run", str(BASELINE), "--draws", "200", "--no-plot", "--out", str(tmp_path / "r.nc"), *common]) == 0
    with xr.open_dataset(tmp_path / "r.nc") as opened:
        dataset = opened.load()
    dataset.attrs.update(scenario=DOLLARS, source=f"tokensim {DOLLARS}")
    dataset.to_netcdf(tmp_path / "dollars.nc", engine="h5netcdf")
    registry = tmp_path / "observations.toml"
    registry.write_text(OBSERVATIONS.read_text(encoding="utf-8").replace('id = "fs_daily_2024h2"',
                                                                         'id = "fs_$daily^$_2024h2"'), encoding="utf-8")
    assert "fs_$daily^$_2024h2" in {o.id for o in load_observations(registry).observations}
    assert main(["plot", str(tmp_path / "dollars.nc"), "--out", str(tmp_path / "p.png"),
                 "--observations", str(registry)]) == 0
    assert main(["compare", str(tmp_path / "dollars.nc"), str(tmp_path / "r.nc"),
                 "--out", str(tmp_path / "c.png")]) == 0
    assert (tmp_path / "p.png").stat().st_size > 10_000 and (tmp_path / "c.png").stat().st_size > 10_000
    assert DOLLARS in capsys.readouterr().out  # the comparison table names the scenario as written


def test_only_http_and_https_addresses_become_links():
    for url in ("https://example.com/a?b=1&c=2", "http://example.com"):
        anchor = ET.fromstring(link_html(url))
        assert anchor.tag == "a" and anchor.get("href") == url
    for url in ("javascript:alert(document.cookie)", "JavaScript:alert(1)", " javascript:alert(1)",
                "data:text/html,<script>alert(1)</script>", "file:///etc/passwd", "vbscript:x", "//evil.example"):
        shown = ET.fromstring(link_html(url))
        assert shown.tag == "span" and shown.get("href") is None and shown.text == url
    assert link_html("") == ""
