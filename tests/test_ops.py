"""Every primitive's VJP against central finite differences, over Hypothesis-drawn
shapes (broadcasting, size-1 axes, scalars), in float64 and float32, to second
order where the derivative is smooth; mask semantics of the softmax family;
float32 preserved through every op and its VJP.
"""

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_nca as tg
from tinygrad_nca import testing as tgt

DTYPES = tgt.dtypes()


# ---------------------------------------------------------------- strategies for the tests
@st.composite
def axes(draw, ndim, tuples=True, none=True):
    """An ``axis`` argument for an array of ``ndim`` dims: None, an int or a tuple."""
    choices = [st.none()] if none or ndim == 0 else []
    if ndim:
        choices.append(st.integers(-ndim, ndim - 1))
        if tuples:
            choices.append(
                st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim).map(tuple)
            )
    return draw(st.one_of(choices))


@st.composite
def masks(draw, shape):
    """A boolean mask whose shape broadcasts to ``shape`` (sometimes with fewer dims
    or size-1 axes)."""
    mask_shape = draw(
        hnp.broadcastable_shapes(shape, max_dims=len(shape)).filter(
            lambda s: np.broadcast_shapes(s, shape) == shape
        )
    )
    return draw(hnp.arrays(np.bool_, mask_shape))


@st.composite
def broadcast_with(draw, make_second, dtype=DTYPES):
    """Two arrays whose shapes broadcast together; the second from ``make_second(shape, dtype)``."""
    dtype = draw(dtype)
    shape_a, shape_b = draw(tgt.broadcastable_shapes(2))
    return draw(tgt.arrays(shape_a, dtype)), draw(make_second(shape_b, dtype))


# ---------------------------------------------------------------- arithmetic
@pytest.mark.parametrize(
    "fn",
    [tg.add, tg.subtract, tg.multiply, lambda x, y: x + y, lambda x, y: x - y, lambda x, y: x * y],
    ids=["add", "subtract", "multiply", "+", "-", "*"],
)
@given(xy=tgt.broadcastable_arrays(2, dtype=DTYPES))
def test_binary_arithmetic(fn, xy):
    tg.check_grads(fn, *xy, order=2)


@given(xy=broadcast_with(tgt.positive_arrays))
def test_divide(xy):
    tg.check_grads(tg.divide, *xy, order=2)
    tg.check_grads(lambda x, y: x / y, *xy, order=2)


@given(x=tgt.arrays(dtype=DTYPES))
def test_negative(x):
    tg.check_grads(tg.negative, x, order=2)
    tg.check_grads(lambda x: -x, x, order=2)


@pytest.mark.parametrize("exponent", [2, 3, 1.5, 0.5, -1, -1.5])
@given(x=tgt.positive_arrays(dtype=DTYPES))
def test_power_scalar_exponent(exponent, x):
    tg.check_grads(lambda x: x**exponent, x, order=2)


@pytest.mark.parametrize("exponent", [2, 3])
@given(x=tgt.arrays(dtype=DTYPES))
def test_power_integer_exponent_of_negative_base(exponent, x):
    tg.check_grads(lambda x: tg.power(x, exponent), x, order=2)


@given(
    xy=broadcast_with(lambda shape, dtype: tgt.arrays(shape, dtype, -2.0, 2.0), dtype=DTYPES).map(
        lambda xy: (np.abs(xy[0]) + 0.5, xy[1])
    )
)
def test_power_tensor_exponent(xy):
    """d(x^y)/dx = y x^(y−1) and d(x^y)/dy = x^y log x, both checked."""
    tg.check_grads(tg.power, *xy, order=2)


@given(y=tgt.arrays(dtype=DTYPES, min_value=-2.0, max_value=2.0))
def test_power_constant_base(y):
    tg.check_grads(lambda y: 2.0**y, y, order=2)


