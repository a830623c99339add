"""A fitted posterior on disk: one netCDF file per calibration, one ArviZ-standard group tree per fit, and a
content hash that every load verifies.

Layout (netCDF4/HDF5 groups)::

    /                        calibration_id, format, what it was computed from, content_sha256
    /<fit>/posterior         draws (chain, draw) of the fit's parameters
    /<fit>/sample_stats      NUTS statistics per draw (diverging, lp, step size, tree depth, ...)
    /<fit>/observed_data     the figures the fit saw, on its model's scale
    /<fit>/log_likelihood    pointwise log-likelihood of each figure per draw
    /<fit>/diagnostics       R-hat, bulk and tail ESS per parameter; divergences and draws (attributes)

``<fit>`` is each volume family and ``open`` (:data:`sim.calibration.fits.FITS`); a fit that saw no
figure (an early vintage's open-source model) has no ``observed_data`` or ``log_likelihood``. Each fit
opens in ArviZ as it is::

    az.InferenceData.from_netcdf("calibration/posteriors/posterior-<id>.nc", base_group="logistic")

``content_sha256`` (a root attribute, JSON) holds one SHA-256 per fit, of every array, name, shape,
type and attribute under ``/<fit>`` exactly as stored, and one (``"/"``) of the root attributes.
:func:`load_posterior` reads the file once with h5py (a tenth of a second or two; decoding it through
xarray took most of a cached run's second), recomputes every hash and refuses a file whose content
differs, whose draws are not finite, or whose format is not :data:`FORMAT`. Whether the fits are what the current
settings ask for and still pass the convergence gate is checked by the caller
(:func:`sim.calibration.calibrate.calibrate`).
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from sim.core.errors import UserError
from sim.core.files import atomic_write, netcdf_bytes, read_input

#: Bump when the layout changes: the format is part of the calibration id, so older files are refitted.
FORMAT = "tokensim-posterior-2"
#: The ArviZ groups of a fit besides ``posterior``, and the group of its convergence diagnostics.
GROUPS = ("sample_stats", "observed_data", "log_likelihood")
DIAGNOSTICS = "diagnostics"
#: A posterior file is a few MB; anything far larger is not one.
MAX_BYTES = 2**30
#: HDF5 bookkeeping attributes (dimension scales and their references), not content.
_BOOKKEEPING = {"DIMENSION_LIST", "REFERENCE_LIST", "CLASS", "NAME", "_Netcdf4Dimid", "_Netcdf4Coordinates",
                "_nc3_strict"}
_HASHES = "content_sha256"


@dataclass(frozen=True)
class Posterior:
    """Every fit of one calibration, keyed by fit name, with the id they share.

    ``fits`` holds each fit's draws (ArviZ's ``posterior`` group), ``diagnostics`` its R-hat and ESS per
    parameter, ``groups`` its other ArviZ groups (``sample_stats``, ``observed_data``, ``log_likelihood``)
    when fitted; a loaded posterior keeps of those only the divergences (``sample_stats.diverging``), which
    is all tokensim reads (ArviZ opens the rest).
    """

    id: str
    fits: dict[str, xr.Dataset]
    diagnostics: dict[str, xr.Dataset]
    attrs: dict[str, Any] = field(default_factory=dict)
    groups: dict[str, dict[str, xr.Dataset]] = field(default_factory=dict)

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

    def to_bytes(self) -> bytes:
        """The netCDF file (see the module docstring), content hashes included."""
        tree = {"/": xr.Dataset(attrs={**self.attrs, "calibration_id": self.id, "format": FORMAT})}
        for name in self.fits:
            tree[f"/{name}/posterior"] = self.fits[name]
            for group, dataset in self.groups.get(name, {}).items():
                tree[f"/{name}/{group}"] = dataset
            tree[f"/{name}/{DIAGNOSTICS}"] = self.diagnostics[name]
        # Uncompressed: draws barely compress, and reading them back is 40% faster without zlib.
        return _with_hashes(netcdf_bytes(xr.DataTree.from_dict(tree), compress=False))

    def save(self, path: str | Path) -> Path:
        """Write to ``path``, replacing an earlier file only once the new one is complete."""
        return atomic_write(path, self.to_bytes())


def arviz_groups(idata, model) -> dict[str, xr.Dataset]:
    """The groups stored for one fit, from PyMC's InferenceData: its own variables' draws (``posterior``),
    the per-draw NUTS statistics, the observed figures and their pointwise log-likelihood."""
    import pymc as pm

    # The model's own variables, one value per draw (nutpie also returns the unconstrained values).
    named = {v.name for v in (*model.free_RVs, *model.deterministics)}
    kept = [name for name in idata.posterior.data_vars if name in named and idata.posterior[name].ndim == 2]
    groups = {"posterior": idata.posterior[kept].reset_coords(drop=True)}
    stats = idata.sample_stats
    groups["sample_stats"] = stats[[name for name in stats.data_vars if stats[name].dims == ("chain", "draw")
                                    and stats[name].dtype.kind in "biuf"]].reset_coords(drop=True)
    if model.observed_RVs:
        groups["observed_data"] = idata.observed_data
        with warnings.catch_warnings():  # PyTensor's C backend: a note on BLAS, irrelevant to this small graph
            warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
            groups["log_likelihood"] = pm.compute_log_likelihood(idata, model=model, extend_inferencedata=False,
                                                                 progressbar=False)
    return groups


def _canonical(value: Any) -> bytes:
    """The bytes an array or attribute value is hashed by: its type, shape and content."""
    array = np.asarray(value)
    if array.dtype.kind in "OSU":  # strings (h5py reads variable-length ones as objects of bytes)
        items = [item.decode() if isinstance(item, bytes) else str(item) for item in array.ravel()]
        return b"str" + repr(array.shape).encode() + json.dumps(items, ensure_ascii=False).encode()
    array = np.ascontiguousarray(array)
    return array.dtype.str.encode() + repr(array.shape).encode() + array.tobytes()


def _attributes(node, skip: set[str] = _BOOKKEEPING) -> tuple[bytes, dict[str, Any]]:
    """The bytes a node's attributes are hashed by, and the attributes (HDF5's own bookkeeping, whose object
    references are slow to read and not content, left out)."""
    attrs = {key: node.attrs[key] for key in sorted(node.attrs) if key not in skip}
    return b"".join(key.encode() + b"=" + _canonical(value) + b"\0" for key, value in attrs.items()), attrs


@dataclass(frozen=True)
class _Stored:
    """One group of a fit as stored: raw arrays and attributes by name."""

    arrays: dict[str, np.ndarray]
    attrs: dict[str, Any]
    scales: frozenset[str]  # the arrays that are netCDF dimensions (coordinates)


def _walk(fit, where: str) -> tuple[str, dict[str, _Stored]]:
    """Read one fit group (a group of groups of arrays, nothing else) once: its SHA-256, of every name, type,
    shape, value and attribute in name order, and its arrays."""
    import h5py

    digest, groups = hashlib.sha256(_attributes(fit)[0]), {}
    for name in sorted(fit):
        group = fit[name]
        if not isinstance(group, h5py.Group):
            raise UserError(f"not a tokensim posterior: '{fit.name}/{name}' is not a group", where=where)
        hashed, group_attrs = _attributes(group)
        digest.update(name.encode() + b"\0" + hashed)
        arrays, scales = {}, set()
        for key in sorted(group):
            node = group[key]
            if not isinstance(node, h5py.Dataset):
                raise UserError(f"not a tokensim posterior: '{node.name}' is not an array", where=where)
            hashed, attrs = _attributes(node)
            arrays[key] = node[()]
            digest.update(key.encode() + b"\0" + _canonical(arrays[key]) + hashed)
            if h5py.h5ds.is_scale(node.id):
                scales.add(key)
            if _text(attrs.get("dtype", "")) == "bool":
                arrays[key] = arrays[key].astype(bool)
        groups[name] = _Stored(arrays, {k: _text(v) for k, v in group_attrs.items() if not k.startswith("_")},
                               frozenset(scales))
    return digest.hexdigest(), groups


def _root_hash(handle) -> str:
    return hashlib.sha256(_attributes(handle, _BOOKKEEPING | {_HASHES})[0]).hexdigest()


def _with_hashes(data: bytes) -> bytes:
    """A posterior file's bytes with its content hashes stored in it (root attribute ``content_sha256``)."""
    import h5py

    buffer = io.BytesIO(data)
    with h5py.File(buffer, "r+") as handle:
        hashes = {"/": _root_hash(handle), **{name: _walk(fit, "")[0] for name, fit in handle.items()}}
        handle.attrs[_HASHES] = json.dumps(hashes, sort_keys=True)
    return buffer.getvalue()


