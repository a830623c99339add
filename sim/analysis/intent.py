"""Whether a scenario does what its name says: each scenario states, per variable, whether it should come out
``higher`` or ``lower`` than the baseline (its ``[intent]`` table), and :func:`intent_failures` holds it to that.

A direction holds when, at every year end from the start of the scenario's story (:func:`story_start`: its
first event, or the first month after the data when it has none), the scenario's 10th, 50th and 90th percentiles are
on the stated side of the baseline's or within Monte Carlo noise of them (:data:`TOLERANCE`: 5% of the value
for volume, 2 points for shares), and the median is clearly on that side (beyond the noise) at one year end
at least. "Lower volume" thus means a lower distribution, not a lower median with a fatter upper or lower tail.
Compare runs of the same seed and size, large enough for the tolerance (20,000 paths).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from sim.analysis.tables import year_end_times
from sim.core.variables import VARIABLES
from sim.scenarios.scenario import Scenario

#: Percentiles a direction is checked on.
CHECKED = (0.1, 0.5, 0.9)
#: Differences within these count as Monte Carlo noise: on the log scale for volume, absolute for shares.
TOLERANCE = {"log10": np.log(1.05), "linear": 0.02}


def first_free_month(results: xr.Dataset) -> np.datetime64:
    """The first month after the data a results file was calibrated on: noise, events and claims start there."""
    return np.datetime64(results.attrs["last_data_month"], "M") + 1


def story_start(scenario: Scenario, results: xr.Dataset) -> np.datetime64:
    """The month from which a scenario departs from the baseline by design: its first event's start, or the first
    month after the data (assumptions and volatility act from there)."""
    return min((event.start for event in scenario.events), default=first_free_month(results))


def _difference(scenario: xr.DataArray, baseline: xr.DataArray, variable: str) -> np.ndarray:
    """Scenario minus baseline, on the scale where the tolerance applies (log for volume)."""
    if VARIABLES[variable].bins.scale == "log10":
        return np.log(scenario.values) - np.log(baseline.values)
    return scenario.values - baseline.values


def intent_failures(scenario: xr.Dataset, baseline: xr.Dataset, intent: tuple[tuple[str, str], ...],
                    *, start: np.datetime64 | None = None) -> list[str]:
    """What contradicts the stated directions (empty when each holds) at the year ends from ``start`` (default:
    the first month after the data), in words."""
    start = first_free_month(scenario) if start is None else start
    failures = []
    times = [t for t in year_end_times(scenario)
             if t.astype("datetime64[M]") >= start and t in baseline["time"].values]
    for variable, direction in intent:
        sign = 1.0 if direction == "higher" else -1.0
        tolerance = TOLERANCE[VARIABLES[variable].bins.scale]
        pick = {"time": times, "quantile": list(CHECKED)}
        difference = sign * _difference(scenario[f"{variable}_quantiles"].sel(pick, method="nearest"),
                                        baseline[f"{variable}_quantiles"].sel(pick, method="nearest"), variable)
        for (q_index, t_index) in zip(*np.nonzero(difference < -tolerance)):
            failures.append(f"{variable} should be {direction}, but its {CHECKED[q_index]:.0%} quantile in "
                            f"{str(times[t_index])[:7]} is on the other side of the baseline's")
        if not (difference[CHECKED.index(0.5)] > tolerance).any():
            failures.append(f"{variable} should be {direction}, but its median is never clearly so")
    return failures
