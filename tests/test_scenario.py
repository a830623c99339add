"""Scenario configs: strict validation with file, line and key; extends chains."""

from __future__ import annotations

import numpy as np
import pytest

from sim.core.errors import UserError
from sim.scenarios.scenario import Claim, load_scenario
from tests.conftest import BASELINE

MINIMAL = '''
name = "mini"
horizon = "2027-12"
draws = 100
seed = 1

[families]
logistic = 1.0

[[claims]]
name = "adoption"
variable = "open_adoption"
threshold = 0.8
by = ["2027-12"]
'''


EVENT = '''
[[events]]
name = "shock"
target = "volume"
probability = 0.5
start = "2026-01"
size = { dist = "normal", p5 = -0.5, p95 = -0.1 }
'''


def write(tmp_path, text, name="scenario.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_baseline_parses_with_documented_defaults():
    scenario = load_scenario(BASELINE)
    assert scenario.name == "baseline"
    assert scenario.horizon == np.datetime64("2030-12", "M")
    assert sum(w for _, w in scenario.family_weights) == pytest.approx(1.0)
    assert {c.variable for c in scenario.claims} >= {"open_adoption", "open_share"}
    assert len(scenario.sha256) == 64


def test_missing_volatility_means_no_deviations(tmp_path):
    scenario = load_scenario(write(tmp_path, MINIMAL))
    assert all(v.sd == 0.0 for v in scenario.volatility.values())


BAD = [
    ('seed = 1', 'seed = 1\ncolour = "blue"', "unknown key", "colour"),
    ('draws = 100', 'draws = "many"', "expected an integer", "draws"),
    ('draws = 100', "draws = 0", "must be in [1", "draws"),
    ('draws = 100', "draws = 1.5", "expected an integer", "draws"),
    ('horizon = "2027-12"', 'horizon = "2024-06"', "horizon must be after 2024-07", "horizon"),
    ("threshold = 0.8", "threshold = 0.8\nkind = \"ever\"", "unknown kind", "claims[0].kind"),
    ('seed = 1', 'seed = 1\n[open_models]\nopen_call_weighted = 0.7', "must sum to 1", "open_models"),
    ('seed = 1', 'seed = 1\n[volatility]\ngrowth = { sd = 0.2, persistence = 0.9 }', "unknown key", "volatility.growth"),
    ('horizon = "2027-12"', 'horizon = "December 2027"', "expected a month", "horizon"),
    ("logistic = 1.0", "logistic = 0.7", "must sum to 1", "families"),
    ("logistic = 1.0", "logistic = 0.5\nlinear = 0.5", "unknown key", "families.linear"),
    ("logistic = 1.0", "logistic = nan", "must be in [0, 1]", "families.logistic"),
    ('variable = "open_adoption"', 'variable = "happiness"', "unknown variable", "claims[0].variable"),
    ("threshold = 0.8", "threshold = 1.5", "strictly between 0 and 1", "claims[0].threshold"),
    ('by = ["2027-12"]', 'by = ["2031-12"]', "outside the simulated months", "claims[0].by"),
    ('by = ["2027-12"]', "by = []", "at least one month", "claims[0].by"),
    ('seed = 1', 'seed = 1\n[volatility]\nvolume = { sd = -1, persistence = 0.5 }', "must be in [0, 5]", "volatility.volume.sd"),
    ('seed = 1', 'seed = 1\n[volatility]\nvolume = { sd = 0.2, persistence = 1.0 }', "must be in [0, 1)", "persistence"),
    ('name = "mini"', 'name = "../../etc"', "name must be", "name"),
    ('name = "mini"\n', "", "missing required key 'name'", "scenario.toml"),
]


@pytest.mark.parametrize(("old", "new", "message", "key"), BAD)
def test_bad_config_names_file_key_and_what_is_allowed(tmp_path, old, new, message, key):
    assert old in MINIMAL
    with pytest.raises(UserError) as error:
        load_scenario(write(tmp_path, MINIMAL.replace(old, new, 1)))
    text = str(error.value)
    assert message in text and key in text and "scenario.toml" in text


def test_error_reports_the_line(tmp_path):
    with pytest.raises(UserError, match="line 4"):
        load_scenario(write(tmp_path, MINIMAL.replace("draws = 100", "draws = -3")))


def test_extends_overrides_table_by_table(tmp_path):
    write(tmp_path, MINIMAL.replace("seed = 1", "seed = 1\n[volatility]\nvolume = { sd = 0.3, persistence = 0.9 }"),
          "base.toml")
    child = write(tmp_path, 'extends = "base.toml"\nname = "child"\n[volatility]\nshare = { sd = 0.1, persistence = 0.5 }\n')
    scenario = load_scenario(child)
    assert scenario.name == "child" and scenario.draws == 100
    assert scenario.volatility["volume"].sd == 0.3 and scenario.volatility["share"].sd == 0.1
    assert "extended by scenario.toml" in scenario.text


def test_extends_cycle_and_missing_parent_are_errors(tmp_path):
    write(tmp_path, 'extends = "b.toml"\n' + MINIMAL, "a.toml")
    write(tmp_path, 'extends = "a.toml"\n' + MINIMAL, "b.toml")
    with pytest.raises(UserError, match="cycle"):
        load_scenario(tmp_path / "a.toml")
    with pytest.raises(UserError, match="does not exist"):
        load_scenario(write(tmp_path, 'extends = "nowhere.toml"\n' + MINIMAL, "c.toml"))


def test_a_horizon_or_event_within_the_data_is_refused_against_the_calibrations_last_month(tmp_path):
    early = load_scenario(write(tmp_path, MINIMAL.replace('horizon = "2027-12"', 'horizon = "2025-10"')
                                .replace('by = ["2027-12"]', 'by = ["2025-10"]')))
    with pytest.raises(UserError, match=r"after the last data month of the calibration \(2025-12\)") as error:
        early.check_months(np.datetime64("2025-12", "M"))
    assert "line" in str(error.value) and "horizon" in str(error.value)
    early.check_months(np.datetime64("2025-06", "M"))  # the September 2025 vintage ends in 2025-06
    shocked = load_scenario(write(tmp_path, MINIMAL + EVENT.replace('"2026-01"', '"2025-09"')))
    with pytest.raises(UserError, match="event months must start after"):
        shocked.check_months(np.datetime64("2025-12", "M"))


def test_claims_read_on_the_date_by_default_and_first_passage_when_asked():
    values = np.array([[0.1, 0.9, 0.2]])
    on_date = Claim("c", "open_share", 0.5, (np.datetime64("2026-01", "M"),))
    ever = Claim("c", "open_share", 0.5, (np.datetime64("2026-01", "M"),), kind="first_passage")
    np.testing.assert_array_equal(on_date.holds(values), [[False, True, False]])
    np.testing.assert_array_equal(ever.holds(values), [[False, True, True]])
