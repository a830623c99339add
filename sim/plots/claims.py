"""When claims hold: P(claim holds in month t) of every claim of a result (and P(crossed by t) where that
differs), and the distribution of first-crossing dates."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from sim.analysis.narrative import crossing_distribution
from sim.engine.results import claims_from_attr
from sim.plots.compare import COLOURS


def crossing_chart(dataset: xr.Dataset, axes=None):
    """P(claim holds in each month) of every claim (top; dashed: P(crossed by then) for a claim read on the
    date) and its first-crossing distribution by year (bottom)."""
    claims = claims_from_attr(dataset)
    if axes is None:
        _, axes = plt.subplots(2, 1, figsize=(10, 7), constrained_layout=True)
    top, bottom = axes
    times = dataset["time"].values
    width = 0.8 / max(len(claims), 1)
    for index, claim in enumerate(claims):
        colour = COLOURS[index % len(COLOURS)]
        curve = dataset["claim_probability"].sel(claim=claim.name).values
        top.plot(times, curve, color=colour, linewidth=2, label=claim.name)
        if claim.kind != "first_passage":
            top.plot(times, dataset["claim_first_passage"].sel(claim=claim.name).values, color=colour,
                     linewidth=1, linestyle="--")
        for by in claim.by:
            value = float(dataset["claim_probability"].sel(claim=claim.name, time=np.datetime64(by, "ns")))
            top.plot([np.datetime64(by, "ns")], [value], "o", color=colour)
            top.annotate(f"{value:.0%}", (np.datetime64(by, "ns"), value), xytext=(-8, 6),
                         textcoords="offset points", fontsize=8, color=colour, ha="right")
        shares = crossing_distribution(dataset, claim.name)
        positions = np.arange(len(shares)) + (index - (len(claims) - 1) / 2) * width
        bottom.bar(positions, shares.values, width=width, color=colour, label=claim.name)
        bottom.set_xticks(np.arange(len(shares)), shares.index, fontsize=8)
    top.axhline(0.5, color="grey", linestyle="--", linewidth=1)
    top.annotate("median crossing", (times[0], 0.5), xytext=(2, 3), textcoords="offset points", fontsize=8,
                 color="grey")
    top.set_ylim(0, 1)
    top.set_ylabel("P(claim holds)")
    top.set_title(f"Scenario '{dataset.attrs.get('scenario', '?')}': share of all "
                  f"{dataset.attrs.get('paths_simulated', '?')} paths in which each claim holds in each month "
                  "(dashed: has crossed by then)", fontsize=10)
    bottom.set_ylabel("share of paths")
    bottom.set_title("When paths first cross: already at the start, in each year, or not within the horizon",
                     fontsize=10)
    for ax in axes:
        ax.grid(True, alpha=0.3)
        if claims:
            ax.legend(fontsize=8, loc="upper left")
    return top.figure
