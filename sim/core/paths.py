"""Where tokensim's files are unless told otherwise: paths relative to the working directory, defined once."""

from __future__ import annotations

from pathlib import Path

#: The observation registry, the priors, the reference class of analogs and the compute figures.
OBSERVATIONS = Path("calibration/observations.toml")
PRIORS = Path("calibration/priors.toml")
ANALOGS = Path("calibration/analogs.toml")
COMPUTE = Path("calibration/compute.toml")
#: Fitted posteriors, cached by their calibration id.
POSTERIORS = Path("calibration/posteriors")
#: Outputs of ``calibrate --report`` and ``tokensim sbc`` (the latter without its suffix).
REPORT_FIGURE = Path("calibration/report.png")
SBC = Path("calibration/sbc")
#: The scenario run when none is named, and the one whose family weights mix the families elsewhere.
BASELINE = Path("scenarios/baseline.toml")
#: Results of runs, comparisons, backtests and sensitivity analyses.
RESULTS = Path("results")
BACKTEST = RESULTS / "backtest.nc"
REVISE = RESULTS / "revise.nc"
COMPARE = RESULTS / "compare.png"
REPORT = RESULTS / "report.html"
