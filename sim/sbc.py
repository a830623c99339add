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

Two compile backends swap data the same way (:data:`COMPILERS`): ``numba`` is nutpie's own
``compile_pymc_model`` (fastest sampling, but a numba compile of about a minute per model on a
loaded 2-core machine); ``pytensor`` compiles the log density and its gradient with PyTensor's C
backend (seconds, cached on disk) and hands it to nutpie's sampler as a Python function (about
twice the cost per gradient). The test suite uses ``pytensor``; the full run ``numba``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from scipy import optimize, stats

from sim.core.errors import UserError
from sim.core.provenance import provenance
from sim.curves.families import VOLUME_PARAMETERS, GrowthFamily
from sim.curves.open_source import OPEN_PARAMETERS

TITLE = "tokensim simulation-based calibration (SBC) ranks"
#: Deterministics that are engine parameters (the ceiling): ranked like the free parameters.
ENGINE_PARAMETERS = (*VOLUME_PARAMETERS, *OPEN_PARAMETERS)


@dataclass(frozen=True)
class SBCSettings:
    """How many simulations, how each refit samples, and how ranks are tested.

    ``ranks`` is ``L``: posterior draws kept per refit (evenly thinned from ``chains x draws``),
    so ranks run over ``0..L``. ``bins`` is ``B`` for the chi-square test; ``None`` picks the
    largest divisor of ``L + 1`` up to 10 that leaves at least 5 expected ranks per bin.
    """

    simulations: int = 100
    draws: int = 500
    tune: int = 500
    chains: int = 2
    ranks: int = 99
    bins: int | None = None
    alpha: float = 0.01
    target_accept: float = 0.9
    backend: str = "numba"
    seed: int = 20250901

    def __post_init__(self) -> None:
        problems = []
        if self.simulations < 10:
            problems.append(f"simulations must be at least 10 (got {self.simulations})")
        if self.ranks < 4 or self.ranks > self.chains * self.draws:
            problems.append(f"ranks must be between 4 and chains x draws = {self.chains * self.draws} (got {self.ranks})")
        if self.bins is not None and (self.bins < 2 or (self.ranks + 1) % self.bins):
            problems.append(f"bins must divide ranks + 1 = {self.ranks + 1} and be at least 2 (got {self.bins})")
        if not 0 < self.alpha < 0.5:
            problems.append(f"alpha must be in (0, 0.5) (got {self.alpha})")
        if self.backend not in COMPILERS:
            problems.append(f"backend must be one of {', '.join(COMPILERS)} (got {self.backend!r})")
        if problems:
            raise UserError("; ".join(problems), where="SBC settings")

    @property
    def rank_bins(self) -> int:
        """``B``: the number of equal-width rank bins of the chi-square test."""
        if self.bins is not None:
            return self.bins
        divisors = [b for b in range(2, 11) if (self.ranks + 1) % b == 0 and self.simulations / b >= 5]
        return max(divisors, default=2)


# --- compiling a model once, so that refits only swap its data --------------------------------------


def _compile_numba(model, keep: Sequence[str]):
    """nutpie's own compile (numba): the fastest sampler, a slow compile."""
    import nutpie

    return nutpie.compile_pymc_model(model, var_names=list(keep))


def _compile_pytensor(model, keep: Sequence[str]):
    """Log density and gradient compiled by PyTensor's C backend, sampled by nutpie as Python functions.

    The observed data container becomes an explicit input of the compiled function, so that
    ``with_data`` swaps it exactly as it does for the numba backend.
    """
    import pymc as pm
    import pytensor
    import pytensor.tensor as pt
    from nutpie.compiled_pyfunc import from_pyfunc
    from pymc.initial_point import make_initial_point_fn

    data_name, _ = observed_names(model)
    values = [model.rvs_to_values[rv] for rv in model.free_RVs]
    start = model.initial_point()
    shapes = [np.shape(start[v.name]) for v in values]
    offsets = np.cumsum([0, *(math.prod(s) for s in shapes)])
    point, data = pt.dvector("point"), pt.dvector(data_name)
    unravel = {v: point[lo:hi].reshape(s) for v, lo, hi, s in zip(values, offsets[:-1], offsets[1:], shapes)}
    logp = model.logp()
    gradient = pt.concatenate([g.ravel() for g in pt.grad(logp, values)])
    logp_grad = pm.pytensorf.compile([point, data], pytensor.clone_replace([logp, gradient],
                                     {**unravel, model[data_name]: data}))
    kept = [v for v in model.unobserved_value_vars if v.name in keep]
    expand = pm.pytensorf.compile([point], pytensor.clone_replace(kept, unravel))
    names = [v.name for v in kept]
    initial = make_initial_point_fn(model=model, jitter_rvs=set(model.free_RVs), return_transformed=True)

    def make_logp():
        def logp_fn(x, **shared):
            value, grad = logp_grad(x, shared[data_name])
            return float(value), grad
        return logp_fn

    def make_expand(*_seeds):
        return lambda x, **_: {n: np.asarray(v, dtype=float) for n, v in zip(names, expand(x))}

    def initial_point(seed):
        drawn = initial(seed)
        return np.concatenate([np.ravel(drawn[v.name]) for v in values]).astype(float)

    at_start = expand(np.concatenate([np.ravel(start[v.name]) for v in values]).astype(float))
    return from_pyfunc(int(offsets[-1]), make_logp, make_expand, [np.dtype(float)] * len(names),
                       [np.shape(v) for v in at_start], names,
                       shared_data={data_name: model[data_name].get_value()},
                       make_initial_point_fn=initial_point)


