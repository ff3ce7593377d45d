"""The gradients of the table's functions against other autodiff engines, at the same points.

Each row of tests/test_ops_systematic.py is written once for any NumPy-like namespace, so the
same code runs under JAX (``jax.numpy``, in float64) and HIPS autograd (``autograd.numpy``):
the VJP of each, for one cotangent, must agree with ours to rounding. A peer that is not
installed is skipped (they are not CI dependencies); a function a peer lacks, or cannot
differentiate, is skipped for that peer only.
"""

import numpy as np
import pytest
from test_ops_systematic import ROWS, inputs

import tinygrad_nca as tg

PEER_ROWS = [pytest.param(row, id=row.id) for row in ROWS if row.peers]


def _first_nonempty(row):
    def sides(s):
        return [n for part in s for n in (part if isinstance(part, tuple) else (part,))]

    return next(s for s in row.shapes if 0 not in sides(s))


def _ours(row, xs, u):
    _, vjp_fn = tg.vjp(lambda *xs: row.fn(tg, *xs), *xs)
    return vjp_fn(u)


def _point(row):
    xs = inputs(row, _first_nonempty(row), np.float64, seed=3)
    out = np.asarray(row.fn(np, *xs))
    u = np.random.default_rng(4).standard_normal(out.shape)
    return xs, u


def _compare(row, theirs, xs, u):
    if not all(np.all(np.isfinite(np.asarray(other))) for other in theirs):
        # HIPS autograd's prod rule is ḡ·ans/x: NaN at a zero, where ours is exact
        pytest.skip(f"the peer's gradient of {row.id} is not finite here")
    ours = _ours(row, xs, u)
    for mine, other in zip(ours, theirs, strict=False):
        np.testing.assert_allclose(
            mine,
            np.asarray(other),
            rtol=1e-9,
            atol=1e-12,
            err_msg=f"{row.id}: gradient differs from the peer's",
        )


@pytest.mark.parametrize("row", PEER_ROWS)
def test_gradient_agrees_with_jax(row):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    xs, u = _point(row)
    try:
        _, vjp_fn = jax.vjp(lambda *xs: row.fn(jnp, *xs), *[jnp.asarray(x) for x in xs])
        theirs = vjp_fn(jnp.asarray(u))
    except (AttributeError, TypeError, NotImplementedError, ValueError) as err:
        pytest.skip(f"JAX cannot run {row.id}: {type(err).__name__}")
    _compare(row, theirs, xs, u)


@pytest.mark.parametrize("row", PEER_ROWS)
def test_gradient_agrees_with_hips_autograd(row):
    pytest.importorskip("autograd")
    import autograd
    import autograd.numpy as anp

    xs, u = _point(row)
    theirs = []
    try:
        for i in range(len(xs)):

            def f(x, i=i):
                args = list(xs)
                args[i] = x
                return row.fn(anp, *args)

            vjp_fn, _ = autograd.make_vjp(f)(xs[i])
            theirs.append(vjp_fn(u))
    except (AttributeError, TypeError, NotImplementedError, ValueError, AssertionError) as err:
        pytest.skip(f"autograd cannot run {row.id}: {type(err).__name__}")
    _compare(row, theirs, xs, u)