# ---------------------------------------------------------------- elementwise functions
@pytest.mark.parametrize("fn", [tg.exp, tg.tanh], ids=["exp", "tanh"])
@given(x=tgt.arrays(dtype=DTYPES))
def test_smooth_unary(fn, x):
    tg.check_grads(fn, x, order=2)


@pytest.mark.parametrize("fn", [tg.log, tg.sqrt], ids=["log", "sqrt"])
@given(x=tgt.positive_arrays(dtype=DTYPES))
def test_unary_on_positive_inputs(fn, x):
    tg.check_grads(fn, x, order=2)


@given(x=tgt.arrays(dtype=DTYPES, away_from=[0.0]))
def test_abs(x):
    tg.check_grads(tg.abs, x, order=2)
    tg.check_grads(lambda x: abs(x), x)


def test_abs_at_zero_matches_central_difference():
    """At the kink the VJP uses sign(0) = 0: the central difference agrees."""
    tg.check_grads(tg.abs, np.array([0.0, 1.0, -2.0]), mode="full")
    np.testing.assert_array_equal(tg.grad(lambda x: tg.sum(tg.abs(x)))(np.zeros(3)), 0.0)


@pytest.mark.parametrize("fn", [tg.maximum, tg.minimum], ids=["maximum", "minimum"])
@given(xy=tgt.separated_pairs(dtype=DTYPES))
def test_maximum_minimum(fn, xy):
    tg.check_grads(fn, *xy, order=2)


@pytest.mark.parametrize("fn", [tg.maximum, tg.minimum], ids=["maximum", "minimum"])
@given(x=tgt.arrays(), y=st.floats(-1, 1))
def test_maximum_minimum_broadcast_against_scalar(fn, x, y):
    x = np.where(np.abs(x - y) < 0.1, y + 0.5, x)  # keep clear of ties
    tg.check_grads(lambda x: fn(x, y), x, order=2)


@pytest.mark.parametrize("fn", [tg.maximum, tg.minimum], ids=["maximum", "minimum"])
def test_maximum_minimum_ties_share_the_gradient(fn):
    x = np.array([1.0, 2.0, 3.0])
    y = np.array([1.0, 0.0, 5.0])
    gx, gy = tg.grad(lambda x, y: tg.sum(fn(x, y)), argnums=(0, 1))(x, y)
    assert gx[0] == gy[0] == 0.5
    assert gx[1] + gy[1] == gx[2] + gy[2] == 1.0
    tg.check_grads(fn, x, y, mode="full")  # at a tie, so does the central difference


@given(data=st.data())
def test_where(data):
    dtype = data.draw(DTYPES)
    shape_c, shape_x, shape_y = data.draw(tgt.broadcastable_shapes(3))
    condition = data.draw(hnp.arrays(np.bool_, shape_c))
    x, y = data.draw(tgt.arrays(shape_x, dtype)), data.draw(tgt.arrays(shape_y, dtype))
    tg.check_grads(lambda x, y: tg.where(condition, x, y), x, y, order=2)


def test_where_sends_exact_zeros_to_the_unchosen_branch():
    condition = np.array([True, False, True])
    gx, gy = tg.grad(lambda x, y: tg.sum(tg.where(condition, x, y) * 3.0), argnums=(0, 1))(
        np.ones(3), np.ones(3)
    )
    np.testing.assert_array_equal(gx, [3.0, 0.0, 3.0])
    np.testing.assert_array_equal(gy, [0.0, 3.0, 0.0])


@given(x=tgt.arrays(dtype=DTYPES))
def test_astype_round_trip(x):
    other = np.float32 if x.dtype == np.float64 else np.float64
    # 2 in the cast's dtype: NumPy < 2 promotes a 0-d float32 times a Python
    # float to float64, which hides the float32 rounding from check_grads' step.
    tg.check_grads(lambda x: tg.astype(x, other) * np.asarray(2.0, other), x, order=2)
    assert tg.grad(lambda x: tg.sum(tg.astype(x, other)))(x).dtype == x.dtype


