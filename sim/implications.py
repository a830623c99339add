"""What each fitted growth family alone implies for later years (trend only, no shocks).

The data cannot choose between the saturating families; showing each one's forecast side by side
makes visible how much of the answer is structure rather than data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.curves import FAMILIES
from sim.posterior import Posterior
from sim.timeaxis import month_windows

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
