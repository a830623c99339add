"""The backtest figure: each held-out figure's forecasts by origin and method against its published value, and a
PIT histogram per method; and the files a backtest writes (.nc, .csv, .png), rendered before the first is written."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from sim.analysis.backtest.methods import METHODS
from sim.analysis.backtest.metrics import INTERVALS
from sim.analysis.backtest.tables import PIT_BINS, output_paths, score_csv
from sim.analysis.forecasts import pit_histogram
from sim.calibration.fits import SCALES
from sim.core.files import netcdf_bytes, write_outputs
from sim.core.variables import VARIABLES
from sim.data.observations import Observation, ObservationSet
from sim.plots.render import png_bytes
from sim.plots.text import as_written


@as_written
def backtest_figure(dataset: xr.Dataset, observations: ObservationSet | None = None):
    """One panel per held-out figure: each origin's 50/80/95% bands per method, the published value as a
    dashed line (dotted for a bound); volumes in T/day on a log axis, shares in %. Below, one PIT histogram
    per method: forecasts (positive lead) solid, nowcasts stacked lighter. Returns the figure."""
    ids = list(dict.fromkeys(str(v) for v in dataset["observation"].values))
    origins = sorted({str(v) for v in dataset["as_of"].values})
    columns = max(len(METHODS), min(4, len(ids)))
    rows = -(-len(ids) // columns) + 1
    figure, axes = plt.subplots(rows, columns, figsize=(4.4 * columns, 3.4 * rows + 0.8), squeeze=False,
                                constrained_layout=True)
    described = {o.id: o for o in observations.observations} if observations is not None else {}
    panels = list(axes[:-1].flat)
    for ax, observation in zip(panels, ids):
        _panel(ax, dataset.isel(hindcast=np.flatnonzero(dataset["observation"].values == observation)),
               observation, described.get(observation), origins)
    for ax in [*panels[len(ids):], *axes[-1, len(METHODS):]]:
        ax.set_visible(False)
    for ax, method in zip(axes[-1], METHODS):
        _pit_panel(ax, dataset, method)
    handles = [plt.Rectangle((0, 0), 1, 1, color=method.colour, alpha=0.5) for method in METHODS.values()]
    handles += [plt.Line2D([], [], color="black", linestyle="--"), plt.Line2D([], [], color="black", linestyle=":")]
    figure.legend(handles, [*METHODS, "published value", "published bound ('more than')"], loc="outside lower center",
                  ncol=5, fontsize=8)
    figure.suptitle(f"Backtest: forecasts made as of each origin (x) of figures published later; bands 50/80/95%, "
                    f"scenario '{dataset.attrs.get('scenario', '?')}', cut '{dataset.attrs.get('cut', '?')}', "
                    f"{dataset.attrs.get('source', '')}", fontsize=9)
    return figure


def _panel(ax, hindcasts: xr.Dataset, observation: str, described: Observation | None,
           origins: list[str]) -> None:
    scale = str(hindcasts["scale"].values[0])
    inverse = SCALES[scale].inverse
    factor = VARIABLES[SCALES[scale].variable].display_scale
    offsets = dict(zip(METHODS, (-0.22, 0.0, 0.22)))
    for i in range(hindcasts.sizes["hindcast"]):
        h = hindcasts.isel(hindcast=i)
        position = origins.index(str(h["as_of"].values))
        for method in METHODS:
            q = h["log_quantiles"].sel({"method": method})
            if bool(np.isnan(q).any()):
                continue
            x = position + offsets[method]
            for band, width, alpha in zip(sorted(INTERVALS, reverse=True), (3, 6, 9), (0.25, 0.4, 0.6)):
                lo, hi = (float(inverse(q.sel(quantile=level, method="nearest"))) / factor
                          for level in ((1 - band) / 2, (1 + band) / 2))
                ax.vlines(x, lo, hi, colors=METHODS[method].colour, linewidth=width, alpha=alpha)
            median = float(inverse(q.sel(quantile=0.5, method="nearest"))) / factor
            ax.plot([x - 0.08, x + 0.08], [median, median], color=METHODS[method].colour, linewidth=1.5)
    truth = float(inverse(hindcasts["truth"].values[0])) / factor
    bound = str(hindcasts["bound"].values[0])
    ax.axhline(truth, color="black", linestyle=":" if bound else "--", linewidth=1)
    ax.set_xticks(range(len(origins)), [f"as of\n{o}" for o in origins], fontsize=7)
    ax.set_xlim(-0.5, len(origins) - 0.5)
    if scale == "log":
        ax.set_yscale("log")
        ax.set_ylabel("T tokens/day", fontsize=8)
    else:
        ax.set_ylabel("%", fontsize=8)
    ax.autoscale_view()
    title = observation if described is None else f"{observation} ({described.series}, published {described.published})"
    ax.set_title(title + {"lower": ", more than", "upper": ", at most"}.get(bound, ""), fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)


def _pit_panel(ax, dataset: xr.Dataset, method: str) -> None:
    """PIT histogram of one method: forecasts solid, nowcasts stacked lighter, the uniform as a line."""
    chosen = dataset.sel({"method": method})
    forecast = dataset["forecast"].values.astype(bool)
    edges = np.linspace(0.0, 1.0, PIT_BINS + 1)
    bottom, total = np.zeros(PIT_BINS), 0
    for wanted, alpha, label in ((True, 0.8, "forecasts"), (False, 0.3, "nowcasts")):
        lower, upper = (chosen[name].values[forecast == wanted] for name in ("pit_lower", "pit_upper"))
        n = int(np.sum(np.isfinite(lower)))
        if not n:
            continue
        counts = pit_histogram(lower, upper, PIT_BINS) * n
        ax.bar(edges[:-1], counts, width=1 / PIT_BINS, bottom=bottom, align="edge", color=METHODS[method].colour,
               alpha=alpha, edgecolor="white", label=f"{label} ({n})")
        bottom, total = bottom + counts, total + n
    if total:
        ax.axhline(total / PIT_BINS, color="black", linewidth=0.8, linestyle="--")
    ax.set_xlim(0, 1)
    ax.set_xlabel("PIT (a bound's interval spread over its bins)", fontsize=8)
    ax.set_ylabel("hindcasts", fontsize=8)
    ax.set_title(f"PIT histogram: {METHODS[method].label}", fontsize=8)
    ax.legend(fontsize=7)


def write_backtest(dataset: xr.Dataset, out: str | Path, observations: ObservationSet | None = None
                   ) -> tuple[Path, Path, Path]:
    """Write the Dataset (.nc), the scores (.csv) and the figure (.png) as one set (all replaced, or none).

    Everything is rendered in memory first, so a failure while drawing or tabulating writes nothing.
    """
    nc, csv, png = output_paths(out)
    contents = (netcdf_bytes(dataset), score_csv(dataset).to_csv(index=False).encode(),
                png_bytes(backtest_figure(dataset, observations), dpi=110))
    return write_outputs(dict(zip((nc, csv, png), contents)))
