"""Compiling a fit's model once, so that each SBC refit only swaps its observed data.

Two backends swap data the same way (:data:`COMPILERS`): ``numba`` is the calibration's own compiled
structure (:mod:`sim.calibration.compiled`: numba kernels from PyTensor's on-disk cache, fastmath off,
the fastest sampling); ``pytensor`` compiles the log density and its gradient with PyTensor's C
backend (seconds, cached on disk) and hands it to nutpie's sampler as a Python function (about
twice the cost per gradient). The test suite uses ``pytensor``; the full run ``numba``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from sim.core.errors import UserError
from sim.curves.families import VOLUME_PARAMETERS
from sim.curves.open_source import OPEN_DERIVED, OPEN_PARAMETERS

#: Deterministics that are engine parameters (the ceiling): ranked like the free parameters.
ENGINE_PARAMETERS = (*VOLUME_PARAMETERS, *OPEN_PARAMETERS, *OPEN_DERIVED)


def _compile_numba(model, keep: Sequence[str]):
    """The calibration's own compiled structure (:mod:`sim.calibration.compiled`): numba kernels (fastmath
    off, cached on disk), compiled once per structure and process, sampled by nutpie."""
    from sim.calibration.compiled import compiled_fit

    return compiled_fit(model, list(keep)).nutpie_model(model)


def _compile_pytensor(model, keep: Sequence[str]):
    """Log density and gradient compiled by PyTensor's C backend, sampled by nutpie as Python functions.

    The observed data container becomes an explicit input of the compiled function, so that
    ``with_data`` swaps it exactly as it does for the numba backend.
    """
    import pymc as pm
    import pytensor
    import pytensor.tensor as pt
    from nutpie.compiled_pyfunc import from_pyfunc
    from pymc.initial_point import make_initial_point_fn

    data_name, _ = observed_names(model)
    values = [model.rvs_to_values[rv] for rv in model.free_RVs]
    start = model.initial_point()
    shapes = [np.shape(start[v.name]) for v in values]
    offsets = np.cumsum([0, *(math.prod(s) for s in shapes)])
    point, data = pt.dvector("point"), pt.dvector(data_name)
    unravel = {v: point[lo:hi].reshape(s) for v, lo, hi, s in zip(values, offsets[:-1], offsets[1:], shapes)}
    logp = model.logp()
    gradient = pt.concatenate([g.ravel() for g in pt.grad(logp, values)])
    logp_grad = pm.pytensorf.compile([point, data], pytensor.clone_replace([logp, gradient],
                                     {**unravel, model[data_name]: data}))
    kept = [v for v in model.unobserved_value_vars if v.name in keep]
    expand = pm.pytensorf.compile([point], pytensor.clone_replace(kept, unravel))
    names = [v.name for v in kept]
    initial = make_initial_point_fn(model=model, jitter_rvs=set(model.free_RVs), return_transformed=True)

    def make_logp():
        def logp_fn(x, **shared):
            value, grad = logp_grad(x, shared[data_name])
            return float(value), grad
        return logp_fn

    def make_expand(*_seeds):
        return lambda x, **_: {n: np.asarray(v, dtype=float) for n, v in zip(names, expand(x))}

    def initial_point(seed):
        drawn = initial(seed)
        return np.concatenate([np.ravel(drawn[v.name]) for v in values]).astype(float)

    at_start = expand(np.concatenate([np.ravel(start[v.name]) for v in values]).astype(float))
    return from_pyfunc(int(offsets[-1]), make_logp, make_expand, [np.dtype(float)] * len(names),
                       [np.shape(v) for v in at_start], names,
                       shared_data={data_name: model[data_name].get_value()},
                       make_initial_point_fn=initial_point)


#: Compile backends; both return a nutpie model whose ``with_data`` swaps the observed values.
COMPILERS: dict[str, Callable[[Any, Sequence[str]], Any]] = {"numba": _compile_numba, "pytensor": _compile_pytensor}


def observed_names(model) -> tuple[str, str]:
    """The data container and the observed variable of a model with one likelihood term."""
    if len(model.observed_RVs) != 1:
        raise UserError("simulation-based calibration needs exactly one observed variable; this fit has "
                        f"{len(model.observed_RVs)} (an early vintage may leave a fit with no data)",
                        where="sbc")
    observed = model.observed_RVs[0]
    return model.rvs_to_values[observed].name, observed.name


def ranked_parameters(model) -> list[str]:
    """What SBC ranks: every free parameter (the elements of a vector one each are not ranked: only scalars),
    plus deterministics the engine uses (the ceiling, ``m``) that depend on a free parameter; a constant
    (the compute trend, a variant's fixed call weight) has no rank to test."""
    try:  # PyTensor 2.36 moved it; older releases (the dependency floor) have it in graph.basic
        from pytensor.graph.traversal import ancestors
    except ImportError:
        from pytensor.graph.basic import ancestors

    free = [rv for rv in model.free_RVs if rv.ndim == 0]
    drawn = set(model.free_RVs)
    return [*(rv.name for rv in free),
            *(d.name for d in model.deterministics
              if d.name in ENGINE_PARAMETERS and d.ndim == 0 and drawn & set(ancestors([d])))]
