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

In the examples below, ``settings(max_examples=5, deadline=None)`` keeps each
one fast and free of timing failures on a busy machine; a real test suite sets
these once, in a Hypothesis profile.

>>> from hypothesis import given, settings
>>> import numpy as np, tinygrad_nca as tg
>>> from tinygrad_nca import testing
>>> @settings(max_examples=5, deadline=None)
... @given(testing.arrays(shape=(2, 3), dtype=np.float32))
... def test_tanh(x):
...     tg.check_grads(lambda x: tg.sum(tg.tanh(x) ** 2), x)
>>> test_tanh()
"""

from __future__ import annotations

from typing import Any

import numpy as np

try:
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ModuleNotFoundError as missing:  # Hypothesis is an extra, not a dependency
    if not (missing.name or "").startswith("hypothesis"):
        raise
    raise ImportError(
        "tinygrad_nca.testing needs Hypothesis, which a plain install does not "
        'bring: pip install "tinygrad-nca[testing]"'
    ) from missing

__all__ = [
    "FLOAT_DTYPES",
    "dtypes",
    "elements",
    "shapes",
    "arrays",
    "positive_arrays",
    "arrays_in",
    "DOMAINS",
    "broadcastable_shapes",
    "broadcastable_arrays",
    "matmul_shapes",
    "matmul_pairs",
    "distinct_arrays",
    "separated_pairs",
]

FLOAT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))
"""The float dtypes the engine computes in, and the strategies draw: float64 and float32."""

# Defaults: small arrays (a gradient check costs two evaluations per element in
# full mode) whose elements are of order one (exp, tanh, powers stay tame).
_MAX_DIMS, _MAX_SIDE, _BOUND = 3, 4, 3.0


def dtypes():
    """Strategy drawing a dtype from :data:`FLOAT_DTYPES`: float64 or float32.

    Pass it as the ``dtype`` of the array strategies to run one test in both
    precisions: float32 is where a careless VJP (one that upcasts, or loses
    precision by subtracting large numbers) shows up.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> import numpy as np, tinygrad_nca as tg
    >>> from tinygrad_nca import testing
    >>> @settings(max_examples=5, deadline=None)
    ... @given(testing.arrays(shape=(3,), dtype=testing.dtypes()))
    ... def test_exp_keeps_the_dtype(x):
    ...     assert tg.exp(tg.Tensor(x)).dtype == x.dtype
    ...     tg.check_grads(lambda x: tg.sum(tg.exp(x)), x)
    >>> test_exp_keeps_the_dtype()
    """
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
    """Strategy drawing one float of ``dtype``: finite, bounded, never subnormal.

    The building block of :func:`arrays`. Subnormal numbers (below about
    2.2e-308 in float64, 1.2e-38 in float32) are excluded because arithmetic
    on them loses precision and is slow; NaN and inf because a gradient check
    cannot compare them.

    Parameters
    ----------
    dtype : dtype, default float64
    min_value, max_value : float, default -3.0 and 3.0
        Bounds of the values.
    away_from : sequence of float, default ()
        Points (kinks) that every value keeps at least ``gap`` away from:
        |v − k| ≥ gap for each k.
    gap : float, default 0.1

    Returns
    -------
    hypothesis.strategies.SearchStrategy
        Of Python floats exactly representable in ``dtype``.

    Examples
    --------
    |x| has a kink at 0, so its derivative is tested away from 0:

    >>> from hypothesis import given, settings
    >>> import tinygrad_nca as tg
    >>> from tinygrad_nca import testing
    >>> @settings(max_examples=5, deadline=None)
    ... @given(testing.elements(away_from=[0.0]))
    ... def test_abs_gradient(v):
    ...     assert abs(v) >= 0.1
    ...     tg.check_grads(lambda x: tg.abs(x), v)
    >>> test_abs_gradient()
    """
    floats = hnp.from_dtype(
        np.dtype(dtype),
        min_value=min_value,
        max_value=max_value,
        allow_nan=False,
        allow_infinity=False,
        allow_subnormal=False,
    )
    if away_from:
        kinks = tuple(float(k) for k in np.atleast_1d(away_from))
        floats = floats.filter(lambda v: all(abs(v - k) >= gap for k in kinks))
    return floats


def shapes(min_dims=0, max_dims=_MAX_DIMS, min_side=1, max_side=_MAX_SIDE):
    """Strategy drawing an array shape: a tuple of ``min_dims`` to ``max_dims`` sides.

    Scalars ``()`` and size-1 axes are included on purpose: they are where
    broadcasting and reductions most often go wrong.

    Parameters
    ----------
    min_dims, max_dims : int, default 0 and 3
        Range of the number of dimensions.
    min_side, max_side : int, default 1 and 4
        Range of each side.

    Examples
    --------
    A reduction over the last axis must give a gradient of the input's shape:

    >>> from hypothesis import given, settings
    >>> import tinygrad_nca as tg
    >>> from tinygrad_nca import testing
    >>> @settings(max_examples=5, deadline=None)
    ... @given(testing.arrays(shape=testing.shapes(min_dims=1)))
    ... def test_logsumexp_gradient(x):
    ...     assert tg.grad(lambda x: tg.sum(tg.logsumexp(x, axis=-1)))(x).shape == x.shape
    ...     tg.check_grads(lambda x: tg.logsumexp(x, axis=-1), x)
    >>> test_logsumexp_gradient()
    """
    return hnp.array_shapes(
        min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    )


@st.composite
def arrays(
    draw, shape=None, dtype=np.float64, min_value=-_BOUND, max_value=_BOUND, away_from=(), gap=0.1
):
    """Strategy drawing a well-conditioned float array.

    Every element comes from :func:`elements`: finite, in
    ``[min_value, max_value]``, not subnormal, and, with ``away_from``, at
    least ``gap`` from each kink.

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
    gap : float, default 0.1
        The least distance from a kink. It must exceed the finite-difference
        step of :func:`tinygrad_nca.check_grads` (by default 6e-6 in float64,
        5e-3 in float32), or the two evaluations may straddle the kink.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> import numpy as np, tinygrad_nca as tg
    >>> from tinygrad_nca import testing
    >>> @settings(max_examples=5, deadline=None)
    ... @given(testing.arrays(shape=(2, 3), away_from=[0.0]))
    ... def test_abs_gradient(x):
    ...     assert x.shape == (2, 3) and np.all(np.abs(x) >= 0.1)
    ...     tg.check_grads(lambda x: tg.sum(tg.abs(x) * x), x)
    >>> test_abs_gradient()
    """
    dtype = _dtype(dtype, draw)
    return draw(
        hnp.arrays(
            dtype,
            _shape(shape, draw),
            elements=elements(dtype, min_value, max_value, away_from, gap),
        )
    )


def positive_arrays(shape=None, dtype=np.float64, min_value=0.5, max_value=_BOUND):
    """Strategy drawing arrays with elements in ``[min_value, max_value]``, by default [0.5, 3].

    For the inputs of log, sqrt, denominators and bases of powers: these are
    singular at 0 (log x → −∞, d√x/dx = 1/(2√x) → ∞), so the elements are
    kept well above 0. Same parameters as :func:`arrays`.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> import tinygrad_nca as tg
    >>> from tinygrad_nca import testing
    >>> @settings(max_examples=5, deadline=None)
    ... @given(testing.positive_arrays(shape=(4,)))
    ... def test_log_and_sqrt_gradients(x):
    ...     tg.check_grads(lambda x: tg.sum(tg.log(x) + tg.sqrt(x) + 1 / x), x)
    >>> test_log_and_sqrt_gradients()
    """
    return arrays(shape, dtype, min_value=min_value, max_value=max_value)


DOMAINS: dict[str, dict[str, Any]] = {
    "real": dict(min_value=-_BOUND, max_value=_BOUND),
    "positive": dict(min_value=0.5, max_value=_BOUND),
    "unit": dict(min_value=-0.9, max_value=0.9),
    "above_one": dict(min_value=1.1, max_value=_BOUND),
    "nonzero": dict(min_value=-_BOUND, max_value=_BOUND, away_from=(0.0,)),
    "off_integers": dict(
        min_value=-_BOUND, max_value=_BOUND, away_from=tuple(np.arange(-3.0, 3.5, 0.5)), gap=0.05
    ),
}
"""Named input domains for :func:`arrays_in`, each the keyword arguments of :func:`arrays`:
``"real"`` [−3, 3]; ``"positive"`` [0.5, 3] (log, sqrt, 1/x); ``"unit"`` [−0.9, 0.9] (arcsin,
arccos, arctanh); ``"above_one"`` [1.1, 3] (arccosh); ``"nonzero"`` (abs, sign: away from the
kink at 0); ``"off_integers"`` (floor, ceil, round: away from the integers and half-integers
where they jump)."""


def arrays_in(
    low=None, high=None, shape=None, dtype=np.float64, domain=None, away_from=(), gap=0.1
):
    """Strategy drawing well-conditioned arrays inside an interval or a named domain.

    The input domain of a function: ``arrays_in(-0.9, 0.9)`` for arcsin, whose
    derivative 1/√(1 − x²) blows up at ±1; ``arrays_in(domain="positive")`` for log.
    Elements as in :func:`arrays` (finite, not subnormal, ``gap`` from ``away_from``).

    Parameters
    ----------
    low, high : float, optional
        The closed interval of the elements (default: the domain's, or [−3, 3]).
    shape, dtype
        As in :func:`arrays`.
    domain : str, optional
        A key of :data:`DOMAINS`; ``low``, ``high`` and ``away_from`` refine it.
    away_from : sequence of float
        More kinks to keep ``gap`` away from.
    gap : float, default 0.1

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> import numpy as np, tinygrad_nca as tg
    >>> from tinygrad_nca import testing
    >>> @settings(max_examples=5, deadline=None)
    ... @given(testing.arrays_in(-0.9, 0.9, shape=(3,), dtype=testing.dtypes()))
    ... def test_arcsin_gradient(x):
    ...     assert np.all(np.abs(x) <= 0.9)
    ...     tg.check_grads(tg.arcsin, x, order=2)
    >>> test_arcsin_gradient()
    >>> @settings(max_examples=5, deadline=None)
    ... @given(testing.arrays_in(domain="off_integers", shape=(4,)))
    ... def test_floor_has_zero_gradient(x):
    ...     tg.check_grads(tg.floor, x)
    >>> test_floor_has_zero_gradient()
    """
    options = dict(DOMAINS["real" if domain is None else domain])
    if low is not None:
        options["min_value"] = low
    if high is not None:
        options["max_value"] = high
    options["away_from"] = tuple(options.get("away_from", ())) + tuple(away_from)
    options.setdefault("gap", gap)
    if options["min_value"] > options["max_value"]:
        raise ValueError(
            f"arrays_in: empty interval [{options['min_value']}, {options['max_value']}]"
        )
    return _within(shape, dtype, options)


@st.composite
def _within(draw, shape, dtype, options):
    # the bounds rounded inwards to the dtype (Hypothesis wants representable bounds)
    dtype = _dtype(dtype, draw)
    low, high = options["min_value"], options["max_value"]
    low32, high32 = np.array([low, high]).astype(dtype)
    low = float(low32 if low32 >= low else np.nextafter(low32, np.inf, dtype=dtype))
    high = float(high32 if high32 <= high else np.nextafter(high32, -np.inf, dtype=dtype))
    return draw(arrays(shape, dtype, **dict(options, min_value=low, max_value=high)))


def broadcastable_shapes(
    num_shapes=2, min_dims=0, max_dims=_MAX_DIMS, min_side=1, max_side=_MAX_SIDE
):
    """Strategy drawing a tuple of ``num_shapes`` shapes that broadcast together.

    NumPy's rule: align the shapes on the right; on each axis the sides must
    be equal or 1 (a side of 1 is stretched), and a missing leading axis
    counts as 1. The draws include different ranks and size-1 axes, the cases
    where a VJP must sum the cotangent back down to the input's shape.

    Parameters
    ----------
    num_shapes : int, default 2
    min_dims, max_dims, min_side, max_side : int
        As in :func:`shapes`, for each shape.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> import numpy as np
    >>> from tinygrad_nca import testing
    >>> @settings(max_examples=5, deadline=None)
    ... @given(testing.broadcastable_shapes(3))
    ... def test_three_shapes_broadcast(shapes):
    ...     assert len(shapes) == 3
    ...     np.broadcast_shapes(*shapes)       # raises ValueError if they do not
    >>> test_three_shapes_broadcast()
    """
    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes,
        min_dims=min_dims,
        max_dims=max_dims,
        min_side=min_side,
        max_side=max_side,
    ).map(lambda b: b.input_shapes)


@st.composite
def broadcastable_arrays(draw, num_arrays=2, dtype=np.float64, min_value=-_BOUND, max_value=_BOUND):
    """Strategy drawing a tuple of ``num_arrays`` arrays of one dtype whose shapes broadcast together.

    The shapes come from :func:`broadcastable_shapes`, the elements from
    :func:`elements`. Use it to test the unbroadcasting of a binary op's VJP:
    if z = a + b with a of shape (3, 1) and b of shape (4,), then ā is z̄
    summed over axis 1 (kept as size 1) and b̄ is z̄ summed over axis 0.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> import tinygrad_nca as tg
    >>> from tinygrad_nca import testing
    >>> @settings(max_examples=5, deadline=None)
    ... @given(testing.broadcastable_arrays(2, dtype=testing.dtypes()))
    ... def test_product_gradient(pair):
    ...     a, b = pair
    ...     tg.check_grads(lambda a, b: tg.sum(a * b + a), a, b)
    >>> test_product_gradient()
    """
    dtype = _dtype(dtype, draw)
    return tuple(
        draw(arrays(s, dtype, min_value, max_value)) for s in draw(broadcastable_shapes(num_arrays))
    )


@st.composite
def matmul_shapes(draw, batched=False, max_side=_MAX_SIDE):
    """Strategy drawing a pair of shapes ``(…, n, k)`` and ``(…, k, m)`` that ``@`` accepts.

    The inner sides agree (k); n, k and m are between 1 and ``max_side``. With
    ``batched=True`` the leading batch shapes broadcast against each other
    (and may be empty), as ``np.matmul`` allows for stacks of matrices.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> import numpy as np, tinygrad_nca as tg
    >>> from tinygrad_nca import testing
    >>> @settings(max_examples=5, deadline=None)
    ... @given(testing.matmul_shapes(batched=True))
    ... def test_matmul_shape(shapes):
    ...     a, b = np.ones(shapes[0]), np.ones(shapes[1])
    ...     assert tg.matmul(a, b).shape == np.matmul(a, b).shape
    >>> test_matmul_shape()
    """
    n, k, m = (draw(st.integers(1, max_side)) for _ in range(3))
    batch_a, batch_b = (), ()
    if batched:
        batch_a, batch_b = draw(broadcastable_shapes(2, max_dims=2, max_side=3))
    return batch_a + (n, k), batch_b + (k, m)


@st.composite
def matmul_pairs(draw, dtype=np.float64, batched=False):
    """Strategy drawing a pair ``(A, B)`` of arrays of one dtype with ``A @ B`` defined.

    Shapes from :func:`matmul_shapes`, elements from :func:`elements`. For
    C = AB the VJPs are Ā = C̄ Bᵀ and B̄ = Aᵀ C̄ (summed over broadcast batch
    axes); this is what the example checks.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> import tinygrad_nca as tg
    >>> from tinygrad_nca import testing
    >>> @settings(max_examples=5, deadline=None)
    ... @given(testing.matmul_pairs(batched=True))
    ... def test_matmul_gradient(pair):
    ...     A, B = pair
    ...     tg.check_grads(lambda A, B: tg.sum(tg.matmul(A, B) ** 2), A, B)
    >>> test_matmul_gradient()
    """
    dtype = _dtype(dtype, draw)
    shape_a, shape_b = draw(matmul_shapes(batched=batched))
    return draw(arrays(shape_a, dtype)), draw(arrays(shape_b, dtype))


@st.composite
def distinct_arrays(draw, shape=None, dtype=np.float64, gap=0.25):
    """Strategy drawing arrays whose elements are pairwise at least ``gap`` apart.

    ``max``, ``min`` and sorting then have a unique winner that a
    finite-difference step cannot overtake. (At a tie the derivative of max
    does not exist: nudging either tied element up changes the maximum, so the
    two one-sided derivatives differ.) The elements are

        x = gap · k + c,

    with k distinct integers and one offset c ∈ [−1, 1] shared by all.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> import numpy as np, tinygrad_nca as tg
    >>> from tinygrad_nca import testing
    >>> @settings(max_examples=5, deadline=None)
    ... @given(testing.distinct_arrays(shape=(2, 3)))
    ... def test_max_gradient(x):
    ...     assert len(np.unique(x)) == x.size
    ...     tg.check_grads(lambda x: tg.max(x, axis=1), x)
    >>> test_max_gradient()
    """
    dtype = _dtype(dtype, draw)
    shape = _shape(shape, draw)
    size = int(np.prod(shape))
    span = max(size, int(_BOUND / gap))
    steps = draw(hnp.arrays(np.int64, shape, elements=st.integers(-span, span), unique=True))
    offset = draw(st.floats(-1.0, 1.0, allow_subnormal=False))
    return (steps * gap + offset).astype(dtype)


@st.composite
def separated_pairs(draw, shape=None, dtype=np.float64, gap=0.25):
    """Strategy drawing pairs ``(x, y)`` of one shape with |x − y| ≥ ``gap`` everywhere.

    The inputs of ``maximum`` and ``minimum`` away from their ties: the
    derivative of maximum(x, y) is 1 for the larger argument and 0 for the
    other, and does not exist where x = y. Drawn as y = x ± d with
    d ∈ [gap, 3] and a random sign per element.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> import numpy as np, tinygrad_nca as tg
    >>> from tinygrad_nca import testing
    >>> @settings(max_examples=5, deadline=None)
    ... @given(testing.separated_pairs(shape=(3,)))
    ... def test_maximum_gradient(pair):
    ...     x, y = pair
    ...     assert x.shape == y.shape == (3,)
    ...     tg.check_grads(lambda x, y: tg.sum(tg.maximum(x, y) * x), x, y)
    >>> test_maximum_gradient()
    """
    dtype = _dtype(dtype, draw)
    shape = _shape(shape, draw)
    x = draw(arrays(shape, dtype))
    distance = draw(arrays(shape, np.float64, min_value=gap, max_value=_BOUND))
    sign = draw(hnp.arrays(np.bool_, shape))
    return x, (x + np.where(sign, distance, -distance)).astype(dtype)
