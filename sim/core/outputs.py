"""Output paths checked before any work: a command refuses a path it could not write before it calibrates,
simulates or renders anything.

A file's folder must exist and be writable. The one folder created on demand is ``./results/``, the
default home of every output; any other missing folder is refused rather than created, so that a
misspelt ``--out resluts/x.nc`` fails at once instead of leaving a new folder behind.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from sim.core.errors import UserError
from sim.core.paths import RESULTS


def _folder_problem(folder: Path) -> str | None:
    """Why files cannot be written into ``folder`` (None when they can)."""
    for parent in (folder, *folder.parents):  # the nearest part of the path that exists
        if parent.exists() or parent.is_symlink():
            break
    else:
        return None
    if not parent.is_dir():
        return f"{parent} is a file, not a folder"
    if parent != folder and folder.resolve() != RESULTS.resolve():
        return f"the folder {folder} does not exist (create it first; only ./{RESULTS}/ is made on demand)"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot write in {parent} (permission denied)"
    return None


def check_outputs(files: Iterable[str | Path], where: str) -> tuple[Path, ...]:
    """``files`` as paths, or a UserError naming ``where`` (the option) if one of them cannot be written:
    a folder in its place, a missing or read-only folder, or a file where a folder should be."""
    checked = tuple(Path(f) for f in files)
    for path in checked:
        if path.is_dir():
            raise UserError("is a folder, not a file", where=f"{where} {path}")
        if path.exists() and not os.access(path, os.W_OK):
            raise UserError("cannot replace this file (permission denied)", where=f"{where} {path}")
        problem = _folder_problem(path.parent if str(path.parent) else Path("."))
        if problem:
            raise UserError(problem, where=f"{where} {path}")
    return checked
