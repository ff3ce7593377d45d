"""The Tensor and the reverse sweep: construction and dtype rules, operators,
backward semantics, fan-out, deep graphs, freeing, errors, detect_anomaly, and
what ``import tinygrad_nca`` imports.
"""

import gc
import pathlib
import subprocess
import sys
import weakref

import numpy as np
import pytest

import tinygrad_nca as tg


# ---------------------------------------------------------------- construction and dtypes
def test_float_data_keeps_its_dtype():
    assert tg.Tensor([1.0, 2.0]).dtype == np.float64
    assert tg.Tensor(np.ones(3, np.float32)).dtype == np.float32
    assert tg.Tensor(np.float32(2.0)).dtype == np.float32


@pytest.mark.parametrize(
    "data", [np.arange(3), np.array([True, False]), [1, 2, 3], 7, np.arange(3, dtype=np.uint8)]
)
def test_integer_and_bool_data_become_float64(data):
    x = tg.Tensor(data)
    assert x.dtype == np.float64
    np.testing.assert_array_equal(x.value, np.asarray(data, dtype=np.float64))


@pytest.mark.parametrize("data", [np.arange(3), np.array([True, False])])
def test_requires_grad_on_integer_data_is_a_type_error(data):
    with pytest.raises(TypeError, match=f"integer/bool array.*{np.asarray(data).dtype}"):
        tg.Tensor(data, requires_grad=True)


@pytest.mark.parametrize(
    "data, words",
    [
        (np.array([1, None], dtype=object), "dtype object"),
        (np.array([1 + 2j]), "complex"),
        ("abc", "dtype <U3"),
        (["a", "b"], "str|<U1"),
        ({"a": 1}, "dict"),
    ],
)
def test_non_numeric_input_is_a_clear_type_error(data, words):
    with pytest.raises(TypeError, match=words):
        tg.Tensor(data)


def test_properties():
    data = np.arange(6.0).reshape(2, 3)
    x = tg.Tensor(data, requires_grad=True)
    assert x.value is data
    assert (x.shape, x.dtype, x.ndim, x.size, len(x)) == ((2, 3), np.float64, 2, 6, 2)
    np.testing.assert_array_equal(x.T.value, data.T)
    assert x.grad is None and x.requires_grad and x.is_leaf
    np.testing.assert_array_equal(np.asarray(x), data)
    assert float(tg.Tensor(2.5)) == 2.5 and tg.Tensor([3.0])[0].item() == 3.0
    assert bool(tg.Tensor(1.0)) and not bool(tg.Tensor(0.0))
    assert "requires_grad=True" in repr(x) and "op=multiply" in repr(x * 2)


# ---------------------------------------------------------------- operators
_OPERATORS = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "**": lambda a, b: a**b,
    "@": lambda a, b: a @ b,
}


@pytest.mark.parametrize(
    "op, other_kind",
    [
        (op, kind)
        for op in _OPERATORS
        for kind in ("ndarray", "scalar", "tensor")
        if (op, kind) != ("@", "scalar")
    ],
)
def test_mixed_operands_in_both_orders_give_tensors(op, other_kind):
    fn = _OPERATORS[op]
    a = np.array([[1.0, 2.0], [3.0, 0.5]])
    b = 1.5 if other_kind == "scalar" else np.array([[0.5, 1.5], [2.0, 1.0]])
    other = tg.Tensor(b) if other_kind == "tensor" else b
    for left, right, expected in [(tg.Tensor(a), other, fn(a, b)), (other, tg.Tensor(a), fn(b, a))]:
        result = fn(left, right)
        assert type(result) is tg.Tensor, (type(left), type(right))
        np.testing.assert_allclose(result.value, expected)


def test_numpy_scalars_on_the_left_give_tensors():
    x = tg.Tensor(np.ones(3, np.float32))
    assert type(np.float64(2.0) * x) is tg.Tensor
    assert (np.float32(2.0) * x).dtype == np.float32


def test_unary_operators_and_comparisons():
    a = np.array([-1.0, 0.0, 2.0])
    x = tg.Tensor(a, requires_grad=True)
    np.testing.assert_array_equal((-x).value, -a)
    np.testing.assert_array_equal(abs(x).value, np.abs(a))
    for cmp in [np.less, np.less_equal, np.greater, np.greater_equal, np.equal, np.not_equal]:
        name = {
            "less": "__lt__",
            "less_equal": "__le__",
            "greater": "__gt__",
            "greater_equal": "__ge__",
            "equal": "__eq__",
            "not_equal": "__ne__",
        }[cmp.__name__]
        result = getattr(x, name)(0.0)
        assert type(result) is np.ndarray and result.dtype == bool  # plain, no gradient
        np.testing.assert_array_equal(result, cmp(a, 0.0))
    assert type(np.zeros(3) < x) is np.ndarray
    np.testing.assert_array_equal(np.zeros(3) < x, 0.0 < a)
    assert len({x, x}) == 1  # hashable by identity despite __eq__


