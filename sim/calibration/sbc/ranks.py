"""Ranks of prior draws among posterior draws, and their uniformity: the chi-square test and the
simultaneous ECDF band of Säilynoja, Bürkner and Vehtari (2022), each at ``alpha / k`` for the ``k``
parameters of a fit (Bonferroni)."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import xarray as xr
from scipy import optimize, stats

from sim.calibration.sbc.settings import SBCSettings


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
