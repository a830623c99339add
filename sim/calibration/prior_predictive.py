"""The prior predictive of every fitted figure, and the gate a prior must pass: it must be able to produce
the figure it is fitted on.

For each fit, figures are drawn from the model's own prior predictive (``pm.sample_prior_predictive``
of its observed variable: scale, drift, release and figure noise and censoring as the likelihood has
them). A published value whose prior predictive tail probability is below :data:`GATE` (or, for a
figure published as a bound, whose bound the prior almost never reaches) is a prior that cannot
produce its data: the priors should change before the data are asked to fight them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.calibration.fits import FITS, fit_names
from sim.calibration.inputs import CalibrationInputs
from sim.calibration.prior_draws import PRIOR_DRAWS, PRIOR_SEED, prior_sample
from sim.core.errors import UserError

#: Smallest prior predictive tail probability a published value may have.
GATE = 0.001


def prior_predictive_table(inputs: CalibrationInputs, draws: int = PRIOR_DRAWS, seed: int = PRIOR_SEED
                           ) -> pd.DataFrame:
    """Per fit and fitted figure: the published value, the prior predictive 80% interval (in the figure's
    natural unit) and the share of prior predictive draws below the value; and whether it passes the gate
    (both tails above :data:`GATE`; a censored figure only needs the prior to reach its bound)."""
    rows = []
    for fit in fit_names(inputs.compute):
        scale = FITS[fit].scale
        model, sampled = prior_sample(inputs, fit, draws, seed, observed=True)
        if scale.observed not in sampled.prior_predictive:
            continue  # an early vintage may leave a fit with no figure
        predicted = sampled.prior_predictive[scale.observed].isel(chain=0).values
        observed = np.asarray(model[scale.data].get_value())
        labels = model.coords[model.named_vars_to_dims[scale.observed][0]]
        bounds = {o.id: o.bound for o in inputs.observations.observations}
        for column, label in enumerate(labels):
            values, value = predicted[:, column], observed[column]
            below = float(np.mean(values < value))
            at_or_above = float(np.mean(values >= value))
            bound = bounds.get(str(label), "")
            tail = {"lower": at_or_above, "upper": below}.get(bound, min(below, at_or_above))
            low, high = np.quantile(values, [0.1, 0.9])
            rows.append({"fit": fit, "figure": str(label), "unit": scale.unit, "bound": bound,
                         "published": float(scale.natural(value)), "prior p10": float(scale.natural(low)),
                         "prior p90": float(scale.natural(high)), "share below": below, "tail": tail,
                         "passes": tail >= GATE})
    return pd.DataFrame(rows).set_index(["fit", "figure"])


def gate_failures(table: pd.DataFrame) -> list[str]:
    """The figures a prior cannot produce, in words (empty when every prior passes)."""
    failing = table[~table["passes"]]
    return [f"fit '{fit}', figure {figure}: published {row['published']:.3g} {row['unit']} lies where the prior "
            f"predictive puts {row['tail']:.2%} of its draws (prior 80% interval {row['prior p10']:.3g} to "
            f"{row['prior p90']:.3g})" for (fit, figure), row in failing.iterrows()]


def check_priors(table: pd.DataFrame, priors_path) -> None:
    """Refuse priors that cannot produce their data, naming every figure that shows it."""
    failures = gate_failures(table)
    if failures:
        raise UserError(f"a prior cannot produce the figures it is fitted on (prior predictive tail below {GATE:g}): "
                        + "; ".join(failures) + ". Widen or move the priors of these fits.", where=str(priors_path))
