"""The SBC figure: each parameter's rank ECDF minus the uniform CDF, in its simultaneous band."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from sim.calibration.sbc.ranks import ecdf_band, rank_ecdf
from sim.plots.text import as_written


@as_written
def sbc_figure(dataset: xr.Dataset):
    """ECDF of ranks minus the uniform CDF, one panel per (fit, parameter), in its simultaneous band."""
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
