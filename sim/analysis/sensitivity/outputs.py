"""The files a sensitivity analysis writes (.nc, .csv, .png), checked before anything runs."""

from __future__ import annotations

from pathlib import Path

from sim.core.errors import UserError
from sim.core.outputs import check_outputs


def output_paths(out: str | Path) -> tuple[Path, Path, Path]:
    """The .nc, .csv and .png an analysis writes, checked before anything runs."""
    out = Path(out)
    if out.suffix != ".nc":
        raise UserError("the sensitivity file must end in .nc (the .csv and .png go next to it)", where=f"--out {out}")
    return check_outputs((out, out.with_suffix(".csv"), out.with_suffix(".png")), "--out")
