"""The files an analysis writes (.nc, .csv, .png): their paths, checked up front, and writing them."""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from sim.errors import UserError
from sim.sensitivity.ranking import ranking_frame
from sim.sensitivity.tornado import tornado_figure


def write_outputs(dataset: xr.Dataset, out: str | Path) -> list[Path]:
    """Write the Dataset (``out``, .nc), the ranked table (.csv) and the tornado chart (.png), each atomically."""
    import matplotlib.pyplot as plt

    from sim.atomic import atomic_write

    out = Path(out)
    figure = tornado_figure(dataset)  # everything is rendered before the first file is written
    table = ranking_frame(dataset).to_csv(index=False)
    try:
        written = [atomic_write(out, lambda tmp: dataset.to_netcdf(tmp, engine="h5netcdf")),
                   atomic_write(out.with_suffix(".csv"), lambda tmp: Path(tmp).write_text(table)),
                   atomic_write(out.with_suffix(".png"), lambda tmp: figure.savefig(tmp, format="png", dpi=110))]
    finally:
        plt.close(figure)
    return written


def output_paths(out: str | Path) -> tuple[Path, Path, Path]:
    """The .nc, .csv and .png an analysis writes, checked before anything runs."""
    out = Path(out)
    if out.suffix != ".nc":
        raise UserError("the sensitivity file must end in .nc (the .csv and .png go next to it)", where=f"--out {out}")
    paths = (out, out.with_suffix(".csv"), out.with_suffix(".png"))
    for path in paths:
        if path.is_dir():
            raise UserError("is a folder, not a file", where=f"--out {path}")
    return paths