def _text(value: Any) -> Any:
    """An HDF5 attribute or string as Python: one-element arrays unwrapped, numpy scalars made Python, bytes
    decoded."""
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.ravel()[0]
    if isinstance(value, np.generic):
        value = value.item()
    return value.decode() if isinstance(value, bytes) else value


def _labels(values: np.ndarray) -> np.ndarray:
    return np.array([_text(v) for v in values]) if values.dtype.kind in "OS" else values


def _draws(stored: _Stored, name: str, where: str) -> xr.Dataset:
    """A fit's draws: every (chain, draw) array of its ``posterior`` group."""
    chain, draw = stored.arrays.get("chain"), stored.arrays.get("draw")
    if chain is None or draw is None:
        raise UserError(f"damaged posterior: fit '{name}' has no chain and draw axes", where=where)
    shape = (len(chain), len(draw))
    variables = {}
    for key, values in stored.arrays.items():
        if key in stored.scales:
            continue
        if values.shape != shape:
            raise UserError(f"damaged posterior: {name}.{key} has shape {values.shape}, not (chain, draw) = {shape}",
                            where=where)
        variables[key] = (("chain", "draw"), values)
    return xr.Dataset(variables, coords={"chain": chain, "draw": draw}, attrs=stored.attrs)


def _diagnostics(stored: _Stored, name: str, where: str) -> xr.Dataset:
    """A fit's convergence diagnostics: R-hat and ESS per parameter, divergences and draws as attributes."""
    parameters = stored.arrays.get("parameter")
    if parameters is None:
        raise UserError(f"damaged posterior: fit '{name}' has no diagnostics per parameter", where=where)
    variables = {key: ("parameter", values) for key, values in stored.arrays.items()
                 if key not in stored.scales and values.shape == parameters.shape}
    return xr.Dataset(variables, coords={"parameter": _labels(parameters)}, attrs=stored.attrs)


