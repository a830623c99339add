"""What each growth family alone implies for later years (trend only, no shocks), fitted or prior.

The data cannot choose between the saturating families; showing each one's forecast side by side
makes visible how much of the answer is structure rather than data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.calibration.posterior import Posterior
from sim.core.timeaxis import month_windows
from sim.curves.families import FAMILIES
from sim.curves.open_source import OPEN_PARAMETERS, OPEN_VARIANTS, open_adoption_window_mean, open_share_window_mean

MONTHS = ("2026-12", "2027-12", "2030-12")


def family_implications(posterior: Posterior, months: tuple[str, ...] = MONTHS) -> pd.DataFrame:
    """Per family and month: 5/50/95% of the posterior trend of daily tokens (T/day), and growth."""
    starts = np.array(months, dtype="datetime64[M]")
    a, b = month_windows(starts)
    rows = []
    for name, family in FAMILIES.items():
        if name not in posterior.fits:
            continue
        samples = posterior.samples(name)
        trend = family.window_mean(a, b, {p: samples[p][:, None] for p in family.parameters}) / 1e12
        growth = np.median(samples["growth"])
        for column, month in enumerate(months):
            p5, p50, p95 = np.quantile(trend[:, column], [0.05, 0.5, 0.95])
            rows.append({"family": name, "month": month, "p5": p5, "p50": p50, "p95": p95,
                         "growth_2025": growth})
    return pd.DataFrame(rows).set_index(["family", "month"])


def prior_implications(prior: Posterior, months: tuple[str, ...] = MONTHS) -> pd.DataFrame:
    """What the priors alone imply (no data), from prior draws (:func:`sim.calibration.prior_draws.prior_posterior`):
    5/50/95% of daily tokens (T/day) per family, and of the open-source share of calls and enterprise
    adoption per open-source variant, per month. An implausible prior shows here before any data touch it."""
    starts = np.array(months, dtype="datetime64[M]")
    a, b = month_windows(starts)
    rows = []
    for name, family in FAMILIES.items():
        if name in prior.fits:
            samples = prior.samples(name)
            trend = family.window_mean(a, b, {p: samples[p][:, None] for p in family.parameters}) / 1e12
            rows += _quantile_rows(name, months, trend)
    for name in OPEN_VARIANTS:
        if name in prior.fits:
            samples = prior.samples(name)
            columns = {p: samples[p][:, None] for p in OPEN_PARAMETERS}
            rows += _quantile_rows(f"open_share ({name})", months, open_share_window_mean(a, b, columns))
            rows += _quantile_rows(f"open_adoption ({name})", months, open_adoption_window_mean(a, b, columns))
    return pd.DataFrame(rows).set_index(["quantity", "month"])


def _quantile_rows(quantity: str, months: tuple[str, ...], values: np.ndarray) -> list[dict]:
    return [{"quantity": quantity, "month": month, **dict(zip(("p5", "p50", "p95"),
                                                                np.quantile(values[:, column], [0.05, 0.5, 0.95])))}
            for column, month in enumerate(months)]


#: The years whose growth the long-run table reports, and the growth rate the claim about 2029 asks about.
GROWTH_YEARS = (2027, 2029)
FAST_GROWTH = 0.30
#: Enterprise adoption of open-source models the F&S outlook speaks of, and the month it is read at.
ADOPTION_OUTLOOK, OUTLOOK_MONTH = 0.8, "2030-12"


def _december_means(samples: dict[str, np.ndarray], family, years) -> np.ndarray:
    """Each draw's December mean of daily tokens in each of ``years`` (draw, year)."""
    a, b = month_windows(np.array([f"{year}-12" for year in years], dtype="datetime64[M]"))
    return family.window_mean(a, b, {p: samples[p][:, None] for p in family.parameters})


def long_run_table(posterior: Posterior, weights: dict[str, float]) -> pd.DataFrame:
    """Per family and for the mix of ``weights`` (trend only, posterior draws): the growth of daily tokens
    in 2027 and 2029 (log of the December mean over the one before, per year; medians) and the probability
    that growth in 2029 exceeds :data:`FAST_GROWTH`, which is what the long run rests on."""
    years = sorted({year for g in GROWTH_YEARS for year in (g - 1, g)})
    growth = {}
    for name, family in FAMILIES.items():
        if name in posterior.fits:
            levels = np.log(_december_means(posterior.samples(name), family, years))
            growth[name] = {g: levels[:, years.index(g)] - levels[:, years.index(g - 1)] for g in GROWTH_YEARS}
    mixed = [name for name in growth if weights.get(name, 0.0) > 0]
    if mixed:  # draws of each family in proportion to its weight, the same draws for every year
        rng, total = np.random.default_rng(0), sum(weights[name] for name in mixed)
        picks = {name: rng.integers(0, len(growth[name][GROWTH_YEARS[0]]), round(4000 * weights[name] / total))
                 for name in mixed}
        growth["mix"] = {g: np.concatenate([growth[name][g][picks[name]] for name in mixed]) for g in GROWTH_YEARS}
    rows = [{"family": name, **{f"growth {g} (median)": float(np.median(v[g])) for g in GROWTH_YEARS},
             f"P(growth {GROWTH_YEARS[-1]} > {FAST_GROWTH:.0%}/yr)": float(np.mean(v[GROWTH_YEARS[-1]] > FAST_GROWTH))}
            for name, v in growth.items()]
    return pd.DataFrame(rows).set_index("family")


def adoption_outlook_table(posterior: Posterior) -> pd.DataFrame:
    """Per open-source variant (trend only, posterior draws): median enterprise adoption and share of calls
    in :data:`OUTLOOK_MONTH`, and P(adoption above :data:`ADOPTION_OUTLOOK` then), side by side."""
    a, b = month_windows(np.array([OUTLOOK_MONTH], dtype="datetime64[M]"))
    rows = []
    for name in OPEN_VARIANTS:
        if name in posterior.fits:
            columns = {p: v[:, None] for p, v in posterior.samples(name).items() if p in OPEN_PARAMETERS}
            adoption = open_adoption_window_mean(a, b, columns)[:, 0]
            share = open_share_window_mean(a, b, columns)[:, 0]
            rows.append({"variant": name, f"adoption {OUTLOOK_MONTH} (median)": float(np.median(adoption)),
                         f"share of calls {OUTLOOK_MONTH} (median)": float(np.median(share)),
                         f"P(adoption > {ADOPTION_OUTLOOK:.0%})": float(np.mean(adoption > ADOPTION_OUTLOOK)),
                         "m (median)": float(np.median(posterior.samples(name)["m"]))})
    return pd.DataFrame(rows).set_index("variant")
