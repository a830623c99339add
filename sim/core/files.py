"""File I/O with user-facing guarantees: outputs replaced whole or not at all, inputs read with care.

**Outputs come in sets** (a run's .nc and .png; a backtest's .nc, .csv and .png; a report and its
screenshot) and :func:`write_outputs` replaces a set as one:

1. every file is rendered to bytes in memory first (netCDF too, :func:`netcdf_bytes`), so a failure
   while drawing or encoding writes nothing, and HDF5 never writes to the disk itself;
2. the destination folders are locked (:mod:`sim.core.locks`): concurrent tokensim processes writing
   there wait their turn, so a set is never mixed from two runs;
3. what a killed process left there is settled (:func:`settle`): a committed set is completed, stray
   temporary files are removed;
4. free space is checked against the set's size: a full disk is a one-line error, before any byte;
5. each file goes to a hidden temporary file beside the first one (``.NAME.XXXXXXXX.tmp``) and is
   fsynced; then a journal listing every rename is written and fsynced (the commit point); then the
   renames; then the journal is removed.

A crash before the journal leaves the earlier set as it was (the temporaries are removed by the next
writer); a crash after it leaves a journal that the next writer, or :func:`settle`, rolls forward to
the new set. Files of a set that live on another filesystem than the first (a screenshot on another
disk) cannot be renamed into place and are committed, the same way, right after it.

**Inputs** are regular files of bounded size (:func:`read_input`): a folder, a FIFO or a device
such as ``/dev/zero`` is refused by name instead of hanging or filling the memory.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import shutil
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from sim.core.errors import UserError
from sim.core.locks import folder_lock, folder_locks

if TYPE_CHECKING:
    import xarray as xr

#: Hidden temporary files of a set being written, and its commit journal.
_TEMPORARY = re.compile(r"^\..+\.[0-9a-f]{8}\.tmp$")
_JOURNAL = re.compile(r"^\.tokensim-commit\.[0-9a-f]{8}\.json$")
#: Room left beyond a set's bytes for the journal and the filesystem's own bookkeeping.
_MARGIN = 256 * 1024

Contents = bytes | bytearray | memoryview | None


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _write_new(path: Path, data: bytes | bytearray | memoryview) -> None:
    """Create ``path`` (it must not exist), write ``data`` and fsync it; ordinary permissions (umask)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        view = memoryview(data).cast("B")
        while view:
            view = view[os.write(descriptor, view):]
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _temporary(folder: Path, name: str) -> Path:
    return folder / f".{name}.{secrets.token_hex(4)}.tmp"


def _roll_forward(journal: Path) -> None:
    """Complete the renames and removals a journal lists, then remove it."""
    try:
        plan = json.loads(journal.read_text(encoding="utf-8"))
        for temporary, destination in plan["replace"]:
            if os.path.lexists(temporary):
                os.replace(temporary, destination)
        for destination in plan["remove"]:
            Path(destination).unlink(missing_ok=True)
    except (ValueError, KeyError, TypeError):  # not our journal after all: leave the files alone
        return
    journal.unlink(missing_ok=True)


