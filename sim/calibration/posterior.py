"""A fitted posterior on disk: one netCDF file per calibration, one ArviZ-standard group tree per fit, and a
content hash that every load verifies.

Layout (netCDF4/HDF5 groups)::

    /                        calibration_id, format, what it was computed from, content_sha256
    /<fit>/posterior         draws (chain, draw) of the fit's parameters
    /<fit>/sample_stats      NUTS statistics per draw (diverging, lp, step size, tree depth, ...)
    /<fit>/observed_data     the figures the fit saw, on its model's scale
    /<fit>/log_likelihood    pointwise log-likelihood of each figure per draw
    /<fit>/diagnostics       R-hat, bulk and tail ESS per parameter; divergences and draws (attributes)

``<fit>`` is each volume family and each open-source variant (:func:`sim.calibration.fits.fit_names`); a
fit that saw no figure (an early vintage's open-source model) has no ``observed_data`` or
``log_likelihood``. Each fit opens in ArviZ as it is::

    az.InferenceData.from_netcdf("calibration/posteriors/posterior-<id>.nc", base_group="logistic")

``content_sha256`` (a root attribute, ``sha256:<hex>``) is the SHA-256 of the whole file as written, with
those 64 hex digits read as zeros: a file is written with that placeholder, hashed, and the digest put in
its place (the same bytes of the same string, so the file stays what it was). :func:`load_posterior`
reads the file once, recomputes the hash (any changed byte, an edited draw or attribute, a flipped bit, a
file cut short or partly copied, fails it), then reads the draws and diagnostics with h5py (a fraction of
a second; decoding through xarray took most of a cached run's second), and refuses draws that are not
finite. Whether the fits are what the current settings ask for and still pass the convergence gate is
checked by the caller (:func:`sim.calibration.calibrate.verified`).
"""

from __future__ import annotations

import functools
import hashlib
import io
import re
import warnings
from collections.abc import Iterable
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
#: The root attribute holding the file's hash, the value it holds while the file is hashed, and its form.
HASH_ATTRIBUTE = "content_sha256"
_PLACEHOLDER = b"sha256:" + b"0" * 64
_STORED_HASH = re.compile(rb"sha256:([0-9a-f]{64})")


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
        tree["/"].attrs[HASH_ATTRIBUTE] = _PLACEHOLDER.decode()
        # Uncompressed: draws barely compress, and reading them back is 40% faster without zlib.
        return _sealed(netcdf_bytes(xr.DataTree.from_dict(tree), compress=False))

    def save(self, path: str | Path) -> Path:
        """Write to ``path``, replacing an earlier file only once the new one is complete."""
        return atomic_write(path, self.to_bytes())


def arviz_groups(idata, model, hidden: Iterable[str] = ()) -> dict[str, xr.Dataset]:
    """The groups stored for one fit, from PyMC's InferenceData: its own variables' draws (``posterior``)
    but the ``hidden`` ones (stored names), the per-draw NUTS statistics, the observed figures and their
    pointwise log-likelihood."""
    import pymc as pm

    stored = stored_draws(idata.posterior, model)
    groups = {"posterior": stored.drop_vars([name for name in hidden if name in stored.data_vars])}
    stats = idata.sample_stats
    groups["sample_stats"] = stats[[name for name in stats.data_vars if stats[name].dims == ("chain", "draw")
                                    and stats[name].dtype.kind in "biuf"]].reset_coords(drop=True)
    if model.observed_RVs:
        groups["observed_data"] = observed_data(model)
        with warnings.catch_warnings():  # PyTensor's C backend: a note on BLAS, irrelevant to this small graph
            warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
            groups["log_likelihood"] = pm.compute_log_likelihood(idata, model=model, extend_inferencedata=False,
                                                                 progressbar=False)
    return groups


