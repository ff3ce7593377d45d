"""grad, value_and_grad, vjp, jacobian, hvp, stop_gradient, no_grad and checkpoint,
each against an independent formula or finite differences."""

import numpy as np
import pytest

import tinygrad_nca as tg

rng = np.random.default_rng(0)


# ---------------------------------------------------------------- grad and value_and_grad
def test_grad_returns_an_ndarray_for_an_ndarray_and_a_tensor_for_a_tensor():
    f = lambda x: tg.sum(x * x)
    g = tg.grad(f)(np.array([1.0, 2.0]))
    assert type(g) is np.ndarray
    np.testing.assert_array_equal(g, [2.0, 4.0])
    g = tg.grad(f)(tg.Tensor([1.0, 2.0]))
    assert type(g) is tg.Tensor
    np.testing.assert_array_equal(g.value, [2.0, 4.0])
    assert tg.grad(lambda x: x * x)(3.0) == 6.0


def test_grad_argnums():
    f = lambda x, y, z: tg.sum(x * y * y) + z
    x, y, z = np.array([1.0, 2.0]), np.array([3.0, 4.0]), np.array(5.0)
    np.testing.assert_array_equal(tg.grad(f, argnums=1)(x, y, z), 2 * x * y)
    gx, gz = tg.grad(f, argnums=(0, -1))(x, y, z)
    np.testing.assert_array_equal(gx, y * y)
    assert gz == 1.0
    with pytest.raises(ValueError, match="argnums=3 but the function was given 3 argument"):
        tg.grad(f, argnums=3)(x, y, z)


def test_arguments_not_differentiated_pass_through_untouched():
    labels, options = np.array([0, 1, 1]), {"scale": 2.0}
    received = {}

    def f(w, labels, options):
        received.update(labels=labels, options=options)
        return tg.sum(w[labels]) * options["scale"]

    g = tg.grad(f)(np.zeros(2), labels, options)
    assert received["labels"] is labels and received["options"] is options
    np.testing.assert_array_equal(g, [2.0, 4.0])


def test_grad_of_a_non_scalar_function_is_a_clear_error():
    def vector_valued(x):
        return x * 2

    with pytest.raises(ValueError, match=r"vector_valued returned shape \(3,\).*vjp or jacobian"):
        tg.grad(vector_valued)(np.ones(3))


def test_grad_with_respect_to_an_integer_array_is_a_type_error():
    with pytest.raises(TypeError, match="integer/bool array"):
        tg.grad(lambda x: tg.sum(x))(np.arange(3))


def test_value_and_grad_with_aux():
    def loss(w, x):
        pred = x @ w
        return tg.sum(pred**2), {"pred": pred}

    w, x = np.array([1.0, -1.0]), np.array([[1.0, 2.0], [3.0, 5.0]])
    (value, aux), g = tg.value_and_grad(loss, has_aux=True)(w, x)
    pred = x @ w
    assert value == np.sum(pred**2)
    np.testing.assert_array_equal(aux["pred"].value, pred)
    np.testing.assert_allclose(g, 2 * x.T @ pred)
    value, g = tg.value_and_grad(lambda w: tg.sum(w**3))(w)
    assert value == 0.0
    np.testing.assert_array_equal(g, 3 * w**2)


def test_grad_of_grad():
    """d²/dx² tanh(x) = −2 tanh(x) (1 − tanh²(x)), nested two ways."""
    x = np.array([-0.5, 0.3, 1.2])
    t = np.tanh(x)
    second = tg.grad(lambda x: tg.sum(tg.grad(lambda y: tg.sum(tg.tanh(y)))(x)))(x)
    np.testing.assert_allclose(second, -2 * t * (1 - t**2))
    third = tg.grad(
        lambda x: tg.sum(tg.grad(lambda x: tg.sum(tg.grad(lambda y: tg.sum(y**4))(x)))(x))
    )(x)
    np.testing.assert_allclose(third, 24 * x)


