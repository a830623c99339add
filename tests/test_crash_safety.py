"""Crash safety: a run killed with SIGKILL at any moment never leaves a partial result file.

``tokensim run`` writes its .nc and .png as one set through :func:`sim.core.files.write_outputs`
(temporary files in the destination folder, fsync, a journal, renames). So whatever the moment of a
SIGKILL, the result path holds either nothing (no earlier result) or a complete result: the earlier
one, byte for byte, or (if the kill came after the commit point) the new one, which has the same
content because the seed and draws are the same (only the ``history`` attribute, a timestamp,
differs).

Debris: a SIGKILL cannot clean up, so a kill during a write can leave the temporary files
(``.r.nc.<random>.tmp``, ``.r.png.<random>.tmp``) or a commit journal behind. Those names are hidden,
never the result path, and nothing reads them; the next run into the folder removes them (or, for a
journal, completes its set), which the end of this test checks. Anything else is not allowed.

The subprocess uses the session's calibrated posterior, so no calibration happens in it. Kills are
placed at landmarks of the measured full run rather than only at fixed delays, so that several
land while the 37 MB results file is being written (the only window in which a non-atomic writer
would leave a partial file): at 0.2 s (imports), during the write (just after the temporary file
appears, and near the end of the write, from the first run's timing) and after the rename, while
the chart is written.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import xarray as xr

from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL") or os.name != "posix", reason="needs POSIX SIGKILL")

DRAWS = "20000"
DEBRIS = re.compile(r"^\.(r\.(nc|png)\.[^/]+\.tmp|tokensim-commit\.[0-9a-f]+\.json(\.[0-9a-f]+\.tmp)?)$")
PNG_END = b"IEND\xaeB`\x82"


def command(out: Path, posteriors: Path) -> list[str]:
    return [sys.executable, "-m", "sim.cli", "run", "scenarios/baseline.toml", "--out", str(out), "--draws", DRAWS,
            "--posteriors", str(posteriors), "--observations", "calibration/observations.toml",
            "--priors", "calibration/priors.toml"]


def digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def identity(path: Path) -> tuple[int, int] | None:
    """(inode, size) of ``path``: the inode changes when a rename replaces the file."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_size


def temporary_nc(folder: Path) -> list[Path]:
    return sorted(folder.glob(".r.nc.*.tmp"))


class Run:
    """One ``tokensim run`` subprocess, watched every few milliseconds."""

    def __init__(self, out: Path, posteriors: Path, log: Path) -> None:
        self.out, self.folder = out, out.parent
        self.out_before = identity(out)
        self.tmp_before = set(temporary_nc(self.folder))
        self.stderr = open(log, "wb")
        self.started = time.perf_counter()
        self.process = subprocess.Popen(command(out, posteriors), cwd=ROOT, stdout=subprocess.DEVNULL,
                                        stderr=self.stderr)
        self.tmp_appeared: float | None = None  # when this run's temporary .nc file appeared
        self.renamed: float | None = None  # when the result path changed (the rename)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def poll(self) -> bool:
        """Record landmarks; True while the process is running."""
        if self.tmp_appeared is None and set(temporary_nc(self.folder)) - self.tmp_before:
            self.tmp_appeared = self.elapsed()
        if self.renamed is None and identity(self.out) != self.out_before:
            self.renamed = self.elapsed()
        return self.process.poll() is None

    def wait_until(self, condition, limit: float = 120.0) -> None:
        while self.poll() and not condition() and self.elapsed() < limit:
            time.sleep(0.005)

    def kill(self) -> tuple[int, bool]:
        """SIGKILL now; returns the exit status and whether a temporary .nc file existed at that moment."""
        writing = bool(set(temporary_nc(self.folder)) - self.tmp_before) and identity(self.out) == self.out_before
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        code = self.process.wait(timeout=60)
        self.stderr.close()
        return code, writing

    def finish(self) -> int:
        self.wait_until(lambda: False)
        code = self.process.wait(timeout=120)
        self.stderr.close()
        return code


def assert_only_allowed_files(folder: Path) -> None:
    names = sorted(p.name for p in folder.iterdir())
    unexpected = [name for name in names if name not in ("r.nc", "r.png") and not DEBRIS.match(name)]
    assert not unexpected, f"unexpected files after a kill: {unexpected}"


