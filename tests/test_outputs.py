"""Outputs are whole or absent, as a set: a full disk, a kill at any step of the commit, or concurrent writers
never leave files of two different runs side by side, nor temporary files behind.

The mechanism is :func:`sim.core.files.write_outputs`; these tests drive it directly (with failures
injected at each step) and through ``tokensim run`` in subprocesses, on a real 1 MiB tmpfs when the
tests run as root (``mount -t tmpfs``), otherwise on a free-space figure patched to be small.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import xarray as xr
from PIL import Image

from sim.cli import main
from sim.core import files
from sim.core.errors import UserError
from sim.core.files import settle, write_outputs
from tests.conftest import BASELINE, OBSERVATIONS, PRIORS, ROOT


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_a_set_is_replaced_whole_and_a_none_entry_removes_the_earlier_file(tmp_path):
    write_outputs({tmp_path / "r.nc": b"old nc", tmp_path / "r.png": b"old png"})
    write_outputs({tmp_path / "r.nc": b"new nc", tmp_path / "r.png": None})
    assert contents(tmp_path) == {"r.nc": b"new nc"}


@pytest.mark.parametrize("failing", ["first file", "second file", "journal"])
def test_a_write_failing_at_any_step_before_the_commit_leaves_the_earlier_set(tmp_path, monkeypatch, failing):
    write_outputs({tmp_path / "r.nc": b"old nc", tmp_path / "r.png": b"old png"})
    calls = []
    real = files._write_new

    def write(path, data):
        calls.append(path)
        if len(calls) == {"first file": 1, "second file": 2, "journal": 3}[failing]:
            real(path, bytes(data)[:3])  # a partial file, then the disk fills up
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data)

    monkeypatch.setattr(files, "_write_new", write)
    with pytest.raises(UserError, match="the disk is full.*nothing was written"):
        write_outputs({tmp_path / "r.nc": b"new nc", tmp_path / "r.png": b"new png"})
    assert contents(tmp_path) == {"r.nc": b"old nc", "r.png": b"old png"}


def test_a_kill_after_the_commit_point_is_completed_by_the_next_writer(tmp_path, monkeypatch):
    """The journal is fsynced, then the process dies before renaming: the next tokensim writing there (or
    settling the folder before it reads) puts the new set in place, whole."""
    write_outputs({tmp_path / "r.nc": b"old nc", tmp_path / "r.png": b"old png"})
    with monkeypatch.context() as patched:
        patched.setattr(files, "_roll_forward", lambda journal: None)  # killed right after the commit point
        write_outputs({tmp_path / "r.nc": b"new nc", tmp_path / "r.png": b"new png"})
    assert contents(tmp_path)["r.nc"] == b"old nc"
    assert any(name.startswith(".tokensim-commit.") for name in hidden(tmp_path))
    write_outputs({tmp_path / "other.csv": b"another output in the same folder"})
    assert contents(tmp_path) == {"other.csv": b"another output in the same folder", "r.nc": b"new nc",
                                  "r.png": b"new png"}


def test_a_kill_before_the_commit_point_leaves_the_earlier_set_and_its_debris_is_removed(tmp_path):
    write_outputs({tmp_path / "r.nc": b"old nc", tmp_path / "r.png": b"old png"})
    (tmp_path / ".r.nc.0123abcd.tmp").write_bytes(b"half a file")  # what a SIGKILL mid-write leaves
    (tmp_path / ".tokensim-commit.89abcdef.json.fedcba98.tmp").write_bytes(b"{")
    (tmp_path / ".user.notes").write_bytes(b"not ours: kept")
    settle(tmp_path)
    assert contents(tmp_path) == {".user.notes": b"not ours: kept", "r.nc": b"old nc", "r.png": b"old png"}


def test_free_space_is_checked_before_any_byte_is_written(tmp_path, monkeypatch):
    write_outputs({tmp_path / "r.nc": b"old"})
    monkeypatch.setattr(files.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**6, 10**6 - 1000, 1000))
    with pytest.raises(UserError, match=r"not enough free space: the files need .*, 1 kB are free"):
        write_outputs({tmp_path / "r.nc": b"x" * 5000})
    assert contents(tmp_path) == {"r.nc": b"old"}


@contextlib.contextmanager
def tiny_filesystem(path: Path):
    """A real 1 MiB tmpfs at ``path`` (needs root and a kernel that lets this container mount one)."""
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(path)], capture_output=True,
                          check=False)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()})")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def run_cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sim.cli", "-q", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, check=False)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_a_run_onto_a_full_disk_exits_2_with_one_line_and_leaves_the_earlier_set(posterior_dir, tmp_path):
    with tiny_filesystem(tmp_path / "full") as full:
        common = ("--posteriors", str(posterior_dir), "--observations", str(OBSERVATIONS), "--priors", str(PRIORS))
        small = run_cli("run", str(BASELINE), "--draws", "30", "--out", str(full / "r.nc"), *common)
        assert small.returncode == 0, small.stderr
        earlier = contents(full)
        assert set(earlier) == {"r.nc", "r.png"}
        big = run_cli("run", str(BASELINE), "--out", str(full / "r.nc"), *common)  # 4,000 paths: ~8 MB
        assert big.returncode == 2
        assert big.stderr.count("\n") == 1 and big.stderr.startswith("tokensim: error:"), big.stderr
        assert "not enough free space" in big.stderr and "Traceback" not in big.stderr
        assert contents(full) == earlier, "the earlier r.nc and r.png changed, or a temporary file was left"

        # The space check passes (a file arrives meanwhile, say) and the disk fills up while writing:
        # the same one line, from an OSError caught before HDF5 could ever see it.
        filler = full / "filler"
        filler.write_bytes(b"\0" * max(shutil.disk_usage(full).free - 128 * 1024, 0))  # 300 paths need more
        claims_plenty = ("import sys, shutil; from sim.core import files; "
                         "files.shutil.disk_usage = lambda p: shutil._ntuple_diskusage(2**40, 0, 2**40); "
                         "from sim.cli import main; sys.exit(main(sys.argv[1:]))")
        code = subprocess.run(
            [sys.executable, "-c", claims_plenty, "-q", "run", str(BASELINE), "--draws", "300", "--out",
             str(full / "r.nc"), *common], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
        assert code.returncode == 2, code.stderr
        assert code.stderr.count("\n") == 1 and "the disk is full" in code.stderr, code.stderr
        filler.unlink()
        assert contents(full) == earlier


def test_a_sigkill_debris_is_removed_by_the_next_run_and_run_pairs_carry_their_seed(posterior_dir, tmp_path):
    out = tmp_path / "r.nc"
    (tmp_path / ".r.nc.deadbeef.tmp").write_bytes(b"left by a SIGKILL")
    code = main(["-q", "run", str(BASELINE), "--draws", "100", "--seed", "5", "--out", str(out),
                 "--posteriors", str(posterior_dir), "--observations", str(OBSERVATIONS), "--priors", str(PRIORS)])
    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.nc", "r.png"]
    assert png_seed(out.with_suffix(".png")) == nc_seed(out) == 5


def png_seed(path: Path) -> int:
    description = Image.open(path).text["Description"]
    return int(description.split(",")[0].removeprefix("seed "))


def nc_seed(path: Path) -> int:
    with xr.open_dataset(path) as opened:
        return int(opened.attrs["seed"])


def test_concurrent_runs_to_one_output_take_turns_and_leave_one_runs_pair(posterior_dir, tmp_path):
    """While another process holds the folder, a run waits (saying so) and writes nothing; three runs started
    together leave the .nc and .png of one of them, never a mix."""
    out = tmp_path / "conc.nc"
    common = ["--draws", "200", "--out", str(out), "--posteriors", str(posterior_dir), "--observations",
              str(OBSERVATIONS), "--priors", str(PRIORS)]
    log = tmp_path.parent / f"{tmp_path.name}-stderr.txt"
    descriptor = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(descriptor, fcntl.LOCK_EX)  # another tokensim is writing into this folder
    try:
        with open(log, "w") as stderr:
            waiting = subprocess.Popen([sys.executable, "-m", "sim.cli", "run", str(BASELINE), "--seed", "1", *common],
                                       cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + 300
        while waiting.poll() is None and time.monotonic() < deadline and "waiting:" not in log.read_text():
            time.sleep(0.2)
        time.sleep(1)
        assert waiting.poll() is None, log.read_text()
        assert "waiting: another tokensim process is writing there" in log.read_text()
        assert not out.exists()
    finally:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        os.close(descriptor)
    assert waiting.wait(timeout=600) == 0, log.read_text()
    assert png_seed(out.with_suffix(".png")) == nc_seed(out) == 1

    runs = [subprocess.Popen([sys.executable, "-m", "sim.cli", "-q", "run", str(BASELINE), "--seed", str(seed), *common],
                             cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for seed in (11, 12, 13)]
    for run in runs:
        assert run.wait(timeout=600) == 0, run.stderr.read()
    assert png_seed(out.with_suffix(".png")) == nc_seed(out) in (11, 12, 13)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conc.nc", "conc.png"]


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_a_cache_on_a_full_disk_is_refused_before_any_fitting(tmp_path, monkeypatch, capsys):
    def refuse(*args, **kwargs):
        raise AssertionError("sampled although the posterior could not be saved")

    monkeypatch.setattr("pymc.sample", refuse)
    with tiny_filesystem(tmp_path / "full") as full:
        code = main(["-q", "calibrate", "--posteriors", str(full), "--observations", str(OBSERVATIONS),
                     "--priors", str(PRIORS)])
        err = capsys.readouterr().err
        assert code == 2 and f"--posteriors {full}: cannot save a posterior in this folder" in err, err
        assert list(full.iterdir()) == []


def test_the_report_reuses_a_result_only_with_its_chart(posterior, tmp_path):
    """A report killed between a run's two files used to leave a .nc without its .png, which the next report
    reused; a result whose chart is missing is simulated again, and both are written as one set."""
    from sim.data.observations import load_observations
    from sim.report.gather import scenario_result
    from sim.scenarios.scenario import load_scenario

    scenario, registry = load_scenario(BASELINE), load_observations(OBSERVATIONS)
    first = scenario_result(scenario, posterior, tmp_path, registry, draws=200)
    assert first.origin.startswith("simulated now") and (tmp_path / "baseline.png").is_file()
    assert scenario_result(scenario, posterior, tmp_path, registry, draws=200).origin.startswith("reused")
    (tmp_path / "baseline.png").unlink()
    again = scenario_result(scenario, posterior, tmp_path, registry, draws=200)
    assert again.origin.endswith("(its fan chart was missing)") and (tmp_path / "baseline.png").is_file()
    assert png_seed(tmp_path / "baseline.png") == nc_seed(tmp_path / "baseline.nc")
