"""sum_of_blocks: the same value and gradient as the unblocked sum, in less memory."""

import numpy as np
import pytest

import tinygrad_nca as tg


def _term(Z, W, rows):
    """One block of rows of a softmax-based loss that couples every row with every column."""
    logits = (Z[rows] @ W) @ Z.T
    return tg.sum(tg.log_softmax(logits, axis=1) * np.linspace(0, 1, Z.shape[0]))


def _blocks(n, size):
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    return rng.standard_normal((40, 3)), rng.standard_normal((3, 3))


def test_value_and_gradient_match_the_unblocked_sum(problem):
    Z, W = problem
    full = tg.value_and_grad(lambda Z, W: _term(Z, W, slice(None)), (0, 1))(Z, W)
    blocked = tg.value_and_grad(
        lambda Z, W: tg.sum_of_blocks(_term, Z, W, blocks=_blocks(40, 7)), (0, 1)
    )(Z, W)
    assert float(blocked[0]) == pytest.approx(float(full[0]), rel=1e-12)
    for g_full, g_blocked in zip(full[1], blocked[1], strict=False):
        np.testing.assert_allclose(g_blocked, g_full, rtol=1e-10, atol=1e-12)


def test_gradient_and_second_derivative_against_finite_differences(problem):
    Z, W = problem
    tg.check_grads(
        lambda Z, W: tg.sum_of_blocks(_term, Z, W, blocks=_blocks(40, 16)), Z, W, order=2
    )


def test_peak_live_bytes_scale_with_the_block_not_the_whole(problem):
    """Track the bytes of every op output while a gradient is computed; with small
    blocks, the largest output is a block's rows (B × N), not the N × N matrix."""
    rng = np.random.default_rng(1)
    Z, W = rng.standard_normal((200, 3)), rng.standard_normal((3, 3))
    largest = []

    def run(f):
        sizes = []
        original = tg.Primitive.__call__

        def spy(self, *args, **kwargs):
            out = original(self, *args, **kwargs)
            sizes.append(out.value.nbytes)
            return out

        tg.Primitive.__call__ = spy
        try:
            tg.grad(f)(Z, W)
        finally:
            tg.Primitive.__call__ = original
        largest.append(max(sizes))

    run(lambda Z, W: _term(Z, W, slice(None)))
    run(lambda Z, W: tg.sum_of_blocks(_term, Z, W, blocks=_blocks(200, 20)))
    assert largest[0] == 200 * 200 * 8
    assert largest[1] == 20 * 200 * 8


def test_no_gradient_needed_gives_the_plain_sum(problem):
    Z, W = problem
    with tg.no_grad():
        value = tg.sum_of_blocks(_term, tg.Tensor(Z, requires_grad=True), W, blocks=_blocks(40, 9))
    assert value.is_leaf
    assert float(value) == pytest.approx(float(_term(Z, W, slice(None))), rel=1e-12)


def test_a_non_scalar_term_is_refused(problem):
    Z, W = problem
    with pytest.raises(ValueError, match="must return a scalar"):
        tg.grad(lambda Z: tg.sum_of_blocks(lambda Z, b: Z[b], Z, blocks=[slice(0, 2)]))(Z)


def test_empty_blocks_are_refused(problem):
    with pytest.raises(ValueError, match="no blocks"):
        tg.sum_of_blocks(_term, *problem, blocks=[])