# ---------------------------------------------------------------- vjp and jacobian
def test_vjp():
    A = rng.normal(size=(3, 2))
    x = rng.normal(size=2)
    out, vjp_fn = tg.vjp(lambda A, x: tg.tanh(A @ x), A, x)
    np.testing.assert_allclose(out, np.tanh(A @ x))
    u = rng.normal(size=3)
    for _ in range(2):  # the graph is kept: vjp_fn can be reused
        A_bar, x_bar = vjp_fn(u)
        d = u * (1 - np.tanh(A @ x) ** 2)
        np.testing.assert_allclose(A_bar, np.outer(d, x))
        np.testing.assert_allclose(x_bar, A.T @ d)


def test_jacobian():
    A = rng.normal(size=(3, 4))
    x = rng.normal(size=4)
    J = tg.jacobian(lambda x: A @ tg.tanh(x))(x)
    np.testing.assert_allclose(J, A * (1 - np.tanh(x) ** 2))
    J_A, J_x = tg.jacobian(lambda A, x: A @ x, argnums=(0, 1))(A, x)
    assert J_A.shape == (3, 3, 4)
    np.testing.assert_allclose(J_x, A)
    np.testing.assert_allclose(J_A, np.einsum("ij,k->ijk", np.eye(3), x))


def test_hvp():
    """f = ½ xᵀAx + Σ x⁴/4 has Hessian (A + Aᵀ)/2 + diag(3x²)."""
    A = rng.normal(size=(4, 4))
    x, v = rng.normal(size=4), rng.normal(size=4)
    f = lambda x: 0.5 * (x @ (A @ x)) + tg.sum(x**4) / 4
    H = (A + A.T) / 2 + np.diag(3 * x**2)
    np.testing.assert_allclose(tg.hvp(f)(x, v), H @ v)


def test_hvp_over_several_arguments_gives_the_blocks_of_the_joint_hessian():
    """f(x, y) = Σ_i x_i² y_i + ½ yᵀBy has the Hessian blocks ∂²f/∂x² = diag(2y),
    ∂²f/∂x∂y = diag(2x), ∂²f/∂y² = (B + Bᵀ)/2."""
    B = rng.normal(size=(3, 3))
    x, y = rng.normal(size=3), rng.normal(size=3)
    vx, vy = rng.normal(size=3), rng.normal(size=3)
    f = lambda x, y: tg.sum(x * x * y) + 0.5 * (y @ (B @ y))
    H = np.block([[np.diag(2 * y), np.diag(2 * x)], [np.diag(2 * x), (B + B.T) / 2]])
    hx, hy = tg.hvp(f, argnums=(0, 1))(x, y, (vx, vy))
    np.testing.assert_allclose(np.concatenate([hx, hy]), H @ np.concatenate([vx, vy]))
    with pytest.raises(ValueError, match=r"v must be a tuple of 2 directions"):
        tg.hvp(f, argnums=(0, 1))(x, y, vx)


# ---------------------------------------------------------------- stop_gradient and no_grad
def test_stop_gradient():
    x = np.array([1.0, 2.0])
    np.testing.assert_array_equal(tg.grad(lambda x: tg.sum(x * tg.stop_gradient(x)))(x), x)
    value = tg.stop_gradient(tg.Tensor(x, requires_grad=True) * 3)
    assert not value.requires_grad and value.is_leaf
    np.testing.assert_array_equal(value.value, 3 * x)


def test_no_grad_records_nothing():
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    with tg.no_grad():
        y = x * 2
        assert not tg.is_grad_enabled()
        with tg.enable_grad():
            z = x * 2
    assert tg.is_grad_enabled()
    assert not y.requires_grad and y._op is None
    assert z.requires_grad
    np.testing.assert_array_equal(y.value, [2.0, 4.0])


