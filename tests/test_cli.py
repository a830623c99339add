"""The command line: results on success; on a user error, exit 2, one message, nothing written."""

from __future__ import annotations

import argparse
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
    assert "P(open_adoption > 0.8 on 2030-12)" in printed and "median first crossing" in printed
    assert "+-" in printed and "Under each variant of the open-source model" in printed
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
    assert capsys.readouterr().out.startswith("variable,time,quantile,value,mc_se\n")
    assert main(["plot", str(out), "--out", str(tmp_path / "chart.png"), "--observations", str(OBSERVATIONS)]) == 0
    assert (tmp_path / "chart.png").stat().st_size > 10_000


BAD_SCENARIO = 'name = "bad"\nhorizon = "2030-12"\ndraws = 10\nseed = 1\n[families]\nlogistic = 0.4\n'


@pytest.mark.parametrize(("args", "message"), [
    (["run", "{tmp}/bad.toml"], "weights must sum to 1"),
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
    assert any(reason in capsys.readouterr().err for reason in ("does not exist", "permission denied"))


def test_console_error_has_no_traceback(tmp_path):
    (tmp_path / "bad.toml").write_text(BAD_SCENARIO.replace('draws = 10', 'draws = "ten"'))
    done = subprocess.run([sys.executable, "-m", "sim.cli", "run", str(tmp_path / "bad.toml")],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "bad.toml, line 3, key 'draws'" in done.stderr


#: What a run on a cached posterior never needs: the samplers and what compiles their models (a fit imports
#: them), dask (only --workers and --scheduler do; xarray would import it for numpy arrays, sim.core.nodask),
#: scipy.stats (the baseline's distributions are lognormal, drawn without it: sim.data.distributions.Direct) and
#: scipy.optimize (a beta prior's shapes are solved for only when it is drawn from or fitted).
NOT_FOR_A_CACHED_RUN = ("pymc", "pytensor", "nutpie", "arviz", "statsmodels", "dask", "distributed", "scipy.stats",
                        "scipy.optimize", "sim.calibration.compiled", "sim.calibration.workers")


def test_a_cached_run_imports_no_sampler_and_no_dask(posterior_dir, tmp_path):
    imported = tmp_path / "imported.json"
    script = ("import json, sys\nfrom sim.cli import main\nstatus = main(sys.argv[2:])\n"
              "open(sys.argv[1], 'w').write(json.dumps([status, sorted(sys.modules)]))")
    out = tmp_path / "base.nc"
    done = subprocess.run([sys.executable, "-c", script, str(imported), "-q",
                           *cli("run", str(BASELINE), "--draws", "1000", "--out", str(out), posteriors=posterior_dir)],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    status, modules = json.loads(imported.read_text())
    assert status == 0 and out.is_file() and out.with_suffix(".png").is_file()
    assert "matplotlib" in modules and "sim.calibration.posterior" in modules  # it did draw and read the posterior
    assert [m for m in modules if any(m == name or m.startswith(name + ".") for name in NOT_FOR_A_CACHED_RUN)] == []


def test_xarray_still_knows_dask_arrays_once_dask_is_imported(tmp_path):
    """sim.core.nodask defers xarray's import of dask; it must not hide dask from a process that uses it."""
    script = """if True:
        import numpy as np, sys, xarray as xr
        from sim.core.nodask import defer_dask
        assert defer_dask() and defer_dask()
        plain = xr.Dataset({"x": ("i", np.arange(4.0))})
        plain.to_netcdf(sys.argv[1] + "/plain.nc", engine="h5netcdf")
        assert "dask" not in sys.modules and plain.chunks == {}
        import dask.array as da
        chunked = xr.Dataset({"x": ("i", da.arange(4.0, chunks=2))})
        assert dict(chunked.chunks) == {"i": (2, 2)} and xr.DataArray(da.ones(3, chunks=1)).chunks == ((1, 1, 1),)
        chunked.to_netcdf(sys.argv[1] + "/chunked.nc", engine="h5netcdf")
        assert xr.open_dataset(sys.argv[1] + "/chunked.nc", engine="h5netcdf").x.values.tolist() == [0, 1, 2, 3]
    """
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr


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
    assert "open-source adoption above 80% | on 2030-12" in printed and "+-" in printed
    assert (tmp_path / "compare.png").stat().st_size > 10_000


def test_version_is_printed(capsys):
    from sim.core.version import __version__

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"tokensim {__version__}"


@pytest.mark.parametrize(("argv", "quiet"), [
    (["run"], False), (["-q", "run"], True), (["run", "-q"], True), (["summarize", "x.nc", "--quiet"], True),
])
def test_quiet_is_accepted_before_or_after_the_command(argv, quiet):
    from sim.cli.parser import build_parser

    assert build_parser().parse_args(argv).quiet is quiet


def test_every_argument_of_every_command_has_help():
    from sim.cli.parser import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert commands.choices, "no commands"
    for name, command in [("tokensim", parser), *commands.choices.items()]:
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help and action.help != argparse.SUPPRESS, f"{name} {action.dest} has no help"


def test_a_usage_error_has_one_error_prefix(capsys):
    assert main(["run", "--draws", "x"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("tokensim: error: run: argument --draws") and error.count("error:") == 1


def test_a_misspelt_table_is_named_with_its_line_and_the_likely_key(tmp_path, capsys):
    scenario = tmp_path / "typo.toml"
    scenario.write_text('extends = "baseline.toml"\nname = "typo"\n\n[volatilty]\n'
                        'volume = { sd = 0.3, persistence = 0.9 }\n')
    assert main(["run", str(scenario)]) == 2
    error = capsys.readouterr().err
    assert "typo.toml, line 4, key 'volatilty'" in error and "did you mean 'volatility'?" in error


@pytest.mark.parametrize(("out", "message"), [
    ("/dev/null/x.nc", "/dev/null is a file, not a folder"),
    ("{tmp}/resluts/x.nc", "does not exist"),
])
def test_a_bad_output_path_fails_before_any_calibration_and_creates_no_folder(tmp_path, capsys, monkeypatch, out,
                                                                               message):
    import sim.api

    def calibrate(*args, **kwargs):
        raise AssertionError("calibrated before checking the output path")

    monkeypatch.setattr(sim.api, "calibrate", calibrate)
    before = sorted(os.listdir(tmp_path))
    assert main(cli("run", str(BASELINE), "--out", out.replace("{tmp}", str(tmp_path)),
                    posteriors=tmp_path / "posteriors")) == 2
    assert message in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == before


def test_screenshot_without_chromium_fails_before_anything_runs_or_is_written(tmp_path, capsys, monkeypatch):
    import sim.report.gather
    import sim.report.screenshot

    monkeypatch.setattr(sim.report.screenshot.shutil, "which", lambda *_: None)
    monkeypatch.setattr(sim.report.gather, "gather", lambda *a, **k: pytest.fail("gathered before checking Chromium"))
    code = main(["report", str(BASELINE), "-o", str(tmp_path / "r.html"), "--screenshot", str(tmp_path / "r.png")])
    assert code == 2 and "no Chromium" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_closed_pipe_ends_quietly(posterior_dir, tmp_path):
    out = tmp_path / "base.nc"
    assert main(cli("run", str(BASELINE), "--draws", "200", "--out", str(out), "--no-plot", posteriors=posterior_dir)) == 0
    for form in ("json", "hubverse"):
        reader = subprocess.Popen([sys.executable, "-m", "sim.cli", "summarize", str(out), "--format", form],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
        reader.stdout.close()  # the reader has gone before the first line is written, as after `| head -c 20`
        error = reader.stderr.read().decode()
        assert reader.wait(timeout=120) == 141, error
        assert "Traceback" not in error and "Exception ignored" not in error
