"""tokensim: a Bayesian market-forecasting simulation of China's enterprise LLM token market."""

from __future__ import annotations

from sim import accessor  # noqa: F401  (registers ds.tokensim)
from sim.core.version import __version__

__all__ = ["__version__", "run", "load"]


def run(scenario, **overrides):
    """Calibrate if needed, simulate a scenario and return its results Dataset (see :mod:`sim.api`)."""
    from sim.api import run as _run

    return _run(scenario, **overrides)


def load(path):
    """Open a results file written by :func:`run` (see :mod:`sim.api`)."""
    from sim.api import load as _load

    return _load(path)
