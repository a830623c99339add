"""xarray without importing dask until something else does: for the command line's cached runs.

xarray asks "is this a dask array?" whenever it wraps an array, and "which dask scheduler is active?" whenever
it writes a file; with dask installed, both questions import it (``dask.array``, then ``dask.base`` and
``distributed``), which cost a cached ``tokensim run`` about half a second of its few seconds, for arrays that
are all numpy. Each has the same answer without importing anything while dask is not imported: no object
can be a ``dask.array.Array`` before that module exists, and no dask scheduler (nor a distributed client)
can be active in a process that has not imported dask. :func:`defer_dask` makes xarray ask ``sys.modules``
first; once dask is imported (``--workers``, ``--scheduler``, or a caller's own dask arrays) xarray's own
answers apply, unchanged.

It touches three private names of xarray (``xarray.namedarray.pycompat._cached_duck_array_modules``,
``xarray.namedarray.utils.is_dask_collection`` and ``get_dask_scheduler`` where the writers look it up); on
an xarray without them it changes nothing (the command is only slower). ``tests/test_cli.py`` checks that a
cached run imports no dask.
"""

from __future__ import annotations

import functools
import sys
from typing import Any


class _DaskArrayType:
    """xarray's record of dask as an array library, whose array type is looked up only once ``dask.array`` is
    imported; anything else about it (version, module) imports dask as xarray would."""

    @property
    def type(self) -> tuple[type, ...]:
        module = sys.modules.get("dask.array")
        array = getattr(module, "Array", None)
        return (array,) if isinstance(array, type) else ()

    @functools.cached_property
    def _record(self) -> Any:
        from xarray.namedarray.pycompat import DuckArrayModule

        return DuckArrayModule("dask")

    def __getattr__(self, name: str) -> Any:  # module, version, available
        return getattr(self._record, name)


def _scheduler_once_imported(original):
    @functools.wraps(original)
    def get_dask_scheduler(get=None, collection=None):
        if "dask" not in sys.modules:  # no dask scheduler can be active, nor any dask collection exist
            return None
        return original(get, collection)

    get_dask_scheduler.__tokensim_deferred__ = True
    return get_dask_scheduler


def _collection_once_imported(original):
    @functools.wraps(original)
    def is_dask_collection(x) -> bool:
        # dask's own test answers False, without more, for anything lacking __dask_graph__
        if "dask" not in sys.modules and (isinstance(x, type) or not hasattr(x, "__dask_graph__")):
            return False
        return original(x)

    is_dask_collection.__tokensim_deferred__ = True
    return is_dask_collection


def defer_dask() -> bool:
    """Make xarray import dask only once something else has; returns whether it could (see the module
    docstring). Idempotent; harmless after dask is imported."""
    try:
        from xarray.backends import locks, writers
        from xarray.namedarray import pycompat, utils
    except ImportError:  # pragma: no cover - another xarray layout
        return False
    cache = getattr(pycompat, "_cached_duck_array_modules", None)
    scheduler = getattr(locks, "get_dask_scheduler", None)
    collection = getattr(utils, "is_dask_collection", None)
    if (not isinstance(cache, dict) or scheduler is None or collection is None
            or getattr(writers, "get_dask_scheduler", None) is None):
        return False  # pragma: no cover - another xarray layout
    if "dask" not in cache:  # once xarray has looked dask up for real, its record stands
        cache["dask"] = _DaskArrayType()
    if not getattr(scheduler, "__tokensim_deferred__", False):
        deferred = _scheduler_once_imported(scheduler)
        locks.get_dask_scheduler = deferred
        writers.get_dask_scheduler = deferred
    if not getattr(collection, "__tokensim_deferred__", False):
        utils.is_dask_collection = _collection_once_imported(collection)
    return True
