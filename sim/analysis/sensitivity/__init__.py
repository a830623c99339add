"""Global sensitivity: which scenario assumptions drive each claim and the volume medians.

Sobol indices of the scenario's assumptions and PAWN indices of each path's quantities; see
:mod:`sim.analysis.sensitivity.analysis` and ``docs/sensitivity.md`` for the design. The tornado
chart is :mod:`sim.plots.tornado`, a whole run on a scenario file :func:`sim.api.sensitivity`.
"""

from __future__ import annotations

from sim.analysis.sensitivity.analysis import analyse
from sim.analysis.sensitivity.evaluation import ScenarioModel, sobol_design, sobol_indices
from sim.analysis.sensitivity.factors import (
    FACTOR_KINDS,
    PRIOR_SHIFTS,
    Factor,
    compute_factors,
    event_factors,
    scenario_factors,
)
from sim.analysis.sensitivity.outputs import output_paths
from sim.analysis.sensitivity.ranking import format_pawn, format_ranking, ranking_frame, top_drivers
from sim.analysis.sensitivity.targets import scenario_targets
from sim.core.errors import UserError
from sim.engine.reweighting import MIN_ESS

__all__ = [
    "FACTOR_KINDS", "MIN_ESS", "PRIOR_SHIFTS", "Factor", "ScenarioModel", "UserError", "analyse", "compute_factors",
    "event_factors", "format_pawn", "format_ranking", "output_paths", "ranking_frame", "scenario_factors",
    "scenario_targets", "sobol_design", "sobol_indices", "top_drivers",
]
