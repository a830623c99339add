"""Global sensitivity: which scenario assumptions drive each claim and the volume medians.

Sobol indices of the scenario's assumptions and PAWN indices of each path's quantities; see
:mod:`sim.sensitivity.analysis` and ``docs/sensitivity.md`` for the design.
"""

from __future__ import annotations

from sim.core.errors import UserError
from sim.engine.reweighting import MIN_ESS
from sim.sensitivity.analysis import analyse
from sim.sensitivity.evaluation import ScenarioModel, sobol_design, sobol_indices
from sim.sensitivity.factors import FACTOR_KINDS, PRIOR_SHIFTS, Factor, compute_factors, event_factors, scenario_factors
from sim.sensitivity.outputs import output_paths
from sim.sensitivity.ranking import format_pawn, format_ranking, ranking_frame, top_drivers
from sim.sensitivity.run import sensitivity
from sim.sensitivity.targets import scenario_targets
from sim.sensitivity.tornado import tornado_figure

__all__ = [
    "FACTOR_KINDS", "MIN_ESS", "PRIOR_SHIFTS", "Factor", "ScenarioModel", "UserError", "analyse", "compute_factors",
    "event_factors", "format_pawn", "format_ranking", "output_paths", "ranking_frame", "scenario_factors",
    "scenario_targets", "sensitivity", "sobol_design", "sobol_indices", "tornado_figure", "top_drivers",
]
