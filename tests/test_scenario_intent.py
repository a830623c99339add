"""Every scenario of the library states what it means against the baseline ([intent]), and does it: run on the
same posterior, seed and number of paths, its distribution moves the stated way at every year end."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from sim.analysis.intent import intent_failures, story_start
from sim.api import simulate
from sim.scenarios.scenario import load_scenario
from tests.conftest import BASELINE, ROOT

ALTERNATIVES = sorted(p for p in (ROOT / "scenarios").glob("*.toml") if p.name != "baseline.toml")
PATHS, SEED = 20_000, 11


@pytest.fixture(scope="module")
def baseline_run(posterior):
    return simulate(posterior, load_scenario(BASELINE), draws=PATHS, seed=SEED)


@pytest.mark.parametrize("path", ALTERNATIVES, ids=lambda p: p.stem)
def test_each_scenario_moves_its_stated_variables_the_stated_way(path, posterior, baseline_run):
    scenario = load_scenario(path)
    assert scenario.intent, f"{path.name} states no [intent]: say what it means against the baseline"
    results = simulate(posterior, scenario, draws=PATHS, seed=SEED)
    assert intent_failures(results, baseline_run, scenario.intent, start=story_start(scenario, results)) == []


def _shifted(dataset: xr.Dataset, variable: str, quantile: float, factor: float) -> xr.Dataset:
    shifted = dataset.copy(deep=True)
    shifted[f"{variable}_quantiles"].loc[{"quantile": quantile}] *= factor
    return shifted


def test_a_lower_median_with_a_higher_lower_tail_is_not_lower(baseline_run):
    # demand_slowdown once had exactly this shape: a lower median, a 10th percentile above the baseline's
    lower_median = _shifted(baseline_run, "daily_tokens", 0.5, 0.7)
    assert intent_failures(lower_median, baseline_run, (("daily_tokens", "lower"),)) == []
    fat_tail = _shifted(lower_median, "daily_tokens", 0.1, 1.2)
    failures = intent_failures(fat_tail, baseline_run, (("daily_tokens", "lower"),))
    assert failures and all("10% quantile" in f for f in failures)
    assert intent_failures(baseline_run, baseline_run, (("open_adoption", "higher"),)) == [
        "open_adoption should be higher, but its median is never clearly so"]
    assert np.isfinite(baseline_run["daily_tokens_quantiles"]).all()


def test_an_intent_must_name_a_variable_and_a_direction(tmp_path):
    from sim.core.errors import UserError

    bad = tmp_path / "bad.toml"
    bad.write_text(f'extends = "{BASELINE}"\nname = "bad"\n[intent]\ndaily_tokens = "up"\n')
    with pytest.raises(UserError, match="expected one of higher, lower"):
        load_scenario(bad)
    bad.write_text(f'extends = "{BASELINE}"\nname = "bad"\n[intent]\nvolume = "higher"\n')
    with pytest.raises(UserError, match="allowed here: daily_tokens, open_share, open_adoption"):
        load_scenario(bad)