def test_matmul_with_a_scalar_is_a_shape_error():
    with pytest.raises(tg.ShapeError, match="matmul: scalar operands"):
        tg.Tensor(np.ones((2, 2))) @ 2.0


# ---------------------------------------------------------------- backward
def test_backward_of_a_scalar():
    x = tg.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    (tg.sum(x**3) / 3).backward()
    np.testing.assert_allclose(x.grad, [1.0, 4.0, 9.0])


def test_backward_of_a_non_scalar_needs_a_cotangent():
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(
        ValueError, match=r"non-scalar tensor of shape \(2,\) needs the cotangent g"
    ):
        (x * 3).backward()
    (x * 3).backward(np.array([1.0, -1.0]))
    np.testing.assert_array_equal(x.grad, [3.0, -3.0])
    with pytest.raises(
        ValueError, match=r"cotangent of shape \(3,\) given for an output of shape \(2,\)"
    ):
        (x * 3).backward(np.ones(3))


def test_backward_twice_replaces_unless_asked_to_accumulate():
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    y = tg.sum(x * x)
    y.backward()
    y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])  # not silently doubled
    y.backward(accumulate=True)
    np.testing.assert_array_equal(x.grad, [4.0, 8.0])


def test_a_float64_cotangent_does_not_promote_a_float32_sweep():
    x = tg.Tensor(np.ones(3, np.float32), requires_grad=True)
    (tg.exp(x) * 2).backward(np.ones(3))  # g is float64
    assert x.grad.dtype == np.float32
    _, vjp_fn = tg.vjp(lambda x: x * x, np.ones(2, np.float32))
    assert vjp_fn(np.ones(2))[0].dtype == np.float32


def test_only_leaves_that_require_grad_get_one():
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    c = tg.Tensor([3.0, 4.0])
    hidden = x * c
    tg.sum(hidden * 2).backward()
    assert c.grad is None and hidden.grad is None
    np.testing.assert_array_equal(x.grad, [6.0, 8.0])


def test_backward_with_create_graph_gives_a_differentiable_gradient():
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    tg.sum(x**3).backward(create_graph=True)
    g = x.grad  # 3x², a Tensor with a graph
    assert isinstance(g, tg.Tensor)
    np.testing.assert_allclose(g.value, 3 * x.value**2)
    tg.sum(g).backward()  # d/dx Σ 3x² = 6x
    np.testing.assert_allclose(x.grad, 6 * x.value)


# ---------------------------------------------------------------- fan-out and accumulation
def test_fan_out_accumulates():
    """x is used three times: the cotangents of all its uses add up."""
    g = tg.grad(lambda x: tg.sum(x * x + tg.exp(x)))(np.array([0.0, 1.0]))
    np.testing.assert_allclose(g, 2 * np.array([0.0, 1.0]) + np.exp([0.0, 1.0]))


def test_diamond_graph():
    def f(x):
        a = tg.tanh(x)
        b, c = a * 2.0, a * a  # both consume a, a consumes x
        return tg.sum(b + c)

    x = np.array([-0.3, 0.2])
    t = np.tanh(x)
    np.testing.assert_allclose(tg.grad(f)(x), (2 + 2 * t) * (1 - t**2))


def test_parameter_tying_sums_the_gradients_of_every_use():
    """y = W (W x): the gradient with respect to the tied W is the sum over both uses."""
    rng = np.random.default_rng(0)
    W, x = rng.normal(size=(3, 3)), rng.normal(size=3)
    g = tg.grad(lambda W: tg.sum(W @ (W @ x)))(W)
    ones = np.ones(3)
    np.testing.assert_allclose(g, np.outer(ones, W @ x) + np.outer(W.T @ ones, x))


def test_many_uses_of_one_node():
    x = tg.Tensor(np.array(2.0), requires_grad=True)
    total = x
    for _ in range(999):
        total = total + x
    total.backward()
    assert x.grad == 1000.0


def test_a_chain_of_100000_ops_does_not_hit_the_recursion_limit():
    """The topological order is iterative: depth is not limited by Python's stack."""
    x = tg.Tensor(np.array(1.0), requires_grad=True)
    y = x
    for _ in range(100_001):
        y = -y  # the cheapest op: the test is about depth
    y.backward()
    assert x.grad == -1.0  # (−1)^100001
    del y
    gc.collect()  # freeing a 100,000-deep graph must not recurse either


