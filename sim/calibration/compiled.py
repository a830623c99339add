"""A fit's log density, compiled once per model structure and reused with other data.

The structure of a fit is its PyMC graph with the data containers (``pm.Data``) left out: the family, the
kind of each prior, and the series and shared releases of the whole registry (one free value each; a
vintage's model carries them all, :func:`sim.calibration.models.volume_structure`). The figures themselves
are data, of any number: their values, windows, censoring bounds, series and release, the compute trend,
and each prior's parameters (a prior's versions differ only in them). Two models with the same structure
differ only in their data containers, so one compiled log density serves both: :func:`compiled_fit` keeps,
per process, one :class:`CompiledFit` per structure (:func:`structure_key`) and hands it the new model's
data. Every backtest origin with a share figure fits on the full calibration's nine structures (the
earlier ones have one more per open-source variant: a model with no share figure is its prior), so a
backtest after a calibration compiles almost nothing; SBC refits and tests that fit a structure again
compile nothing.

The log density and its gradient are compiled by PyTensor's numba backend and sampled by nutpie as Python
functions (``nutpie.compiled_pyfunc.from_pyfunc``): the numba kernels come from PyTensor's on-disk cache
when they were compiled before (:mod:`sim.calibration.toolchain` says where and how it is invalidated),
and nothing else is compiled. A kernel that embeds a pointer cannot be cached, so none may: SciPy's special
functions are replaced by numba ones (:mod:`sim.calibration.numba_ops`) and constant arrays are contiguous
(``tests/test_numba_ops.py`` checks the kernels). A warm compile is then PyTensor's graph rewriting, about
5 s a fit; a cold one adds numba's 20 to 40 s. nutpie's own ``compile_pymc_model`` wraps the same kernels
in a numba ``cfunc`` that cannot be cached and costs more than all the rest (about 4x the compile time
here, cold or warm; ``benchmarks/run.py --only calibration_wall``). Kernels are compiled with numba's
``fastmath`` off: with it on, a kernel loaded from the cache and one compiled fresh round differently
and NUTS amplifies the last bit, so the same seed gave different draws depending on the cache (issue
14); off, every compile gives the same machine arithmetic.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

#: PyTensor flags every calibration kernel is compiled under (see the module docstring).
KERNEL_FLAGS = {"numba__fastmath": False}

_COMPILED: dict[str, CompiledFit] = {}


@dataclass
class CompiledFit:
    """One structure's compiled log density and expansion (free values -> every kept variable).

    The free values' layout is the structure's (their sizes are part of its key); the kept variables
    computed from them may have one entry per figure, so their shapes are read from each model's dims
    (:meth:`layout`)."""

    key: str
    dimension: int
    point_names: list[str]
    point_shapes: list[tuple[int, ...]]
    derived_names: list[str]
    derived_shapes: list[tuple[int, ...]]
    logp_kernel: Any
    expand_kernel: Any
    logp_data: list[str]
    expand_data: list[str]
    initial_point: Any
    compile_seconds: float

    def layout(self, model) -> tuple[list[str], list[slice], list[tuple[int, ...]]]:
        """Every kept variable's name, slice of the expanded vector and shape, on ``model``'s data."""
        sized = dict(dim_sizes(model, [model[name] for name in self.derived_names]))
        derived = [sized.get(name, shape) for name, shape in zip(self.derived_names, self.derived_shapes)]
        names, shapes = [*self.point_names, *self.derived_names], [*self.point_shapes, *derived]
        ends = itertools.accumulate((math.prod(shape) for shape in shapes), initial=0)
        return names, [slice(lo, hi) for lo, hi in itertools.pairwise(ends)], shapes

    def nutpie_model(self, model):
        """A nutpie model of this structure on ``model``'s data (and its dims' labels)."""
        from nutpie.compiled_pyfunc import from_pyfunc

        data = {name: np.ascontiguousarray(value) for name, value in data_values(model).items()
                if name in (*self.logp_data, *self.expand_data)}
        names, slices, shapes = self.layout(model)
        (flat,) = self.expand_kernel(self.initial_point(0), *(data[name] for name in self.expand_data))
        if flat.size != slices[-1].stop:
            raise RuntimeError(f"expanded {flat.size} values, expected {slices[-1].stop}")
        dims = {name: tuple(model.named_vars_to_dims[name]) for name in names if name in model.named_vars_to_dims}
        coords = {dim: list(model.coords[dim]) for named in dims.values() for dim in named}
        logp_kernel, expand_kernel = self.logp_kernel, self.expand_kernel
        logp_data, expand_data = self.logp_data, self.expand_data

        # nutpie hands every function the model's data as keyword arguments, so that ``with_data`` swaps them.
        def make_logp():
            def logp(x, **shared):
                value, gradient = logp_kernel(x, *(shared[name] for name in logp_data))
                return float(value), gradient
            return logp

        def make_expand(*_seeds):
            def expand(x, **shared):
                (flat,) = expand_kernel(x, *(shared[name] for name in expand_data))
                return {name: flat[part].reshape(shape) for name, part, shape in zip(names, slices, shapes)}
            return expand

        return from_pyfunc(self.dimension, make_logp, make_expand, [np.dtype(float)] * len(names), shapes,
                           names, coords=coords, dims=dims, shared_data=data,
                           make_initial_point_fn=self.initial_point)


def data_values(model) -> dict[str, np.ndarray]:
    """The current value of every data container of a model, by name."""
    return {name: np.asarray(variable.get_value()) for name, variable in model.named_vars.items()
            if hasattr(variable, "get_value")}


def constant_data(model):
    """The model's data containers as ArviZ's ``constant_data`` group: PyMC's predictive then knows they are
    unchanged, and keeps the stored draws of every variable that reads one (each prior reads its parameters)
    instead of drawing it afresh from its prior."""
    import xarray as xr

    return xr.Dataset({name: xr.DataArray(value, dims=[f"{name}_dim_{i}" for i in range(value.ndim)])
                       for name, value in data_values(model).items()})


def structure_key(model, keep: list[str]) -> str:
    """A hash of the model's log density and kept variables as graphs, data containers by name and type
    only (never their values): equal keys, equal compiled functions."""
    from pytensor.graph.basic import Constant
    from pytensor.graph.traversal import io_toposort

    outputs = [model.logp(), *kept_variables(model, keep)]
    free = [model.rvs_to_values[rv] for rv in model.free_RVs]
    digest = hashlib.sha256()
    ids: dict[Any, int] = {}

    def label(variable) -> str:
        if variable not in ids:
            ids[variable] = len(ids)
            if isinstance(variable, Constant):
                data = np.asarray(variable.data)
                digest.update(f"const {variable.type} {data.dtype} {data.shape}".encode())
                digest.update(np.ascontiguousarray(data).tobytes())
            elif hasattr(variable, "get_value"):
                digest.update(f"data {variable.name} {variable.type}".encode())
            elif variable.owner is None:
                digest.update(f"input {variable.name} {variable.type} {free.index(variable) if variable in free else -1}"
                              .encode())
        return str(ids[variable])

    for node in io_toposort([], outputs):
        inputs = ",".join(label(v) for v in node.inputs)
        digest.update(f"{node.op!r}|{getattr(node.op, '_props_dict', dict)()!r}|{inputs}".encode())
        for output in node.outputs:
            label(output)
    digest.update(("|".join(label(o) for o in outputs) + "|" + ",".join(keep)).encode())
    digest.update(repr(dim_sizes(model, model.free_RVs)).encode())  # data-sized values: one free value per release
    return digest.hexdigest()


def dim_sizes(model, variables) -> list[tuple[str, tuple[int, ...]]]:
    """The shape each variable with dims has on ``model``'s coords (the dims' lengths are not in the graph)."""
    dims = model.named_vars_to_dims
    return [(v.name, tuple(len(model.coords[d]) for d in dims[v.name])) for v in variables if v.name in dims]


def kept_variables(model, keep: list[str]) -> list:
    """The kept variables (constrained free parameters, deterministics) as graphs of the free values."""
    return [v for v in model.unobserved_value_vars if v.name in keep]


def compiled_fit(model, keep: list[str]) -> CompiledFit:
    """The compiled log density of this model's structure: from this process's registry, or compiled now."""
    key = structure_key(model, keep)
    if key not in _COMPILED:
        _COMPILED[key] = _compile(model, keep, key)
    return _COMPILED[key]


def _compile(model, keep: list[str], key: str) -> CompiledFit:
    """Compile the log density, its gradient and the expansion with PyTensor's numba backend."""
    import time

    import pytensor
    import pytensor.tensor as pt
    from pymc.initial_point import make_initial_point_fn
    from pymc.pytensorf import compile as compile_pymc

    from sim.calibration.numba_ops import register

    register()
    started = time.perf_counter()
    free = list(model.free_RVs)
    values = [model.rvs_to_values[rv] for rv in free]
    start = model.initial_point()
    shapes = [tuple(np.shape(start[v.name])) for v in values]
    sizes = [math.prod(s) for s in shapes]
    offsets = np.cumsum([0, *sizes])
    point = pt.TensorType("float64", shape=(int(offsets[-1]),))("point")
    unravel = {v: point[lo:hi].reshape(s).astype(v.dtype)
               for v, lo, hi, s in zip(values, offsets[:-1], offsets[1:], shapes)}
    logp = pytensor.graph.rewrite_graph(model.logp(), include=["canonicalize", "stabilize"])
    gradient = pt.concatenate([g.ravel() for g in pytensor.gradient.grad(logp, values)])
    point_names = [v.name for v in values]
    derived = [v for v in kept_variables(model, keep) if v.name not in point_names]
    derived_names = [v.name for v in derived]
    expanded = pt.concatenate([point, *(pt.as_tensor(v).ravel() for v in derived)])
    with pytensor.config.change_flags(**KERNEL_FLAGS), model:
        logp_fn = compile_pymc([point], pytensor.clone_replace([logp, gradient], unravel), mode="NUMBA")
        expand_fn = compile_pymc([point], [pytensor.clone_replace(expanded, unravel)], mode="NUMBA")
    # The kernels take the point and then every data container they read, in the graph's order.
    logp_data = [v.name for v in logp_fn.maker.fgraph.inputs[1:]]
    expand_data = [v.name for v in expand_fn.maker.fgraph.inputs[1:]]
    with pytensor.config.change_flags(mode="FAST_COMPILE"):  # a few calls: no C compiler needed
        initial = make_initial_point_fn(model=model, jitter_rvs=set(free), return_transformed=True)
    sample_point = np.concatenate([np.ravel(start[n]) for n in point_names]).astype(float)
    data = data_values(model)
    logp_kernel, expand_kernel = logp_fn.vm.jit_fn, expand_fn.vm.jit_fn
    logp_kernel(sample_point, *(data[n] for n in logp_data))  # compiled (or loaded from the cache) here
    (flat,) = expand_kernel(sample_point, *(data[n] for n in expand_data))
    at_start = model.compile_fn(derived, inputs=values, on_unused_input="ignore", mode="FAST_COMPILE")(start)
    derived_shapes = [tuple(int(s) for s in np.shape(value)) for value in at_start]
    if int(offsets[-1]) + sum(math.prod(shape) for shape in derived_shapes) != flat.size:
        raise RuntimeError(f"expanded {flat.size} values, expected {offsets[-1]} free and {derived_shapes} derived")

    lock = threading.Lock()

    def initial_point(seed):
        # nutpie asks for each chain's start from that chain's thread, and a PyTensor function keeps its
        # inputs and outputs in shared storage: two chains at once could start from each other's point.
        with lock:
            drawn = initial(seed)
        return np.concatenate([np.ravel(drawn[n]) for n in point_names]).astype(float)

    return CompiledFit(key, int(offsets[-1]), point_names, shapes, derived_names, derived_shapes, logp_kernel,
                       expand_kernel, logp_data, expand_data, initial_point, time.perf_counter() - started)
