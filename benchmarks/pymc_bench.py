"""Figures against PyMC: the engine's forecast vs ``pm.sample_posterior_predictive``, and NUTS vs nutpie."""

from __future__ import annotations

import dataclasses
import importlib.util
import itertools
import logging
import time
from typing import Any

import numpy as np

from benchmarks.common import OBSERVATIONS, PRIORS, Figure, Mode, Side, Target, log, ratio, timed
from sim.calibration.posterior import Posterior
from sim.core.timeaxis import month_windows
from sim.curves.families import FAMILIES
from sim.engine.paths import time_grid
from sim.engine.runner import run_paths
from sim.scenarios.scenario import Scenario

FAMILY = "logistic"
SEED = 20250901


def _quiet_pymc() -> None:
    """Import PyMC, then silence its sampling chatter (errors still show)."""
    import pymc  # noqa: F401  (importing pymc resets its logger's level)

    logging.getLogger("pymc").setLevel(logging.ERROR)


def forecast_model(scenario: Scenario, last_data_month: str) -> Any:
    """What a PyMC user would write: the fitted logistic volume model plus forecast nodes.

    The model is the calibration's own (``sim.calibration.fits.build_model``) with, on top, the monthly trend of
    every simulated month (the exact monthly mean, ``FAMILIES["logistic"].window_mean`` on pytensor
    inputs) and, from the month after the last data month on, the scenario's two volume deviations on the
    log scale, as the engine has them (:mod:`sim.engine.shocks`): the AR(1) (``pm.AR``, started like the
    engine's at ``x_0 = scale * e_0``) and the random walk in the growth rate (``pm.Normal`` innovations,
    the rate their cumulative sum times ``sd * sqrt(step)``, the level the rate's cumulative sum times the
    step). The daily tokens of each month are the deterministic ``daily_tokens``.
    """
    import pymc as pm
    import pytensor.tensor as pt

    from sim.calibration.fits import build_model
    from sim.calibration.inputs import CalibrationInputs
    from sim.engine.trends import first_free_step

    times = time_grid(scenario)
    a, b = month_windows(times, scenario.step_months)
    first_free = first_free_step(times, last_data_month)
    free = len(times) - first_free
    volatility = scenario.volatility["volume"]
    scale = volatility.sd * float(np.sqrt(1.0 - volatility.persistence**2))
    step_years = scenario.step_months / 12.0
    inputs = CalibrationInputs.load(OBSERVATIONS, PRIORS)
    model = build_model(FAMILY, inputs.observations, inputs.priors)
    with model:
        params = {name: model[name] for name in FAMILIES[FAMILY].parameters}
        trend = FAMILIES[FAMILY].window_mean(a, b, params)
        deviation = pm.AR("volume_deviation", rho=[volatility.persistence], sigma=scale,
                          init_dist=pm.Normal.dist(0.0, scale), steps=free - 1)
        innovation = pm.Normal("growth_innovation", 0.0, 1.0, shape=free)
        rate = pt.cumsum(innovation * (scenario.growth_shock * float(np.sqrt(step_years))))
        level = pt.cumsum(rate * step_years)
        log_deviation = pt.concatenate([pt.zeros(first_free), deviation + level])
        pm.Deterministic("daily_tokens", trend * pt.exp(log_deviation))
    return model


def _posterior_idata(posterior: Posterior, paths: int) -> Any:
    """The first ``paths`` draws of the logistic fit (cycled if fewer) as one chain of an InferenceData."""
    import arviz as az

    samples = posterior.samples(FAMILY)
    total = next(iter(samples.values())).size
    rows = np.arange(paths) % total
    return az.from_dict(posterior={name: values[rows][None, :] for name, values in samples.items()})


def _quantiles(values: np.ndarray) -> list[float]:
    """The 5%, 50% and 95% quantiles, as plain floats."""
    return [float(q) for q in np.quantile(values, [0.05, 0.5, 0.95])]


