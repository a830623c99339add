"""Shared fixtures: the real baseline calibration is fitted once per test session."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OBSERVATIONS = ROOT / "calibration" / "observations.toml"
PRIORS = ROOT / "calibration" / "priors.toml"
BASELINE = ROOT / "scenarios" / "baseline.toml"


def posterior_file(folder: Path) -> Path:
    """The exact file ``calibrate`` looks for in ``folder`` with the repository's observations and priors (a
    persistent folder may also hold posteriors of other vintages or of older code)."""
    from sim.calibration.calibrate import calibration_id
    from sim.calibration.inputs import CalibrationInputs

    return folder / f"posterior-{calibration_id(CalibrationInputs.load(OBSERVATIONS, PRIORS))[:16]}.nc"


@pytest.fixture(scope="session")
def posterior_dir(tmp_path_factory) -> Path:
    """A posterior cache folder holding the real baseline calibration (real NUTS sampling)."""
    from sim.calibration.calibrate import calibrate
    from sim.calibration.inputs import CalibrationInputs

    # A developer may point TOKENSIM_TEST_POSTERIORS at a persistent folder to reuse a fit between
    # sessions; CI leaves it unset, so every CI run calibrates from scratch.
    folder = Path(os.environ.get("TOKENSIM_TEST_POSTERIORS") or tmp_path_factory.mktemp("posteriors"))
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


@pytest.fixture
def fits_in_process(monkeypatch):
    """Install a stand-in for :func:`sim.calibration.sampling.fit_one`: calibrations then run their fits in this
    process (``TOKENSIM_CALIBRATION_PROCESSES=1``), where the stand-in replaces real sampling."""
    from sim.calibration import sampling

    def install(replacement) -> None:
        monkeypatch.setenv("TOKENSIM_CALIBRATION_PROCESSES", "1")
        monkeypatch.setattr(sampling, "fit_one", replacement)
    return install