#: Compile backends; both return a nutpie model whose ``with_data`` swaps the observed values.
COMPILERS: dict[str, Callable[[Any, Sequence[str]], Any]] = {"numba": _compile_numba, "pytensor": _compile_pytensor}


#: The reduced run of the test suite (``tokensim sbc --quick``): enough refits to catch a wrong window
#: integral (p about 1e-8 for ``v_ref`` under a midpoint likelihood, against p > 0.1 for the right one)
#: at about half a second per refit on a loaded 2-core machine. One chain of 100 tuning and 80 kept
#: draws (ESS about 50) thinned to L = 19, 50 simulations, 10 bins of 2 ranks (5 expected per bin).
QUICK = SBCSettings(simulations=50, draws=80, tune=100, chains=1, ranks=19, target_accept=0.8, backend="pytensor")


def preset(quick: bool = False, **overrides: Any) -> SBCSettings:
    """The full-run settings (or :data:`QUICK`), with the given fields replaced where not None."""
    return dataclasses.replace(QUICK if quick else SBCSettings(),
                               **{k: v for k, v in overrides.items() if v is not None})


def observed_names(model) -> tuple[str, str]:
    """The data container and the observed variable of a model with one likelihood term."""
    if len(model.observed_RVs) != 1:
        raise UserError("simulation-based calibration needs exactly one observed variable; this fit has "
                        f"{len(model.observed_RVs)} (an early vintage may leave a fit with no data)",
                        where="sbc")
    observed = model.observed_RVs[0]
    return model.rvs_to_values[observed].name, observed.name


def ranked_parameters(model) -> list[str]:
    """What SBC ranks: every free parameter, plus deterministics the engine uses (the ceiling)."""
    free = [rv.name for rv in model.free_RVs]
    return [*free, *(d.name for d in model.deterministics if d.name in ENGINE_PARAMETERS)]


def midpoint_window_family(family: GrowthFamily) -> GrowthFamily:
    """The deliberately wrong likelihood: each window's mean replaced by the level at its midpoint.

    For a curve that grows about 3/yr this is some 10% low over a half-year window: the error the
    exact window integral exists to avoid, and one SBC must detect.
    """
    return dataclasses.replace(family, name=f"{family.name} (midpoint)",
                               window_mean=lambda a, b, p: family.level((a + b) / 2.0, p))


# --- ranks and their uniformity ---------------------------------------------------------------------


def thin(draws: np.ndarray, keep: int) -> np.ndarray:
    """``keep`` evenly spaced draws out of a flat array (thinning against autocorrelation)."""
    return draws[np.linspace(0, draws.size - 1, keep).round().astype(int)]


def rank_statistic(truth: float, draws: np.ndarray) -> int:
    """How many posterior draws fall below the value the data were simulated from (0..len(draws))."""
    return int(np.sum(draws < truth))


