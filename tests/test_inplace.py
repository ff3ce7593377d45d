"""The reverse sweep lets a VJP overwrite a cotangent only when nothing else can see it.

The softmax VJP writes x̄ = p∘(ḡ − Σḡ∘p) into ḡ's buffer when the sweep donates it
(tensor.overwritable). These tests check that it happens in the plain case, and that it does
NOT happen — and every gradient stays right, every caller's array untouched — when the buffer
is visible elsewhere: a cotangent the caller passed and holds, the same tensor sent to two
inputs, a view, an array a VJP shares with the module, a recorded (second-order) sweep.
Gradients are checked against the closed form p∘(ḡ − Σḡ∘p) or finite differences.
"""

import numpy as np
import pytest

import tinygrad_nca as tg
from tinygrad_nca import ops, tensor

rng = np.random.default_rng(7)


class _Calls(list):
    """The overwrite flags; ``.recorded``: whether each call ran in a recorded sweep."""


@pytest.fixture
def overwrites(monkeypatch):
    """The ``overwrite`` flag of every softmax VJP evaluated (in order)."""
    seen = _Calls()
    forward = ops._softmax_vjp.fun

    def spy(g, p, **kwargs):
        seen.append(bool(kwargs.get("overwrite")))
        recorded.append(tg.is_grad_enabled())
        return forward(g, p, **kwargs)

    recorded = seen.recorded = []
    monkeypatch.setattr(ops._softmax_vjp, "fun", spy)
    return seen


def softmax_vjp_by_formula(x, g, axis=-1):
    p = np.exp(x - x.max(axis=axis, keepdims=True))
    p /= p.sum(axis=axis, keepdims=True)
    return p * (g - np.sum(g * p, axis=axis, keepdims=True))


def test_calibrated_reference_counts():
    assert tensor._EXCLUSIVE is not None  # CPython: donation is possible at all
    assert not tensor.overwritable(tg.Tensor(np.ones(3)))  # outside a sweep: never


def test_a_cotangent_only_the_sweep_holds_is_overwritten(overwrites):
    x, c = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    gradient = tg.grad(lambda x: tg.sum(tg.softmax(x, axis=1) * c))(x)
    assert overwrites == [True]
    np.testing.assert_allclose(gradient, softmax_vjp_by_formula(x, c, axis=1), rtol=1e-12)


def test_no_overwrite_where_the_interpreter_has_no_reference_counts(overwrites, monkeypatch):
    """Without sys.getrefcount (PyPy, GraalPy) nobody can prove that only the sweep holds a
    cotangent: the guard must refuse, not compare None with None and let it through."""
    monkeypatch.delattr("sys.getrefcount")
    monkeypatch.setattr(tensor, "_EXCLUSIVE", tensor._exclusive_holders())
    assert tensor._EXCLUSIVE is None
    local = np.random.default_rng(11)  # the module's rng stream stays as the others expect
    x, c = local.normal(size=(4, 5)), local.normal(size=(4, 5))
    gradient = tg.grad(lambda x: tg.sum(tg.softmax(x, axis=1) * c))(x)
    assert overwrites == [False]
    np.testing.assert_allclose(gradient, softmax_vjp_by_formula(x, c, axis=1), rtol=1e-12)


def test_masked_softmax_overwritten_with_exact_zeros(overwrites):
    x, c = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    mask = ~np.eye(5, dtype=bool)
    gradient = tg.grad(lambda x: tg.sum(tg.softmax(x, axis=1, where=mask) * c))(x)
    assert overwrites == [True]
    assert np.all(gradient[~mask] == 0)
    tg.check_grads(lambda x: tg.sum(tg.softmax(x, axis=1, where=mask) * c), x)


def test_a_cotangent_the_caller_holds_is_never_overwritten(overwrites):
    x, g = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    kept = g.copy()
    _, vjp_fn = tg.vjp(lambda x: tg.softmax(x, axis=1), x)
    (first,) = vjp_fn(g)
    (second,) = vjp_fn(g)  # the graph is reused: same answer
    assert overwrites == [False, False]
    np.testing.assert_array_equal(g, kept)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(first, softmax_vjp_by_formula(x, g, axis=1), rtol=1e-12)


