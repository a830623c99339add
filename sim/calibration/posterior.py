"""A fitted posterior on disk: one netCDF file holding every fit, its diagnostics and its id.

Layout (an ``xarray.DataTree``): the root carries the calibration id and what it was computed
from; ``/<fit>/posterior`` holds the draws (``chain``, ``draw``) of one fit (each volume family,
and ``open``) and ``/<fit>/diagnostics`` its per-parameter R-hat and ESS. Files are written
atomically and checked on load: a truncated, foreign or stale file is a :class:`UserError`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from sim.core.errors import UserError
from sim.core.files import atomic_write

FORMAT = "tokensim-posterior-1"


@dataclass(frozen=True)
class Posterior:
    """Every fit of one calibration, keyed by fit name, with the id they share."""

    id: str
    fits: dict[str, xr.Dataset]
    diagnostics: dict[str, xr.Dataset]
    attrs: dict[str, Any] = field(default_factory=dict)

    def samples(self, fit: str) -> dict[str, np.ndarray]:
        """The draws of one fit, chains flattened, as read-only arrays by parameter name (flattened once)."""
        if fit not in self._flattened:
            dataset = self.fits[fit]
            flat = {name: np.asarray(dataset[name].transpose("chain", "draw").values, dtype=float).ravel()
                    for name in dataset.data_vars}
            for values in flat.values():
                values.flags.writeable = False  # shared by every caller: nobody may change them
            self._flattened[fit] = flat
        return self._flattened[fit]

    @functools.cached_property
    def _flattened(self) -> dict[str, dict[str, np.ndarray]]:
        """The flattened draws of each fit asked for so far."""
        return {}

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


def _text(value: Any) -> Any:
    """An HDF5 attribute or string as Python: bytes decoded, one-element arrays unwrapped."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray) and value.size == 1:
        return value.item()
    return value


def _read_tree(path: Path) -> tuple[dict[str, Any], dict[str, xr.Dataset], dict[str, xr.Dataset]]:
    """Root attributes, draws and diagnostics of every fit, read with h5py.

    The file is netCDF4 (HDF5) written by :meth:`Posterior.save`; reading its few arrays directly
    takes milliseconds, where decoding it through xarray took most of a cached run's second.
    """
    import h5py

    with h5py.File(path, "r") as handle:
        attrs = {k: _text(v) for k, v in handle.attrs.items() if not k.startswith("_")}
        if attrs.get("format") != FORMAT:
            return attrs, {}, {}
        fits, diagnostics = {}, {}
        for name, group in handle.items():
            draws, report = group["posterior"], group["diagnostics"]
            fits[name] = xr.Dataset(
                {k: (("chain", "draw"), draws[k][()]) for k in draws if k not in ("chain", "draw")},
                coords={"chain": draws["chain"][()], "draw": draws["draw"][()]},
            )
            diagnostics[name] = xr.Dataset(
                {k: ("parameter", report[k][()]) for k in report if k != "parameter"},
                coords={"parameter": [_text(p) for p in report["parameter"][()]]},
                attrs={k: _text(v) for k, v in report.attrs.items() if not k.startswith("_")},
            )
    return attrs, fits, diagnostics


def load_posterior(path: str | Path, expected_id: str | None = None) -> Posterior:
    """Read a posterior file; with ``expected_id``, refuse one computed from anything else."""
    path = Path(path)
    if not path.is_file():
        raise UserError("posterior file not found", where=str(path))
    try:
        attrs, fits, diagnostics = _read_tree(path)
    except Exception as exc:  # h5py raises many types for a damaged or foreign file
        raise UserError(f"not a readable posterior file; delete it or run 'tokensim calibrate --force' "
                        f"({type(exc).__name__}: {exc})", where=str(path)) from None
    if attrs.get("format") != FORMAT:
        raise UserError(f"not a tokensim posterior (format {attrs.get('format')!r}, expected {FORMAT!r})",
                        where=str(path))
    found = attrs.pop("calibration_id", "")
    attrs.pop("format")
    if expected_id is not None and found != expected_id:
        raise UserError(f"stale posterior: its calibration id is {found[:12]!r} but the current observations, "
                        f"priors and model give {expected_id[:12]!r}; run 'tokensim calibrate'", where=str(path))
    return Posterior(found, fits, diagnostics, attrs)