# ---------------------------------------------------------------- shapes
@given(data=st.data())
def test_transpose(data):
    x = data.draw(tgt.arrays(dtype=DTYPES))
    axes = tuple(data.draw(st.permutations(range(x.ndim))))
    tg.check_grads(lambda x: tg.transpose(x, axes), x, order=2)
    tg.check_grads(lambda x: tg.transpose(x), x)
    tg.check_grads(lambda x: x.T, x)


@given(data=st.data())
def test_swapaxes(data):
    x = data.draw(tgt.arrays(shape=tgt.shapes(min_dims=1), dtype=DTYPES))
    a, b = data.draw(st.integers(-x.ndim, x.ndim - 1)), data.draw(st.integers(-x.ndim, x.ndim - 1))
    assert tg.swapaxes(tg.Tensor(x), a, b).shape == np.swapaxes(x, a, b).shape
    tg.check_grads(lambda x: tg.swapaxes(x, a, b), x, order=2)


@given(x=tgt.arrays(dtype=DTYPES))
def test_reshape(x):
    tg.check_grads(lambda x: tg.reshape(x, x.shape[::-1]), x, order=2)
    tg.check_grads(lambda x: x.reshape(-1), x)
    tg.check_grads(lambda x: tg.squeeze(tg.expand_dims(x, 0), 0), x)


@given(data=st.data())
def test_broadcast_to(data):
    """The VJP sums back over new leading axes and stretched size-1 axes."""
    shape, other = data.draw(tgt.broadcastable_shapes(2))
    x = data.draw(tgt.arrays(shape, DTYPES))
    target = np.broadcast_shapes(shape, other)
    tg.check_grads(lambda x: tg.broadcast_to(x, target), x, order=2)


@st.composite
def indexed(draw):
    """An array and an index of one of the forms NumPy knows: basic slices,
    integer arrays (with repeats), boolean masks, and mixtures."""
    x = draw(tgt.arrays(shape=tgt.shapes(min_dims=1), dtype=DTYPES))
    n = x.shape[0]
    ints = hnp.arrays(np.intp, st.integers(1, 5), elements=st.integers(-n, n - 1))
    kind = draw(st.sampled_from(["int", "slice", "ints", "mask", "mixed"]))
    if kind == "int":
        index = draw(st.integers(-n, n - 1))
    elif kind == "slice":
        index = slice(
            draw(st.none() | st.integers(-n, n)),
            draw(st.none() | st.integers(-n, n)),
            draw(st.sampled_from([None, 1, 2, -1])),
        )
    elif kind == "ints":
        index = draw(ints)
    elif kind == "mask":
        index = draw(hnp.arrays(np.bool_, x.shape))
    else:
        index = (Ellipsis, None) if x.ndim == 1 else (draw(ints), slice(None, None, -1))
    return x, index


@given(x_index=indexed())
def test_getitem(x_index):
    """The VJP scatter-adds: a repeated integer index receives each of its cotangents."""
    x, index = x_index
    tg.check_grads(lambda x: x[index], x, order=2)


def test_getitem_repeated_index_accumulates():
    g = tg.grad(lambda x: tg.sum(x[np.array([0, 0, 2, 0])] * np.array([1.0, 2.0, 3.0, 4.0])))(
        np.zeros(3)
    )
    np.testing.assert_array_equal(g, [7.0, 0.0, 3.0])


@given(st.permutations(range(6)), st.booleans())
def test_getitem_of_distinct_rows_sends_each_row_its_cotangent(order, negative):
    """A permutation of the rows (nca_loss's sort by class), negative indices too: each row's
    cotangent is the one of the position it went to, the inverse permutation."""
    index = np.array(order) - (6 if negative else 0)
    weights = np.arange(12.0).reshape(6, 2)
    g = tg.grad(lambda x: tg.sum(x[index] * weights))(np.zeros((6, 2)))
    np.testing.assert_array_equal(g[np.array(order)], weights)


