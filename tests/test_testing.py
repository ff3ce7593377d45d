"""The Hypothesis strategies of tinygrad_nca.testing draw what they promise."""

import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

import tinygrad_nca as tg
from tinygrad_nca import testing as tgt


@given(x=tgt.arrays())
def test_arrays_default_to_small_finite_float64(x):
    assert x.dtype == np.float64
    assert x.ndim <= 3 and all(1 <= n <= 4 for n in x.shape)
    assert np.all(np.isfinite(x)) and np.all(np.abs(x) <= 3.0)


@given(x=tgt.arrays(shape=(2, 5), dtype=np.float32, min_value=-1.0, max_value=0.5))
def test_arrays_of_a_given_shape_dtype_and_bounds(x):
    assert x.shape == (2, 5) and x.dtype == np.float32
    assert np.all((-1.0 <= x) & (x <= 0.5))
    tiny = np.abs(x[x != 0])
    assert np.all(tiny >= np.finfo(np.float32).tiny)  # no subnormals


@given(x=tgt.arrays(shape=st.just((3,)), dtype=tgt.dtypes()), n=tgt.arrays(shape=4))
def test_arrays_take_strategies_and_ints(x, n):
    assert x.shape == (3,) and x.dtype in tgt.FLOAT_DTYPES
    assert n.shape == (4,)


@given(x=tgt.arrays(away_from=[0.0, 1.0], gap=0.2))
def test_arrays_away_from_kinks(x):
    assert np.all(np.abs(x) >= 0.2) and np.all(np.abs(x - 1.0) >= 0.2)


@given(x=tgt.positive_arrays(dtype=tgt.dtypes()))
def test_positive_arrays(x):
    assert np.all(x >= 0.5) and np.all(np.isfinite(np.log(x)))


@given(shapes=tgt.broadcastable_shapes(3))
def test_broadcastable_shapes(shapes):
    assert len(shapes) == 3
    np.broadcast_shapes(*shapes)  # raises if they do not broadcast


@given(arrays=tgt.broadcastable_arrays(2, dtype=tgt.dtypes()))
def test_broadcastable_arrays_share_a_dtype(arrays):
    a, b = arrays
    assert a.dtype == b.dtype
    assert (a + b).shape == np.broadcast_shapes(a.shape, b.shape)


@pytest.mark.parametrize("batched", [False, True])
@given(data=st.data())
def test_matmul_pairs(batched, data):
    a, b = data.draw(tgt.matmul_pairs(dtype=np.float32, batched=batched))
    assert a.dtype == b.dtype == np.float32
    assert a.shape[-1] == b.shape[-2]
    assert (a @ b).shape[-2:] == (a.shape[-2], b.shape[-1])
    if not batched:
        assert a.ndim == b.ndim == 2


def test_matmul_shapes_can_be_batches_that_broadcast():
    """Batched shapes include stacks of different ranks and size-1 batch axes."""
    different_ranks = find(tgt.matmul_shapes(batched=True), lambda s: len(s[0]) != len(s[1]))
    stretched = find(
        tgt.matmul_shapes(batched=True),
        lambda s: len(s[0]) == len(s[1]) > 2 and s[0][:-2] != s[1][:-2],
    )
    for a, b in (different_ranks, stretched):
        np.matmul(np.empty(a), np.empty(b))  # raises if @ does not accept them


@given(x=tgt.distinct_arrays(gap=0.25, dtype=tgt.dtypes()))
def test_distinct_arrays_are_separated(x):
    values = np.sort(x.ravel().astype(np.float64))
    assert np.all(np.diff(values) >= 0.25 - 1e-6)


@given(pair=tgt.separated_pairs(shape=(3, 2), gap=0.25, dtype=tgt.dtypes()))
def test_separated_pairs(pair):
    x, y = pair
    assert x.shape == y.shape == (3, 2) and x.dtype == y.dtype
    assert np.all(np.abs(x.astype(np.float64) - y) >= 0.25 - 1e-6)


def test_the_module_docstring_example_is_three_lines_of_test():
    """What the docstring shows a user: given + check_grads, here on a buggy loss,
    so the property test must fail and name the argument."""
    wrong = tg.primitive(lambda x: np.tanh(x), name="wrong_tanh")
    wrong.defvjp(lambda g, ans, x: g * (1 + ans * ans))  # should be 1 − tanh²

    @given(tgt.arrays(shape=(3, 4)))
    def test_my_loss_gradient(x):
        tg.check_grads(lambda x: tg.sum(wrong(x) ** 2), x)

    with pytest.raises(tg.GradientCheckError, match="argument 0"):
        test_my_loss_gradient()


@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_arrays_in_respects_its_interval_and_domain(data):
    x = data.draw(tgt.arrays_in(-0.5, 0.25, shape=(5,), dtype=tgt.dtypes()))
    assert np.all((x >= -0.5) & (x <= 0.25))
    y = data.draw(tgt.arrays_in(domain="off_integers", shape=(6,)))
    assert np.all(np.abs(y * 2 - np.round(y * 2)) >= 0.1 - 1e-12)
    z = data.draw(tgt.arrays_in(domain="positive", high=1.0, shape=(3,)))
    assert np.all((z >= 0.5) & (z <= 1.0))


def test_arrays_in_rejects_an_empty_interval():
    with pytest.raises(ValueError, match="empty interval"):
        tgt.arrays_in(1.0, 0.0)