def assert_complete_result(path: Path, reference: xr.Dataset) -> None:
    """``path`` opens with plain xarray and holds the same results as ``reference`` (history aside)."""
    with xr.open_dataset(path) as opened:
        result = opened.load()
    result.attrs.pop("history", None)
    xr.testing.assert_identical(result, reference)


def test_sigkill_at_any_moment_leaves_no_partial_result(posterior_dir, tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    out, png = results / "r.nc", results / "r.png"
    outcomes = []

    # 1. No earlier result: killed as soon as it writes, the result path must not exist at all, or (if the
    #    kill came after the commit point) hold the complete pair, checked once the reference exists.
    first = Run(out, posterior_dir, tmp_path / "stderr-0.txt")
    first.wait_until(lambda: first.tmp_appeared is not None)
    code, writing = first.kill()
    outcomes.append(("no earlier result, during the write", code, writing, "absent" if not out.exists() else "present"))
    assert out.exists() == png.exists(), "a killed run left one file of the pair"
    first_left = tmp_path / "first-left.nc"
    if out.exists():
        out.rename(first_left)
        png.unlink()
    assert_only_allowed_files(results)

    # 2. A complete run: the earlier result every later kill must leave intact. Measure its landmarks.
    full = Run(out, posterior_dir, tmp_path / "stderr-1.txt")
    code = full.finish()
    assert code == 0, (tmp_path / "stderr-1.txt").read_text()
    duration, tmp_at, renamed_at = full.elapsed(), full.tmp_appeared, full.renamed
    assert tmp_at is not None and renamed_at is not None and tmp_at < renamed_at < duration
    write_time = renamed_at - tmp_at
    with xr.open_dataset(out) as opened:
        reference = opened.load()
    reference.attrs.pop("history", None)
    assert reference.sizes["draw"] == int(DRAWS)
    if first_left.exists():
        assert_complete_result(first_left, reference)

    # 3. Kills spread over the run: (name, landmark to wait for, seconds after it).
    plan = [
        ("at 0.2 s (starting up)", None, 0.2),
        ("as the temporary file appears", "tmp", 0.0),
        ("near the end of the write", "tmp", 0.85 * write_time),
        ("after the rename", "renamed", min(0.3, 0.5 * (duration - renamed_at))),
    ]
    for number, (name, landmark, delay) in enumerate(plan, start=2):
        before_nc, before_png = digest(out), digest(png)
        run = Run(out, posterior_dir, tmp_path / f"stderr-{number}.txt")
        if landmark == "tmp":
            run.wait_until(lambda: run.tmp_appeared is not None)
        elif landmark == "renamed":
            run.wait_until(lambda: run.renamed is not None)
        deadline = time.perf_counter() + delay
        while run.poll() and time.perf_counter() < deadline:
            time.sleep(0.005)
        code, writing = run.kill()

        assert out.exists(), f"killed {name}: the earlier result is gone"
        if digest(out) == before_nc:
            state = "earlier result, byte for byte"
        else:
            # Only a rename can change the file, and a rename only moves a complete, fsynced file.
            assert_complete_result(out, reference)
            state = "replaced by a complete new result"
        if digest(png) != before_png:
            assert png.read_bytes().endswith(PNG_END), f"killed {name}: the chart is partial"
        assert_only_allowed_files(results)
        outcomes.append((name, code, writing, state))

    # The earlier complete result still opens, and at least one kill really landed inside a write.
    assert_complete_result(out, reference)
    assert any(code == -signal.SIGKILL and writing for _, code, writing, _ in outcomes), outcomes
    # The next complete run clears whatever the kills left (temporary files, a journal it completes).
    code = Run(out, posterior_dir, tmp_path / "stderr-last.txt").finish()
    assert code == 0, (tmp_path / "stderr-last.txt").read_text()
    assert sorted(p.name for p in results.iterdir()) == ["r.nc", "r.png"]
    assert_complete_result(out, reference)
    print("\n".join(f"{name}: exit {code}, writing={writing}: {state}" for name, code, writing, state in outcomes))
    print(f"full run {duration:.1f} s, temporary file at {tmp_at:.1f} s, rename at {renamed_at:.1f} s; debris: "
          f"{sorted(p.name for p in results.iterdir() if DEBRIS.match(p.name))}")


def test_written_files_get_ordinary_permissions(tmp_path):
    import os

    from sim.core.files import atomic_write

    mask = os.umask(0o022)
    try:
        path = atomic_write(tmp_path / "result.txt", b"ok")
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644