@given(data=st.data())
def test_concatenate(data):
    dtype = data.draw(DTYPES)
    base = data.draw(tgt.shapes(min_dims=1))
    axis = data.draw(st.integers(-len(base), len(base) - 1))
    pieces = []
    for _ in range(data.draw(st.integers(1, 3))):
        shape = list(base)
        shape[axis] = data.draw(st.integers(1, 3))
        pieces.append(data.draw(tgt.arrays(tuple(shape), dtype)))
    tg.check_grads(lambda *xs: tg.concatenate(xs, axis=axis), *pieces, order=2)


@given(data=st.data())
def test_stack(data):
    dtype = data.draw(DTYPES)
    shape = data.draw(tgt.shapes())
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    pieces = [data.draw(tgt.arrays(shape, dtype)) for _ in range(data.draw(st.integers(1, 3)))]
    assert tg.stack(pieces, axis=axis).shape == np.stack(pieces, axis=axis).shape
    tg.check_grads(lambda *xs: tg.stack(xs, axis=axis), *pieces, order=2)


# ---------------------------------------------------------------- linear algebra
@pytest.mark.parametrize("batched", [False, True], ids=["2-D", "batched"])
@given(data=st.data())
def test_matmul(batched, data):
    a, b = data.draw(tgt.matmul_pairs(dtype=DTYPES, batched=batched))
    np.testing.assert_allclose(tg.matmul(a, b).value, a @ b, rtol=1e-5)
    tg.check_grads(tg.matmul, a, b, order=2)
    tg.check_grads(lambda a, b: a @ b, a, b)


@given(data=st.data())
def test_matmul_with_vectors(data):
    n, k = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    A, u, v = (data.draw(tgt.arrays(s)) for s in [(n, k), (k,), (n,)])
    tg.check_grads(lambda A, u: A @ u, A, u, order=2)
    tg.check_grads(lambda v, A: v @ A, v, A, order=2)
    tg.check_grads(lambda u, w: u @ w, u, u[::-1].copy(), order=2)


def test_matmul_gradient_is_the_textbook_rule():
    """C = A Bᵀ ⇒ Ā = C̄ B, B̄ = C̄ᵀ A, checked against that independent formula."""
    rng = np.random.default_rng(0)
    A, B, C_bar = rng.normal(size=(3, 4)), rng.normal(size=(5, 4)), rng.normal(size=(3, 5))
    _, vjp_fn = tg.vjp(lambda A, B: A @ B.T, A, B)
    A_bar, B_bar = vjp_fn(C_bar)
    np.testing.assert_allclose(A_bar, C_bar @ B)
    np.testing.assert_allclose(B_bar, C_bar.T @ A)


# ---------------------------------------------------------------- reductions
@pytest.mark.parametrize("fn", [tg.sum, tg.mean], ids=["sum", "mean"])
@given(data=st.data())
def test_sum_mean(fn, data):
    x = data.draw(tgt.arrays(dtype=DTYPES))
    axis, keepdims = data.draw(axes(x.ndim)), data.draw(st.booleans())
    where = data.draw(st.none() | masks(x.shape))
    out = fn(x, axis=axis, keepdims=keepdims, where=where)
    mask = True if where is None else where
    expected = np.sum(x, axis=axis, keepdims=keepdims, where=mask, dtype=np.float64)
    if fn is tg.mean:
        count = np.sum(np.broadcast_to(mask, x.shape), axis=axis, keepdims=keepdims)
        expected = expected / np.maximum(count, 1)
    np.testing.assert_allclose(out.value, expected, rtol=1e-5, atol=1e-5)
    tg.check_grads(lambda x: fn(x, axis=axis, keepdims=keepdims, where=where), x, order=2)


