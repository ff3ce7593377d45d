"""nca_loss's automatic row blocks (block_size=None): the same value and gradient as the full
N × N matrices, in blocks whose size follows AUTO_BLOCK_PAIRS, for both objectives and both
distance forms; the gradient is also checked against the paper's closed form."""

import numpy as np
import pytest

import tinygrad_nca as tg
from tinygrad_nca.nca import loss
from tinygrad_nca.nca.reference import nca_loss_and_grad_reference


def problem(n=60, D=5, d=3, classes=4, seed=2):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, D))
    y = rng.integers(0, classes, size=n)
    A = rng.normal(size=(d, D)) / np.sqrt(D)
    return A, X, y


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(loss, "AUTO_BLOCK_PAIRS", 500)  # 60 points: blocks of 8 rows


@pytest.mark.parametrize("objective", ["expected", "log"])
@pytest.mark.parametrize("distance", ["gram", "broadcast"])
def test_automatic_blocks_equal_the_full_matrices(small_blocks, objective, distance):
    A, X, y = problem()
    value_and_grad = tg.value_and_grad(tg.nca_loss)
    auto = value_and_grad(A, X, y, objective=objective, distance=distance)
    full = value_and_grad(A, X, y, objective=objective, distance=distance, block_size=len(X))
    np.testing.assert_allclose(auto[0], full[0], rtol=1e-12)
    np.testing.assert_allclose(auto[1], full[1], rtol=1e-10, atol=1e-12)
    ref_value, ref_grad = nca_loss_and_grad_reference(A, X, y, objective=objective)
    np.testing.assert_allclose(auto[1], ref_grad, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(float(auto[0]), ref_value, rtol=1e-12)


def test_automatic_block_size_follows_the_budget(small_blocks, monkeypatch):
    sizes = []
    real = loss._row_blocks

    def spy(rows, n, block_size):
        sizes.append(block_size)
        return real(rows, n, block_size)

    monkeypatch.setattr(loss, "_row_blocks", spy)
    A, X, y = problem()
    graph = tg.nca_loss(tg.Tensor(A, requires_grad=True), X, y)
    assert "sum_of_blocks" in graph._op.name  # the default went blockwise
    tg.nca_loss(A, X, y, distance="broadcast")
    tg.nca_loss(A, X, y, block_size=1000)
    assert sizes == [500 // 60, 500 // (60 * 3), 1000]  # broadcast: d entries per pair


def test_small_problems_use_one_block():
    A, X, y = problem(n=40)
    graph = tg.nca_loss(tg.Tensor(A, requires_grad=True), X, y)
    assert "sum_of_blocks" not in graph._op.name
    assert loss.AUTO_BLOCK_PAIRS // 1448 >= 1448  # the full matrices up to ~1,450 points
