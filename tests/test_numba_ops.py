"""tokensim's numba implementations of PyTensor ops: SciPy's values, and kernels numba can cache on disk."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from scipy import special

from sim.calibration.compiled import compiled_fit
from sim.calibration.fits import build_model
from sim.calibration.inputs import CalibrationInputs
from sim.calibration.numba_ops import ASYMPTOTIC_FROM, betainc, erfcx, register
from tests.conftest import OBSERVATIONS, PRIORS

#: As the kernels run it: compiled by numba, where ``exp`` overflows to ``inf`` rather than raising.
compiled_erfcx = numba.njit(erfcx)


def test_erfcx_matches_scipy_on_both_sides_of_the_asymptotic_switch():
    x = np.concatenate([np.linspace(-26.0, 40.0, 4001), [0.0, ASYMPTOTIC_FROM - 1e-9, ASYMPTOTIC_FROM, 1e3, 1e8]])
    ours = np.array([compiled_erfcx(float(v)) for v in x])
    np.testing.assert_allclose(ours, special.erfcx(x), rtol=1e-12, atol=0.0)


def test_erfcx_overflows_to_infinity_like_scipy():
    assert compiled_erfcx(-30.0) == special.erfcx(-30.0) == np.inf


def test_the_registered_erfcx_has_a_cache_key():
    import pytensor.tensor as pt
    from pytensor.link.numba.dispatch.basic import numba_funcify_and_cache_key

    register()
    node = pt.erfcx(pt.dscalar()).owner
    _, key = numba_funcify_and_cache_key(node.op.scalar_op, node=node.op.scalar_op.make_node(
        *(i.type.to_scalar_type()() for i in node.inputs)))
    assert key is not None


@pytest.mark.parametrize("fit", ["exponential", "open_equal_weight"])
def test_compiled_kernels_embed_no_pointer_so_the_disk_cache_can_keep_them(fit):
    # A pointer in a kernel (SciPy's erfcx, a strided constant array) forbids numba's disk cache: the fit
    # would compile again in every process, warm cache or not.
    inputs = CalibrationInputs.load(OBSERVATIONS, PRIORS)
    model = build_model(fit, inputs.observations, inputs.priors)
    compiled = compiled_fit(model, [v.name for v in (*model.free_RVs, *model.deterministics)])
    for kernel in (compiled.logp_kernel, compiled.expand_kernel):
        assert kernel.overloads, "compiled"
        assert not any(c.library.has_dynamic_globals for c in kernel.overloads.values())


def test_betainc_matches_scipy_across_shapes_and_both_sides_of_the_mean():
    compiled_betainc = numba.njit(betainc)
    grid = np.linspace(0.0, 1.0, 201)
    for a in (0.3, 1.0, 2.5, 8.0, 40.0):
        for b in (0.5, 1.0, 3.0, 12.0, 60.0):
            ours = np.array([compiled_betainc(a, b, float(x)) for x in grid])
            np.testing.assert_allclose(ours, special.betainc(a, b, grid), rtol=1e-10, atol=1e-300, err_msg=f"{a} {b}")