def test_no_grad_inside_a_function_makes_that_part_a_constant():
    def f(x):
        with tg.no_grad():
            scale = tg.sum(x * x)  # a constant, as far as the gradient goes
        return tg.sum(x) * scale

    x = np.array([1.0, 2.0])
    np.testing.assert_array_equal(tg.grad(f)(x), [5.0, 5.0])


# ---------------------------------------------------------------- checkpoint
def _pairwise_loss(A, X):
    """Σ exp(−‖Axᵢ − Axⱼ‖²): an (N, N, d) intermediate, like the NCA loss."""
    Z = X @ A.T
    diff = tg.expand_dims(Z, 1) - tg.expand_dims(Z, 0)
    return tg.sum(tg.exp(-tg.sum(diff * diff, axis=-1)))


def _retained_bytes(y):
    """Bytes of every array the graph behind ``y`` keeps alive (values and array arguments)."""
    seen, total, stack = set(), 0, [y]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, np.ndarray):
            total += obj.nbytes
        elif isinstance(obj, tg.Tensor):
            total += obj.value.nbytes
            stack.extend(obj._args)
            stack.extend(obj._kwargs.values())
    return total


def test_checkpoint_gives_the_same_gradient():
    A, X = rng.normal(size=(2, 3)), rng.normal(size=(30, 3))
    plain = tg.grad(_pairwise_loss, argnums=(0, 1))(A, X)
    checkpointed = tg.grad(tg.checkpoint(_pairwise_loss), argnums=(0, 1))(A, X)
    for p, c in zip(plain, checkpointed, strict=False):
        np.testing.assert_allclose(c, p, rtol=1e-12)
    tg.check_grads(tg.checkpoint(_pairwise_loss), A, X[:6])


def test_checkpoint_retains_only_inputs_and_output():
    A, X = rng.normal(size=(2, 3)), rng.normal(size=(100, 3))
    leaf = tg.Tensor(A, requires_grad=True)
    plain = _retained_bytes(_pairwise_loss(leaf, X))
    y = tg.checkpoint(_pairwise_loss)(leaf, X)
    checkpointed = _retained_bytes(y)
    assert checkpointed == A.nbytes + X.nbytes + y.value.nbytes
    assert plain > 100 * 100 * 2 * 8 > 50 * checkpointed  # the (N, N, d) intermediate
    y.backward()
    np.testing.assert_allclose(leaf.grad, tg.grad(_pairwise_loss)(A, X))


def test_checkpoint_second_order():
    f = lambda x: tg.sum(tg.tanh(x) ** 3)
    x, v = rng.normal(size=3), rng.normal(size=3)
    np.testing.assert_allclose(tg.hvp(tg.checkpoint(f))(x, v), tg.hvp(f)(x, v))
    tg.check_grads(tg.checkpoint(f), x, order=2)


def test_checkpoint_with_keyword_arguments_and_constants():
    def f(x, mask, power=2):
        return tg.sum(x**power, where=mask)

    mask = np.array([True, False, True])
    g = tg.grad(tg.checkpoint(f))(np.array([1.0, 2.0, 3.0]), mask, power=3)
    np.testing.assert_array_equal(g, [3.0, 0.0, 27.0])
    with tg.no_grad():
        out = tg.checkpoint(f)(tg.Tensor(np.ones(3), requires_grad=True), mask)
    assert not out.requires_grad


def test_checkpoint_gives_a_captured_differentiable_tensor_its_gradient():
    # f(x) = Σ x·w with w closed over: x̄ = w, w̄ = x (it used to be refused).
    w = tg.Tensor([1.0, 2.0], requires_grad=True)
    x = tg.Tensor([3.0, 4.0], requires_grad=True)
    uses_w = tg.checkpoint(lambda x: tg.sum(x * tg.exp(w)))
    uses_w(x).backward()
    np.testing.assert_allclose(x.grad, np.exp([1.0, 2.0]), rtol=1e-15)
    np.testing.assert_allclose(w.grad, np.array([3.0, 4.0]) * np.exp([1.0, 2.0]), rtol=1e-15)
