"""The libraries a posterior depends on, and where compiled log densities are cached on disk.

NUTS draws depend on the exact arithmetic of the compiled log density, so a posterior names the versions of
every library that builds, compiles and samples it (:func:`library_versions`, part of the calibration id):
a new PyMC, PyTensor, nutpie, numba or llvmlite refits rather than reusing draws it would not reproduce.

Compiled kernels live in ``<posterior cache>/compiled/<toolchain tag>/`` (:func:`compile_cache`): PyTensor's
numba cache, keyed by a hash of each kernel's graph (so a change in a model's code or priors finds no
stale kernel), inside a folder named by the library versions (so an upgrade starts a fresh one; folders
of other versions can be deleted at any time). Deleting the folder only costs the next calibration its
compile time: the draws are the same either way (``numba__fastmath`` is off, :mod:`sim.calibration.compiled`).
"""

from __future__ import annotations

import hashlib
import platform
from importlib import metadata
from pathlib import Path

#: Libraries whose versions change what a calibration computes.
LIBRARIES = ("pymc", "pytensor", "nutpie", "numba", "llvmlite", "numpy")


def library_versions() -> dict[str, str]:
    """The installed version of every library in :data:`LIBRARIES` (read from metadata, nothing imported)."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def toolchain_tag() -> str:
    """A short name for this interpreter, machine and set of library versions."""
    text = repr((platform.python_version(), platform.machine(), sorted(library_versions().items())))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def compile_cache(posteriors: str | Path) -> Path:
    """The folder of compiled kernels beside the posteriors of ``posteriors``, for this toolchain."""
    return Path(posteriors) / "compiled" / toolchain_tag()