def predictive_vs_engine(posterior: Posterior, scenario: Scenario, mode: Mode) -> Figure:
    """Figure 2: the same forecast (logistic family, same posterior, horizon and volume AR(1)) both ways.

    The engine's time is ``run_paths`` on the scenario restricted to the logistic family, end to end
    (it also simulates open-source share and adoption, which the PyMC route does not). PyMC's time is
    ``pm.sample_posterior_predictive`` over ``paths`` posterior draws; the first call (which compiles
    the forward-sampling function) and the median of later calls are both reported, the ratio uses
    the later calls (the fairer one to PyMC). The horizon quantiles of both are given as a check that
    they forecast the same thing.
    """
    import pymc as pm

    _quiet_pymc()
    paths = mode.predictive_paths
    logistic_only = dataclasses.replace(scenario, family_weights=((FAMILY, 1.0),))
    months = len(time_grid(scenario))

    started = time.perf_counter()
    model = forecast_model(scenario, posterior.attrs["last_data_month"])
    build_s = time.perf_counter() - started
    idata = _posterior_idata(posterior, paths)

    seeds = itertools.count(1)

    def predictive() -> Any:
        return pm.sample_posterior_predictive(idata, model=model, var_names=["daily_tokens"],
                                              random_seed=next(seeds), progressbar=False)

    log.info("PyMC predictive: %d draws x %d months", paths, months)
    first_s, _, _ = timed(predictive, 1)
    pymc_s, pymc_all, result = timed(predictive, max(mode.repeats - 1, 1))
    pymc_paths = result.posterior_predictive["daily_tokens"].values.reshape(-1, months)

    run_paths(posterior, logistic_only, draws=min(paths, 1000), seed=SEED)  # warm-up
    engine_s, engine_all, output = timed(lambda: run_paths(posterior, logistic_only, draws=paths, seed=SEED),
                                         mode.repeats)
    speedup = ratio(pymc_s, engine_s)
    return Figure(
        name="engine_vs_pymc_predictive",
        meaning=(f"seconds to forecast {paths:,} paths x {months} months of daily tokens from the logistic "
                 "posterior with AR(1) volume deviations and the growth rate's random walk: "
                 "sim.engine.runner.run_paths vs pm.sample_posterior_predictive"),
        value=Side("engine (run_paths, logistic only)", engine_s, "s"),
        peer=Side("PyMC sample_posterior_predictive (after first call)", pymc_s, "s"),
        ratio=speedup,
        ratio_meaning="how many times faster the engine is (PyMC time / engine time; higher is better)",
        targets=[Target("engine speed-up over PyMC", ">=", 200.0, speedup)],
        details={
            "paths": paths, "months": months, "pymc_model_build_s": build_s, "pymc_first_call_s": first_s,
            "pymc_all_s": pymc_all, "engine_all_s": engine_all,
            "speedup_vs_first_pymc_call": ratio(first_s + build_s, engine_s),
            "horizon_p5_p50_p95_engine": _quantiles(output.paths.daily_tokens[:, -1]),
            "horizon_p5_p50_p95_pymc": _quantiles(pymc_paths[:, -1]),
        },
        notes=["the engine also simulates open-source share and adoption for every path and caps volume by the "
               "scenario's compute bound; the PyMC route only forecasts volume, uncapped (so its p95 at the horizon "
               "is the higher one)"],
    )


def _sample(fit: str, sampler: str, mode: Mode) -> dict[str, float]:
    """One NUTS run of ``fit``: wall time (compile included), sampling time and min bulk ESS."""
    import arviz as az
    import pymc as pm

    from sim.calibration.fits import build_model
    from sim.calibration.inputs import CalibrationInputs, SamplerSettings

    settings = SamplerSettings()
    inputs = CalibrationInputs.load(OBSERVATIONS, PRIORS)
    model = build_model(fit, inputs.observations, inputs.priors)
    log.info("NUTS (%s) on the %s fit: %d chains x %d draws", sampler, fit, mode.nuts_chains, mode.nuts_draws)
    started = time.perf_counter()
    idata = pm.sample(model=model, draws=mode.nuts_draws, tune=mode.nuts_draws, chains=mode.nuts_chains,
                      cores=min(mode.nuts_chains, 2), target_accept=settings.target_accept, random_seed=settings.seed,
                      progressbar=False, compute_convergence_checks=False, nuts_sampler=sampler)
    wall = time.perf_counter() - started
    free = [rv.name for rv in model.free_RVs]
    ess = az.ess(idata.posterior[free], method="bulk")
    min_ess = min(float(ess[name].min()) for name in free)  # a vector (release offsets): its worst
    sampling = float(idata.posterior.attrs.get("sampling_time", wall))
    return {"wall_s": wall, "sampling_s": sampling, "compile_s": wall - sampling, "min_bulk_ess": min_ess,
            "ess_per_s_compile_included": min_ess / wall, "ess_per_s_compile_excluded": min_ess / sampling,
            "divergences": int(idata.sample_stats["diverging"].sum())}


def nuts_vs_nutpie(mode: Mode) -> Figure:
    """Figure 4b: effective samples per second on one fit, PyMC's NUTS vs nutpie (compile included).

    Both use the calibration's settings (target_accept, seed) and ``mode.nuts_chains`` chains of
    ``mode.nuts_draws`` tuning and kept draws; ESS is the smallest bulk ESS over the free parameters.
    Compile time is the wall time minus the sampler's own ``sampling_time``.
    """
    _quiet_pymc()
    pymc_run = _sample(FAMILY, "pymc", mode)
    if not mode.nutpie:
        nutpie_run, skipped = None, "skipped in this mode"
    elif importlib.util.find_spec("nutpie") is None:
        nutpie_run, skipped = None, "not installed"
    else:
        nutpie_run, skipped = _sample(FAMILY, "nutpie", mode), None
    value = (Side.missing("nutpie", "ESS/s", skipped) if nutpie_run is None
             else Side("nutpie", nutpie_run["ess_per_s_compile_included"], "ESS/s"))
    excluded = ratio(nutpie_run and nutpie_run["ess_per_s_compile_excluded"], pymc_run["ess_per_s_compile_excluded"])
    return Figure(
        name="nuts_ess_per_second",
        meaning=(f"min bulk ESS per second of wall time (compile included) on the {FAMILY} fit, "
                 f"{mode.nuts_chains} chains x {mode.nuts_draws} draws: nutpie vs PyMC's own NUTS"),
        value=value,
        peer=Side("PyMC NUTS", pymc_run["ess_per_s_compile_included"], "ESS/s"),
        ratio=ratio(value.value, pymc_run["ess_per_s_compile_included"]),
        ratio_meaning="nutpie ESS/s over PyMC NUTS ESS/s, compile included (higher means nutpie is faster)",
        targets=[],
        details={"pymc": pymc_run, "nutpie": nutpie_run if nutpie_run else skipped,
                 "ratio_compile_excluded": excluded},
        notes=["no target was set for this figure: it says what switching the calibration to nutpie would buy"],
    )
