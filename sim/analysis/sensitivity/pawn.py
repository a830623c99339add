"""Which quantities of a path drive it: PAWN on given samples of the correlated posterior parameters."""

from __future__ import annotations

import numpy as np
import xarray as xr

from sim.analysis.sensitivity.evaluation import ScenarioModel
from sim.curves.parameters import PARAMETERS

#: Per-path quantities PAWN ranks, each with the fit it comes from (their readable names are the parameter
#: registry's). The Richards ``shape`` (NaN on other families' paths) and the categorical family are left out.
PATH_QUANTITIES: dict[str, str] = {
    **dict.fromkeys(("v_ref", "growth", "ceiling"), "volume fit"),
    **dict.fromkeys(("bass_p", "bass_q", "m", "t_start", "u_max", "k", "t_half"), "open-source fit"),
    **dict.fromkeys(("compute_utilisation", "active_parameters"), "compute bound"),
}
#: A column of independent noise: a quantity whose PAWN index is no larger has no detectable effect.
DUMMY = ("reference", "independent noise (dummy)")
PAWN_SLICES = 10
PAWN_PATHS = 4000


def pawn_indices(model: ScenarioModel, paths: int = PAWN_PATHS,
                 slices: int = PAWN_SLICES) -> tuple[list[str], dict[str, np.ndarray]]:
    """PAWN (median and maximum KS distance over ``slices`` conditioning slices) of each target's per-path
    value (the claim's 0/1 indicator, or log10 daily tokens) on each path's posterior parameters.

    The parameters are correlated posterior draws, so an index measures how much knowing that
    quantity of a path alone changes the target's distribution, not an effect of its own.
    Paths are those of the scenario's own values (nominal factors) with the root seed.
    """
    from SALib.analyze import pawn

    scenario, simulated = model.simulate(np.array([f.nominal for f in model.factors]), paths=paths)
    names = [q for q in PATH_QUANTITIES if np.all(np.isfinite(simulated.parameters.get(q, [np.nan])))]
    noise = np.random.default_rng(np.random.SeedSequence(model.seed, spawn_key=(3,))).random(paths)
    inputs = np.column_stack([simulated.parameters[q] for q in names] + [noise])
    problem = {"num_vars": inputs.shape[1], "names": [*names, "dummy"],
               "bounds": [[float(c.min()), float(c.max())] for c in inputs.T]}
    series = simulated.series()
    median, maximum = (np.full((len(model.targets), inputs.shape[1]), np.nan) for _ in range(2))
    for row, (target, column) in enumerate(zip(model.targets, model.columns)):
        if target.kind == "claim":
            claim = next(c for c in scenario.claims if c.name == target.claim)
            values = claim.holds(series[claim.variable][:, :column + 1])[:, -1].astype(float)
        else:
            values = np.log10(series[target.variable][:, column])
        if np.ptp(values) == 0.0:
            continue
        result = pawn.analyze(problem, inputs, values, S=slices)  # no seed: SALib would reseed np.random
        median[row], maximum[row] = result["median"], result["maximum"]
    return [*names, "dummy"], {"pawn_median": median, "pawn_maximum": maximum}


def pawn_dataset(model: ScenarioModel) -> xr.Dataset:
    """The PAWN indices of :func:`pawn_indices` over (target, quantity), with labels."""
    names, values = pawn_indices(model)
    described = {**{q: (group, PARAMETERS[q].label) for q, group in PATH_QUANTITIES.items()}, "dummy": DUMMY}
    texts = {"pawn_median": "PAWN index (median KS distance over slices) of the per-path target on a path quantity",
             "pawn_maximum": "PAWN index (maximum KS distance over slices) of the per-path target on a path quantity"}
    return xr.Dataset({name: (("target", "quantity"), array, {"long_name": texts[name], "units": "1"})
                       for name, array in values.items()},
                      coords={"quantity": names, "quantity_label": ("quantity", [described[q][1] for q in names]),
                              "quantity_group": ("quantity", [described[q][0] for q in names])},
                      attrs={"pawn_paths": PAWN_PATHS, "pawn_slices": PAWN_SLICES})
