"""What summarize exports loads elsewhere as it is: a tidy CSV, JSON with integers, any month or year mean,
an xlsx workbook and a hubverse table, each holding the numbers of the results file."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from sim.cli import main


@pytest.fixture(scope="module")
def result(baseline_results, tmp_path_factory):
    from sim.engine.results import write_dataset

    path = tmp_path_factory.mktemp("exports") / "baseline.nc"
    write_dataset(baseline_results, path)
    return path


def summarize(capsys, *args: str) -> str:
    capsys.readouterr()
    assert main(["summarize", *args]) == 0
    return capsys.readouterr().out


def test_csv_is_one_tidy_table_of_every_stored_quantile_at_year_ends(result, baseline_results, capsys):
    frame = pd.read_csv(io.StringIO(summarize(capsys, str(result), "--format", "csv")))
    assert list(frame.columns) == ["variable", "time", "quantile", "value", "mc_se"]
    assert (frame["mc_se"] >= 0).all() and (frame["mc_se"] > 0).any()
    assert frame["value"].dtype == float and frame["quantile"].dtype == float
    years = sorted(set(str(t)[:4] for t in baseline_results["time"].values))
    assert len(frame) == 3 * len(years) * baseline_results.sizes["quantile"]
    row = frame.query("variable == 'daily_tokens' and time == '2030-12' and quantile == 0.5")
    expected = float(baseline_results["daily_tokens_quantiles"].sel(time="2030-12", quantile=0.5).item())
    assert row["value"].item() == pytest.approx(expected, rel=1e-12)


def test_quantiles_at_any_month(result, baseline_results, capsys):
    frame = pd.read_csv(io.StringIO(summarize(capsys, str(result), "--format", "csv", "--at", "2026-06", "2028-03")))
    assert set(frame["time"]) == {"2026-06", "2028-03"}
    stored = baseline_results["open_share_quantiles"].sel(time="2026-06").values.ravel()
    assert np.allclose(frame.query("variable == 'open_share' and time == '2026-06'")["value"], stored)


def test_annual_means_are_quantiles_of_each_paths_calendar_year_mean(result, baseline_results, capsys):
    frame = pd.read_csv(io.StringIO(summarize(capsys, str(result), "--format", "csv", "--annual-mean")),
                        dtype={"time": str})
    assert "2024" not in set(frame["time"])  # only July to December of 2024 are simulated
    assert {"2025", "2030"} <= set(frame["time"])
    means = baseline_results["daily_tokens"].sel(time=slice("2027-01", "2027-12")).mean("time").values
    row = frame.query("variable == 'daily_tokens' and time == '2027' and quantile == 0.5")
    assert row["value"].item() == pytest.approx(np.quantile(means, 0.5), rel=1e-12)
    assert "calendar year" in summarize(capsys, str(result), "--annual-mean")


def test_claims_have_their_own_table(result, baseline_results, capsys):
    from sim.engine.results import claims_from_attr

    frame = pd.read_csv(io.StringIO(summarize(capsys, str(result), "--format", "csv", "--claims")))
    assert {"claim", "variable", "kind", "by", "probability", "mc_se"} <= set(frame.columns)
    assert frame["probability"].between(0, 1).all()
    assert len(frame) == sum(len(claim.by) for claim in claims_from_attr(baseline_results))


def test_json_keeps_integers_integers(result, capsys):
    text = summarize(capsys, str(result), "--format", "json")
    document = json.loads(text)
    assert isinstance(document["seed"], int) and isinstance(document["draws"], int)
    assert "20250901.0" not in text
    assert {"variable", "time", "quantile", "value", "mc_se"} == set(document["quantiles"][0])
    assert {"probability", "mc_se", "kind"} <= set(document["claims"][0])


def test_xlsx_workbook_holds_the_same_tables(result, tmp_path, capsys):
    out = tmp_path / "baseline.xlsx"
    summarize(capsys, str(result), "--format", "xlsx", "--out", str(out))
    sheets = pd.read_excel(out, sheet_name=None)
    assert set(sheets) == {"quantiles", "claims", "variables", "attributes"}
    tidy = pd.read_csv(io.StringIO(summarize(capsys, str(result), "--format", "csv")))
    assert np.allclose(sheets["quantiles"]["value"], tidy["value"])
    attributes = dict(zip(sheets["attributes"]["attribute"], sheets["attributes"]["value"]))
    assert attributes["scenario"] == "baseline"


def test_hubverse_table_holds_every_months_quantiles_and_sample_paths(result, baseline_results, capsys):
    frame = pd.read_csv(io.StringIO(summarize(capsys, str(result), "--format", "hubverse", "--samples", "7")),
                        dtype={"output_type_id": str})
    assert list(frame.columns)[:2] == ["scenario", "reference_date"]
    assert {"target", "horizon", "target_end_date", "output_type", "output_type_id", "value"} <= set(frame.columns)
    months, levels = baseline_results.sizes["time"], baseline_results.sizes["quantile"]
    counts = frame.groupby("output_type").size()
    assert counts["quantile"] == 3 * months * levels and counts["sample"] == 3 * months * 7
    assert frame.query("horizon == 0")["target_end_date"].unique().tolist() == [frame["reference_date"][0]]
    path = frame.query("output_type == 'sample' and target == 'open_adoption' and output_type_id == '3'")
    assert np.allclose(path["value"], baseline_results["open_adoption"].sel(draw=3).values)


@pytest.mark.parametrize(("args", "message"), [
    (["--at", "2040-01"], "not simulated"),
    (["--at", "2026-13"], "month must be 01..12"),
    (["--at", "2026-06", "--annual-mean"], "not both"),
    (["--format", "xlsx"], "give --out"),
    (["--format", "csv", "--out", "{tmp}/table.xlsx"], "writes a .csv file"),
    (["--format", "hubverse", "--claims"], "do not apply"),
])
def test_bad_export_requests_exit_2_and_write_nothing(result, tmp_path, capsys, args, message):
    code = main(["summarize", str(result), *(a.replace("{tmp}", str(tmp_path)) for a in args)])
    assert code == 2 and message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
