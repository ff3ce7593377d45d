"""check_grads: silent on correct gradients (float64 and float32, random and full
mode, higher order), loud and precise on wrong ones."""

import re

import numpy as np
import pytest
from hypothesis import given

import tinygrad_nca as tg
from tinygrad_nca import testing as tgt


def _primitive_with_vjp(vjp, name="square"):
    """x² with the VJP we are given (right or deliberately wrong)."""
    op = tg.primitive(lambda x: x * x, name=name)
    op.defvjp(vjp)
    return op


right_square = _primitive_with_vjp(lambda g, ans, x: 2 * g * x)
forgot_the_two = _primitive_with_vjp(lambda g, ans, x: g * x, name="forgot_the_two")
# Right everywhere except at input element (1, 2), which gets one extra unit.
_bump = np.zeros((3, 4))
_bump[1, 2] = 1.0
wrong_at_one_element = _primitive_with_vjp(lambda g, ans, x: 2 * g * x + g * _bump)
# Right first derivative, but the VJP reads the raw value of x, so the graph of
# the gradient does not depend on x: its second derivative is lost.
not_twice_differentiable = _primitive_with_vjp(lambda g, ans, x: 2 * g * tg.value_of(x))


# ---------------------------------------------------------------- silent when right
@pytest.mark.parametrize("mode", ["random", "full"])
@given(x=tgt.arrays(dtype=tgt.dtypes()))
def test_passes_a_correct_gradient(mode, x):
    tg.check_grads(lambda x: tg.sum(right_square(x) * tg.tanh(x)), x, mode=mode, order=2)


@pytest.mark.parametrize("mode", ["random", "full"])
@given(data=tgt.matmul_pairs(dtype=np.float32))
def test_float32_gives_no_false_failures(mode, data):
    """A softmax cross-entropy of a float32 linear model: rounding in float32 is
    ~1e-7 relative, and the dtype-aware step and tolerance absorb it."""
    X, W = data
    labels = np.arange(X.shape[0]) % W.shape[1]

    def loss(X, W):
        logp = tg.log_softmax(X @ W * 2.0, axis=1)
        return -tg.mean(logp[np.arange(len(labels)), labels])

    tg.check_grads(loss, X, W, mode=mode, order=2 if mode == "random" else 1)


def test_a_projection_that_cancels_is_settled_element_by_element():
    # Found by Hypothesis: x^y in float32, order 2. Along the random direction the second
    # derivative's terms cancel to -4.7e-3 while the step, sized for |x| = 3.5, leaves a
    # truncation error of ~3e-3 from the entry x = 0.5; the elementwise check passes.
    x = np.array([3.5, 0.5, 0.890625], dtype=np.float32)
    y = np.array([[-1.84375], [-1.90625], [-1.90625], [-1.90625]], dtype=np.float32)
    tg.check_grads(tg.power, x, y, order=2)
    # ... and a wrong second derivative at the same point is still caught.
    wrong = tg.primitive(lambda x, y: np.power(x, y))
    wrong.defvjp(
        lambda g, ans, x, y: g * y * tg.power(x, y - 1) * 1.1,  # 10% off
        lambda g, ans, x, y: g * ans * tg.log(x),
    )
    with pytest.raises(tg.GradientCheckError):
        tg.check_grads(wrong, x, y[:3, 0], order=1)


def test_integer_arguments_pass_through_and_argnums_restricts():
    labels = np.array([0, 2, 1])
    f = lambda x, labels, y: tg.sum(x[labels] * y)
    tg.check_grads(f, np.array([1.0, 2.0, 3.0]), labels, np.array([0.5, -1.0, 2.0]))
    # argnums=[0]: the argument with the wrong gradient (2) is not checked.
    g = lambda x, y: tg.sum(x * 3.0) + tg.sum(forgot_the_two(y))
    tg.check_grads(g, np.ones(2), np.ones(2), argnums=[0])
    with pytest.raises(tg.GradientCheckError, match="argument 1"):
        tg.check_grads(g, np.ones(2), np.ones(2))


# ---------------------------------------------------------------- loud when wrong
@pytest.mark.parametrize("mode", ["random", "full"])
def test_catches_a_wrong_vjp(mode):
    x = np.linspace(0.5, 2.0, 6)
    with pytest.raises(tg.GradientCheckError) as info:
        tg.check_grads(forgot_the_two, x, mode=mode)
    message = str(info.value)
    assert isinstance(info.value, AssertionError)
    assert "argument 0 (shape (6,), float64)" in message
    assert "analytic" in message and "numeric" in message and "relative error" in message


@pytest.mark.parametrize("mode", ["random", "full"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_names_the_wrong_element(mode, dtype):
    """Random mode re-runs the full check on small inputs to point at the element."""
    x = np.arange(12.0).reshape(3, 4).astype(dtype) / 4
    with pytest.raises(tg.GradientCheckError) as info:
        tg.check_grads(lambda x: tg.sum(wrong_at_one_element(x)), x, mode=mode)
    message = str(info.value)
    assert "input element (1, 2)" in message
    assert "1 of 12 elements out of tolerance" in message
    analytic, numeric = re.search(r"analytic (\S+), numeric (\S+),", message).groups()
    assert float(analytic) == pytest.approx(2 * x[1, 2] + 1)  # 2x + the bump
    assert float(numeric) == pytest.approx(2 * x[1, 2], rel=1e-4)  # the true 2x


def test_names_the_argument_and_the_output_element():
    f = lambda x, y: right_square(x) + forgot_the_two(y) * 2.0
    with pytest.raises(
        tg.GradientCheckError,
        match=r"argument 1 .*output element \(\d,\), "
        r"input element \(\d,\)",
    ):
        tg.check_grads(f, np.ones(3), np.full(3, 2.0), mode="full")


def test_large_inputs_get_a_directional_message():
    """Past the full-check limit random mode reports the directional derivative."""
    x = np.full(60_000, 1.5)
    with pytest.raises(tg.GradientCheckError, match="along a random direction"):
        tg.check_grads(lambda x: tg.sum(forgot_the_two(x)), x)


def test_order_two_catches_a_vjp_that_is_not_differentiable():
    x = np.array([0.5, -1.0, 2.0])
    f = lambda x: tg.sum(not_twice_differentiable(x) * x)
    tg.check_grads(f, x)  # the first derivative is right
    with pytest.raises(tg.GradientCheckError):
        tg.check_grads(f, x, order=2)


def test_catches_a_gradient_cut_by_stop_gradient():
    """A common bug in a user's loss: a stop_gradient where none belongs."""

    def loss(w):
        norm = tg.sqrt(tg.sum(tg.stop_gradient(w) ** 2))
        return tg.sum(w / norm)

    with pytest.raises(tg.GradientCheckError):
        tg.check_grads(loss, np.array([1.0, 2.0, 2.0]))


def test_explicit_step_and_tolerances_are_used():
    """With a huge step the central difference of exp carries truncation error
    h²/6 ≈ 1.7e-3 (relative): a tight tolerance sees it, the default does not."""
    x = np.array([0.3])
    tg.check_grads(tg.exp, x)
    with pytest.raises(tg.GradientCheckError):
        tg.check_grads(tg.exp, x, eps=0.1, rtol=1e-6, atol=0.0)
    tg.check_grads(tg.exp, x, eps=0.1, rtol=1e-2)


def test_bad_arguments():
    with pytest.raises(ValueError, match="mode must be 'random' or 'full'"):
        tg.check_grads(tg.exp, np.ones(2), mode="exact")
    with pytest.raises(ValueError, match="order must be >= 1"):
        tg.check_grads(tg.exp, np.ones(2), order=0)
