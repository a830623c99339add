"""An installed tokensim runs from any folder: the wheel ships the calibration files and the scenario library,
commands in an empty folder read them and write ./results/, and ``tokensim init`` makes editable copies that
commands then read instead.

The wheel is built from this repository and installed (not editable) into a folder of its own, which comes
first on the path; the test interpreter's environment provides the dependencies. The posterior comes from the
session's calibration, copied into the user cache folder the installed tokensim looks in (same inputs, same id).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

SHIPPED = ("sim/defaults/calibration/observations.toml", "sim/defaults/calibration/priors.toml",
           "sim/defaults/calibration/compute.toml", "sim/defaults/scenarios/baseline.toml",
           "sim/defaults/scenarios/README.md")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The package as built by pip from this repository and installed into a folder of its own."""
    folder = tmp_path_factory.mktemp("install")
    source = folder / "source"  # a clean copy: building writes build/ and egg-info/ beside the sources
    for name in ("pyproject.toml", "setup.py", "README.md"):
        source.mkdir(exist_ok=True)
        shutil.copy(ROOT / name, source / name)
    for name in ("sim", "calibration", "scenarios"):
        shutil.copytree(ROOT / name, source / name,
                        ignore=shutil.ignore_patterns("__pycache__", "posteriors", "report.png", "defaults"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(folder / "wheel"), str(source)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next((folder / "wheel").glob("tokensim-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert set(SHIPPED) <= names, sorted(set(SHIPPED) - names)
    assert not [n for n in names if "posteriors/" in n or n.endswith((".nc", ".png"))], "generated files shipped"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                           str(folder / "site"), str(wheel)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return folder


def tokensim(installed: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(installed / "site"), "XDG_CACHE_HOME": str(installed / "cache")}
    return subprocess.run([sys.executable, "-m", "sim.cli", *args], cwd=cwd, env=environment, capture_output=True,
                          text=True, timeout=600)


def test_installed_package_runs_the_baseline_from_an_empty_folder(installed, posterior_dir, tmp_path):
    cache = installed / "cache" / "tokensim" / "posteriors"
    cache.mkdir(parents=True, exist_ok=True)
    for posterior in posterior_dir.glob("posterior-*.nc"):
        shutil.copy(posterior, cache / posterior.name)
    empty = tmp_path / "analyst"
    empty.mkdir()
    done = tokensim(installed, empty, "run", "--draws", "500")
    assert done.returncode == 0, done.stderr[-3000:]
    assert (empty / "results" / "baseline.nc").is_file() and (empty / "results" / "baseline.png").is_file()
    assert sorted(p.name for p in empty.iterdir()) == ["results"]  # nothing else appears in the analyst's folder
    assert "reusing posterior" in done.stderr and str(cache) in done.stderr
    import xarray as xr

    with xr.open_dataset(empty / "results" / "baseline.nc") as results:
        shipped = installed / "site" / "sim" / "defaults"
        assert results.attrs["scenario_file"] == str(shipped / "scenarios" / "baseline.toml")
        assert results.attrs["observations_file"] == str(shipped / "calibration" / "observations.toml")
        assert results.attrs["posterior_file"].startswith(str(cache))
    # a result elsewhere is read with the shipped registry, and a scenario outside the repository extends the library
    plot = tokensim(installed, tmp_path, "plot", str(empty / "results" / "baseline.nc"), "--out", str(tmp_path / "f.png"))
    assert plot.returncode == 0 and (tmp_path / "f.png").is_file(), plot.stderr[-3000:]
    mine = tmp_path / "mine.toml"
    mine.write_text('extends = "baseline.toml"\nname = "mine"\n[volatility]\nvolume = { sd = 0.4, persistence = 0.9 }\n')
    run = tokensim(installed, empty, "-q", "run", str(mine), "--draws", "200", "--no-plot")
    assert run.returncode == 0 and (empty / "results" / "mine.nc").is_file(), run.stderr[-3000:]
    version = tokensim(installed, empty, "--version")
    assert version.returncode == 0 and version.stdout.startswith("tokensim ")


def test_init_copies_the_editable_inputs_and_commands_then_read_them(installed, tmp_path):
    done = tokensim(installed, tmp_path, "init", "project")
    assert done.returncode == 0, done.stderr[-3000:]
    project = tmp_path / "project"
    assert (project / "calibration" / "observations.toml").read_bytes() == (ROOT / "calibration" / "observations.toml").read_bytes()
    assert sorted(p.name for p in (project / "scenarios").iterdir()) == sorted(
        p.name for p in (ROOT / "scenarios").iterdir() if p.suffix == ".toml" or p.name == "README.md")
    assert not (project / "calibration" / "posteriors").exists() and not (project / "calibration" / "sbc.nc").exists()
    # the copies are what commands now read: a broken registry there is the one named in the error
    registry = project / "calibration" / "observations.toml"
    registry.write_text(registry.read_text(encoding="utf-8").replace("value = 21999", "value = -21999"), encoding="utf-8")
    broken = tokensim(installed, project, "run", "--draws", "50")
    assert broken.returncode == 2 and "calibration/observations.toml" in broken.stderr
    assert "finite positive" in broken.stderr and not (project / "results").exists()
    again = tokensim(installed, tmp_path, "init", "project")
    assert again.returncode == 2 and "already exists" in again.stderr and "never overwrites" in again.stderr
