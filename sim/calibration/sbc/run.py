"""Simulation-based calibration (SBC; Talts, Betancourt, Simpson, Vehtari and Gelman 2018).

If a model's likelihood and sampler are right, then for parameters drawn from the prior and data
simulated from them, the rank of each drawn parameter among ``L`` posterior draws fitted to those
data is uniform on ``0..L``. A likelihood that computes something else than what generated the
data (a window mean taken at the midpoint, a wrong day count) bends the ranks away from uniform.

Each fit is checked at the real observation windows: ``pm.sample_prior_predictive`` draws the
parameters and a matching dataset (``log_observed`` / ``logit_observed``); the model, compiled
once, gets each dataset through its ``pm.Data`` container (``log_values`` / ``logit_values``,
swapped with nutpie's ``with_data``) and is refitted with nutpie's NUTS. Every parameter's rank
among ``L`` evenly thinned posterior draws is then tested for uniformity twice: a chi-square test
over ``B`` equal bins of ranks and the simultaneous ECDF band of Säilynoja, Bürkner and Vehtari
(2022, via ArviZ). A fit's parameters are one family of tests: each test runs at ``alpha / k``
for ``k`` parameters (Bonferroni), so a fit fails by chance at most ``2 alpha`` of the time.
The compile backends are :mod:`sim.calibration.sbc.compilers`; the rank tests
:mod:`sim.calibration.sbc.ranks`; the figure :mod:`sim.plots.sbc`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict

import numpy as np
import xarray as xr

from sim.calibration.calibrate import MODEL_VERSION, calibration_id
from sim.calibration.fits import build_model, fit_names
from sim.calibration.inputs import CalibrationInputs
from sim.calibration.sampling import quiet_pymc
from sim.calibration.sbc.compilers import COMPILERS, observed_names, ranked_parameters
from sim.calibration.sbc.ranks import rank_statistic, thin, with_uniformity
from sim.calibration.sbc.settings import SBCSettings
from sim.core.provenance import provenance
from sim.curves.families import GrowthFamily

TITLE = "tokensim simulation-based calibration (SBC) ranks"


def midpoint_window_family(family: GrowthFamily) -> GrowthFamily:
    """The deliberately wrong likelihood: each window's mean replaced by the level at its midpoint.

    For a curve that grows about 3/yr this is some 10% low over a half-year window: the error the
    exact window integral exists to avoid, and one SBC must detect.
    """
    return dataclasses.replace(family, name=f"{family.name} (midpoint)",
                               window_mean=lambda a, b, p: family.level((a + b) / 2.0, p))


def simulate_from_prior(model, simulations: int, seed: np.random.SeedSequence):
    """Parameters drawn from the prior and the observations they generate, as InferenceData groups."""
    import pymc as pm

    idata = pm.sample_prior_predictive(draws=simulations, model=model, random_seed=np.random.default_rng(seed))
    return idata.prior.isel(chain=0), idata.prior_predictive.isel(chain=0)


def refit(compiled, data_name: str, observed: np.ndarray, settings: SBCSettings, seed: int):
    """One NUTS refit of the compiled model on swapped observed values (nutpie, one core)."""
    import nutpie

    return nutpie.sample(compiled.with_data(**{data_name: observed}), draws=settings.draws, tune=settings.tune,
                         chains=settings.chains, cores=1, seed=seed, progress_bar=False, save_warmup=False,
                         target_accept=settings.target_accept)


def sbc_fit(label: str, simulator, fitted, settings: SBCSettings, *, stream: int = 0,
            log: logging.Logger | None = None) -> xr.Dataset:
    """Ranks of every parameter of ``fitted`` over datasets simulated from ``simulator``'s prior.

    ``simulator`` and ``fitted`` are PyMC models with the same parameters; they differ only when a
    test swaps in a wrong likelihood. ``stream`` keys the random streams (a fit's index), so a
    fit's result does not depend on which other fits run with it.
    """
    import arviz as az

    log = log or logging.getLogger("tokensim")
    data_name, observed_name = observed_names(fitted)
    parameters = ranked_parameters(fitted)
    started = time.perf_counter()
    compiled = COMPILERS[settings.backend](fitted, parameters)
    compile_seconds = time.perf_counter() - started
    children = np.random.SeedSequence(settings.seed, spawn_key=(stream,)).spawn(settings.simulations + 1)
    truth, simulated = simulate_from_prior(simulator, settings.simulations, children[0])
    shape = (len(parameters), settings.simulations)
    ranks, posterior_mean = np.full(shape, np.nan), np.full(shape, np.nan)
    divergences, min_ess = np.zeros(settings.simulations, int), np.full(settings.simulations, np.nan)
    started = time.perf_counter()
    for i, child in enumerate(children[1:]):
        seed = int(child.generate_state(1, dtype=np.uint64)[0])
        try:
            idata = refit(compiled, data_name, simulated[observed_name].values[i], settings, seed)
        except RuntimeError as exc:  # nutpie could not start a chain: the refit counts as failed
            why = " ".join(line.strip() for line in str(exc).split("Stack backtrace")[0].splitlines() if line.strip())
            log.warning("%s: refit %d failed (%s)", label, i, why)  # nutpie's message without its Rust backtrace
            divergences[i] = -1
            continue
        ranks[:, i], posterior_mean[:, i] = _ranks(idata.posterior, truth.isel(draw=i), parameters, settings.ranks)
        divergences[i] = int(idata.sample_stats["diverging"].sum())
        min_ess[i] = float(az.ess(idata.posterior[parameters]).to_array().min())
        if (i + 1) % 25 == 0:
            log.info("%s: %d/%d refits (%.0f s)", label, i + 1, settings.simulations, time.perf_counter() - started)
    per_check = {"check": [f"{label}/{p}" for p in parameters]}
    dataset = xr.Dataset(
        {
            "rank": (("check", "simulation"), ranks),
            "prior_value": (("check", "simulation"), np.stack([truth[p].values for p in parameters])),
            "posterior_mean": (("check", "simulation"), posterior_mean),
            "divergences": (("check", "simulation"), np.broadcast_to(divergences, shape).copy()),
            "min_ess": (("check", "simulation"), np.broadcast_to(min_ess, shape).copy()),
            "compile_seconds": ("check", np.full(len(parameters), compile_seconds)),
            "sampling_seconds": ("check", np.full(len(parameters), time.perf_counter() - started)),
        },
        coords={**per_check, "fit": ("check", [label] * len(parameters)), "parameter": ("check", parameters),
                "simulation": np.arange(settings.simulations)},
    )
    return with_uniformity(dataset, settings)


def _ranks(posterior: xr.Dataset, truth: xr.Dataset, parameters: Sequence[str], keep: int):
    """Each parameter's rank among ``keep`` thinned posterior draws, and its posterior mean."""
    draws = [posterior[name].values.ravel() for name in parameters]
    ranks = [rank_statistic(float(truth[name]), thin(d, keep)) for name, d in zip(parameters, draws)]
    return np.array(ranks, float), np.array([d.mean() for d in draws])


def run_sbc(fits: Sequence[str], inputs: CalibrationInputs, settings: SBCSettings, *,
            log: logging.Logger | None = None) -> xr.Dataset:
    """SBC of each named fit (volume families and/or open-source variants) at the real observation windows,
    censored figures simulated as censored."""
    log = log or logging.getLogger("tokensim")
    observations, priors = inputs.observations, inputs.priors
    parts = []
    with quiet_pymc():
        for fit in fits:
            model = build_model(fit, observations, priors, inputs.compute)
            parts.append(sbc_fit(fit, model, model, settings, stream=fit_names().index(fit), log=log))
            log.info("%s: SBC done (%s)", fit, "passed" if bool(parts[-1]["passed"].all()) else "FAILED")
    dataset = xr.concat(parts, dim="check", data_vars="all", coords="different", compat="equals")
    dataset.attrs.update(
        title=TITLE,
        **provenance("sim.sbc", stamped=False),
        fits=" ".join(fits),
        seed=settings.seed,
        settings=json.dumps(asdict(settings)),
        bins=settings.rank_bins, max_rank=settings.ranks, alpha=settings.alpha,
        method=("ranks of each prior draw among L evenly thinned posterior draws (Talts et al. 2018); "
                "chi-square over B equal rank bins and simultaneous ECDF band (Säilynoja et al. 2022), "
                "each at alpha / k for the k parameters of a fit (Bonferroni)"),
        model_version=MODEL_VERSION,
        observations_file=str(observations.path),
        observations_sha256=observations.digest(),
        priors_file=str(priors.path),
        priors_sha256=priors.digest(),
        calibration_id=calibration_id(inputs),
    )
    return dataset
