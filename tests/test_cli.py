"""The command line: results on success; on a user error, exit 2, one message, nothing written."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from sim.cli import main
from tests.conftest import BASELINE, OBSERVATIONS, PRIORS, ROOT


def cli(*args: str, posteriors=None) -> list[str]:
    extra = ["--observations", str(OBSERVATIONS), "--priors", str(PRIORS)]
    if posteriors is not None:
        extra += ["--posteriors", str(posteriors)]
    return [*args, *extra]


def test_run_writes_results_and_chart_and_prints_table_and_claims(posterior_dir, tmp_path, capsys):
    out = tmp_path / "base.nc"
    assert main(cli("run", str(BASELINE), "--draws", "500", "--out", str(out), posteriors=posterior_dir)) == 0
    printed = capsys.readouterr().out
    assert out.is_file() and out.with_suffix(".png").stat().st_size > 10_000
    assert "daily_tokens   2030-12" in printed and "open_adoption  2027-12" in printed
    assert "P(open_adoption > 0.8 by 2030-12)" in printed and "median crossing" in printed
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_summarize_formats_and_plot(posterior_dir, tmp_path, capsys):
    out = tmp_path / "base.nc"
    main(cli("run", str(BASELINE), "--draws", "300", "--out", str(out), "--no-plot", posteriors=posterior_dir))
    capsys.readouterr()
    assert main(["summarize", str(out), "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["draws"] == 300 and {c["by"] for c in summary["claims"]} == {"2027-12", "2030-12"}
    assert summary["seed"] == 20250901 and isinstance(summary["seed"], int)  # not 20250901.0
    assert main(["summarize", str(out), "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith("variable,time,quantile,value\n")
    assert main(["plot", str(out), "--out", str(tmp_path / "chart.png"), "--observations", str(OBSERVATIONS)]) == 0
    assert (tmp_path / "chart.png").stat().st_size > 10_000


BAD_SCENARIO = 'name = "bad"\nhorizon = "2030-12"\ndraws = 10\nseed = 1\n[families]\nlogistic = 0.4\n'


@pytest.mark.parametrize(("args", "message"), [
    (["run", "{tmp}/bad.toml"], "family weights must sum to 1"),
    (["run", "{tmp}/missing.toml"], "scenario file not found"),
    (["run", str(BASELINE), "--draws", "0"], "--draws"),
    (["run", str(BASELINE), "--seed", "minus"], "--seed"),
    (["run", str(BASELINE), "--as-of", "yesterday"], "--as-of"),
    (["run", str(BASELINE), "--out", "{tmp}/result.txt"], "must end in .nc"),
    (["summarize", "{tmp}/none.nc"], "results file not found"),
    (["summarize", "{tmp}/bad.toml"], "not a readable netCDF"),
    (["frobnicate"], "invalid choice"),
])
def test_user_errors_exit_2_with_a_message_and_write_nothing(tmp_path, capsys, args, message):
    (tmp_path / "bad.toml").write_text(BAD_SCENARIO)
    before = sorted(os.listdir(tmp_path))
    code = main([a.replace("{tmp}", str(tmp_path)) for a in args])
    error = capsys.readouterr().err
    assert code == 2
    assert message in error and error.startswith("tokensim: error:")
    assert sorted(os.listdir(tmp_path)) == before


def test_bad_observation_file_fails_before_anything_is_written(tmp_path, capsys):
    bad = tmp_path / "observations.toml"
    bad.write_text(OBSERVATIONS.read_text(encoding="utf-8").replace("value = 21999", "value = -21999"), encoding="utf-8")
    out = tmp_path / "out.nc"
    code = main(["run", str(BASELINE), "--observations", str(bad), "--posteriors", str(tmp_path / "p"), "--out", str(out)])
    assert code == 2 and "finite positive" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "p").exists()


def test_failed_run_leaves_an_earlier_result_untouched(posterior_dir, tmp_path, capsys):
    out = tmp_path / "keep.nc"
    assert main(cli("run", str(BASELINE), "--draws", "200", "--out", str(out), "--no-plot", posteriors=posterior_dir)) == 0
    before = out.read_bytes()
    broken = tmp_path / "broken.toml"
    broken.write_text(BASELINE.read_text(encoding="utf-8").replace("draws = 4000", "draws = -1"), encoding="utf-8")
    assert main(cli("run", str(broken), "--out", str(out), posteriors=posterior_dir)) == 2
    assert out.read_bytes() == before


def test_unwritable_output_folder_is_a_user_error(posterior_dir, tmp_path, capsys):
    if os.geteuid() == 0:
        target = "/proc/tokensim/out.nc"  # even root cannot create folders under /proc
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = str(locked / "out.nc")
    assert main(cli("run", str(BASELINE), "--draws", "50", "--out", target, "--no-plot", posteriors=posterior_dir)) == 2
    assert "does not exist" in capsys.readouterr().err


def test_console_error_has_no_traceback(tmp_path):
    (tmp_path / "bad.toml").write_text(BAD_SCENARIO.replace('draws = 10', 'draws = "ten"'))
    done = subprocess.run([sys.executable, "-m", "sim.cli", "run", str(tmp_path / "bad.toml")],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "bad.toml, line 3, key 'draws'" in done.stderr


def test_compare_writes_one_table_and_one_chart(posterior_dir, tmp_path, capsys):
    outs = []
    for scenario in ("baseline", "open_source_surge"):
        out = tmp_path / f"{scenario}.nc"
        assert main(cli("run", str(ROOT / "scenarios" / f"{scenario}.toml"), "--draws", "1000", "--out", str(out),
                        "--no-plot", posteriors=posterior_dir)) == 0
        outs.append(str(out))
    capsys.readouterr()
    assert main(["compare", *outs, "--out", str(tmp_path / "compare.png")]) == 0
    printed = capsys.readouterr().out
    assert "open_source_surge" in printed and "2030-12: median [10% - 90%]" in printed
    assert "open-source adoption above 80% | by 2030-12" in printed
    assert (tmp_path / "compare.png").stat().st_size > 10_000
