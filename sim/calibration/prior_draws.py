"""What the priors alone imply: draws of every fit's parameters from its prior, as the model states it.

The draws come from each fit's own PyMC model (``pm.sample_prior_predictive``), so every truncation
and derived parameter is exactly the model's (a ceiling above the fitted level, adoption enough for the
share): nothing is restated here. They serve three readers: a :class:`~sim.calibration.posterior.Posterior`
of prior draws (:func:`prior_posterior`) for ``tokensim run --prior-only``, the prior predictive of every
fitted figure with its gate (:mod:`sim.calibration.prior_predictive`), and the prior fan and prior
implications of ``calibrate --report``.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from sim.calibration.calibrate import calibration_id, last_data_month
from sim.calibration.fits import FITS, build_model, fit_names
from sim.calibration.inputs import CalibrationInputs
from sim.calibration.posterior import Posterior
from sim.calibration.sampling import quiet_pymc

#: Prior draws per fit, and the seed they are drawn with unless given.
PRIOR_DRAWS = 4000
PRIOR_SEED = 20250901


def prior_sample(inputs: CalibrationInputs, fit: str, draws: int = PRIOR_DRAWS, seed: int = PRIOR_SEED,
                 observed: bool = False):
    """``pm.sample_prior_predictive`` of one fit: its scalar parameters (and, with ``observed``, its observed
    variable); draws a truncation makes impossible (NaN) are dropped."""
    import pymc as pm

    model = build_model(fit, inputs.observations, inputs.priors, inputs.compute)
    names = [v.name for v in (*model.free_RVs, *model.deterministics) if v.ndim == 0]
    if observed:
        names += [rv.name for rv in model.observed_RVs]
    stream = np.random.SeedSequence([seed, fit_names().index(fit)])
    with quiet_pymc():
        sampled = pm.sample_prior_predictive(draws=draws, model=model, var_names=names,
                                             random_seed=np.random.default_rng(stream))
    prior = sampled.prior.isel(chain=0)
    scalars = [name for name in prior.data_vars if prior[name].ndim == 1]
    possible = np.all([np.isfinite(prior[name].values) for name in scalars], axis=0)
    return model, sampled.isel(draw=np.flatnonzero(possible))


def prior_posterior(inputs: CalibrationInputs, draws: int = PRIOR_DRAWS, seed: int = PRIOR_SEED) -> Posterior:
    """Every fit's prior draws in a Posterior's form (one chain), named ``prior-<calibration id>``: the engine
    runs on it as on a posterior, so a scenario's assumptions can be seen before the data touch them."""
    fits, diagnostics = {}, {}
    for fit in fit_names(inputs.compute):
        _, sampled = prior_sample(inputs, fit, draws, seed)
        kept = [name for name in FITS[fit].parameters if name in sampled.prior]
        fits[fit] = sampled.prior[kept].reset_coords(drop=True)
        diagnostics[fit] = xr.Dataset(attrs={"draws": int(sampled.prior.sizes["draw"]), "divergences": 0})
    attrs = {"as_of": str(inputs.observations.as_of or ""), "last_data_month": last_data_month(inputs.observations),
             "prior_only": "yes", "prior_draws": draws, "prior_seed": seed}
    return Posterior(f"prior-{calibration_id(inputs)}", fits, diagnostics, attrs)