@tg.primitive
def _traced_identity(x):
    return x


def test_cotangents_are_freed_as_soon_as_they_are_consumed():
    """When a node's VJP runs, the cotangents of the nodes already processed are gone."""
    seen, alive_counts = [], []

    def vjp(g, ans, x):
        alive_counts.append(sum(ref() is not None for ref in seen))
        seen.append(weakref.ref(g))
        return g * 1.0

    _traced_identity.defvjp(vjp)
    x = tg.Tensor(np.ones(1000), requires_grad=True)
    y = x
    for _ in range(20):
        y = _traced_identity(y)
    tg.sum(y).backward()
    assert len(alive_counts) == 20
    assert max(alive_counts) <= 1, alive_counts  # at most the one that produced this g


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "fn, message",
    [
        (
            lambda: tg.Tensor(np.ones((3, 4))) @ np.ones((5, 2)),
            r"^matmul: shapes \(3, 4\) and \(5, 2\) are not aligned \(4 != 5\)$",
        ),
        (
            lambda: tg.matmul(np.ones((2, 3, 4)), tg.Tensor(np.ones((5, 2)))),
            r"matmul: shapes \(2, 3, 4\) and \(5, 2\) are not aligned \(4 != 5\)",
        ),
        (
            lambda: tg.Tensor(np.ones((3, 4))) + np.ones((5, 2)),
            r"add: shapes \(3, 4\) and \(5, 2\) cannot be broadcast together",
        ),
        (
            lambda: np.ones(2) * tg.Tensor(np.ones(3)),
            r"multiply: shapes \(2,\) and \(3,\) cannot be broadcast together",
        ),
        (
            lambda: tg.maximum(tg.Tensor(np.ones(3)), np.ones(4)),
            r"maximum: shapes \(3,\) and \(4,\)",
        ),
        (
            lambda: tg.where(np.ones(4, bool), tg.Tensor(np.ones(3)), 0.0),
            r"where: shapes \(4,\) and \(3,\)",
        ),
        (lambda: tg.reshape(tg.Tensor(np.ones(6)), (4, 2)), r"reshape: .*\(6,\).*\(4, 2\)"),
        (lambda: tg.broadcast_to(tg.Tensor(np.ones(3)), (4,)), r"broadcast_to: .*\(3,\) to \(4,\)"),
        (
            lambda: tg.concatenate([tg.Tensor(np.ones((2, 3))), np.ones((2, 4))]),
            r"concatenate: shapes \[\(2, 3\), \(2, 4\)\] do not fit along axis 0",
        ),
        (
            lambda: tg.sum(tg.Tensor(np.ones((2, 3))), where=np.ones((3, 2), bool)),
            r"sum: where mask of shape \(3, 2\) does not broadcast to the input's shape \(2, 3\)",
        ),
        (
            lambda: tg.softmax(tg.Tensor(np.ones((2, 3))), where=np.ones(2, bool)),
            r"softmax: where mask of shape \(2,\)",
        ),
        (
            lambda: tg.swapaxes(tg.Tensor(np.ones((2, 3))), 0, 5),
            r"swapaxes: axis 5 is out of range for shape \(2, 3\)",
        ),
        (
            lambda: tg.transpose(tg.Tensor(np.ones((2, 3))), (0, 0)),
            r"transpose: axes \(0, 0\) are not a permutation of the 2 axes of shape \(2, 3\)",
        ),
        (
            lambda: tg.Tensor(np.ones((2, 3))).transpose(1, 0, 2),
            r"transpose: axis 2 is out of range",
        ),
        (lambda: tg.expand_dims(tg.Tensor(np.ones((2, 3))), 7), r"expand_dims: axis 7 .*\(2, 3\)"),
        (
            lambda: tg.squeeze(tg.Tensor(np.ones((2, 3))), 0),
            r"squeeze: cannot remove axis 0 .*\(2, 3\)",
        ),
    ],
)
def test_shape_errors_name_the_op_and_both_shapes(fn, message):
    with pytest.raises(tg.ShapeError, match=message) as info:
        fn()
    assert isinstance(info.value, ValueError)


