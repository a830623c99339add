"""Build hook: ship the editable inputs inside the package without copies in git.

``calibration/`` and ``scenarios/`` stay at the repository root, the source of truth an analyst edits;
the build maps them onto ``sim.defaults.calibration`` and ``sim.defaults.scenarios`` so that an installed
tokensim runs from any folder (:mod:`sim.core.paths` says which copy a command reads). Everything else
is in ``pyproject.toml``.
"""

from setuptools import find_packages, setup

#: Package name -> the repository folder it is built from, and the files of it that ship.
SHIPPED = {"sim.defaults.calibration": "calibration", "sim.defaults.scenarios": "scenarios"}
FILES = {"sim.defaults.calibration": ["*.toml"], "sim.defaults.scenarios": ["*.toml", "README.md"]}

setup(packages=[*find_packages(include=["sim", "sim.*"]), *SHIPPED], package_dir=SHIPPED, package_data=FILES)
