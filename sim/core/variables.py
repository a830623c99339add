"""The simulated variables, a registry: every fact about each in one place.

A results Dataset, the quantile tables, the charts, the claims in words and the scenario schema all
describe ``daily_tokens``, ``open_share`` and ``open_adoption``; each reads what it needs here: the
CF units (UDUNITS), long name and cell methods stored on disk, how a table shows a value (divided by ``display_scale``, with
``display_unit``), the scale a chart plots it on, the histogram bins of a streamed summary, the
chart label and colour, the range a claim threshold may take, and how a sentence names it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Bins:
    """Fixed histogram bins for streamed quantiles: ``count`` equal bins from ``low`` to ``high`` on a
    ``"log10"`` or ``"linear"`` axis."""

    scale: str
    low: float
    high: float
    count: int

    def to_axis(self, values: np.ndarray) -> np.ndarray:
        """Values on the binned axis."""
        return np.log10(np.maximum(values, 1e-300)) if self.scale == "log10" else values

    def from_axis(self, values: np.ndarray) -> np.ndarray:
        """Values back from the binned axis."""
        return 10.0**values if self.scale == "log10" else values


@dataclass(frozen=True)
class Variable:
    """One simulated variable ``(draw, time)`` of a results Dataset.

    Volume is binned on a log10 scale (1e9..1e19 tokens/day), shares on [0, 1]; a table divides a value
    by ``display_scale`` (T/day, %), a chart by ``plot_scale`` (T/day, shares as fractions).
    """

    name: str
    units: str
    long_name: str
    display_scale: float
    display_unit: str
    plot_scale: float
    bins: Bins
    label: str
    colour: str
    claim_range: tuple[float, float]
    subject: str
    threshold_text: Callable[[float], str]
    #: CF cell_methods of the stored values (and of their quantiles): each is the mean over its time step,
    #: whose bounds the results carry in ``time_bnds``.
    cell_methods: str = "time: mean"


VARIABLES: dict[str, Variable] = {
    variable.name: variable
    for variable in (
        # tokens are counted, so the UDUNITS unit of a daily volume is "day-1" (the long name says of what)
        Variable("daily_tokens", "day-1",
                 "LLM tokens per day, Chinese enterprises (F&S definition), monthly mean",
                 1e12, "T/day", 1e12, Bins("log10", 9.0, 19.0, 10_000), "daily tokens (F&S enterprise)", "#1f5f99",
                 (0.0, math.inf), "daily enterprise token volume", lambda v: f"{v / 1e12:g}T tokens/day"),
        Variable("open_share", "1", "share of enterprise LLM calls served by open-source models, monthly mean",
                 0.01, "%", 1.0, Bins("linear", 0.0, 1.0, 10_000), "open-source share of calls", "#b3541e",
                 (0.0, 1.0), "the open-source share of enterprise LLM calls", lambda v: f"{v:.0%}"),
        Variable("open_adoption", "1", "share of enterprises using open-source LLMs, monthly mean",
                 0.01, "%", 1.0, Bins("linear", 0.0, 1.0, 10_000), "enterprises using open-source models", "#2e7d32",
                 (0.0, 1.0), "enterprise adoption of open-source models", lambda v: f"{v:.0%}"),
    )
}
