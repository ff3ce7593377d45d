"""Each speed-up of the engine against the plain definition it replaces, on both of its branches.

The fast paths (masked sum by einsum, the masked-sum VJP by a cast mask, the tall matmul done
transposed, slice scatter by assignment, softmax by one reciprocal per row) each have an exact
fallback for the cases they cannot handle (inf or NaN at masked entries, repeated indices…).
Both branches are checked against NumPy's own formula and, for derivatives, finite differences.
"""

import numpy as np
import pytest

import tinygrad_nca as tg
from tinygrad_nca import kernels

rng = np.random.default_rng(11)


@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1), -1])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_masked_sum_matches_numpy(axis, keepdims, dtype):
    x = rng.normal(size=(5, 7)).astype(dtype)
    mask = rng.random((5, 7)) < 0.5
    out = tg.sum(x, axis=axis, keepdims=keepdims, where=mask).value
    expected = np.sum(x, axis=axis, keepdims=keepdims, where=mask)
    assert out.dtype == dtype and out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-6 if dtype == np.float32 else 1e-13)


def test_masked_sum_ignores_nan_and_inf_outside_the_mask():
    x = rng.normal(size=(3, 4))
    mask = np.ones((3, 4), dtype=bool)
    mask[0, 1] = mask[2, 3] = False
    x[0, 1], x[2, 3] = np.nan, -np.inf  # the einsum would give NaN: exact fallback
    np.testing.assert_allclose(tg.sum(x, where=mask).value, np.sum(x, where=mask))
    np.testing.assert_allclose(tg.sum(x, axis=1, where=mask).value, np.sum(x, axis=1, where=mask))


def test_masked_sum_with_a_broadcast_mask():
    x, mask = rng.normal(size=(4, 6)), rng.random((1, 6)) < 0.5
    np.testing.assert_allclose(tg.sum(x, axis=0, where=mask).value, np.sum(x, axis=0, where=mask))


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_masked_sum_gradients_first_and_second_order(axis):
    x, mask = rng.normal(size=(4, 5)), rng.random((4, 5)) < 0.6
    g = tg.grad(lambda x: tg.sum(tg.sum(x, axis=axis, where=mask) * 1.5))(x)
    np.testing.assert_array_equal(g, np.where(mask, 1.5, 0.0))
    tg.check_grads(lambda x: tg.sum(tg.sum(x * x, axis=axis, where=mask) ** 2), x, order=2)


@pytest.mark.parametrize("cotangent", [np.nan, np.inf])
def test_masked_sum_vjp_keeps_zeros_outside_the_mask_for_a_non_finite_cotangent(cotangent):
    x, mask = rng.normal(size=(3, 3)), np.eye(3, dtype=bool)
    _, vjp_fn = tg.vjp(lambda x: tg.sum(x, axis=1, where=mask), x)
    (g,) = vjp_fn(np.array([1.0, cotangent, 2.0]))
    assert np.all(g[~mask] == 0)
    assert g[0, 0] == 1.0 and g[2, 2] == 2.0
    assert not np.isfinite(g[1, 1])


def test_spread_for_a_float32_cotangent_stays_float32():
    x, mask = rng.normal(size=(3, 4)).astype(np.float32), rng.random((3, 4)) < 0.5
    g = tg.grad(lambda x: tg.sum(tg.sum(x, axis=0, where=mask) * np.float32(3)))(x)
    assert g.dtype == np.float32
    np.testing.assert_array_equal(g, np.where(mask, 3.0, 0.0).astype(np.float32))


@pytest.mark.parametrize(
    "shapes",
    [
        ((600, 600), (600, 20)),  # tall and narrow: transposed
        ((300, 784), (784, 32)),
        ((20, 600), (600, 600)),  # wide: as is
        ((6, 4), (4, 5)),
    ],
)  # small: as is
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matmul_matches_numpy_whichever_way_it_is_computed(shapes, dtype):
    a, b = (rng.normal(size=s).astype(dtype) for s in shapes)
    out = tg.matmul(a, b).value
    assert out.dtype == dtype and out.shape == (shapes[0][0], shapes[1][1])
    np.testing.assert_allclose(
        out,
        a @ b,
        rtol=1e-4 if dtype == np.float32 else 1e-12,
        atol=1e-4 if dtype == np.float32 else 1e-12,
    )