def test_masked_sum_gradient_is_the_mask():
    mask = np.array([[True, False, True], [False, False, True]])
    np.testing.assert_array_equal(
        tg.grad(lambda x: tg.sum(x, where=mask))(np.ones((2, 3))), mask.astype(float)
    )
    g = tg.grad(lambda x: tg.mean(x, axis=1, where=mask).sum())(np.ones((2, 3)))
    np.testing.assert_array_equal(g, [[0.5, 0.0, 0.5], [0.0, 0.0, 1.0]])


@pytest.mark.parametrize("fn, np_fn", [(tg.max, np.max), (tg.min, np.min)], ids=["max", "min"])
@given(data=st.data())
def test_max_min(fn, np_fn, data):
    x = data.draw(tgt.distinct_arrays(dtype=DTYPES))
    axis, keepdims = data.draw(axes(x.ndim)), data.draw(st.booleans())
    np.testing.assert_array_equal(
        fn(x, axis=axis, keepdims=keepdims).value, np_fn(x, axis=axis, keepdims=keepdims)
    )
    tg.check_grads(lambda x: fn(x, axis=axis, keepdims=keepdims), x, order=2)
    tg.check_grads(lambda x: getattr(x, fn.__name__)(axis=axis), x)  # the Tensor method


@pytest.mark.parametrize("fn", [tg.max, tg.min], ids=["max", "min"])
def test_max_min_ties_share_the_gradient(fn):
    x = np.array([[3.0, 1.0, 3.0, 3.0], [1.0, 1.0, 2.0, 1.0]])
    g = tg.grad(lambda x: tg.sum(fn(x, axis=1)))(x)
    hits = x == (x.max(axis=1, keepdims=True) if fn is tg.max else x.min(axis=1, keepdims=True))
    np.testing.assert_allclose(g, hits / hits.sum(axis=1, keepdims=True))
    # At a two-way tie, the central difference along any direction v is
    # (max v + min v)/2 = the mean of v over the pair: it agrees with the halves.
    pairs = np.array([[3.0, 1.0, 3.0, -1.0], [0.0, 2.0, 0.0, 1.0]])
    tg.check_grads(lambda x: fn(x, axis=1), pairs, mode="full")


# ---------------------------------------------------------------- the softmax family
@st.composite
def logits_axis_mask(draw, allow_none_axis=False):
    x = draw(tgt.arrays(shape=tgt.shapes(min_dims=1), dtype=DTYPES, min_value=-5, max_value=5))
    axis = draw(axes(x.ndim, tuples=allow_none_axis, none=allow_none_axis))
    where = draw(st.none() | masks(x.shape))
    return x, axis, where


def _reference_softmax(x, axis, where):
    """exp(x)·mask / Σ exp(x)·mask in float64, by the textbook formula."""
    mask = np.broadcast_to(True if where is None else where, x.shape)
    e = np.where(mask, np.exp(x.astype(np.float64)), 0.0)
    s = np.sum(e, axis=axis, keepdims=True)
    return e / np.where(s > 0, s, 1.0), mask, s


@given(case=logits_axis_mask(allow_none_axis=True), keepdims=st.booleans())
def test_logsumexp(case, keepdims):
    x, axis, where = case
    _, _, s = _reference_softmax(x, axis, where)
    with np.errstate(divide="ignore"):
        expected = np.log(s) if keepdims else np.log(np.squeeze(s, axis=axis))
    np.testing.assert_allclose(
        tg.logsumexp(x, axis=axis, keepdims=keepdims, where=where).value,
        expected,
        rtol=1e-5,
        atol=1e-6,
    )
    tg.check_grads(lambda x: tg.logsumexp(x, axis=axis, keepdims=keepdims, where=where), x, order=2)


@given(case=logits_axis_mask())
def test_softmax(case):
    x, axis, where = case
    p, _, _ = _reference_softmax(x, axis, where)
    np.testing.assert_allclose(tg.softmax(x, axis=axis, where=where).value, p, atol=1e-6)
    tg.check_grads(lambda x: tg.softmax(x, axis=axis, where=where), x, order=2)


