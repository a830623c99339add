"""Where tokensim's files are unless told otherwise: one rule, defined here.

Inputs, the calibration files (``calibration/``: observations, priors, compute figures) and the scenario
library (``scenarios/``), come from those folders in the working folder when it has them (the repository,
or a folder made by ``tokensim init``), and otherwise from the copies shipped inside the package
(``sim/defaults/``, built from the repository's own folders; in a source tree, the repository's folders
themselves). Results go to ``./results/``. Posteriors are cached in ``./calibration/posteriors/`` when
``./calibration/`` exists, otherwise in the user's cache folder (``$XDG_CACHE_HOME/tokensim/posteriors``,
by default ``~/.cache/tokensim/posteriors``), so that an analyst working from any folder fits once.
Every function reads the working folder when called, never at import.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sim.core.errors import UserError

#: The input folders an analyst edits, each with a file that marks a complete copy of it.
CALIBRATION, SCENARIOS = "calibration", "scenarios"
_MARKER = {CALIBRATION: "observations.toml", SCENARIOS: "baseline.toml"}
#: What ``tokensim init`` copies from each input folder (generated files such as posteriors stay behind).
_EDITABLE = {CALIBRATION: ("*.toml",), SCENARIOS: ("*.toml", "README.md")}
#: The packaged copies (an installed package), then the repository around a source tree.
_PACKAGE = Path(__file__).resolve().parents[1]
_SHIPPED_ROOTS = (_PACKAGE / "defaults", _PACKAGE.parent)

#: Results of runs, comparisons, backtests and sensitivity analyses.
RESULTS = Path("results")
BACKTEST = RESULTS / "backtest.nc"
REVISE = RESULTS / "revise.nc"
COMPARE = RESULTS / "compare.png"
REPORT = RESULTS / "report.html"


def shipped(folder: str) -> Path:
    """The copy of an input folder shipped with tokensim (in a source tree: the repository's)."""
    for root in _SHIPPED_ROOTS:
        if (root / folder / _MARKER[folder]).is_file():
            return root / folder
    raise UserError(f"the {folder}/ files shipped with tokensim are missing from {_SHIPPED_ROOTS[0]}; "
                    "reinstall tokensim", where="installation")


def input_folder(folder: str) -> Path:
    """``./<folder>`` when the working folder has one, otherwise the shipped copy."""
    local = Path(folder)
    return local if local.is_dir() else shipped(folder)


def observations() -> Path:
    """The observation registry."""
    return input_folder(CALIBRATION) / "observations.toml"


def priors() -> Path:
    """The calibration priors."""
    return input_folder(CALIBRATION) / "priors.toml"


def analogs() -> Path:
    """The reference class of adoption and substitution analogs (priors pooled from them)."""
    return input_folder(CALIBRATION) / "analogs.toml"


def compute() -> Path:
    """China's intelligent compute figures (for scenarios with a ``[compute]`` bound)."""
    return input_folder(CALIBRATION) / "compute.toml"


def baseline() -> Path:
    """The scenario run when none is named, and whose family weights mix the families elsewhere."""
    return input_folder(SCENARIOS) / "baseline.toml"


def scenario(path: str | Path) -> Path:
    """A scenario as named on the command line: a file, or the name of one in the scenario library
    (``open_source_surge`` or ``open_source_surge.toml``) when no such file is here."""
    path = Path(path)
    if path.exists() or path.parent != Path("."):
        return path
    library = input_folder(SCENARIOS) / (path.name if path.suffix == ".toml" else f"{path.name}.toml")
    return library if library.is_file() else path


def library_scenarios() -> list[str]:
    """Names of the scenarios in the library (``./scenarios/`` or the shipped one)."""
    return sorted(p.stem for p in input_folder(SCENARIOS).glob("*.toml"))


def user_cache() -> Path:
    """tokensim's folder in the user's cache (``$XDG_CACHE_HOME/tokensim``, by default ``~/.cache/tokensim``)."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "tokensim"


def posteriors() -> Path:
    """Where fitted posteriors are cached."""
    return Path(CALIBRATION, "posteriors") if Path(CALIBRATION).is_dir() else user_cache() / "posteriors"


def generated(name: str) -> Path:
    """An output that belongs beside the calibration files (``calibrate --report``'s figure, SBC's results):
    in ``./calibration/`` when the working folder has one, otherwise in ``./results/``."""
    return Path(CALIBRATION, name) if Path(CALIBRATION).is_dir() else RESULTS / name


def init(folder: str | Path) -> list[Path]:
    """Copy the editable inputs (calibration files and scenario library) into ``folder``, so that commands run
    there read them; refuses (naming it) a file that already exists rather than overwrite it."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UserError("exists and is not a folder", where=f"init {folder}")
    plan = [(source, folder / name / source.name) for name, patterns in _EDITABLE.items()
            for pattern in patterns for source in sorted(shipped(name).glob(pattern))]
    existing = [target for _, target in plan if target.exists()]
    if existing:
        raise UserError(f"{existing[0]} already exists; tokensim init never overwrites (move it away, or "
                        "choose another folder)", where=f"init {folder}")
    try:
        for source, target in plan:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    except OSError as exc:
        raise UserError(f"cannot write here ({exc.strerror or exc})", where=f"init {folder}") from None
    return [target for _, target in plan]
