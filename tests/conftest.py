"""Shared fixtures: the real baseline calibration is fitted once per test session."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OBSERVATIONS = ROOT / "calibration" / "observations.toml"
PRIORS = ROOT / "calibration" / "priors.toml"
BASELINE = ROOT / "scenarios" / "baseline.toml"


#: Set by CI's lowest-versions step: the session's calibration takes prior draws (pymc.testing.mock_sample) instead
#: of NUTS, so that the tests of what comes after calibration (engine, exports, conventions, command line) run on
#: the lowest allowed versions in minutes. Their numbers are then the prior's: tests of fitted values are left out.
MOCK_SAMPLING = bool(os.environ.get("TOKENSIM_TEST_MOCK_SAMPLING"))


@contextlib.contextmanager
def _sampling():
    """NUTS as configured, or prior draws with no divergences and no gate (MOCK_SAMPLING)."""
    if not MOCK_SAMPLING:
        yield
        return
    import numpy as np
    import pymc as pm
    from pymc.testing import mock_sample

    from sim.calibration import sampling

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pm, "sample", functools.partial(
            mock_sample, sample_stats={"diverging": lambda size: np.zeros(size, dtype=bool)}))
        patch.setattr(sampling, "gate_failures", lambda report, gate: [])
        yield


@pytest.fixture(scope="session")
def posterior_dir(tmp_path_factory) -> Path:
    """A posterior cache folder holding the real baseline calibration (real NUTS sampling)."""
    from sim.calibration.calibrate import calibrate
    from sim.calibration.inputs import CalibrationInputs

    # A developer may point TOKENSIM_TEST_POSTERIORS at a persistent folder to reuse a fit between
    # sessions; CI leaves it unset, so every CI run calibrates from scratch (and a mocked one never persists).
    persistent = os.environ.get("TOKENSIM_TEST_POSTERIORS") if not MOCK_SAMPLING else None
    folder = Path(persistent or tmp_path_factory.mktemp("posteriors"))
    with _sampling():
        calibrate(CalibrationInputs.load(OBSERVATIONS, PRIORS, folder), log=logging.getLogger("tokensim.tests"))
    return folder


@pytest.fixture(scope="session")
def posterior(posterior_dir):
    """The fitted baseline posterior."""
    from sim.calibration.calibrate import calibrate
    from sim.calibration.inputs import CalibrationInputs

    fitted, _ = calibrate(CalibrationInputs.load(OBSERVATIONS, PRIORS, posterior_dir))
    return fitted


@pytest.fixture(scope="session")
def baseline_results(posterior_dir):
    """The baseline scenario run on the fitted posterior (its own draws and seed)."""
    import sim

    return sim.run(BASELINE, observations=OBSERVATIONS, priors=PRIORS, posteriors=posterior_dir)