@given(case=logits_axis_mask())
def test_log_softmax(case):
    x, axis, where = case
    p, mask, _ = _reference_softmax(x, axis, where)
    out = tg.log_softmax(x, axis=axis, where=where).value
    assert np.all(out[~mask] == -np.inf)
    np.testing.assert_allclose(out[mask], np.log(p[mask]), rtol=1e-4, atol=1e-5)
    tg.check_grads(lambda x: tg.log_softmax(x, axis=axis, where=where), x, order=2)


@pytest.fixture
def no_float_warnings():
    """Any overflow or invalid-value warning fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fully_masked_row_gives_exact_zeros(dtype, no_float_warnings):
    huge = np.finfo(dtype).max / 2  # 9e307 in float64, 1.7e38 in float32
    x = np.array([[1.0, 2.0, 3.0], [huge, -huge, 0.0]], dtype=dtype)
    mask = np.array([[True, False, True], [False, False, False]])
    p = tg.softmax(x, axis=1, where=mask).value
    assert p.dtype == dtype
    np.testing.assert_array_equal(p[1], 0.0)
    assert p[0, 1] == 0.0 and np.isclose(p[0].sum(), 1.0)
    assert tg.logsumexp(x, axis=1, where=mask).value[1] == -np.inf
    assert np.all(tg.log_softmax(x, axis=1, where=mask).value[1] == -np.inf)
    u = np.arange(6.0).reshape(2, 3).astype(dtype)
    for fn in (tg.softmax, tg.log_softmax):
        g = tg.grad(lambda x: tg.sum(fn(x, axis=1, where=mask) * u, where=mask))(x)
        assert g.dtype == dtype
        np.testing.assert_array_equal(g[~mask], 0.0)
        assert np.all(np.isfinite(g))
    g = tg.grad(lambda x: tg.sum(tg.logsumexp(x, axis=1, where=mask)[:1]))(x)
    np.testing.assert_array_equal(g[~mask], 0.0)


def test_huge_and_tiny_logits_do_not_overflow(no_float_warnings):
    x = np.array([1e300, 0.0, -1e300])
    np.testing.assert_array_equal(tg.softmax(x).value, [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(tg.log_softmax(x).value, [0.0, -1e300, -2e300])
    assert tg.logsumexp(x).value == 1e300
    assert tg.logsumexp(-np.array([1e300, 1e300])).value == -1e300  # all tiny: exp would underflow
    for fn in (tg.softmax, tg.log_softmax):
        g = tg.grad(lambda x: tg.sum(fn(x) * np.array([1.0, 2.0, 3.0])))(x)
        assert np.all(np.isfinite(g))
    np.testing.assert_array_equal(tg.grad(tg.logsumexp)(x), [1.0, 0.0, 0.0])


def test_masked_huge_logits_take_no_part(no_float_warnings):
    x = np.array([1e300, 1.0, 2.0, -1e300])
    mask = np.array([False, True, True, False])
    p = tg.softmax(x, where=mask).value
    np.testing.assert_allclose(p, [0.0, 1 / (1 + np.e), np.e / (1 + np.e), 0.0])
    np.testing.assert_allclose(tg.logsumexp(x, where=mask).value, np.log(np.e + np.e**2))
    g = tg.grad(lambda x: tg.sum(tg.log_softmax(x, where=mask), where=mask))(x)
    assert g[0] == 0.0 and g[3] == 0.0 and np.all(np.isfinite(g))


def test_nan_cotangent_of_a_masked_entry_does_not_leak():
    """log(softmax) at a masked entry is log 0 = −inf, whose VJP sends 0/0 = NaN back;
    the masked entry's output is constant, so that NaN must not reach any input."""
    mask = np.array([True, False, True])
    x = np.array([1.0, 2.0, 3.0])
    with np.errstate(divide="ignore", invalid="ignore"):
        g = tg.grad(lambda x: tg.sum(tg.log(tg.softmax(x, where=mask)), where=mask))(x)
    p = np.exp(x[[0, 2]]) / np.exp(x[[0, 2]]).sum()
    np.testing.assert_allclose(g, [1 - 2 * p[0], 0.0, 1 - 2 * p[1]])  # ∂/∂x of Σ log p