def chi_square_uniformity(ranks: np.ndarray, max_rank: int, bins: int) -> tuple[float, float]:
    """Chi-square statistic and p-value of ranks in ``0..max_rank`` against a uniform, over ``bins`` bins."""
    ranks = np.asarray(ranks)[np.isfinite(ranks)].astype(int)
    counts = np.bincount(ranks * bins // (max_rank + 1), minlength=bins)
    result = stats.chisquare(counts)
    return float(result.statistic), float(result.pvalue)


def _inside_probability(pointwise: float, simulations: int, cdf: np.ndarray) -> float:
    """Probability that the ECDF of uniform ranks stays inside the pointwise ``pointwise`` bands everywhere.

    The count of ranks at or below each evaluation point is propagated point to point: given ``c``
    so far, the next increment is binomial over the ``simulations - c`` ranks still above, with the
    uniform probability of landing in between (Säilynoja, Bürkner and Vehtari 2022, section 3.2).
    """
    lower, upper = stats.binom.interval(pointwise, simulations, cdf)
    previous = np.concatenate([[0.0], cdf[:-1]])
    counts, probability = np.zeros(1, int), np.ones(1)
    for low, high, p in zip(lower.astype(int), upper.astype(int), (cdf - previous) / (1.0 - previous)):
        inside = np.arange(low, high + 1)
        step = stats.binom.pmf(inside[None, :] - counts[:, None], simulations - counts[:, None], p)
        counts, probability = inside, probability @ step
    return float(probability.sum())


@functools.lru_cache(maxsize=64)
def ecdf_band(simulations: int, max_rank: int, prob: float) -> tuple[np.ndarray, np.ndarray]:
    """Simultaneous ``prob`` band for the ECDF of uniform ranks, at ranks ``0..max_rank - 1``.

    The "optimized" band of Säilynoja et al. (2022), as ArviZ's ``plot_ecdf`` draws it: pointwise
    binomial bands whose level is raised until the ECDF stays inside all of them at once with
    probability ``prob``.
    """
    cdf = np.arange(1, max_rank + 1) / (max_rank + 1)
    pointwise = optimize.minimize_scalar(lambda level: abs(_inside_probability(level, simulations, cdf) - prob),
                                         bounds=(prob, 1.0), method="bounded").x
    lower, upper = stats.binom.interval(pointwise, simulations, cdf)
    return lower / simulations, upper / simulations


def rank_ecdf(ranks: np.ndarray, max_rank: int) -> np.ndarray:
    """Share of ranks at or below each of ``0..max_rank - 1``."""
    ranks = np.asarray(ranks)[np.isfinite(ranks)]
    return (ranks[:, None] <= np.arange(max_rank)[None, :]).mean(axis=0)


# --- the refits ----------------------------------------------------------------------------------


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
            log.warning("%s: refit %d failed (%s)", label, i, exc)
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


#: long_name of every variable of an SBC dataset.
DESCRIPTIONS = {
    "rank": "rank of the prior draw among the thinned posterior draws of its refit (0..max_rank; NaN: refit failed)",
    "prior_value": "parameter value drawn from the prior, which simulated the refit's data",
    "posterior_mean": "posterior mean of the parameter in the refit",
    "divergences": "divergent transitions in the refit (the fit's, repeated per parameter; -1: refit failed)",
    "min_ess": "smallest bulk ESS over the fit's parameters in the refit (before thinning)",
    "compile_seconds": "seconds to compile the fit's model (once per fit)",
    "sampling_seconds": "seconds for all of the fit's refits",
    "chi2": "chi-square statistic of the ranks over equal bins",
    "p_value": "chi-square p-value of rank uniformity",
    "ecdf_within_band": "rank ECDF inside its simultaneous band at level 1 - alpha / (parameters of the fit)",
    "passed": "both tests pass at alpha / (parameters of the fit) (Bonferroni)",
}


def with_uniformity(dataset: xr.Dataset, settings: SBCSettings) -> xr.Dataset:
    """Add each check's chi-square p-value, ECDF band verdict and pass/fail (Bonferroni per fit)."""
    bins, max_rank = settings.rank_bins, settings.ranks
    per_fit = dataset["fit"].to_series().value_counts()
    chi2, p_value, inside, passed = [], [], [], []
    for check in dataset["check"].values:
        ranks = dataset["rank"].sel(check=check).values
        level = settings.alpha / int(per_fit[str(dataset["fit"].sel(check=check).values)])
        statistic, p = chi_square_uniformity(ranks, max_rank, bins)
        lower, upper = ecdf_band(int(np.isfinite(ranks).sum()), max_rank, 1.0 - level)
        ecdf = rank_ecdf(ranks, max_rank)
        within = bool(np.all((ecdf >= lower - 1e-12) & (ecdf <= upper + 1e-12)))
        chi2.append(statistic), p_value.append(p), inside.append(within), passed.append(within and p >= level)
    dataset = dataset.assign(chi2=("check", chi2), p_value=("check", p_value),
                             ecdf_within_band=("check", inside), passed=("check", passed))
    dataset.attrs.update(bins=bins, max_rank=max_rank, alpha=settings.alpha)
    for name, description in DESCRIPTIONS.items():
        dataset[name].attrs["long_name"] = description
        if name not in ("prior_value", "posterior_mean"):  # those are in each parameter's own unit
            dataset[name].attrs["units"] = "s" if name.endswith("seconds") else "1"
    return dataset


# --- a full run over the registry's fits ------------------------------------------------------------


def run_sbc(fits: Sequence[str], observations, priors, settings: SBCSettings, *,
            log: logging.Logger | None = None) -> xr.Dataset:
    """SBC of each named fit (volume families and/or ``open``) at the real observation windows."""
    import pymc  # noqa: F401  (imported first: importing it resets its logger's level)

    from sim.calibration import MODEL_VERSION, SamplerSettings, calibration_id
    from sim.model import build_model, fit_names

    logging.getLogger("pymc").setLevel(logging.ERROR)
    log = log or logging.getLogger("tokensim")
    parts = []
    for fit in fits:
        model = build_model(fit, observations, priors)
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
        calibration_id=calibration_id(observations, priors, SamplerSettings(), fit_names()),
    )
    return dataset


