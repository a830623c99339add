"""File I/O with user-facing guarantees: atomic output, and input errors that explain themselves.

Every file tokensim writes goes through :func:`atomic_write`: written to a temporary file in the
destination folder, flushed to disk, then renamed over the destination. A crash or an error
leaves the previous file (if any) exactly as it was and no partial file behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import xarray as xr

from sim.core.errors import UserError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` to produce the file, then move it to ``path`` in one rename."""
    path = Path(path)
    folder = path.parent
    if path.is_dir():
        raise UserError("is a folder, not a file", where=str(path))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise UserError(f"cannot write here ({exc.strerror})", where=str(path)) from None
    os.close(handle)
    tmp = Path(name)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; a result file is an ordinary file
    try:
        write(tmp)
        with open(tmp, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):  # disk full, quota, a folder created meanwhile...
            raise UserError(f"cannot write here ({exc.strerror or exc})", where=str(path)) from None
        raise
    return path


def writable(paths: tuple[Path, ...], where: str) -> tuple[Path, ...]:
    """``paths`` unchanged, or a UserError before any work if one of them is a folder."""
    for path in paths:
        if path.is_dir():
            raise UserError("is a folder, not a file", where=f"{where} {path}")
    return paths


def write_netcdf(dataset: xr.Dataset, path: str | Path) -> Path:
    """Write ``dataset`` to netCDF (floats compressed) atomically."""
    encoding = {name: {"zlib": True, "complevel": 4} for name, v in dataset.data_vars.items() if v.dtype.kind == "f"}
    return atomic_write(path, lambda tmp: dataset.to_netcdf(tmp, engine="h5netcdf", encoding=encoding))


def write_analysis(dataset: xr.Dataset, paths: tuple[Path, Path, Path], table: str,
                   image: bytes) -> tuple[Path, Path, Path]:
    """Write an analysis: ``dataset`` (.nc), its ``table`` (CSV text) and its figure's ``image`` (PNG), each
    atomically. Callers render the table and the figure first, so a failure while drawing writes nothing.
    """
    nc, csv, png = paths
    write_netcdf(dataset, nc)
    atomic_write(csv, lambda tmp: tmp.write_text(table, encoding="utf-8"))
    atomic_write(png, lambda tmp: tmp.write_bytes(image))
    return paths


def load_netcdf(path: str | Path, missing: str, unreadable: str, *, tree: bool = False):
    """Load a whole netCDF file (a Dataset, or a DataTree with ``tree``) into memory.

    A missing file raises ``UserError(missing)``; a damaged or foreign one ``UserError(unreadable)``
    with the reader's own complaint appended.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(missing, where=str(path))
    opener = xr.open_datatree if tree else xr.open_dataset
    try:
        with opener(path, engine="h5netcdf") as opened:
            return opened.load()
    except Exception as exc:  # h5py and netCDF raise many types for a damaged file
        raise UserError(f"{unreadable} ({type(exc).__name__}: {exc})", where=str(path)) from None
