"""Where files are found, by one rule: ./calibration/ and ./scenarios/ when the working folder has them, the shipped
copies otherwise; results in ./results/; posteriors beside the calibration files or in the user's cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.core import paths
from sim.core.errors import UserError
from sim.scenarios.scenario import load_scenario
from tests.conftest import ROOT


def test_an_empty_folder_reads_the_shipped_inputs_and_caches_posteriors_per_user(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert paths.observations() == paths.shipped("calibration") / "observations.toml"
    assert paths.observations().read_bytes() == (ROOT / "calibration" / "observations.toml").read_bytes()
    assert paths.baseline().read_bytes() == (ROOT / "scenarios" / "baseline.toml").read_bytes()
    assert paths.posteriors() == tmp_path / "cache" / "tokensim" / "posteriors"
    assert paths.generated("report.png") == Path("results/report.png")
    assert paths.scenario("price_war") == paths.shipped("scenarios") / "price_war.toml"
    assert paths.scenario("price_war.toml") == paths.shipped("scenarios") / "price_war.toml"
    assert paths.scenario("nowhere/price_war") == Path("nowhere/price_war")  # a path is never a library name
    assert "demand_slowdown" in paths.library_scenarios()
    assert list(tmp_path.iterdir()) == []  # finding files writes nothing


def test_a_folder_made_by_init_reads_its_own_copies(tmp_path, monkeypatch):
    written = paths.init(tmp_path / "project")
    assert {p.parent.name for p in written} == {"calibration", "scenarios"}
    monkeypatch.chdir(tmp_path / "project")
    assert paths.observations() == Path("calibration/observations.toml")
    assert paths.posteriors() == Path("calibration/posteriors")
    assert paths.generated("sbc") == Path("calibration/sbc")
    assert paths.scenario("price_war") == Path("scenarios/price_war.toml")
    with pytest.raises(UserError, match="already exists"):
        paths.init(tmp_path / "project")
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="not a folder"):
        paths.init(tmp_path / "file")


def test_a_scenario_anywhere_extends_the_library_by_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    mine = tmp_path / "elsewhere" / "mine.toml"
    mine.parent.mkdir()
    mine.write_text('extends = "compute_constrained.toml"\nname = "mine"\n')
    scenario = load_scenario(mine)
    assert scenario.compute is not None and scenario.intent == (("daily_tokens", "lower"),)
    assert scenario.compute.trend.source == paths.shipped("calibration") / "compute.toml"
    (mine.parent / "compute_constrained.toml").write_text('extends = "baseline.toml"\nname = "local"\n')
    assert load_scenario(mine).intent == ()  # a file next to it comes first (it states no intent)
    mine.write_text('extends = "no_such.toml"\nname = "mine"\n')
    with pytest.raises(UserError, match="does not exist"):
        load_scenario(mine)