def _read(path: Path) -> tuple[dict[str, Any], dict[str, dict[str, _Stored]]]:
    """Root attributes and every fit's groups as stored, read with h5py and checked against the stored hashes."""
    import h5py

    data = read_input(path, "posterior file", limit=MAX_BYTES)
    with h5py.File(io.BytesIO(data), "r") as handle:
        attrs = {k: _text(v) for k, v in handle.attrs.items() if not k.startswith("_")}
        if attrs.get("format") != FORMAT:
            return attrs, {}
        try:
            stored = json.loads(attrs.pop(_HASHES))
        except (KeyError, TypeError, ValueError):
            raise UserError("damaged posterior: it has no readable content hash; refit it with "
                            "'tokensim calibrate --force'", where=str(path)) from None
        actual, fits = {"/": _root_hash(handle)}, {}
        for name, fit in handle.items():
            if not isinstance(fit, h5py.Group):
                raise UserError(f"not a tokensim posterior: '{name}' is not a fit's group", where=str(path))
            actual[name], fits[name] = _walk(fit, str(path))
    changed = sorted(name for name in {*stored, *actual} if stored.get(name) != actual.get(name))
    if changed:
        what = ", ".join("its attributes" if name == "/" else f"fit '{name}'" for name in changed)
        raise UserError(f"changed since it was written: the content of {what} no longer matches the hash "
                        "stored with it (an edited, damaged or partly copied file); it is not used. Refit with "
                        "'tokensim calibrate --force'", where=str(path))
    return attrs, fits


def load_posterior(path: str | Path, expected_id: str | None = None) -> Posterior:
    """Read a posterior file and prove it: the format, the content hash of every fit, finite draws, and
    with ``expected_id`` the calibration id. Anything else is a UserError saying what and how to refit.

    The draws and diagnostics are read; of the other ArviZ groups only the NUTS divergences
    (``groups[fit]["sample_stats"]["diverging"]``), which the convergence gate counts afresh; ArviZ
    opens the rest (see the module docstring).
    """
    path = Path(path)
    try:
        attrs, groups = _read(path)
    except UserError:
        raise
    except Exception as exc:  # h5py raises many types for a damaged or foreign file
        raise UserError(f"not a readable posterior file; delete it or run 'tokensim calibrate --force' "
                        f"({type(exc).__name__}: {exc})", where=str(path)) from None
    if attrs.get("format") != FORMAT:
        raise UserError(f"not a tokensim posterior of this version (format {attrs.get('format')!r}, expected "
                        f"{FORMAT!r}); refit with 'tokensim calibrate --force'", where=str(path))
    found = str(attrs.pop("calibration_id", ""))
    attrs.pop("format")
    if expected_id is not None and found != expected_id:
        raise UserError(f"stale posterior: its calibration id is {found[:12]!r} but the current observations, "
                        f"priors and model give {expected_id[:12]!r}; run 'tokensim calibrate'", where=str(path))
    fits, diagnostics, extra = {}, {}, {}
    for name, fit in groups.items():
        for group in ("posterior", DIAGNOSTICS):
            if group not in fit:
                raise UserError(f"damaged posterior: fit '{name}' has no {group} group; refit with "
                                "'tokensim calibrate --force'", where=str(path))
        fits[name] = _draws(fit["posterior"], name, str(path))
        diagnostics[name] = _diagnostics(fit[DIAGNOSTICS], name, str(path))
        for parameter, values in fits[name].data_vars.items():
            if values.dtype.kind != "f" or not np.isfinite(values.values).all():
                raise UserError(f"damaged posterior: the draws of {name}.{parameter} are not all finite numbers; "
                                "refit with 'tokensim calibrate --force'", where=str(path))
        stats = fit.get("sample_stats")
        if stats is not None and "diverging" in stats.arrays:
            extra[name] = {"sample_stats": xr.Dataset({"diverging": (("chain", "draw"), stats.arrays["diverging"])})}
    return Posterior(found, fits, diagnostics, attrs, extra)
