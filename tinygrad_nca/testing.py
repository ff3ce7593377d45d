"""Hypothesis strategies for property-based gradient tests.

A gradient check at one hand-picked point proves little: the bug is often at a
shape you did not try (a size-1 axis that broadcasts, a batch dimension, float32).
These strategies draw the inputs for you, and Hypothesis shrinks any failure to
the smallest example. Property-test the gradient of your own function in three
lines::

    from hypothesis import given
    import tinygrad_nca as tg
    from tinygrad_nca import testing

    @given(testing.arrays(shape=(3, 4)))
    def test_my_loss_gradient(x):
        tg.check_grads(lambda x: tg.sum(tg.tanh(x) ** 2), x)

Every strategy draws *well-conditioned* inputs: finite, bounded elements (no NaN,
inf or subnormals), so that a failure means a wrong gradient, not a
finite-difference artefact. Where a function has a kink (``abs`` at 0, a tie in
``maximum`` or ``max``) the derivative does not exist and finite differences
straddling it disagree with any VJP; :func:`arrays` with ``away_from``,
:func:`distinct_arrays` and :func:`separated_pairs` keep the inputs a step away.

This module imports Hypothesis, so ``import tinygrad_nca`` does not import it:
use ``from tinygrad_nca import testing``.

>>> from hypothesis import given, settings
>>> import numpy as np, tinygrad_nca as tg
>>> from tinygrad_nca import testing
>>> @settings(max_examples=5)
... @given(testing.arrays(shape=(2, 3), dtype=np.float32))
... def test_tanh(x):
...     tg.check_grads(lambda x: tg.sum(tg.tanh(x) ** 2), x)
>>> test_tanh()
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

__all__ = ["FLOAT_DTYPES", "dtypes", "elements", "shapes", "arrays", "positive_arrays",
           "broadcastable_shapes", "broadcastable_arrays", "matmul_shapes", "matmul_pairs",
           "distinct_arrays", "separated_pairs"]

FLOAT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))

# Defaults: small arrays (a gradient check costs two evaluations per element in
# full mode) whose elements are of order one (exp, tanh, powers stay tame).
_MAX_DIMS, _MAX_SIDE, _BOUND = 3, 4, 3.0


def dtypes():
    """float64 or float32."""
    return st.sampled_from(FLOAT_DTYPES)


def _dtype(dtype, draw):
    """A dtype given either as a dtype or as a strategy that draws one."""
    return np.dtype(draw(dtype) if isinstance(dtype, st.SearchStrategy) else dtype)


def _shape(shape, draw):
    """A shape given as a tuple, as a strategy, or ``None`` (draw one)."""
    if shape is None:
        return draw(shapes())
    if isinstance(shape, st.SearchStrategy):
        return draw(shape)
    return tuple(shape) if np.ndim(shape) else (int(shape),)


def elements(dtype=np.float64, min_value=-_BOUND, max_value=_BOUND, away_from=(), gap=0.1):
    """Finite, bounded floats of ``dtype`` (no NaN, inf or subnormals).

    ``away_from``: points (kinks) that every element keeps at least ``gap`` away from.
    """
    floats = hnp.from_dtype(np.dtype(dtype), min_value=min_value, max_value=max_value,
                            allow_nan=False, allow_infinity=False, allow_subnormal=False)
    if away_from:
        kinks = tuple(float(k) for k in np.atleast_1d(away_from))
        floats = floats.filter(lambda v: all(abs(v - k) >= gap for k in kinks))
    return floats


def shapes(min_dims=0, max_dims=_MAX_DIMS, min_side=1, max_side=_MAX_SIDE):
    """Array shapes, scalars ``()`` and size-1 axes included."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