# ---------------------------------------------------------------- float32 is never promoted
_FLOAT32_CASES = {
    "add": lambda x: x + 1.5,
    "radd": lambda x: 1.5 + x,
    "sub": lambda x: 2 - x,
    "mul": lambda x: x * 3,
    "div": lambda x: x / 2.0,
    "rdiv": lambda x: 1.0 / (x * x + 1),
    "pow": lambda x: x**2,
    "pow_half": lambda x: (x * x + 1) ** 0.5,
    "rpow": lambda x: 2**x,
    "pow_tensor": lambda x: (x * x + 1) ** x,
    "neg": lambda x: -x,
    "matmul": lambda x: x @ x.T,
    "transpose": lambda x: x.T,
    "swapaxes": lambda x: tg.swapaxes(x, 0, 1),
    "reshape": lambda x: x.reshape(-1),
    "broadcast_to": lambda x: tg.broadcast_to(x, (2, 3, 4)),
    "sum": lambda x: tg.sum(x, axis=0),
    "sum_where": lambda x: tg.sum(x, where=x > 0),
    "mean": lambda x: tg.mean(x, axis=1),
    "mean_where": lambda x: tg.mean(x, where=x > 0),
    "max": lambda x: tg.max(x, axis=0),
    "min": lambda x: tg.min(x),
    "exp": tg.exp,
    "log": lambda x: tg.log(x * x + 1),
    "sqrt": lambda x: tg.sqrt(x * x + 1),
    "tanh": tg.tanh,
    "abs": tg.abs,
    "maximum": lambda x: tg.maximum(x, 0.0),
    "minimum": lambda x: tg.minimum(x, x[:1]),
    "where": lambda x: tg.where(x > 0, x, 0.0),
    "getitem": lambda x: x[np.array([0, 0, 2])],
    "mask": lambda x: x[x > 0],
    "concatenate": lambda x: tg.concatenate([x, x], axis=1),
    "stack": lambda x: tg.stack([x, x]),
    "logsumexp": lambda x: tg.logsumexp(x, axis=1),
    "softmax": lambda x: tg.softmax(x, axis=0),
    "log_softmax": lambda x: tg.log_softmax(x, where=x > -0.5),
    "float64_constant": lambda x: x * np.ones(4),
}


@pytest.mark.parametrize("name", list(_FLOAT32_CASES))
def test_float32_is_preserved_through_op_and_vjp(name):
    fn = _FLOAT32_CASES[name]
    x = np.random.default_rng(1).normal(size=(3, 4)).astype(np.float32)
    if name != "float64_constant":  # NumPy promotes float32·float64; the gradient is float32 anyway
        assert fn(tg.Tensor(x)).dtype == np.float32, name
    g = tg.grad(lambda x: tg.sum(fn(x) * 1.0))(x)
    assert g.dtype == np.float32, name
    h = tg.hvp(lambda x: tg.sum(fn(x)))(x, np.ones_like(x))
    assert h.dtype == np.float32, name


# ---------------------------------------------------------------- a user-defined primitive
@tg.primitive
def cube(x):
    return x**3


cube.defvjp(lambda g, ans, x: g * 3 * x**2)


@given(x=tgt.arrays(dtype=DTYPES))
def test_user_primitive_from_the_issue(x):
    tg.check_grads(cube, x, order=2)
    tg.check_grads(lambda x: tg.sum(cube(x) * x), x, order=3)