def settle(folder: str | Path) -> None:
    """Finish what a killed tokensim left in ``folder`` (under its lock): roll a committed set forward, remove
    stray temporary files. Writers do it before writing; a reader that must see whole sets calls it first."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    with folder_lock(folder, why="writing there"):
        names = sorted(os.listdir(folder))
        for name in names:
            if _JOURNAL.match(name):
                _roll_forward(folder / name)
        for name in names:
            if _TEMPORARY.match(name):
                (folder / name).unlink(missing_ok=True)


def _check_space(folder: Path, needed: int, where: str) -> None:
    free = shutil.disk_usage(folder).free
    if needed + _MARGIN > free:
        raise UserError(f"not enough free space: the files need {_size(needed + _MARGIN)}, "
                        f"{_size(free)} are free on that disk; nothing was written", where=where)


def _size(count: int) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 1e5 else f"{count / 1e3:.0f} kB"


def _commit(files: dict[Path, Contents]) -> None:
    """Replace ``files`` (all on one filesystem; the first one's folder stages them) as one set."""
    staging = next(iter(files)).parent
    folders = sorted({path.parent for path in files}, key=str)
    where = ", ".join(str(p) for p in files)
    with folder_locks(folders):
        for folder in folders:
            settle(folder)
        data = {path: content for path, content in files.items() if content is not None}
        _check_space(staging, sum(memoryview(d).nbytes for d in data.values()), where)
        staged: dict[Path, Path] = {}
        journal = staging / f".tokensim-commit.{secrets.token_hex(4)}.json"
        pending = _temporary(staging, journal.name)
        try:
            for path, content in data.items():
                staged[path] = _temporary(staging, path.name)
                _write_new(staged[path], content)
            plan = {"replace": [[str(t), str(p)] for p, t in staged.items()],
                    "remove": [str(p) for p, content in files.items() if content is None]}
            _write_new(pending, json.dumps(plan).encode())
            os.replace(pending, journal)  # the commit point
            _fsync_folder(staging)
        except OSError as exc:
            for temporary in (*staged.values(), pending):
                temporary.unlink(missing_ok=True)
            raise UserError(_why(exc) + "; nothing was written", where=where) from None
        try:
            _roll_forward(journal)
            for folder in folders:
                _fsync_folder(folder)
        except OSError as exc:  # after the commit point: the next writer there completes the set
            raise UserError(_why(exc) + "; the new files are complete and the next tokensim writing there "
                            "puts them in place", where=where) from None


def _why(exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full (or the quota is used up)"
    return f"cannot write here ({exc.strerror or exc})"


def write_outputs(files: Mapping[str | Path, Contents]) -> tuple[Path, ...]:
    """Replace a set of files as one: each path gets its bytes, a path given ``None`` is removed (an
    earlier file that would describe something else). See the module docstring for the guarantees."""
    files = {Path(path): content for path, content in files.items()}
    writable(tuple(files), "")
    first = next(iter(files))
    try:
        first.parent.mkdir(parents=True, exist_ok=True)
        device = os.stat(first.parent).st_dev
        groups: dict[int, dict[Path, Contents]] = {}
        for path, content in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            groups.setdefault(os.stat(path.parent).st_dev, {})[path] = content
    except OSError as exc:
        raise UserError(_why(exc), where=str(first)) from None
    _commit(groups.pop(device))
    for group in groups.values():  # on other filesystems: their own sets, right after
        _commit(group)
    return tuple(files)


def atomic_write(path: str | Path, data: bytes | bytearray | memoryview) -> Path:
    """Replace one file with ``data`` (a set of one, :func:`write_outputs`)."""
    return write_outputs({path: data})[0]


def writable(paths: tuple[Path, ...], where: str) -> tuple[Path, ...]:
    """``paths`` unchanged, or a UserError before any work if one of them cannot be a file: it is a
    folder, or something on the way to it is a file."""
    for path in paths:
        if path.is_dir():
            raise UserError("is a folder, not a file", where=f"{where} {path}".strip())
        for parent in path.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise UserError(f"cannot write here ({parent} is a file, not a folder)", where=str(path))
                break
    return paths


def netcdf_bytes(dataset: xr.Dataset | xr.DataTree, *, compress: bool = True) -> bytes:
    """A Dataset or DataTree encoded as netCDF4 (HDF5), its float variables compressed. It is encoded into a
    private temporary file and read back (xarray before 2025.6 writes HDF5 only to a path), so the
    destination is touched only by :func:`write_outputs`."""
    import tempfile

    import xarray as xr

    def encoding(ds: xr.Dataset) -> dict:
        return {name: {"zlib": True, "complevel": 4} for name, v in ds.data_vars.items()
                if compress and v.dtype.kind == "f"}
    with tempfile.TemporaryDirectory(prefix="tokensim-netcdf-") as folder:
        path = Path(folder) / "encoded.nc"
        if isinstance(dataset, xr.DataTree):
            dataset.to_netcdf(path, engine="h5netcdf", encoding={
                node.path: encoding(node.to_dataset(inherit=False)) for node in dataset.subtree})
        else:
            dataset.to_netcdf(path, engine="h5netcdf", encoding=encoding(dataset))
        return path.read_bytes()


def write_netcdf(dataset: xr.Dataset, path: str | Path) -> Path:
    """Write ``dataset`` to netCDF (floats compressed), replacing ``path`` as a set of one."""
    return atomic_write(path, netcdf_bytes(dataset))


def _regular(path: Path, what: str) -> os.stat_result:
    """``path``'s status, refused unless it is a regular file (a symlink to one is fine)."""
    try:
        status = path.stat()
    except FileNotFoundError:
        raise UserError(f"{what} not found", where=str(path)) from None
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read this {what} ({getattr(exc, 'strerror', None) or exc})", where=str(path)) from None
    if stat.S_ISDIR(status.st_mode):
        raise UserError(f"cannot read this {what}: it is a folder, not a file", where=str(path))
    if not stat.S_ISREG(status.st_mode):
        raise UserError(f"cannot read this {what}: it is not a regular file (a device, a pipe or a socket)",
                        where=str(path))
    return status


def read_input(path: str | Path, what: str, *, limit: int) -> bytes:
    """The bytes of an input file, refused (UserError naming it) unless it is a regular file of at most
    ``limit`` bytes."""
    path = Path(path)
    status = _regular(path, what)
    if status.st_size > limit:
        raise UserError(f"cannot read this {what}: it has {status.st_size:,} bytes; at most {limit:,} are allowed",
                        where=str(path))
    try:
        # O_NONBLOCK: a FIFO swapped in after the check above must not block the open.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise UserError(f"cannot read this {what} ({exc.strerror or exc})", where=str(path)) from None
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise UserError(f"cannot read this {what}: it is not a regular file", where=str(path))
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise UserError(f"cannot read this {what}: it has more than {limit:,} bytes", where=str(path))
    return data


def load_netcdf(path: str | Path, missing: str, unreadable: str, *, tree: bool = False):
    """Load a whole netCDF file (a Dataset, or a DataTree with ``tree``) into memory.

    A missing file raises ``UserError(missing)``; anything but a regular file, or a damaged or foreign
    one, ``UserError(unreadable)`` with the reason appended.
    """
    import xarray as xr

    path = Path(path)
    if not path.exists():
        raise UserError(missing, where=str(path))
    _regular(path, "file")
    opener = xr.open_datatree if tree else xr.open_dataset
    try:
        with opener(path, engine="h5netcdf") as opened:
            return opened.load()
    except Exception as exc:  # h5py and netCDF raise many types for a damaged file
        raise UserError(f"{unreadable} ({type(exc).__name__}: {exc})", where=str(path)) from None