def test_tall_matmul_gradients():
    a, b = rng.normal(size=(300, 260)), rng.normal(size=(260, 3))
    tg.check_grads(lambda a, b: tg.sum(tg.tanh(a @ b)), a, b)


@pytest.mark.parametrize(
    "index",
    [
        slice(1, 4),
        (slice(None), 2),
        3,
        (Ellipsis, slice(0, 2)),
        np.array([0, 2, 2, 4]),
        (np.array([1, 1]), slice(None)),
    ],
)
def test_getitem_vjp_scatters_basic_and_repeated_indices(index):
    x = rng.normal(size=(5, 3))
    expected = np.zeros_like(x)
    np.add.at(expected, index, 1.0)  # repeated integer indices add up
    np.testing.assert_array_equal(tg.grad(lambda x: tg.sum(x[index]))(x), expected)
    tg.check_grads(lambda x: tg.sum(tg.tanh(x[index]) ** 2), x, order=2)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_rows_sum_to_one_and_match_the_textbook_formula(axis):
    x = rng.normal(size=(4, 6)) * 5
    p = tg.softmax(x, axis=axis).value
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    np.testing.assert_allclose(p, e / e.sum(axis=axis, keepdims=True), rtol=1e-14)
    np.testing.assert_allclose(p.sum(axis=axis), 1.0, rtol=1e-15)


def test_softmax_vjp_along_a_leading_axis():
    x, c = rng.normal(size=(3, 4, 5)), rng.normal(size=(3, 4, 5))
    tg.check_grads(lambda x: tg.sum(tg.softmax(x, axis=1) * c), x, order=2)
    assert kernels.dot_along(x, c, 1).shape == (3, 1, 5)
    np.testing.assert_allclose(kernels.dot_along(x, c, 1), np.sum(x * c, axis=1, keepdims=True))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_flushes_subnormal_probabilities_to_exact_zeros(dtype):
    # exp of these gaps lands in the subnormal range (10–100× slower arithmetic on x86)
    tiny = np.finfo(dtype).tiny
    gaps = np.linspace(0.0, 1.2 * np.log(tiny), 50)[None, :]  # 0 … 1.2 log(tiny) < 0
    x = np.vstack([gaps, gaps / 10]).astype(dtype)
    p = tg.softmax(x, axis=1).value
    assert np.all((p == 0) | (p >= tiny))  # nothing subnormal
    e = np.exp(x.astype(np.float64) - x.max(axis=1, keepdims=True))
    exact = e / e.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(
        p,
        exact,
        rtol=1e-6 if dtype == np.float32 else 1e-14,
        atol=1e-30 if dtype == np.float32 else 1e-300,
    )
    assert np.all(p[exact > 1e6 * tiny] > 0)  # only negligible terms go
    lse = tg.logsumexp(x, axis=1).value
    np.testing.assert_allclose(lse, np.log(e.sum(axis=1)) + x.max(axis=1), rtol=1e-6)
    c = np.linspace(-1, 1, x.size).reshape(x.shape).astype(dtype)
    tg.check_grads(lambda x: tg.sum(tg.softmax(x, axis=1) * c), x)


def test_log_softmax_keeps_tiny_log_probabilities():
    x = np.array([0.0, -800.0, -1e300])
    np.testing.assert_allclose(tg.log_softmax(x).value, x)  # log p, not −inf


def test_large_row_broadcasts_run_with_a_small_ufunc_buffer_and_restore_it():
    default = np.getbufsize()
    seen = kernels.plain_row_loops(lambda x, *rest: np.getbufsize())
    assert seen(np.zeros(1 << 16)) == kernels.ROW_BUFFER  # large: the small buffer
    assert seen(1.0, np.zeros(1 << 16)) == kernels.ROW_BUFFER  # the large operand second
    assert seen(np.zeros(10)) == default  # small: NumPy's own
    x = np.random.default_rng(0).normal(size=(300, 200))
    p = tg.softmax(x, axis=1).value
    np.testing.assert_allclose(p, np.exp(x) / np.exp(x).sum(axis=1, keepdims=True))
    with pytest.raises(ZeroDivisionError):  # restored on errors too
        kernels.plain_row_loops(lambda x: 1 / 0)(np.zeros(1 << 16))
    assert np.getbufsize() == default
