"""tg.softmax_mass: the fused softmax-then-range-sum, and the saved arrays behind its VJP.

Its forward values are checked against the composition it replaces (softmax with a mask,
then a masked sum) and against explicit loops; its first derivative (the fast rule reading
what the forward pass saved) and its higher derivatives (the rule written in tensor
operations) against finite differences, and against each other.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_nca as tg
from tinygrad_nca import kernels


def _problem(rng, rows, cols, n_runs, dtype=np.float64):
    """Logits, sorted ranges in ``n_runs`` runs of rows, and one left-out column per row."""
    x = rng.normal(size=(rows, cols)).astype(dtype)
    cuts = np.sort(rng.choice(np.arange(1, rows), size=n_runs - 1, replace=False))
    run_of_row = np.searchsorted(cuts, np.arange(rows), side="right")
    lo = rng.integers(0, cols, n_runs)
    hi = np.minimum(cols, lo + rng.integers(0, cols, n_runs))
    return x, lo[run_of_row], hi[run_of_row], rng.integers(0, cols, rows)


def _composed(x, start, stop, exclude):
    """The same quantity from the engine's softmax (masked) and a masked sum."""
    n = x.shape[1]
    others = np.ones(x.shape, dtype=bool)
    others[np.arange(x.shape[0]), exclude] = False
    columns = np.arange(n)
    inside = (columns >= start[:, None]) & (columns < stop[:, None])  # (written out here)
    return tg.sum(tg.softmax(x, axis=1, where=others), axis=1, where=inside)


@pytest.mark.parametrize("n_runs", [1, 5, kernels.RUNS_FOR_SLICES + 6])  # slices, and the mask
@pytest.mark.parametrize("slices_from", [0, kernels.SLICES_FROM, 1 << 30])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_forward_and_gradient_equal_the_composition(n_runs, dtype, slices_from, monkeypatch):
    monkeypatch.setattr(kernels, "SLICES_FROM", slices_from)  # both ways of summing a range
    rng = np.random.default_rng(n_runs)
    x, start, stop, exclude = _problem(rng, 80, 30, n_runs, dtype)
    mass = tg.softmax_mass(x, start, stop, exclude)
    tol = 1e-13 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(mass.value, _composed(x, start, stop, exclude).value, atol=tol)
    assert mass.dtype == dtype
    w = rng.normal(size=80)
    fused = tg.grad(lambda x: tg.sum(tg.softmax_mass(x, start, stop, exclude) * w))(x)
    composed = tg.grad(lambda x: tg.sum(_composed(x, start, stop, exclude) * w))(x)
    np.testing.assert_allclose(fused, composed, atol=10 * tol)
    assert fused.dtype == dtype


@pytest.mark.parametrize("n_runs", [1, 4, kernels.RUNS_FOR_SLICES + 2])
def test_derivatives_to_third_order_match_finite_differences(n_runs):
    rng = np.random.default_rng(10 + n_runs)
    rows = max(6, n_runs + 1)
    x, start, stop, exclude = _problem(rng, rows, 5, n_runs)
    w = rng.normal(size=rows)

    def f(x):
        return tg.sum(tg.log(tg.softmax_mass(x, start, stop, exclude) + 0.1) * w)

    # order 1 uses the rule reading the saved arrays; orders 2 and 3 the recorded rule
    # (and check_grads compares the recorded gradient with the plain one)
    tg.check_grads(f, x, order=3)


def test_the_fast_rule_and_the_recorded_rule_agree():
    rng = np.random.default_rng(3)
    x, start, stop, exclude = _problem(rng, 12, 9, 3)
    g = rng.normal(size=12)
    x_t = tg.Tensor(x, requires_grad=True)
    with tg.enable_grad():
        out = tg.softmax_mass(x_t, start, stop, exclude)
        # grad enabled, as in a recorded sweep: the rule in tensor operations
        (recorded,) = [ct for _, ct in out._op.backward(tg.Tensor(g), out, {id(x_t)})]
    with tg.no_grad():  # as in a plain sweep: the rule reading the saved arrays
        (plain,) = [ct for _, ct in out._op.backward(tg.Tensor(g), out, {id(x_t)})]
    np.testing.assert_allclose(recorded.value, plain.value, atol=1e-15)
    assert recorded.requires_grad and not plain.requires_grad
    assert np.abs(plain.value).max() > 1e-3  # (not two zeros)