def observed_data(model) -> xr.Dataset:
    """The ``observed_data`` group of a model, as PyMC would write it (nutpie's sampler on a compiled log
    density returns no such group): each observed variable's data on its dimensions."""
    from pymc.backends.arviz import find_observations

    variables = {}
    for name, values in find_observations(model).items():
        values = np.asarray(values)
        dims = model.named_vars_to_dims.get(name) or tuple(f"{name}_dim_{i}" for i in range(values.ndim))
        variables[name] = xr.DataArray(values, dims=dims,
                                       coords={d: list(model.coords[d]) for d in dims if d in model.coords})
    return xr.Dataset(variables)


def stored_draws(draws: xr.Dataset, model) -> xr.Dataset:
    """The model's own variables, one value per draw (nutpie also returns the unconstrained values); a
    vector variable (the release offsets) is stored element by element, as ``name[label]``."""
    named = {v.name for v in (*model.free_RVs, *model.deterministics)}
    stored = draws[[name for name in draws.data_vars if name in named and draws[name].ndim == 2]].reset_coords(drop=True)
    for name in (name for name in draws.data_vars if name in named and draws[name].ndim == 3):
        dim = draws[name].dims[-1]
        for label in draws[dim].values:
            stored[f"{name}[{label}]"] = draws[name].sel({dim: label}).reset_coords(drop=True)
    return stored


def restacked(draws: xr.Dataset, model) -> xr.Dataset:
    """The inverse of :func:`stored_draws` for ``model``: each vector variable stacked back along its dimension."""
    for rv in model.free_RVs:
        dims = model.named_vars_to_dims.get(rv.name)
        if rv.ndim != 1 or not dims:
            continue
        labels = list(model.coords[dims[0]])
        columns = [f"{rv.name}[{label}]" for label in labels]
        if all(column in draws for column in columns):
            vector = xr.concat([draws[column] for column in columns], dim=dims[0]).assign_coords({dims[0]: labels})
            draws = draws.drop_vars(columns).assign({rv.name: vector.transpose("chain", "draw", dims[0])})
    return draws


def _sealed(data: bytes) -> bytes:
    """A posterior file's bytes with their SHA-256 put in place of the placeholder they were hashed with."""
    if data.count(_PLACEHOLDER) != 1:
        raise RuntimeError("the hash placeholder must occur exactly once in a posterior file")
    return data.replace(_PLACEHOLDER, b"sha256:" + hashlib.sha256(data).hexdigest().encode())


def _verify(data: bytes, where: str) -> None:
    """Refuse a posterior file whose bytes are not those its stored hash was computed from."""
    found = [at for at in _occurrences(data, b"sha256:") if _STORED_HASH.fullmatch(data[at:at + len(_PLACEHOLDER)])]
    if len(found) != 1:
        raise UserError("damaged posterior: it does not hold exactly one content hash; refit it with "
                        "'tokensim calibrate --force'", where=where)
    start, end = found[0], found[0] + len(_PLACEHOLDER)
    view = memoryview(data)
    digest = hashlib.sha256(view[:start])
    digest.update(_PLACEHOLDER)
    digest.update(view[end:])
    if digest.hexdigest().encode() != data[start + len(b"sha256:"):end]:
        raise UserError("changed since it was written: its content no longer matches the SHA-256 stored in it "
                        "(an edited draw or attribute, a damaged or partly copied file); it is not used. Refit "
                        "with 'tokensim calibrate --force'", where=where)


def _occurrences(data: bytes, needle: bytes) -> list[int]:
    """Every offset of ``needle`` in ``data``."""
    found, at = [], data.find(needle)
    while at >= 0:
        found.append(at)
        at = data.find(needle, at + 1)
    return found


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


def _arrays(group) -> tuple[dict[str, np.ndarray], set[str]]:
    """Every array of an h5py group written by xarray (booleans, stored as int8, restored), and which of
    them are netCDF dimensions (coordinates)."""
    import h5py

    arrays, scales = {}, set()
    for key, node in group.items():
        if not isinstance(node, h5py.Dataset):
            raise UserError(f"not a tokensim posterior: '{node.name}' is not an array", where=str(group.file.filename))
        arrays[key] = node[()]
        if h5py.h5ds.is_scale(node.id):
            scales.add(key)
        elif node.dtype.kind == "i" and _text(node.attrs.get("dtype", "")) == "bool":
            arrays[key] = arrays[key].astype(bool)
    return arrays, scales


