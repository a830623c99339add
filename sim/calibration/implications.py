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
from sim.curves.open_source import OPEN_PARAMETERS, bass_adoption_window_mean, open_share_window_mean
from sim.data.priors import Priors

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


def prior_implications(priors: Priors, months: tuple[str, ...] = MONTHS, *, draws: int = 4000,
                       seed: int = 0) -> pd.DataFrame:
    """What the priors alone imply (no data): 5/50/95% of daily tokens (T/day) per family, and of the
    open-source share of calls and enterprise adoption, per month. An implausible prior shows here
    before any data touch it."""
    rng = np.random.default_rng(seed)
    starts = np.array(months, dtype="datetime64[M]")
    a, b = month_windows(starts)
    base = priors.sample_volume(rng, draws)
    rows = []
    for name, family in FAMILIES.items():
        trend = family.window_mean(a, b, {p: base[p][:, None] for p in family.parameters}) / 1e12
        rows += _quantile_rows(name, months, trend)
    open_params = {p: priors.open[p].sample(rng, draws)[:, None] for p in OPEN_PARAMETERS}
    rows += _quantile_rows("open_share", months, open_share_window_mean(a, b, open_params))
    rows += _quantile_rows("open_adoption", months, bass_adoption_window_mean(a, b, open_params))
    return pd.DataFrame(rows).set_index(["quantity", "month"])


def _quantile_rows(quantity: str, months: tuple[str, ...], values: np.ndarray) -> list[dict]:
    return [{"quantity": quantity, "month": month, **dict(zip(("p5", "p50", "p95"),
                                                                np.quantile(values[:, column], [0.05, 0.5, 0.95])))}
            for column, month in enumerate(months)]