def test_edge_rows_give_zero_not_nan():
    x = np.array(
        [
            [0.0, 1.0, 2.0],  # an empty range: mass 0
            [-np.inf, -np.inf, 5.0],  # only the left-out column is finite: an empty softmax
            [1.0, 2.0, 3.0],  # the whole row: mass 1
            [1e300, -1e300, 0.0],  # a huge spread: the far entries flushed, no overflow
        ]
    )
    start, stop, exclude = np.array([1, 0, 0, 0]), np.array([1, 3, 3, 2]), np.array([0, 2, 1, 2])
    mass = tg.softmax_mass(x, start, stop, exclude)
    np.testing.assert_allclose(mass.value, [0.0, 0.0, 1.0, 1.0])
    grad = tg.grad(lambda x: tg.sum(tg.softmax_mass(x, start, stop, exclude)))(x)
    assert np.all(np.isfinite(grad))
    np.testing.assert_array_equal(grad[:2], 0.0)


@pytest.mark.parametrize("rows", [40, 400])  # flushed outright; decided on a sample of rows
def test_tiny_terms_are_flushed_without_changing_the_result(rows):
    # rows whose terms span more than the float64 exponent range: exp would make subnormals
    rng = np.random.default_rng(4)
    x = rng.uniform(-1500.0, 0.0, size=(rows, 50))
    x[:, 0] = 0.0
    start, stop, exclude = np.full(rows, 0), np.full(rows, 25), np.full(rows, 49)
    exact = _composed(x, start, stop, exclude).value
    fused = tg.softmax_mass(x, start, stop, exclude)
    np.testing.assert_allclose(fused.value, exact, rtol=1e-15)
    _, (e, _) = kernels.softmax_mass(x, start, stop, exclude)
    tiny = np.finfo(np.float64).tiny
    assert not np.any((e > 0) & (e < tiny))  # no subnormal is left for the VJP's products


def test_the_input_is_left_alone_eagerly_and_under_jit():
    rng = np.random.default_rng(5)
    x, start, stop, exclude = _problem(rng, 10, 8, 2)
    before = x.copy()
    tg.grad(lambda x: tg.sum(tg.softmax_mass(x, start, stop, exclude)))(x)
    f = tg.jit(tg.value_and_grad(lambda x: tg.sum(tg.softmax_mass(x, start, stop, exclude))))
    f(x)
    f(x)
    np.testing.assert_array_equal(x, before)  # an argument of the program is never a buffer


def test_jit_overwrites_dead_buffers_and_replays_to_rounding():
    rng = np.random.default_rng(6)
    x, start, stop, exclude = _problem(rng, 30, 20, 3)
    w = rng.normal(size=(20, 20))

    def loss(w):
        return tg.sum(tg.softmax_mass(tg.matmul(tg.Tensor(x), w), start, stop, exclude))

    jitted = tg.jit(tg.value_and_grad(loss))
    program = jitted.program(w)
    text = repr(program)
    assert "softmax_mass(" in text and "overwrite=True" in text
    assert program.counts["overwrite"] == 2  # the logits become e, e becomes x̄
    eager_value, eager_grad = tg.value_and_grad(loss)(w)
    for _ in range(2):
        value, grad = jitted(w)
        np.testing.assert_allclose(value, eager_value, rtol=1e-14)
        np.testing.assert_allclose(grad, eager_grad, rtol=1e-12, atol=1e-15)


def test_a_forward_only_program_frees_what_the_vjp_would_have_read():
    rng = np.random.default_rng(7)
    x, start, stop, exclude = _problem(rng, 10, 8, 2)
    jitted = tg.jit(lambda x: tg.softmax_mass(x, start, stop, exclude))
    program = jitted.program(x)
    assert "del " in program.source.split("softmax_mass(", 1)[1].split("\n", 2)[1]
    np.testing.assert_allclose(
        jitted(x).value, tg.softmax_mass(x, start, stop, exclude).value, rtol=1e-15
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((np.zeros(3), [0], [1]), "matrix"),
        ((np.zeros((2, 3), dtype=int), [0, 0], [1, 1]), "floats"),
        ((np.zeros((2, 3)), [0], [1, 1]), "start must be 2 integers"),
        ((np.zeros((2, 3)), [0, 0], [1.0, 1.0]), "stop must be 2 integers"),
        ((np.zeros((2, 3)), [0, 2], [1, 1]), "0 <= start <= stop <= 3"),
        ((np.zeros((2, 3)), [0, 0], [1, 4]), "0 <= start <= stop <= 3"),
        ((np.zeros((2, 3)), [0, 0], [1, 1], [0, 3]), r"exclude must hold column indices"),
    ],
)
def test_bad_arguments_are_named(args, message):
    with pytest.raises((ValueError, TypeError, tg.ShapeError), match=message):
        tg.softmax_mass(*args)
