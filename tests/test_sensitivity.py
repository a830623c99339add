"""Global sensitivity (``tokensim sensitivity``): index recovery, common random numbers, contract, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr

from sim.analysis import sensitivity as sens
from sim.cli import main
from sim.engine.runner import run_paths
from sim.scenarios.scenario import load_scenario
from tests.conftest import OBSERVATIONS, PRIORS, ROOT

TINY = """
name = "tiny"
horizon = "2028-12"
draws = 1000
seed = 7

[families]
logistic = 0.5
gompertz = 0.5

[volatility]
volume = { sd = 0.2, persistence = 0.9 }
adoption = { sd = 0.1, persistence = 0.95 }

[[claims]]
name = "adoption above 80%"
variable = "open_adoption"
threshold = 0.8
by = ["2027-12"]

[[claims]]
name = "tokens above 50T"
variable = "daily_tokens"
threshold = 5e13
by = ["2026-12", "2028-12"]
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("scenarios") / "tiny.toml"
    path.write_text(TINY)
    return path


def _toy_factor(name: str) -> sens.Factor:
    return sens.Factor(name, name, 0.0, 1.0, 0.5, lambda scenario, value: scenario)


def test_sobol_recovers_a_dominant_and_an_inert_factor():
    factors = [_toy_factor(name) for name in ("dominant", "minor", "inert")]
    design = sens.sobol_design(factors, 256, seed=3)
    x = design
    outputs = np.column_stack([8.0 * x[:, 0] + np.sin(2 * np.pi * x[:, 1]) * 0.5,  # x3 has no effect
                               np.full(len(x), 0.25)])  # a target that never varies
    indices = sens.sobol_indices(factors, outputs, seed=3)
    st, s1 = indices["ST"][0], indices["S1"][0]
    assert st[2] == 0.0 and indices["ST_conf"][0][2] == 0.0  # exactly: f(A) == f(AB_inert) row by row
    assert st[0] > 0.9 and s1[0] > 0.85
    assert 0.0 < st[1] < 0.1
    assert np.all(np.isnan(indices["ST"][1]))  # constant target: nothing to share out


def test_design_and_bootstrap_are_reproducible():
    factors = [_toy_factor(name) for name in ("a", "b")]
    first, second = sens.sobol_design(factors, 16, seed=11), sens.sobol_design(factors, 16, seed=11)
    np.testing.assert_array_equal(first, second)
    assert first.shape == (16 * 4, 2)
    outputs = (first[:, 0] + first[:, 1] ** 2)[:, None]
    a, b = sens.sobol_indices(factors, outputs, seed=11), sens.sobol_indices(factors, outputs, seed=11)
    for name in ("S1", "S1_conf", "ST", "ST_conf"):
        np.testing.assert_array_equal(a[name], b[name])
    assert not np.array_equal(first, sens.sobol_design(factors, 16, seed=12))


def test_engine_factor_without_a_path_to_the_target_has_zero_total_index(posterior, tiny):
    """With common random numbers, volume volatility cannot move adoption at all: ST is exactly 0."""
    scenario = load_scenario(tiny)
    factors, _, _ = sens.scenario_factors(scenario, posterior)
    chosen = [f for f in factors if f.name in ("volatility.volume.sd", "volatility.adoption.sd",
                                               "prior.adoption_headroom")]
    targets = sens.scenario_targets(scenario)[:1]  # adoption above 80% by 2027-12
    model = sens.ScenarioModel(posterior, scenario, chosen, targets, paths=300, seed=5)
    outputs = model(sens.sobol_design(chosen, 16, seed=5))
    st = dict(zip([f.name for f in chosen], sens.sobol_indices(chosen, outputs, seed=5)["ST"][0]))
    assert st["volatility.volume.sd"] == 0.0
    assert st["prior.adoption_headroom"] > 0.3 > st["volatility.adoption.sd"]


