"""The tornado chart of a sensitivity analysis: total and first-order indices per target; and the files the
analysis writes (.nc, .csv, .png), rendered before the first is written."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from sim.analysis.sensitivity.outputs import output_paths
from sim.analysis.sensitivity.ranking import ranking_frame
from sim.core.files import netcdf_bytes, write_outputs
from sim.plots.render import png_bytes
from sim.plots.text import as_written


@as_written
def tornado_figure(dataset: xr.Dataset, top: int = 8):
    """One tornado panel per target: the ``top`` factors by ST (bar, with its 95% interval) and S1 (tick)."""
    count = dataset.sizes["target"]
    columns = 2 if count > 1 else 1
    rows = math.ceil(count / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(7.5 * columns, 0.32 * top * rows + 1.2 * rows + 0.8),
                                squeeze=False, constrained_layout=True)
    for ax, target in zip(axes.ravel(), dataset["target"].values):
        _tornado_panel(ax, dataset.sel(target=target), top)
    for ax in axes.ravel()[count:]:
        ax.set_visible(False)
    figure.suptitle(f"Sensitivity of scenario '{dataset.attrs.get('scenario', '?')}': total (bar, 95% interval) and "
                    f"first-order (black tick) Sobol indices; grey line: noise floor\n"
                    f"{dataset.attrs.get('evaluations', '?')} evaluations x {dataset.attrs.get('paths_per_evaluation', '?')}"
                    f" paths, seed {dataset.attrs.get('seed', '?')}, calibration "
                    f"{str(dataset.attrs.get('calibration_id', ''))[:12]}, {dataset.attrs.get('source', '')}",
                    fontsize=9)
    return figure


def _tornado_panel(ax, one: xr.Dataset, top: int) -> None:
    st = one["ST"].values
    title = str(one["target_label"].values)
    if not np.any(np.isfinite(st)):
        ax.text(0.5, 0.5, f"constant over the design (mean {float(one['output_mean']):.3g}):\nnothing to rank",
                ha="center", va="center", transform=ax.transAxes, fontsize=9)
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
        return
    order = np.argsort(-np.nan_to_num(st, nan=-np.inf), kind="stable")[:top][::-1]
    positions = np.arange(len(order))
    labels = [str(one["factor_label"].values[i]) for i in order]
    ax.barh(positions, st[order], xerr=one["ST_conf"].values[order], color="#1f5f99", alpha=0.8,
            error_kw={"ecolor": "#333333", "capsize": 2, "linewidth": 0.8})
    ax.plot(one["S1"].values[order], positions, "|", color="black", markersize=12, markeredgewidth=2)
    floor = float(one["noise_floor"]) if "noise_floor" in one else np.nan
    if np.isfinite(floor):
        ax.axvline(floor, color="grey", linestyle="--", linewidth=1)
    ax.set_yticks(positions, labels, fontsize=8)
    right = float(np.nanmax(st + np.nan_to_num(one["ST_conf"].values)))
    ax.set_xlim(min(0.0, float(np.nanmin(one["S1"].values)) - 0.05), min(max(1.05, right + 0.02), 1.6))
    ax.set_title(f"{title} (mean {float(one['output_mean']):.3g})", fontsize=9)
    ax.grid(True, axis="x", alpha=0.3)


def write_sensitivity(dataset: xr.Dataset, out: str | Path) -> list[Path]:
    """Write the Dataset (``out``, .nc), the ranked table (.csv) and the tornado chart (.png) as one set (all
    replaced, or none); everything is rendered before the first byte is written."""
    contents = (netcdf_bytes(dataset), ranking_frame(dataset).to_csv(index=False).encode(),
                png_bytes(tornado_figure(dataset), dpi=110))
    return list(write_outputs(dict(zip(output_paths(out), contents))))
