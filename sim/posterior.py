"""A fitted posterior on disk: one netCDF file holding every fit, its diagnostics and its id.

Layout (an ``xarray.DataTree``): the root carries the calibration id and what it was computed
from; ``/<fit>/posterior`` holds the draws (``chain``, ``draw``) of one fit (each volume family,
and ``open``) and ``/<fit>/diagnostics`` its per-parameter R-hat and ESS. Files are written
atomically and checked on load: a truncated, foreign or stale file is a :class:`UserError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from sim.atomic import atomic_write, load_netcdf
from sim.errors import UserError

FORMAT = "tokensim-posterior-1"


@dataclass(frozen=True)
class Posterior:
    """Every fit of one calibration, keyed by fit name, with the id they share."""

    id: str
    fits: dict[str, xr.Dataset]
    diagnostics: dict[str, xr.Dataset]
    attrs: dict[str, Any] = field(default_factory=dict)

    def samples(self, fit: str) -> dict[str, np.ndarray]:
        """The draws of one fit, chains flattened, as plain arrays by parameter name."""
        dataset = self.fits[fit]
        return {name: np.asarray(dataset[name].transpose("chain", "draw").values, dtype=float).ravel()
                for name in dataset.data_vars}

    def size(self, fit: str) -> int:
        """Number of draws (all chains) in one fit."""
        dataset = self.fits[fit]
        return dataset.sizes["chain"] * dataset.sizes["draw"]

    def save(self, path: str | Path) -> Path:
        """Write atomically to ``path`` (netCDF4/HDF5 groups)."""
        tree = {"/": xr.Dataset(attrs={**self.attrs, "calibration_id": self.id, "format": FORMAT})}
        for name in self.fits:
            tree[f"/{name}/posterior"] = self.fits[name]
            tree[f"/{name}/diagnostics"] = self.diagnostics[name]
        datatree = xr.DataTree.from_dict(tree)
        return atomic_write(path, lambda tmp: datatree.to_netcdf(tmp, engine="h5netcdf"))


def load_posterior(path: str | Path, expected_id: str | None = None) -> Posterior:
    """Read a posterior file; with ``expected_id``, refuse one computed from anything else."""
    path = Path(path)
    tree = load_netcdf(path, "posterior file not found", "not a readable posterior file; delete it or run "
                       "'tokensim calibrate --force'", tree=True)
    attrs = dict(tree.attrs)
    if attrs.get("format") != FORMAT:
        raise UserError(f"not a tokensim posterior (format {attrs.get('format')!r}, expected {FORMAT!r})",
                        where=str(path))
    found = attrs.pop("calibration_id", "")
    attrs.pop("format")
    if expected_id is not None and found != expected_id:
        raise UserError(f"stale posterior: its calibration id is {found[:12]!r} but the current observations, "
                        f"priors and model give {expected_id[:12]!r}; run 'tokensim calibrate'", where=str(path))
    fits = {name: child["posterior"].to_dataset() for name, child in tree.children.items()}
    diagnostics = {name: child["diagnostics"].to_dataset() for name, child in tree.children.items()}
    return Posterior(found, fits, diagnostics, attrs)