@st.composite
def arrays(draw, shape=None, dtype=np.float64, min_value=-_BOUND, max_value=_BOUND,
           away_from=(), gap=0.1):
    """Well-conditioned float arrays.

    Parameters
    ----------
    shape : tuple, int, strategy or None
        The shape, or a strategy drawing it; ``None`` draws one from :func:`shapes`.
    dtype : dtype or strategy
        ``np.float64`` by default; pass :func:`dtypes` to draw float64 or float32.
    min_value, max_value : float
        Bounds of the elements.
    away_from : sequence of float
        Kinks the elements keep ``gap`` away from (``away_from=[0]`` for ``abs``).
    """
    dtype = _dtype(dtype, draw)
    return draw(hnp.arrays(dtype, _shape(shape, draw),
                           elements=elements(dtype, min_value, max_value, away_from, gap)))


def positive_arrays(shape=None, dtype=np.float64, min_value=0.5, max_value=_BOUND):
    """Arrays with elements in ``[min_value, max_value]``: inputs of log, sqrt,
    denominators and bases of powers (kept off 0, where they are singular)."""
    return arrays(shape, dtype, min_value=min_value, max_value=max_value)


def broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=_MAX_DIMS, min_side=1,
                         max_side=_MAX_SIDE):
    """Tuples of ``num_shapes`` shapes that broadcast together (NumPy rules):
    different ranks and size-1 axes that stretch."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims, min_side=min_side,
        max_side=max_side).map(lambda b: b.input_shapes)


@st.composite
def broadcastable_arrays(draw, num_arrays=2, dtype=np.float64, min_value=-_BOUND,
                         max_value=_BOUND):
    """Tuples of ``num_arrays`` arrays of one dtype whose shapes broadcast together."""
    dtype = _dtype(dtype, draw)
    return tuple(draw(arrays(s, dtype, min_value, max_value))
                 for s in draw(broadcastable_shapes(num_arrays)))


@st.composite
def matmul_shapes(draw, batched=False, max_side=_MAX_SIDE):
    """Shapes ``(…, n, k)`` and ``(…, k, m)`` that ``@`` accepts. With ``batched=True``
    the leading batch shapes broadcast against each other (and may be empty)."""
    n, k, m = (draw(st.integers(1, max_side)) for _ in range(3))
    batch_a, batch_b = (), ()
    if batched:
        batch_a, batch_b = draw(broadcastable_shapes(2, max_dims=2, max_side=3))
    return batch_a + (n, k), batch_b + (k, m)


@st.composite
def matmul_pairs(draw, dtype=np.float64, batched=False):
    """Pairs ``(A, B)`` of arrays of one dtype with ``A @ B`` defined."""
    dtype = _dtype(dtype, draw)
    shape_a, shape_b = draw(matmul_shapes(batched=batched))
    return draw(arrays(shape_a, dtype)), draw(arrays(shape_b, dtype))


@st.composite
def distinct_arrays(draw, shape=None, dtype=np.float64, gap=0.25):
    """Arrays whose elements are pairwise at least ``gap`` apart, so that ``max``,
    ``min`` and sorting have a unique winner that a finite-difference step cannot
    overtake. Elements are ``gap`` times distinct integers, plus a common offset."""
    dtype = _dtype(dtype, draw)
    shape = _shape(shape, draw)
    size = int(np.prod(shape))
    span = max(size, int(_BOUND / gap))
    steps = draw(hnp.arrays(np.int64, shape, elements=st.integers(-span, span), unique=True))
    offset = draw(st.floats(-1.0, 1.0, allow_subnormal=False))
    return (steps * gap + offset).astype(dtype)


@st.composite
def separated_pairs(draw, shape=None, dtype=np.float64, gap=0.25):
    """Pairs ``(x, y)`` of one shape with ``|x − y| ≥ gap`` everywhere: inputs of
    ``maximum``/``minimum`` away from their ties."""
    dtype = _dtype(dtype, draw)
    shape = _shape(shape, draw)
    x = draw(arrays(shape, dtype))
    distance = draw(arrays(shape, np.float64, min_value=gap, max_value=_BOUND))
    sign = draw(hnp.arrays(np.bool_, shape))
    return x, (x + np.where(sign, distance, -distance)).astype(dtype)