def test_one_tensor_sent_to_two_inputs_is_overwritten_only_by_its_last_reader(overwrites):
    # add's VJP sends the same cotangent tensor to both operands: overwriting it in the
    # first softmax VJP would corrupt the second; the second is then its only holder.
    a, b, c = rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    ga, gb = tg.grad(lambda a, b: tg.sum((tg.softmax(a) + tg.softmax(b)) * c), (0, 1))(a, b)
    assert overwrites == [False, True]
    np.testing.assert_allclose(ga, softmax_vjp_by_formula(a, c), rtol=1e-12)
    np.testing.assert_allclose(gb, softmax_vjp_by_formula(b, c), rtol=1e-12)


def test_fan_out_accumulates_into_a_fresh_array_which_may_be_overwritten(overwrites):
    x, c1, c2 = rng.normal(size=(6,)), rng.normal(size=(6,)), rng.normal(size=(6,))

    def f(x):
        p = tg.softmax(x)
        return tg.sum(p * c1) + tg.sum(p * c2)

    gradient = tg.grad(f)(x)
    assert overwrites == [True]
    np.testing.assert_allclose(gradient, softmax_vjp_by_formula(x, c1 + c2), rtol=1e-12)


def test_a_view_is_not_overwritten(overwrites):
    # reshape's VJP returns a view of its cotangent: writing through it would change
    # an array that is not the sweep's to change.
    x, c = rng.normal(size=(2, 6)), rng.normal(size=(3, 4))
    gradient = tg.grad(lambda x: tg.sum(tg.reshape(tg.softmax(x, axis=1), (3, 4)) * c))(x)
    assert overwrites == [False]
    np.testing.assert_allclose(
        gradient, softmax_vjp_by_formula(x, c.reshape(2, 6), axis=1), rtol=1e-12
    )


def test_an_array_a_vjp_shares_with_the_module_is_not_overwritten(overwrites):
    shared = rng.normal(size=(5,))
    kept = shared.copy()

    @tg.primitive
    def passthrough(p):
        return p.copy()

    passthrough.defvjp(lambda g, ans, p: shared)  # sends the same (module) array every time

    x = rng.normal(size=(5,))
    gradient = tg.grad(lambda x: tg.sum(passthrough(tg.softmax(x))))(x)
    assert overwrites == [False]
    np.testing.assert_array_equal(shared, kept)
    np.testing.assert_allclose(gradient, softmax_vjp_by_formula(x, shared), rtol=1e-12)


def test_forward_values_are_never_overwritten(overwrites):
    # p is both the softmax output (kept for the VJP) and a factor of its own cotangent.
    x = rng.normal(size=(4, 3))

    def f(x):
        p = tg.softmax(x, axis=0)
        return tg.sum(p * p), p

    (_, p), gradient = tg.value_and_grad(f, has_aux=True)(x)
    assert overwrites == [True]
    np.testing.assert_array_equal(p.value, tg.softmax(x, axis=0).value)
    tg.check_grads(lambda x: f(x)[0], x)


def test_no_overwrite_in_a_recorded_sweep(overwrites):
    x, v = rng.normal(size=(4,)), rng.normal(size=(4,))
    c = rng.normal(size=(4,))
    f = lambda x: tg.sum(tg.softmax(x) * c) * tg.sum(x * x)  # noqa: E731
    tg.hvp(f)(x, v)
    assert any(overwrites.recorded)
    assert not any(o and rec for o, rec in zip(overwrites, overwrites.recorded, strict=False))
    tg.check_grads(f, x, order=2)


def test_blockwise_and_checkpointed_sweeps_give_the_same_gradient():
    Z, c = rng.normal(size=(8, 5)), rng.normal(size=(8, 8))

    def block(Z, rows):
        return tg.sum(tg.softmax(Z[rows] @ tg.transpose(Z), axis=1) * c[rows])

    full = tg.grad(lambda Z: block(Z, slice(0, 8)))(Z)
    halves = [slice(0, 4), slice(4, 8)]
    blocks = tg.grad(lambda Z: tg.sum_of_blocks(block, Z, blocks=halves))(Z)
    checkpointed = tg.grad(lambda Z: tg.checkpoint(lambda Z: block(Z, slice(0, 8)))(Z))(Z)
    np.testing.assert_allclose(blocks, full, rtol=1e-12)
    np.testing.assert_allclose(checkpointed, full, rtol=1e-12)
    tg.check_grads(lambda Z: block(Z, slice(0, 8)), Z)