def write_sbc(dataset: xr.Dataset, path) -> None:
    """Write the ranks and verdicts to netCDF atomically (an earlier file is replaced only on success)."""
    from sim.core.files import write_netcdf

    write_netcdf(dataset, path)


def summary_frame(dataset: xr.Dataset) -> pd.DataFrame:
    """One row per (fit, parameter): chi-square p-value, ECDF verdict, pass/fail, and the fit's refits."""
    frame = dataset[["chi2", "p_value", "ecdf_within_band", "passed"]].to_dataframe()
    frame["threshold"] = dataset.attrs["alpha"] / frame.groupby("fit")["parameter"].transform("size")
    divergent = (dataset["divergences"] > 0).sum("simulation").to_series()
    frame["divergent_refits"] = divergent
    frame["failed_refits"] = (dataset["divergences"] < 0).sum("simulation").to_series()
    frame["median_min_ess"] = dataset["min_ess"].median("simulation").to_series()
    return frame.set_index(["fit", "parameter"])


def format_summary(dataset: xr.Dataset) -> str:
    """The printed table, and one verdict line per fit."""
    frame = summary_frame(dataset)
    frame["result"] = np.where(frame["passed"], "pass", "FAIL")
    table = frame[["p_value", "threshold", "ecdf_within_band", "result"]].to_string(
        float_format=lambda v: f"{v:.3g}")
    lines = [table, ""]
    for fit, rows in frame.groupby(level="fit", sort=False):
        n = dataset.sizes["simulation"]
        lines.append(f"{fit}: {'passed' if rows['passed'].all() else 'FAILED'} "
                     f"({n} simulations, {int(rows['failed_refits'].iloc[0])} failed refits, "
                     f"{int(rows['divergent_refits'].iloc[0])} with divergences, "
                     f"median min ESS {rows['median_min_ess'].iloc[0]:.0f})")
    return "\n".join(lines)


def sbc_figure(dataset: xr.Dataset):
    """ECDF of ranks minus the uniform CDF, one panel per (fit, parameter), in its simultaneous band."""
    import matplotlib.pyplot as plt

    fits = list(dict.fromkeys(dataset["fit"].values))
    width = max(int((dataset["fit"] == fit).sum()) for fit in fits)
    figure, axes = plt.subplots(len(fits), width, figsize=(1.9 * width, 1.7 * len(fits) + 0.6),
                                squeeze=False, sharex=True, sharey=True)
    max_rank = int(dataset.attrs["max_rank"])
    x = np.arange(1, max_rank + 1) / (max_rank + 1)
    for row, fit in zip(axes, fits):
        checks = dataset.sel(check=dataset["fit"] == fit)
        for ax, check in zip(row, checks["check"].values):
            one = checks.sel(check=check)
            ranks = one["rank"].values
            level = dataset.attrs["alpha"] / checks.sizes["check"]
            lower, upper = ecdf_band(int(np.isfinite(ranks).sum()), max_rank, 1.0 - level)
            ax.fill_between(x, lower - x, upper - x, color="0.85", step="post", linewidth=0)
            ax.step(x, rank_ecdf(ranks, max_rank) - x, where="post",
                    color="tab:blue" if bool(one["passed"]) else "tab:red", linewidth=1.2)
            ax.axhline(0, color="0.4", linewidth=0.6)
            ax.set_title(f"{fit}: {one['parameter'].item()}\np = {float(one['p_value']):.2g}", fontsize=7)
            ax.tick_params(labelsize=6)
        for ax in row[checks.sizes["check"]:]:
            ax.set_visible(False)
    figure.suptitle(f"SBC: ECDF of ranks minus uniform, {dataset.sizes['simulation']} simulations per fit, "
                    f"{1 - dataset.attrs['alpha']:.0%} simultaneous bands per fit (grey); red = fails", fontsize=9)
    figure.supxlabel("fractional rank", fontsize=8)
    figure.tight_layout()
    return figure