def test_evaluation_at_the_scenario_values_is_the_engine_run(posterior, tiny):
    """Without prior shifts, an evaluation at the nominal point reproduces a plain run bit for bit."""
    scenario = load_scenario(tiny)
    factors, _, _ = sens.scenario_factors(scenario, posterior)
    factors = [f for f in factors if not f.name.startswith("prior.")]
    targets = sens.scenario_targets(scenario)
    model = sens.ScenarioModel(posterior, scenario, factors, targets, paths=1500, seed=9)
    values = model.evaluate_one(np.array([f.nominal for f in factors]))
    output = run_paths(posterior, scenario, draws=1500, seed=9)
    months = output.times.astype("datetime64[M]")
    series = output.paths.series()
    for target, value in zip(targets, values):
        column = int(np.searchsorted(months, target.date))
        if target.kind == "claim":
            claim = next(c for c in scenario.claims if c.name == target.claim)
            assert value == claim.holds(series[claim.variable])[:, column].mean()
        else:
            assert value == np.log10(np.median(series["daily_tokens"][:, column]))


def test_event_factors_set_probability_and_scale_the_size(tmp_path, posterior):
    path = tmp_path / "shock.toml"
    path.write_text(TINY + """
[[events]]
name = "shock"
target = "volume"
probability = 0.8
start = "2026-01"
size = { dist = "normal", p5 = -0.5, p95 = -0.1 }
""")
    scenario = load_scenario(path)
    factors = {f.name: f for f in sens.event_factors(scenario, posterior, [])}
    probability, size = factors["event.0.probability"], factors["event.0.size"]
    assert (probability.low, probability.high, probability.nominal) == (0.4, 1.0, 0.8)
    changed = size.apply(probability.apply(scenario, 0.55), 1.5).events[0]
    assert changed.probability == 0.55
    assert changed.size.spec == {"p5": -0.75, "p95": -0.15000000000000002}
    assert scenario.events[0].size.spec == {"p5": -0.5, "p95": -0.1}  # the loaded scenario is untouched


def test_compute_bound_factors_shift_the_prior_medians(posterior, tiny):
    scenario = load_scenario(ROOT / "scenarios" / "compute_constrained.toml")
    factors = {f.name: f for f in sens.compute_factors(scenario, posterior, [])}
    assert set(factors) == {"compute.utilisation", "compute.active_parameters"}
    shifted = factors["compute.utilisation"].apply(scenario, math.log(2.0)).compute.utilisation
    before = scenario.compute.utilisation
    assert math.isclose(shifted.quantile(0.5), 2 * before.quantile(0.5), rel_tol=1e-9)
    assert math.isclose(shifted.quantile(0.95) / shifted.quantile(0.05), before.quantile(0.95) / before.quantile(0.05))
    assert sens.compute_factors(load_scenario(tiny), posterior, []) == []  # no [compute] table


def test_prior_shifts_are_narrowed_to_keep_the_effective_sample_size(posterior, tiny, monkeypatch):
    monkeypatch.setitem(sens.PRIOR_SHIFTS, "adoption_headroom", ("logit", 8.0, "adoption headroom prior"))
    scenario = load_scenario(tiny)
    factors, notes, worst = sens.scenario_factors(scenario, posterior)
    shift = next(f for f in factors if f.name == "prior.adoption_headroom")
    assert shift.high < 8.0 and shift.low == -shift.high
    assert any("narrowed" in note and "adoption headroom prior" in note for note in notes)
    assert worst >= sens.MIN_ESS
    assert any("open usage volatility is 0" in note for note in notes)  # no share volatility in TINY


