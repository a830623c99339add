"""The files an analysis writes (.nc, .csv, .png): their paths, checked up front, and writing them."""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from sim.core.errors import UserError
from sim.core.files import writable, write_analysis
from sim.sensitivity.ranking import ranking_frame
from sim.sensitivity.tornado import tornado_figure


def write_outputs(dataset: xr.Dataset, out: str | Path) -> list[Path]:
    """Write the Dataset (``out``, .nc), the ranked table (.csv) and the tornado chart (.png), each atomically."""
    table = ranking_frame(dataset).to_csv(index=False)  # everything is rendered before the first file is written
    return list(write_analysis(dataset, output_paths(out), table, tornado_figure(dataset)))


def output_paths(out: str | Path) -> tuple[Path, Path, Path]:
    """The .nc, .csv and .png an analysis writes, checked before anything runs."""
    out = Path(out)
    if out.suffix != ".nc":
        raise UserError("the sensitivity file must end in .nc (the .csv and .png go next to it)", where=f"--out {out}")
    return writable((out, out.with_suffix(".csv"), out.with_suffix(".png")), "--out")
