"""Folder locks between tokensim processes: ``fcntl.flock`` on the folder itself.

Two commands writing to one results folder, or calibrating into one posterior cache, take turns:
each holds the folder's lock while it replaces its files (and, for a calibration, while it fits),
and a second one waits, saying so once. Locking the folder rather than a lock file beside it
leaves nothing behind. Locks are re-entrant within a process (a calibration that holds its cache
folder saves its posterior into it), and released when the process ends, however it ends.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from sim.core.errors import UserError

#: Locks this process holds: (device, inode) of the folder -> [descriptor, depth, exclusive].
_HELD: dict[tuple[int, int], list] = {}


def _open_folder(folder: Path) -> int:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise UserError(f"cannot use this folder ({exc.strerror or exc})", where=str(folder)) from None


@contextlib.contextmanager
def folder_lock(folder: str | Path, *, shared: bool = False, why: str = "writing there") -> Iterator[None]:
    """Hold ``folder``'s lock (exclusive, or ``shared`` among readers) inside the block.

    When another process holds it, log once that this one waits (naming ``why`` the other holds it),
    then wait. The folder is created if missing.
    """
    folder = Path(folder)
    descriptor = _open_folder(folder)
    stat = os.fstat(descriptor)
    key = (stat.st_dev, stat.st_ino)
    held = _HELD.get(key)
    if held is not None and (held[2] or shared):  # already held at least as strongly: re-enter
        os.close(descriptor)
        held[1] += 1
        try:
            yield
        finally:
            held[1] -= 1
        return
    if held is not None:
        raise RuntimeError(f"{folder} is locked shared by this process; release it before locking it exclusively")
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    try:
        try:
            fcntl.flock(descriptor, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            logging.getLogger("tokensim").info("waiting: another tokensim process is %s (%s)", why, folder)
            fcntl.flock(descriptor, mode)
        _HELD[key] = [descriptor, 1, not shared]
        try:
            yield
        finally:
            del _HELD[key]
    finally:
        os.close(descriptor)  # closing the last descriptor releases the lock


@contextlib.contextmanager
def folder_locks(folders: list[Path], *, why: str = "writing there") -> Iterator[None]:
    """Hold the exclusive locks of several folders, taken in one order (so two processes never deadlock)."""
    unique = {os.path.realpath(f): Path(f) for f in folders}
    with contextlib.ExitStack() as stack:
        for real in sorted(unique):
            stack.enter_context(folder_lock(unique[real], why=why))
        yield