def test_cli_writes_the_contract_and_is_reproducible(posterior_dir, tiny, tmp_path, capsys):
    out = tmp_path / "tiny-sensitivity.nc"
    arguments = ["-q", "sensitivity", str(tiny), "--base-samples", "8", "--paths", "200", "--seed", "4",
                 "--out", str(out), "--observations", str(OBSERVATIONS), "--priors", str(PRIORS),
                 "--posteriors", str(posterior_dir)]
    assert main(arguments) == 0
    printed = capsys.readouterr().out
    assert "Top three drivers" in printed and "adoption above 80% on 2027-12" in printed
    dataset = xr.load_dataset(out)
    assert set(dataset.dims) == {"target", "factor", "quantity"}  # quantity: the PAWN part
    for name in ("S1", "S1_conf", "ST", "ST_conf"):
        assert dataset[name].dims == ("target", "factor")
    for coord in ("target_kind", "claim", "variable", "date", "target_label"):
        assert dataset[coord].dims == ("target",)
    assert list(dataset["target_kind"].values) == ["claim", "claim", "claim", "median"]
    assert list(dataset["date"].values) == ["2027-12", "2026-12", "2028-12", "2027-12"]
    assert dataset["factor_label"].dims == ("factor",)
    assert dataset.attrs["seed"] == 4 and dataset.attrs["scenario"] == "tiny"
    assert dataset.attrs["evaluations"] == 8 * (dataset.sizes["factor"] + 2)
    assert dataset.attrs["paths_per_evaluation"] == 200
    for key in ("calibration_id", "tokensim_version", "method", "design"):
        assert dataset.attrs[key]
    assert out.with_suffix(".csv").stat().st_size > 0 and out.with_suffix(".png").stat().st_size > 0
    pawn = dataset["pawn_median"].sel(target=dataset["target"].values[0])  # adoption above 80%
    assert pawn.dims == ("quantity",) and "Which quantities of a path" in printed
    assert float(pawn.sel(quantity="m")) > 3 * float(pawn.sel(quantity="dummy"))

    drivers = sens.top_drivers(dataset, "tokens above 50T", "2028-12")
    assert len(drivers) == 3 and drivers[0][1] >= drivers[1][1] >= drivers[2][1]
    assert drivers[0][0] == "ceiling headroom prior: median (log shift)"
    frame = sens.ranking_frame(dataset)
    assert len(frame) == dataset.sizes["target"] * dataset.sizes["factor"]
    assert list(frame.columns[:7]) == ["target", "rank", "factor", "ST", "ST_conf", "S1", "S1_conf"]

    from sim.calibration.calibrate import calibrate
    from sim.calibration.inputs import CalibrationInputs

    again = sens.analyse(calibrate(CalibrationInputs.load(OBSERVATIONS, PRIORS, posterior_dir))[0], load_scenario(tiny),
                         base_samples=8, paths=200, seed=4)
    for name in ("S1", "S1_conf", "ST", "ST_conf", "noise_variance"):
        np.testing.assert_array_equal(again[name].values, dataset[name].values)


@pytest.mark.parametrize("extra, where", [
    (["--base-samples", "100"], "--base-samples"),
    (["--base-samples", "4"], "--base-samples"),
    (["--paths", "10"], "--paths"),
    (["--paths", "1000000"], "--paths"),
    (["--out", "{tmp}/table.csv"], "--out"),
])
def test_sizes_and_outputs_out_of_range_exit_2_before_anything_runs(tiny, tmp_path, capsys, extra, where):
    extra = [item.replace("{tmp}", str(tmp_path)) for item in extra]
    out = [] if "--out" in extra else ["--out", str(tmp_path / "s.nc")]
    assert main(["sensitivity", str(tiny), *out, *extra, "--posteriors", str(tmp_path / "none")]) == 2
    assert where in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # not even a posterior folder: it failed before calibrating


def test_unknown_scenario_and_scenario_without_claims_exit_2(tmp_path, capsys):
    assert main(["sensitivity", str(tmp_path / "missing.toml")]) == 2
    assert "missing.toml: scenario file not found" in capsys.readouterr().err
    bare = tmp_path / "bare.toml"
    bare.write_text(TINY.split("[[claims]]")[0])
    assert main(["sensitivity", str(bare), "--out", str(tmp_path / "bare.nc"),
                 "--posteriors", str(tmp_path / "none")]) == 2
    error = capsys.readouterr().err
    assert "bare.toml" in error and "no [[claims]]" in error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bare.toml"]


def test_top_drivers_names_the_known_claims_when_asked_for_another():
    dataset = xr.Dataset(
        {"ST": (("target", "factor"), [[0.1, 0.7]]), "ST_conf": (("target", "factor"), [[0.01, 0.02]])},
        coords={"target": ["t"], "claim": ("target", ["c"]), "date": ("target", ["2030-12"]),
                "target_kind": ("target", ["claim"]), "factor": ["a", "b"], "factor_label": ("factor", ["A", "B"])})
    assert sens.top_drivers(dataset, "c", "2030-12", n=1) == [("B", 0.7, 0.02)]
    with pytest.raises(sens.UserError, match="c by 2030-12"):
        sens.top_drivers(dataset, "other", "2030-12")
    assert math.isclose(sens.top_drivers(dataset, "c", "2030-12")[1][1], 0.1)