# ---------------------------------------------------------------- detect_anomaly
def test_detect_anomaly_names_the_op_of_a_nan_forward():
    x = tg.Tensor([-1.0, 1.0], requires_grad=True)
    with tg.detect_anomaly():
        with pytest.raises(tg.AnomalyError, match="^log: forward output contains NaN$"):
            tg.log(x)
        with pytest.raises(tg.AnomalyError, match="^exp: forward output contains inf$"):
            tg.exp(x * 1000.0)
    with np.errstate(invalid="ignore"):
        assert np.isnan(tg.log(x).value[0])  # outside the context: no check


@tg.primitive
def _bad_vjp(x):
    return x * 2


_bad_vjp.defvjp(lambda g, ans, x: g * np.nan)


def test_detect_anomaly_names_the_op_of_a_nan_vjp():
    with tg.detect_anomaly():
        with pytest.raises(tg.AnomalyError, match="^_bad_vjp: VJP"):
            tg.grad(lambda x: tg.sum(_bad_vjp(x) * 3.0))(np.ones(2))


def test_detect_anomaly_blames_the_op_whose_vjp_made_the_nan():
    """sqrt's VJP divides by √0 = 0: the error names sqrt, not the helper divide."""
    with tg.detect_anomaly():
        tg.sqrt(tg.Tensor([0.0, 1.0]))  # the forward is fine
        with pytest.raises(tg.AnomalyError, match="^sqrt: VJP"):
            tg.grad(lambda x: tg.sum(tg.sqrt(x)))(np.array([0.0, 1.0]))


def test_detect_anomaly_is_switched_off_after_an_error():
    with pytest.raises(tg.AnomalyError):
        with tg.detect_anomaly():
            tg.log(tg.Tensor([-1.0]))
    with np.errstate(invalid="ignore"):
        tg.log(tg.Tensor([-1.0]))  # no longer raises


# ---------------------------------------------------------------- a user-defined primitive
def test_user_primitive_as_in_the_issue():
    @tg.primitive
    def cube(x):  # NumPy in, NumPy out
        return x**3

    cube.defvjp(lambda g, ans, x: g * 3 * x**2)
    x = np.array([-1.0, 0.5, 2.0])
    np.testing.assert_allclose(tg.grad(lambda x: tg.sum(cube(x)))(x), 3 * x**2)
    np.testing.assert_allclose(tg.hvp(lambda x: tg.sum(cube(x)))(x, np.ones(3)), 6 * x)
    tg.check_grads(cube, x, order=2)


def test_primitive_without_a_vjp_says_so():
    @tg.primitive
    def opaque(x):
        return x + 1

    with pytest.raises(NotImplementedError, match="opaque: no VJP defined for argument 0"):
        tg.grad(lambda x: tg.sum(opaque(x)))(np.ones(2))


# ---------------------------------------------------------------- import cost
def test_import_loads_numpy_and_nothing_heavier():
    code = (
        "import sys, tinygrad_nca\n"
        "heavy = [m for m in ('scipy', 'sklearn', 'matplotlib', 'pandas', 'hypothesis')\n"
        "         if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=pathlib.Path(__file__).parents[1],
    )
    assert result.stdout.strip() == "", f"import tinygrad_nca imported {result.stdout.strip()}"


def test_every_lazy_name_resolves_to_its_module_attribute():
    import importlib

    for name, (module, attribute) in tg._LAZY.items():
        expected = getattr(importlib.import_module(module, "tinygrad_nca"), attribute)
        assert getattr(tg, name) is expected
        assert name in dir(tg)
    assert tg.stratified_batches.__module__ == "tinygrad_nca.nca.estimator"


def test_tensor_slots_hold_docstrings_and_stay_slots():
    """``Tensor.__slots__`` is a dict (names -> docstrings): instances still have no
    ``__dict__`` (no stray attributes, the memory of a slotted object) and can be weakly
    referenced."""
    import inspect

    x = tg.Tensor([1.0], requires_grad=True)
    assert not hasattr(x, "__dict__")
    with pytest.raises(AttributeError):
        x.velue = 3.0  # a typo is an error, not a new attribute
    assert weakref.ref(x)() is x
    assert "Examples" in inspect.getdoc(tg.Tensor.grad)


def test_ragged_nested_lists_are_a_shape_error():
    for requires_grad in (False, True):
        with pytest.raises(tg.ShapeError, match="ragged nested sequence"):
            tg.Tensor([[1.0], [1.0, 2.0]], requires_grad=requires_grad)


def test_backward_rejects_a_non_finite_cotangent():
    x = tg.Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match="cotangent g contains NaN or inf"):
        (x * 2).backward(np.array([1.0, np.nan]))
    assert x.grad is None
    (x * 2).backward(np.array([1.0, 3.0]))
    np.testing.assert_array_equal(x.grad, [2.0, 6.0])