def _attrs(node) -> dict[str, Any]:
    return {key: _text(value) for key, value in node.attrs.items() if not key.startswith("_")}


def _draws(group, name: str, where: str) -> xr.Dataset:
    """A fit's draws: every (chain, draw) array of its ``posterior`` group."""
    arrays, scales = _arrays(group)
    chain, draw = arrays.get("chain"), arrays.get("draw")
    if chain is None or draw is None:
        raise UserError(f"damaged posterior: fit '{name}' has no chain and draw axes", where=where)
    shape = (len(chain), len(draw))
    variables = {}
    for key, values in arrays.items():
        if key in scales:
            continue
        if values.shape != shape:
            raise UserError(f"damaged posterior: {name}.{key} has shape {values.shape}, not (chain, draw) = {shape}",
                            where=where)
        variables[key] = (("chain", "draw"), values)
    return xr.Dataset(variables, coords={"chain": chain, "draw": draw}, attrs=_attrs(group))


def _diagnostics(group, name: str, where: str) -> xr.Dataset:
    """A fit's convergence diagnostics: R-hat and ESS per parameter, divergences and draws as attributes."""
    arrays, scales = _arrays(group)
    parameters = arrays.get("parameter")
    if parameters is None:
        raise UserError(f"damaged posterior: fit '{name}' has no diagnostics per parameter", where=where)
    variables = {key: ("parameter", values) for key, values in arrays.items()
                 if key not in scales and values.shape == parameters.shape}
    return xr.Dataset(variables, coords={"parameter": _labels(parameters)}, attrs=_attrs(group))


def _read(path: Path) -> tuple[dict[str, Any], dict[str, xr.Dataset], dict[str, xr.Dataset], dict[str, Any]]:
    """Root attributes, every fit's draws and diagnostics, and its divergences per draw, from a file whose
    bytes match their stored hash."""
    import h5py

    data = read_input(path, "posterior file", limit=MAX_BYTES)
    with h5py.File(io.BytesIO(data), "r") as handle:
        attrs = _attrs(handle)
        if attrs.get("format") != FORMAT:
            return attrs, {}, {}, {}
        _verify(data, str(path))
        attrs.pop(HASH_ATTRIBUTE, None)
        fits, diagnostics, diverging = {}, {}, {}
        for name, fit in handle.items():
            for group in ("posterior", DIAGNOSTICS):
                if group not in fit:
                    raise UserError(f"damaged posterior: fit '{name}' has no {group} group; refit with "
                                    "'tokensim calibrate --force'", where=str(path))
            fits[name] = _draws(fit["posterior"], name, str(path))
            diagnostics[name] = _diagnostics(fit[DIAGNOSTICS], name, str(path))
            if "sample_stats/diverging" in fit:
                diverging[name] = fit["sample_stats/diverging"][()].astype(bool)
    return attrs, fits, diagnostics, diverging


def load_posterior(path: str | Path, expected_id: str | None = None) -> Posterior:
    """Read a posterior file and prove it: the format, the content hash, finite draws, and with
    ``expected_id`` the calibration id. Anything else is a UserError saying what and how to refit.

    The draws and diagnostics are read; of the other ArviZ groups only the NUTS divergences
    (``groups[fit]["sample_stats"]["diverging"]``), which the convergence gate counts afresh; ArviZ
    opens the rest (see the module docstring).
    """
    path = Path(path)
    try:
        attrs, fits, diagnostics, diverging = _read(path)
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
    for name, draws in fits.items():
        for parameter, values in draws.data_vars.items():
            if values.dtype.kind != "f" or not np.isfinite(values.values).all():
                raise UserError(f"damaged posterior: the draws of {name}.{parameter} are not all finite numbers; "
                                "refit with 'tokensim calibrate --force'", where=str(path))
    extra = {name: {"sample_stats": xr.Dataset({"diverging": (("chain", "draw"), values)})}
             for name, values in diverging.items()}
    return Posterior(found, fits, diagnostics, attrs, extra)
