"""tokensim: a Bayesian market-forecasting simulation of China's enterprise LLM token market."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tokensim")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

from sim import accessor  # noqa: E402,F401  (registers ds.tokensim)

__all__ = ["__version__", "run", "load"]


def run(scenario, **overrides):
    """Calibrate if needed, simulate a scenario and return its results Dataset (see :mod:`sim.api`)."""
    from sim.api import run as _run

    return _run(scenario, **overrides)


def load(path):
    """Open a results file written by :func:`run` (see :mod:`sim.api`)."""
    from sim.api import load as _load

    return _load(path)
