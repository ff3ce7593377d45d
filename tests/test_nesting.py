"""Nested transforms against closed forms.

Every transform (grad, value_and_grad, vjp, jvp, jacobian in both modes, hvp,
checkpoint, sum_of_blocks) is composed with every other, with and without inner
functions that close over a variable traced by an outer transform, and the result
is compared with a derivative worked out by hand (each test states its formula).
The expected values are computed with NumPy from those formulas, never by the
engine. Also: perturbation confusion, meta-gradients, Newton steps, derivatives
of order 3 and 4, Jacobians of Jacobians, argnums tuples at every level, input
and result types, the edge cases of ``power`` at 0, ops given lists, reductions
of Python scalars and lists, float16/float32 kept through every transform, and
``cost_report``/``to_dot``/``detect_anomaly`` on blocked and checkpointed graphs.
"""

import itertools
import math

import numpy as np
import pytest

import tinygrad_nca as tg

RTOL, ATOL = 1e-10, 1e-12
rng = np.random.default_rng(20240611)


def values(result):
    """The array behind a result (a Tensor, an ndarray or a number), as float64."""
    return np.asarray(tg.value_of(result), dtype=np.float64)


def close(result, expected, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(
        values(result), np.asarray(expected, dtype=np.float64), rtol=rtol, atol=atol
    )


def close_or_refused(thunk, expected):
    """The closed form, or a ValueError that says the captured tensor must be passed as an
    argument (checkpoint and sum_of_blocks document that requirement). A wrong number fails."""
    try:
        result = thunk()
    except ValueError as err:
        assert "argument" in str(err), f"unexpected ValueError: {err}"
        return
    close(result, expected)


# ============================================================================ derivative operators
# Each maps a scalar function f: R -> R to a function computing one of its derivatives, through
# one transform. ORDER says which derivative: hvp gives the second.
def d_grad(f):
    return tg.grad(f)


def d_value_and_grad(f):
    return lambda x: tg.value_and_grad(f)(x)[1]


def d_vjp(f):
    return lambda x: tg.vjp(f, x)[1](1.0)[0]


def d_jvp(f):
    return lambda x: tg.jvp(f)(x, 1.0)


def d_jacobian(f):
    return lambda x: tg.jacobian(f)(x)


def d_jacobian_forward(f):
    return lambda x: tg.jacobian(f, mode="forward")(x)


def d2_hvp(f):
    return lambda x: tg.hvp(f)(x, 1.0)


def d_checkpoint(f):
    return tg.grad(tg.checkpoint(f))


def d_blocks(f):
    # Σ_b w_b f(x) over the blocks w = 0.25, 0.75 is f(x): its derivative is f'(x).
    return tg.grad(lambda x: tg.sum_of_blocks(lambda x, w: w * f(x), x, blocks=[0.25, 0.75]))


OPERATORS = {
    "grad": (d_grad, 1),
    "value_and_grad": (d_value_and_grad, 1),
    "vjp": (d_vjp, 1),
    "jvp": (d_jvp, 1),
    "jacobian": (d_jacobian, 1),
    "jacobian_fwd": (d_jacobian_forward, 1),
    "hvp": (d2_hvp, 2),
    "checkpoint": (d_checkpoint, 1),
    "sum_of_blocks": (d_blocks, 1),
}
REFUSE_CAPTURE = {"checkpoint", "sum_of_blocks"}  # may refuse a captured traced tensor


# ============================================================================ closed forms
def falling(a, k):
    """a (a − 1) … (a − k + 1): d^k/dx^k x^a = falling(a, k) x^(a − k)."""
    return math.prod(a - i for i in range(k))


def tanh_derivative(k, x):
    """d^k tanh/dx^k as a polynomial in t = tanh x: P_0 = t, P_{k+1} = P_k'(t) (1 − t²)."""
    p = np.polynomial.Polynomial([0.0, 1.0])
    for _ in range(k):
        p = p.deriv() * np.polynomial.Polynomial([1.0, 0.0, -1.0])
    return p(np.tanh(x))


def sigmoid_derivative(k, x):
    """d^k σ/dx^k as a polynomial in s = σ(x): P_0 = s, P_{k+1} = P_k'(s) (s − s²)."""
    p = np.polynomial.Polynomial([0.0, 1.0])
    for _ in range(k):
        p = p.deriv() * np.polynomial.Polynomial([0.0, 1.0, -1.0])
    return p(1 / (1 + np.exp(-x)))


def log_derivative(k, x):
    """log x, then (−1)^(k−1) (k−1)! / x^k."""
    return np.log(x) if k == 0 else (-1) ** (k - 1) * math.factorial(k - 1) / x**k


def gaussian_derivative(k, x):
    """d^k exp(−x²)/dx^k = (−1)^k H_k(x) exp(−x²), H_k the physicists' Hermite polynomial."""
    return (-1) ** k * np.polynomial.hermite.hermval(x, [0] * k + [1]) * np.exp(-x * x)


# name: (f built from tg ops, k, x -> d^k f/dx^k at x)
SCALAR_FUNCTIONS = {
    "exp": (lambda x: tg.exp(x), lambda k, x: np.exp(x)),
    "exp(2x)": (lambda x: tg.exp(2 * x), lambda k, x: 2.0**k * np.exp(2 * x)),
    "log": (lambda x: tg.log(x), log_derivative),
    "tanh": (lambda x: tg.tanh(x), tanh_derivative),
    "x**5": (lambda x: x**5, lambda k, x: falling(5, k) * x ** (5 - k)),
    "x**2.5": (lambda x: x**2.5, lambda k, x: falling(2.5, k) * x ** (2.5 - k)),
    "sqrt": (lambda x: tg.sqrt(x), lambda k, x: falling(0.5, k) * x ** (0.5 - k)),
    "1/x": (lambda x: 1.0 / x, lambda k, x: (-1) ** k * math.factorial(k) / x ** (k + 1)),
    "x*exp(x)": (lambda x: x * tg.exp(x), lambda k, x: (x + k) * np.exp(x)),
    "softplus": (
        lambda x: tg.log(1 + tg.exp(x)),
        lambda k, x: np.log1p(np.exp(x)) if k == 0 else sigmoid_derivative(k - 1, x),
    ),
    "sigmoid": (lambda x: 0.5 * (1 + tg.tanh(x / 2)), sigmoid_derivative),
    "exp(-x**2)": (lambda x: tg.exp(-x * x), gaussian_derivative),
}
X0 = 0.7


# ============================================================================ the brief's examples
def _brief_cases():
    X = np.random.default_rng(0).normal(size=(40, 5))
    y = np.arange(40) % 3
    return {
        "grad-in-grad-closure": (
            lambda: tg.grad(lambda x: tg.grad(lambda y: tg.sum(x * y))(np.array(1.0)))(
                np.array(2.0)
            ),
            1.0,
        ),  # d/dx [d/dy Σ x y] = d/dx x = 1
        "x-times-inner-grad": (
            lambda: tg.grad(lambda x: x * tg.grad(lambda y: x * y)(2.0))(1.0),
            2.0,
        ),  # d/dx [x · x] = 2x = 2
        "jacobian-of-jacobian": (
            lambda: tg.jacobian(tg.jacobian(lambda x: x**3))(np.array([1.0, 2.0])),
            np.array([[[6.0, 0], [0, 0]], [[0, 0], [0, 12.0]]]),
        ),  # T_iii = 6 x_i
        "x**0-at-0": (lambda: tg.grad(lambda x: x**0.0)(0.0), 0.0),
        "sum-of-a-list": (
            lambda: _list_or_type_error(lambda: tg.grad(lambda x: tg.sum([x, x + 2]))(0.0)),
            2.0,
        ),
        "mean-of-a-float": (lambda: tg.mean(3.5), 3.5),
        "blocked-nca-cost-report-runs": (
            lambda: float(
                tg.cost_report(
                    lambda A: tg.nca_loss(A, X, y, block_size=10), np.ones((2, 5))
                ).backward_flops
                > 0
            ),
            1.0,
        ),
    }


def _list_or_type_error(thunk):
    """The value, or None if the op refused the list with a TypeError (then nothing to check)."""
    try:
        return thunk()
    except TypeError:
        return None


@pytest.mark.parametrize("name", list(_brief_cases()))
def test_examples_from_the_issue(name):
    thunk, expected = _brief_cases()[name]
    result = thunk()
    if result is not None:
        close(result, expected)


def test_float16_gradient_keeps_its_dtype_example_from_the_issue():
    g = tg.grad(lambda x: tg.sum(x**2))(np.ones(3, np.float16))
    assert g.dtype == np.float16
    close(g, 2 * np.ones(3), rtol=1e-3)


# ============================================================================ every pair of transforms
PAIRS = list(itertools.product(OPERATORS, OPERATORS))
PAIR_FUNCTIONS = ["exp(2x)", "log", "tanh", "x**5"]


@pytest.mark.parametrize("function", PAIR_FUNCTIONS)
@pytest.mark.parametrize("outer, inner", PAIRS, ids=[f"{o}-of-{i}" for o, i in PAIRS])
def test_pair_without_closure(outer, inner, function):
    """D_outer(D_inner(f))(x0) = f^(m+n)(x0), m and n the orders of the two operators."""
    (d_outer, n), (d_inner, m) = OPERATORS[outer], OPERATORS[inner]
    f, derivative = SCALAR_FUNCTIONS[function]
    close(d_outer(d_inner(f))(X0), derivative(n + m, X0))


def leibniz(n, m, a, x):
    """∂ⁿ/∂xⁿ [x^m e^(a x)] = Σ_k C(n, k) m!/(m − k)! x^(m − k) a^(n − k) e^(a x)."""
    return sum(
        math.comb(n, k) * falling(m, k) * x ** (m - k) * a ** (n - k) for k in range(min(n, m) + 1)
    ) * np.exp(a * x)


CLOSURES = {
    # F(x, y), and ∂ⁿ_x ∂^m_y F at (x, y)
    "exp(x*y)": (
        lambda x, y: tg.exp(x * y),  # ∂^m_y F = x^m e^(xy)
        lambda n, m, x, y: leibniz(n, m, y, x),
    ),
    "log(x+y)": (
        lambda x, y: tg.log(x + y),  # (−1)^(n+m−1) (n+m−1)! / (x+y)^(n+m)
        lambda n, m, x, y: (-1) ** (n + m - 1) * math.factorial(n + m - 1) / (x + y) ** (n + m),
    ),
}
Y0 = 0.4


@pytest.mark.parametrize("closure", list(CLOSURES))
@pytest.mark.parametrize("outer, inner", PAIRS, ids=[f"{o}-of-{i}" for o, i in PAIRS])
def test_pair_with_closure(outer, inner, closure):
    """g(x) = D_inner(y ↦ F(x, y))(y0), the inner function closing over the outer variable;
    D_outer(g)(x0) = ∂ⁿ_x ∂^m_y F(x0, y0)."""
    (d_outer, n), (d_inner, m) = OPERATORS[outer], OPERATORS[inner]
    F, derivative = CLOSURES[closure]
    thunk = lambda: d_outer(lambda x: d_inner(lambda y: F(x, y))(Y0))(X0)
    if inner in REFUSE_CAPTURE:
        close_or_refused(thunk, derivative(n, m, X0, Y0))
    else:
        close(thunk(), derivative(n, m, X0, Y0))


FIRST_ORDER = ["grad", "vjp", "jvp", "jacobian_fwd", "checkpoint", "sum_of_blocks"]
TRIPLES = list(itertools.product(FIRST_ORDER, repeat=3))


@pytest.mark.parametrize("a, b, c", TRIPLES, ids=["-".join(t) for t in TRIPLES])
def test_triple_without_closure(a, b, c):
    """D_a(D_b(D_c(tanh)))(x0) = tanh'''(x0) = −2(1 − t²)(1 − 3t²), t = tanh x0."""
    t = np.tanh(X0)
    expected = -2 * (1 - t * t) * (1 - 3 * t * t)
    assert np.isclose(expected, tanh_derivative(3, X0))
    op = {name: OPERATORS[name][0] for name in FIRST_ORDER}
    close(op[a](op[b](op[c](tg.tanh)))(X0), expected)


CLOSURE_TRIPLES = list(
    itertools.product(["grad", "vjp", "jvp", "jacobian", "value_and_grad"], repeat=3)
)


@pytest.mark.parametrize("a, b, c", CLOSURE_TRIPLES, ids=["-".join(t) for t in CLOSURE_TRIPLES])
def test_triple_with_closures_at_every_level(a, b, c):
    """∂x ∂y ∂z exp(xyz) = e^(xyz) (1 + 3xyz + x²y²z²), each level closing over the outer ones."""
    x0, y0, z0 = 0.3, -0.8, 0.6
    p = x0 * y0 * z0
    op = {name: OPERATORS[name][0] for name in ["grad", "vjp", "jvp", "jacobian", "value_and_grad"]}
    result = op[a](lambda x: op[b](lambda y: op[c](lambda z: tg.exp(x * y * z))(z0))(y0))(x0)
    close(result, np.exp(p) * (1 + 3 * p + p * p))


# ============================================================================ derivative towers
def _tower(step, k, f):
    for _ in range(k):
        f = step(f)
    return f


def _alternating(k, f):
    for i in range(k):
        f = d_jvp(f) if i % 2 else d_grad(f)
    return f


def _vector_grad(f):
    # elementwise f on a vector: ∇ Σ f(x) = f'(x)
    return tg.grad(lambda x: tg.sum(f(x)))


TOWERS = {
    "grad": lambda k, f: _tower(d_grad, k, f),
    "jvp": lambda k, f: _tower(d_jvp, k, f),
    "grad-jvp-alternating": _alternating,
    "grad-of-sum-vector": lambda k, f: _tower(_vector_grad, k, f),
}


@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("function", list(SCALAR_FUNCTIONS))
@pytest.mark.parametrize("tower", list(TOWERS))
def test_derivative_towers(tower, function, k):
    """d^k f/dx^k against the closed form in SCALAR_FUNCTIONS (order 1 to 4)."""
    f, derivative = SCALAR_FUNCTIONS[function]
    x = np.array([0.3, 0.7, 1.6]) if tower == "grad-of-sum-vector" else X0
    close(TOWERS[tower](k, f)(x), derivative(k, x), rtol=1e-9)


@pytest.mark.parametrize("function", ["exp(2x)", "log", "tanh", "x**2.5", "exp(-x**2)"])
def test_fourth_derivative_as_hvp_of_hvp(function):
    """f'''' = d²/dx² of f'' (hvp with v = 1 twice), and grad of hvp gives f'''."""
    f, derivative = SCALAR_FUNCTIONS[function]
    close(tg.hvp(lambda x: tg.hvp(f)(x, 1.0))(X0, 1.0), derivative(4, X0), rtol=1e-9)
    close(tg.grad(lambda x: tg.hvp(f)(x, 1.0))(X0), derivative(3, X0), rtol=1e-9)


# ============================================================================ specific pairs, vectors
Y_VEC = np.array([0.5, -1.2, 2.0])
X_VEC = np.array([0.3, 0.9, -0.4])
U_VEC = np.array([1.5, -0.5, 2.5])
V_VEC = np.array([-0.7, 1.1, 0.4])
A_MAT = rng.normal(size=(3, 3))


def test_grad_in_grad_closure_vector():
    """h(x) = Σ ∇_y[Σ e^x y²](y0) = Σ 2 y0 e^x, so ∇h = 2 y0 e^x."""
    h = lambda x: tg.sum(tg.grad(lambda y: tg.sum(tg.exp(x) * y**2))(Y_VEC))
    close(tg.grad(h)(X_VEC), 2 * Y_VEC * np.exp(X_VEC))


def test_value_and_grad_in_grad():
    """(v, g) = value_and_grad(y ↦ Σ x y²)(y0) = (Σ x y0², 2 x y0); ∇_x (v + Σ g) = y0² + 2 y0."""

    def h(x):
        v, g = tg.value_and_grad(lambda y: tg.sum(x * y**2))(Y_VEC)
        return v + tg.sum(g)

    close(tg.grad(h)(X_VEC), Y_VEC**2 + 2 * Y_VEC)


def test_value_and_grad_outside_a_closure():
    """value_and_grad(x ↦ Σ ∇_y[Σ x y³](y0))(x0) = (Σ 3 x0 y0², 3 y0²)."""
    value, g = tg.value_and_grad(lambda x: tg.sum(tg.grad(lambda y: tg.sum(x * y**3))(Y_VEC)))(
        X_VEC
    )
    close(value, np.sum(3 * X_VEC * Y_VEC**2))
    close(g, 3 * Y_VEC**2)


def test_value_and_grad_with_aux_in_grad():
    """The aux output of an inner value_and_grad is ignored; ∇_x Σ ∇_y[Σ x² y](y0) = 2x."""

    def h(x):
        (value, aux), g = tg.value_and_grad(lambda y: (tg.sum(x * x * y), "aux"), has_aux=True)(
            Y_VEC
        )
        assert aux == "aux"
        return tg.sum(g)

    close(tg.grad(h)(X_VEC), 2 * X_VEC)


@pytest.mark.parametrize("case", ["closure", "cotangent", "primal", "output"])
def test_vjp_in_grad(case):
    """closure:   Σ vjp(y ↦ x y², y0)(u) = Σ 2 u x y0     → ∇ = 2 u y0
    cotangent: Σ vjp(tanh, y0)(x)        = Σ x (1 − t0²)  → ∇ = 1 − t0²
    primal:    Σ vjp(y ↦ y³, x)(u)       = Σ 3 u x²       → ∇ = 6 u x
    output:    Σ (x y0), the primal out of vjp(y ↦ x y, y0) → ∇ = y0"""
    fns = {
        "closure": lambda x: tg.sum(tg.vjp(lambda y: x * y**2, Y_VEC)[1](U_VEC)[0]),
        "cotangent": lambda x: tg.sum(tg.vjp(tg.tanh, Y_VEC)[1](x)[0]),
        "primal": lambda x: tg.sum(tg.vjp(lambda y: y**3, x)[1](U_VEC)[0]),
        "output": lambda x: tg.sum(tg.vjp(lambda y: x * y, Y_VEC)[0]),
    }
    expected = {
        "closure": 2 * U_VEC * Y_VEC,
        "cotangent": 1 - np.tanh(Y_VEC) ** 2,
        "primal": 6 * U_VEC * X_VEC,
        "output": Y_VEC,
    }
    close(tg.grad(fns[case])(X_VEC), expected[case])


@pytest.mark.parametrize("case", ["closure", "tangent", "primal"])
def test_jvp_in_grad(case):
    """closure: Σ jvp(y ↦ x tanh y)(y0, v) = Σ x (1 − t0²) v → ∇ = (1 − t0²) v
    tangent: Σ jvp(y ↦ y³)(y0, x)         = Σ 3 y0² x      → ∇ = 3 y0²
    primal:  Σ jvp(y ↦ y³)(x, v)          = Σ 3 x² v       → ∇ = 6 x v"""
    fns = {
        "closure": lambda x: tg.sum(tg.jvp(lambda y: x * tg.tanh(y))(Y_VEC, V_VEC)),
        "tangent": lambda x: tg.sum(tg.jvp(lambda y: y**3)(Y_VEC, x)),
        "primal": lambda x: tg.sum(tg.jvp(lambda y: y**3)(x, V_VEC)),
    }
    expected = {
        "closure": (1 - np.tanh(Y_VEC) ** 2) * V_VEC,
        "tangent": 3 * Y_VEC**2,
        "primal": 6 * X_VEC * V_VEC,
    }
    close(tg.grad(fns[case])(X_VEC), expected[case])


def test_grad_in_jvp_closure():
    """jvp(x ↦ ∇_y[Σ x y²](y0))(x0, v) = d/dt [2 (x0 + t v) y0] = 2 y0 v."""
    close(
        tg.jvp(lambda x: tg.grad(lambda y: tg.sum(x * y**2))(Y_VEC))(X_VEC, V_VEC),
        2 * Y_VEC * V_VEC,
    )


def test_jvp_in_jvp_closure():
    """jvp(x ↦ jvp(y ↦ Σ x e^y)(y0, w))(x0, v) = Σ v e^y0 w."""
    w = U_VEC
    inner = lambda x: tg.jvp(lambda y: tg.sum(x * tg.exp(y)))(Y_VEC, w)
    close(tg.jvp(inner)(X_VEC, V_VEC), np.sum(V_VEC * np.exp(Y_VEC) * w))


def _hessian_case():
    """f(x) = ½ xᵀAx + Σ eˣ + (Σ x)³: H = (A + Aᵀ)/2 + diag(eˣ) + 6 (Σ x) 11ᵀ."""
    f = lambda x: 0.5 * (x @ (A_MAT @ x)) + tg.sum(tg.exp(x)) + tg.sum(x) ** 3
    H = (A_MAT + A_MAT.T) / 2 + np.diag(np.exp(X_VEC)) + 6 * np.sum(X_VEC) * np.ones((3, 3))
    return f, H


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_jacobian_of_grad_is_the_hessian(mode):
    f, H = _hessian_case()
    close(tg.jacobian(tg.grad(f), mode=mode)(X_VEC), H)


def test_jvp_of_grad_is_the_hessian_vector_product():
    f, H = _hessian_case()
    close(tg.jvp(tg.grad(f))(X_VEC, V_VEC), H @ V_VEC)
    close(tg.hvp(f)(X_VEC, V_VEC), H @ V_VEC)


def test_grad_of_jvp_is_the_hessian_vector_product():
    """∇_x ⟨∇f(x), v⟩ computed as ∇_x jvp(f)(x, v) = H v."""
    f, H = _hessian_case()
    close(tg.grad(lambda x: tg.jvp(f)(x, V_VEC))(X_VEC), H @ V_VEC)


def test_hvp_in_grad():
    """closure: Σ hvp(y ↦ Σ x y³)(y0, v) = Σ 6 x y0 v → ∇ = 6 y0 v;
    primal:  Σ hvp(Σ x⁴)(x, v) = Σ 12 x² v → ∇ = 24 x v."""
    close(
        tg.grad(lambda x: tg.sum(tg.hvp(lambda y: tg.sum(x * y**3))(Y_VEC, V_VEC)))(X_VEC),
        6 * Y_VEC * V_VEC,
    )
    close(
        tg.grad(lambda x: tg.sum(tg.hvp(lambda z: tg.sum(z**4))(x, V_VEC)))(X_VEC),
        24 * X_VEC * V_VEC,
    )


def test_grad_in_hvp_closure():
    """hvp(x ↦ Σ ∇_y[Σ x² y²](y0))(x0, v): Σ 2 x² y0 has Hessian diag(4 y0): 4 y0 v."""
    close(
        tg.hvp(lambda x: tg.sum(tg.grad(lambda y: tg.sum(x**2 * y**2))(Y_VEC)))(X_VEC, V_VEC),
        4 * Y_VEC * V_VEC,
    )


def test_hvp_direction_depending_on_the_outer_variable():
    """Σ hvp(Σ y⁴)(y0, x) = Σ 12 y0² x → ∇_x = 12 y0²."""
    close(tg.grad(lambda x: tg.sum(tg.hvp(lambda y: tg.sum(y**4))(Y_VEC, x)))(X_VEC), 12 * Y_VEC**2)


# ---------------------------------------------------------------- checkpoint and sum_of_blocks
CHECK_X = np.array([0.2, -0.5, 1.3])


def test_checkpoint_in_grad_of_grad():
    """d²/dx² (x eˣ) = (x + 2) eˣ through a checkpoint; d³/dx³ x⁴ = 24 x."""
    block = tg.checkpoint(lambda x: tg.exp(x) * x)
    inner = tg.grad(lambda x: tg.sum(block(x)))
    close(tg.grad(lambda x: tg.sum(inner(x)))(CHECK_X), (CHECK_X + 2) * np.exp(CHECK_X))
    quartic = tg.checkpoint(lambda x: x**4)
    third = tg.grad(
        lambda x: tg.sum(tg.grad(lambda x: tg.sum(tg.grad(lambda x: tg.sum(quartic(x)))(x)))(x))
    )
    close(third(CHECK_X), 24 * CHECK_X)


def test_checkpoint_in_grad_of_grad_closure_outside_the_checkpoint():
    """h(a) = Σ ∇_x[Σ a · ckpt(x³)](x0) = Σ 3 a x0², dh/da = Σ 3 x0²."""
    cube = tg.checkpoint(lambda x: x**3)
    h = lambda a: tg.sum(tg.grad(lambda x: tg.sum(a * cube(x)))(CHECK_X))
    close(tg.grad(h)(1.7), np.sum(3 * CHECK_X**2))


def test_checkpoint_in_grad_of_grad_with_the_outer_variable_as_argument():
    """The same h with a passed to the checkpointed function: dh/da = Σ 3 x0²."""
    cube = tg.checkpoint(lambda x, a: a * x**3)
    h = lambda a: tg.sum(tg.grad(lambda x: tg.sum(cube(x, a)))(CHECK_X))
    close(tg.grad(h)(1.7), np.sum(3 * CHECK_X**2))


def test_checkpoint_capturing_the_outer_variable():
    """The checkpointed function closes over a (traced by the outer grad): dh/da = Σ 3 x0²,
    or a ValueError asking for a to be passed as an argument; never a silent 0."""

    def h(a):
        cube = tg.checkpoint(lambda x: a * x**3)
        return tg.sum(tg.grad(lambda x: tg.sum(cube(x)))(CHECK_X))

    close_or_refused(lambda: tg.grad(h)(1.7), np.sum(3 * CHECK_X**2))


HALVES = [slice(0, 2), slice(2, 3)]


def test_sum_of_blocks_in_grad_of_grad():
    """Σ_b Σ x[b]³ over two blocks: ∇ = 3x², d/dx Σ ∇ = 6x; and 3rd order of Σ x⁴: 24x."""
    cubes = lambda x: tg.sum_of_blocks(lambda x, b: tg.sum(x[b] ** 3), x, blocks=HALVES)
    close(tg.grad(lambda x: tg.sum(tg.grad(cubes)(x)))(CHECK_X), 6 * CHECK_X)
    quartic = lambda x: tg.sum_of_blocks(lambda x, b: tg.sum(x[b] ** 4), x, blocks=HALVES)
    third = tg.grad(lambda x: tg.sum(tg.grad(lambda x: tg.sum(tg.grad(quartic)(x)))(x)))
    close(third(CHECK_X), 24 * CHECK_X)


def test_sum_of_blocks_in_grad_of_grad_closure_outside():
    """h(a) = Σ ∇_x[a · Σ_b Σ x[b]³](x0) = Σ 3 a x0², dh/da = Σ 3 x0²."""
    cubes = lambda x: tg.sum_of_blocks(lambda x, b: tg.sum(x[b] ** 3), x, blocks=HALVES)
    h = lambda a: tg.sum(tg.grad(lambda x: a * cubes(x))(CHECK_X))
    close(tg.grad(h)(1.7), np.sum(3 * CHECK_X**2))


def test_sum_of_blocks_in_grad_of_grad_with_the_outer_variable_as_argument():
    """a passed to sum_of_blocks: dh/da = Σ 3 x0²; and the mixed ∂²/∂a∂x = 3 x0²."""
    term = lambda x, a, b: a * tg.sum(x[b] ** 3)
    h = lambda a: tg.sum(tg.grad(lambda x: tg.sum_of_blocks(term, x, a, blocks=HALVES))(CHECK_X))
    close(tg.grad(h)(1.7), np.sum(3 * CHECK_X**2))
    mixed = tg.jacobian(
        lambda a: tg.grad(lambda x: tg.sum_of_blocks(term, x, a, blocks=HALVES))(CHECK_X)
    )
    close(mixed(1.7), 3 * CHECK_X**2)


def test_sum_of_blocks_capturing_the_outer_variable():
    """The block function closes over a: dh/da = Σ 3 x0², or a ValueError; never a silent 0."""

    def h(a):
        cubes = lambda x: tg.sum_of_blocks(lambda x, b: a * tg.sum(x[b] ** 3), x, blocks=HALVES)
        return tg.sum(tg.grad(cubes)(CHECK_X))

    close_or_refused(lambda: tg.grad(h)(1.7), np.sum(3 * CHECK_X**2))
    # and at first order: d/da [a Σ x0³] = Σ x0³
    first = lambda a: tg.sum_of_blocks(lambda x, b: a * tg.sum(x[b] ** 3), CHECK_X, blocks=HALVES)
    close_or_refused(lambda: tg.grad(first)(1.7), np.sum(CHECK_X**3))


def test_blocked_nca_loss_hessian_vector_product_matches_finite_differences():
    """hvp of the blocked NCA loss = (∇f(A + hV) − ∇f(A − hV)) / 2h (central differences of
    the gradient, itself checked elsewhere), and equals the unblocked loss's hvp."""
    X = np.random.default_rng(1).normal(size=(24, 4))
    labels = np.arange(24) % 3
    A0 = np.random.default_rng(2).normal(size=(2, 4)) * 0.5
    V = np.random.default_rng(3).normal(size=(2, 4))
    blocked = lambda A: tg.nca_loss(A, X, labels, block_size=7)
    full = lambda A: tg.nca_loss(A, X, labels, block_size=24)
    h = 1e-5
    numeric = (tg.grad(full)(A0 + h * V) - tg.grad(full)(A0 - h * V)) / (2 * h)
    close(tg.hvp(blocked)(A0, V), numeric, rtol=1e-5, atol=1e-7)
    close(tg.hvp(blocked)(A0, V), tg.hvp(full)(A0, V), rtol=1e-9, atol=1e-11)


# ============================================================================ cotangents that depend on x
# A second derivative differentiates each VJP with respect to its cotangent too, when that
# cotangent depends on x (a nonlinear function after the op): the VJPs' own VJPs.
SOFT_X = np.array([0.3, -0.8, 1.1, 0.2])
MASK = np.array([True, False, True, True])


def _softmax_np(x):
    e = np.exp(x - x.max())
    return e / e.sum()


def _second_order_cases():
    x, n, m = SOFT_X, len(SOFT_X), MASK.astype(float)
    p = _softmax_np(x)
    s = np.sum(p * p)
    J = np.diag(p) - np.outer(p, p)
    lse = np.log(np.sum(np.exp(x)))
    log_p = np.log(p)
    S = np.sum(log_p)
    masked_s = np.sum(m * x * x)
    return {
        # f = Σ p², ∇f = 2 J p; H_ik = 2 (2p_i − s) J_ik − 4 p_i (J p)_k, s = Σ p²
        "sum(softmax**2)": (
            lambda x: tg.sum(tg.softmax(x) ** 2),
            2 * (2 * p - s)[:, None] * J - 4 * np.outer(p, J @ p),
        ),
        # f = lse², ∇f = 2 lse p; H = 2 p pᵀ + 2 lse (diag p − p pᵀ)
        "logsumexp**2": (lambda x: tg.logsumexp(x) ** 2, 2 * np.outer(p, p) + 2 * lse * J),
        # f = Σ (log p)², ∇_i = 2 (log p_i − p_i S), S = Σ log p;
        # H_ik = 2 (δ_ik − p_k − S J_ik − p_i (1 − n p_k))
        "sum(log_softmax**2)": (
            lambda x: tg.sum(tg.log_softmax(x) ** 2),
            2 * (np.eye(n) - p[None, :] - S * J - p[:, None] * (1 - n * p[None, :])),
        ),
        # f = (Σ_mask x²)², ∇ = 4 s (m∘x); H = 4 s diag(m) + 8 (m∘x)(m∘x)ᵀ
        "masked-sum-squared": (
            lambda x: tg.sum(x * x, where=MASK) ** 2,
            4 * masked_s * np.diag(m) + 8 * np.outer(m * x, m * x),
        ),
        # f = (mean over the mask of x³)², c = 3 selected: ∇ = 2 μ 3x² m / c;
        # H = 2 (3x² m / c)(3x² m / c)ᵀ + 2 μ diag(6x m / c)
        "masked-mean-squared": (
            lambda x: tg.mean(x**3, where=MASK) ** 2,
            2 * np.outer(3 * x * x * m / 3, 3 * x * x * m / 3)
            + 2 * (np.sum(m * x**3) / 3) * np.diag(6 * x * m / 3),
        ),
    }


@pytest.mark.parametrize("how", ["jacobian-of-grad", "jacobian_fwd-of-grad", "hvp-columns"])
@pytest.mark.parametrize("name", list(_second_order_cases()))
def test_hessian_through_a_cotangent_that_depends_on_x(name, how):
    f, H = _second_order_cases()[name]
    if how == "jacobian-of-grad":
        result = tg.jacobian(tg.grad(f))(SOFT_X)
    elif how == "jacobian_fwd-of-grad":
        result = tg.jacobian(tg.grad(f), mode="forward")(SOFT_X)
    else:
        result = np.stack([values(tg.hvp(f)(SOFT_X, e)) for e in np.eye(len(SOFT_X))], axis=1)
    close(result, H)


# ============================================================================ perturbation confusion
PERTURBATION_CASES = {
    # Siskind & Pearlmutter: d/dx [x · d/dy (x + y)|_{y=1}] at x = 1 is d/dx x = 1.
    "siskind-pearlmutter": (lambda D: D(lambda x: x * D(lambda y: x + y)(1.0))(1.0), 1.0),
    # d/dx [x · d/dy (x y)|_{y=2}] = d/dx x² = 2x = 2 at x = 1.
    "x-times-dxy": (lambda D: D(lambda x: x * D(lambda y: x * y)(2.0))(1.0), 2.0),
    # inner point y = x: d/dy (x y²) = 2xy → 2x²; x · 2x² = 2x³ → 6x² = 6·0.49 at x = 0.7.
    "inner-point-is-x": (lambda D: D(lambda x: x * D(lambda y: x * y * y)(x))(0.7), 6 * 0.49),
    # three levels: d/dx d/dy d/dz (x y z) = 1.
    "three-levels": (
        lambda D: D(lambda x: D(lambda y: D(lambda z: x * y * z)(1.0))(1.0))(1.0),
        1.0,
    ),
    # same function at two levels: d/dx [x · f'(x)] with f = t², i.e. d/dx 2x² = 4x = 2.8.
    "same-function-twice": (lambda D: D(lambda x: x * D(lambda t: t * t)(x))(0.7), 2.8),
    # d/dx [d/dy e^(xy)|_{y=x} ] = d/dx [x e^(x²)] = e^(x²)(1 + 2x²).
    "exp-xy-at-x": (
        lambda D: D(lambda x: D(lambda y: tg.exp(x * y))(x))(0.7),
        np.exp(0.49) * (1 + 2 * 0.49),
    ),
    # the inner derivative ignores x entirely: d/dx [x · d/dy y²|_{y=3}] = 6.
    "inner-ignores-x": (lambda D: D(lambda x: x * D(lambda y: y * y)(3.0))(0.7), 6.0),
}
DERIVATIVES = {
    "grad": d_grad,
    "jvp": d_jvp,
    "vjp": d_vjp,
    "jacobian": d_jacobian,
    "jacobian_fwd": d_jacobian_forward,
}


@pytest.mark.parametrize("operator", list(DERIVATIVES))
@pytest.mark.parametrize("case", list(PERTURBATION_CASES))
def test_perturbation_confusion(case, operator):
    build, expected = PERTURBATION_CASES[case]
    close(build(DERIVATIVES[operator]), expected)


@pytest.mark.parametrize(
    "outer, inner",
    [
        ("grad", "jvp"),
        ("jvp", "grad"),
        ("vjp", "jvp"),
        ("jacobian_fwd", "grad"),
        ("grad", "jacobian_fwd"),
    ],
)
def test_perturbation_confusion_mixed_modes(outer, inner):
    """d/dx [x · d/dy (x + y)|_{y=1}] = 1 with the two derivatives taken by different transforms."""
    D, E = DERIVATIVES[outer], DERIVATIVES[inner]
    close(D(lambda x: x * E(lambda y: x + y)(1.0))(1.0), 1.0)


# ============================================================================ meta-gradients
def _quadratic():
    """L(w) = ½ wᵀAw − bᵀw with A symmetric positive definite; ∇L = Aw − b = r."""
    M = np.random.default_rng(7).normal(size=(4, 4))
    A = M @ M.T / 4 + np.eye(4)
    b = np.random.default_rng(8).normal(size=4)
    w0 = np.random.default_rng(9).normal(size=4)
    return A, b, w0, (lambda w: 0.5 * (w @ (A @ w)) - tg.sum(b * w))


def _unrolled(L, w, eta, steps):
    for _ in range(steps):
        w = w - eta * tg.grad(L)(w)
    return w


@pytest.mark.parametrize("steps", [1, 2, 3])
@pytest.mark.parametrize("how", ["grad", "jvp"])
def test_meta_gradient_of_the_learning_rate(steps, how):
    """k steps of w ← w − η ∇L(w) give the residual r_k = (I − ηA)^k r0, and
    L(w_k) − L* = ½ r_kᵀ A⁻¹ r_k, so d/dη L(w_k) = −k r_kᵀ (I − ηA)^(k−1) r0."""
    A, b, w0, L = _quadratic()
    eta = 0.15
    r0 = A @ w0 - b
    step = np.eye(4) - eta * A
    r_k = np.linalg.matrix_power(step, steps) @ r0
    expected = -steps * r_k @ np.linalg.matrix_power(step, steps - 1) @ r0
    meta = lambda eta: L(_unrolled(L, w0, eta, steps))
    if how == "grad":
        close(tg.grad(meta)(eta), expected, rtol=1e-9)
    else:
        close(tg.jvp(meta)(eta, 1.0), expected, rtol=1e-9)


def test_meta_gradient_of_the_initial_point():
    """∇_w0 L(w0 − η∇L(w0)) = (I − ηA)(A w1 − b), A symmetric."""
    A, b, w0, L = _quadratic()
    eta = 0.15
    w1 = w0 - eta * (A @ w0 - b)
    close(tg.grad(lambda w: L(_unrolled(L, w, eta, 1)))(w0), (np.eye(4) - eta * A) @ (A @ w1 - b))


def test_meta_hessian_of_the_learning_rate():
    """d²/dη² L(w1) for one step: L(w1) − L* = ½ (r − ηAr)ᵀA⁻¹(r − ηAr), so the second
    derivative is rᵀ A r."""
    A, b, w0, L = _quadratic()
    r = A @ w0 - b
    meta = lambda eta: L(_unrolled(L, w0, eta, 1))
    close(tg.grad(tg.grad(meta))(0.15), r @ A @ r, rtol=1e-9)


# ============================================================================ Newton steps
def test_newton_step_for_a_square_root():
    """N(x, a) = x − (x² − a)/f'(x) with f'(x) = 2x taken by grad: N = x/2 + a/(2x), so
    ∂N/∂x = ½ − a/(2x²), ∂N/∂a = 1/(2x), ∂²N/∂x² = a/x³."""

    def newton(x, a):
        f = lambda t: t * t - a
        return x - f(x) / tg.grad(f)(x)

    x, a = 1.3, 2.0
    close(newton(x, a), x / 2 + a / (2 * x))
    dx, da = tg.grad(newton, argnums=(0, 1))(x, a)
    close(dx, 0.5 - a / (2 * x * x))
    close(da, 1 / (2 * x))
    close(tg.grad(tg.grad(newton))(x, a), a / x**3)


def test_newton_step_for_a_minimum():
    """N(x) = x − f'(x)/f''(x) for f = eˣ − 2x: N = x − 1 + 2e^(−x), N' = 1 − 2e^(−x)."""
    f = lambda x: tg.exp(x) - 2 * x
    newton = lambda x: x - tg.grad(f)(x) / tg.grad(tg.grad(f))(x)
    close(tg.grad(newton)(0.4), 1 - 2 * np.exp(-0.4))
    close(tg.jvp(newton)(0.4, 1.0), 1 - 2 * np.exp(-0.4))


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_jacobian_of_a_separable_newton_step(mode):
    """f(w) = Σ c w⁴/4: the Hessian's diagonal is ∂/∂w Σ ∇f = 3 c w², so the Newton step
    w − c w³ / (3 c w²) = 2w/3 has Jacobian (2/3) I."""
    c = np.array([1.0, 2.0, 0.5])
    f = lambda w: tg.sum(c * w**4) / 4
    diag = lambda w: tg.grad(lambda w: tg.sum(tg.grad(f)(w)))(w)
    newton = lambda w: w - tg.grad(f)(w) / diag(w)
    w0 = np.array([0.8, -1.1, 1.9])
    close(newton(w0), 2 * w0 / 3)
    close(tg.jacobian(newton, mode=mode)(w0), 2 / 3 * np.eye(3))


# ============================================================================ Jacobians of Jacobians
def _softmax_tensors(x):
    p = np.exp(x - x.max()) / np.exp(x - x.max()).sum()
    d = np.eye(len(x))
    J = np.diag(p) - np.outer(p, p)
    # ∂J_ij/∂x_k = δ_ij p_i(δ_ik − p_k) − p_i(δ_ik − p_k) p_j − p_i p_j (δ_jk − p_k)
    dp = p[:, None] * (d - p[None, :])  # ∂p_i/∂x_k
    T = (
        np.einsum("ij,ik->ijk", d, dp)
        - np.einsum("ik,j->ijk", dp, p)
        - np.einsum("i,jk->ijk", p, dp)
    )
    return J, T


def _vector_cases():
    x = np.array([0.4, -1.3, 0.8])
    n = len(x)
    d = np.eye(n)
    t = np.tanh(x)
    cube_T = np.zeros((n, n, n))
    cube_T[np.arange(n), np.arange(n), np.arange(n)] = 6 * x
    s = np.sum(x * x)
    J_soft, T_soft = _softmax_tensors(x)
    return x, {
        # f = x³: J = diag(3x²), T_iii = 6 x_i
        "x**3": (lambda x: x**3, np.diag(3 * x * x), cube_T),
        # f = A tanh(x): J = A diag(1 − t²), T_ijk = A_ij δ_jk (−2 t_j (1 − t_j²))
        "A@tanh(x)": (
            lambda x: A_MAT @ tg.tanh(x),
            A_MAT * (1 - t * t),
            np.einsum("ij,jk->ijk", A_MAT, d) * (-2 * t * (1 - t * t))[None, :, None],
        ),
        # f = x Σx²: J = s I + 2 x xᵀ, T_ijk = 2 x_k δ_ij + 2 δ_ik x_j + 2 x_i δ_jk
        "x*sum(x**2)": (
            lambda x: x * tg.sum(x * x),
            s * d + 2 * np.outer(x, x),
            2
            * (
                np.einsum("ij,k->ijk", d, x)
                + np.einsum("ik,j->ijk", d, x)
                + np.einsum("i,jk->ijk", x, d)
            ),
        ),
        "softmax": (lambda x: tg.softmax(x), J_soft, T_soft),
        # f = x xᵀ (outer product): J_abk = δ_ak x_b + x_a δ_bk, T_abkl = δ_ak δ_bl + δ_al δ_bk
        "outer(x,x)": (
            lambda x: tg.expand_dims(x, 1) * tg.expand_dims(x, 0),
            np.einsum("ak,b->abk", d, x) + np.einsum("a,bk->abk", x, d),
            np.einsum("ak,bl->abkl", d, d) + np.einsum("al,bk->abkl", d, d),
        ),
    }


VECTOR_NAMES = ["x**3", "A@tanh(x)", "x*sum(x**2)", "softmax", "outer(x,x)"]
MODES = ["reverse", "forward"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", VECTOR_NAMES)
def test_jacobian(name, mode):
    x, cases = _vector_cases()
    f, J, _ = cases[name]
    close(tg.jacobian(f, mode=mode)(x), J)


@pytest.mark.parametrize("outer_mode, inner_mode", list(itertools.product(MODES, MODES)))
@pytest.mark.parametrize("name", VECTOR_NAMES)
def test_jacobian_of_jacobian(name, outer_mode, inner_mode):
    x, cases = _vector_cases()
    f, _, T = cases[name]
    close(tg.jacobian(tg.jacobian(f, mode=inner_mode), mode=outer_mode)(x), T)


@pytest.mark.parametrize("modes", list(itertools.product(MODES, repeat=3)))
def test_jacobian_of_jacobian_of_jacobian(modes):
    """f = x⁴ elementwise: the 4th-order tensor is 24 x_i at (i, i, i, i), 0 elsewhere."""
    x = np.array([0.5, -1.5])
    f = lambda x: x**4
    for mode in modes:
        f = tg.jacobian(f, mode=mode)
    expected = np.zeros((2, 2, 2, 2))
    expected[0, 0, 0, 0], expected[1, 1, 1, 1] = 24 * x
    close(f(x), expected)


def test_jacobian_in_jacobian_closure():
    """jacobian_x [jacobian_y (x ∘ y²)(y0)]: inner J_ij = 2 x_i y0_i δ_ij, outer T_ijk = 2 y0_i δ_ij δ_ik."""
    n = len(Y_VEC)
    expected = np.zeros((n, n, n))
    expected[np.arange(n), np.arange(n), np.arange(n)] = 2 * Y_VEC
    for outer, inner in itertools.product(MODES, MODES):
        close(
            tg.jacobian(lambda x: tg.jacobian(lambda y: x * y**2, mode=inner)(Y_VEC), mode=outer)(
                X_VEC
            ),
            expected,
        )


# ============================================================================ the inner function ignores its argument
IGNORING_CASES = {
    # inner gradient of y ↦ x² is 0 whatever x: derivative 0
    "grad-of-constant-in-y": (lambda: tg.grad(lambda x: tg.grad(lambda y: x**2)(1.0))(3.0), 0.0),
    # value_and_grad's value x² depends on x only through the closure: d/dx x² = 6
    "value-of-value_and_grad": (
        lambda: tg.grad(lambda x: tg.value_and_grad(lambda y: x**2)(1.0)[0])(3.0),
        6.0,
    ),
    # vjp's primal output x² likewise: 6
    "primal-of-vjp": (lambda: tg.grad(lambda x: tg.vjp(lambda y: x**2, 1.0)[0])(3.0), 6.0),
    # jvp of y ↦ x² is 0: derivative 0
    "jvp-of-constant-in-y": (lambda: tg.grad(lambda x: tg.jvp(lambda y: x**2)(1.0, 1.0))(3.0), 0.0),
    # jacobian of y ↦ x·1 (a vector not depending on y): zeros
    "jacobian-of-constant-in-y": (
        lambda: tg.grad(lambda x: tg.sum(tg.jacobian(lambda y: x * np.ones(2))(np.zeros(2))))(3.0),
        0.0,
    ),
    # the inner function returns a Python constant: gradient 0, and x · 0 has derivative 0
    "inner-returns-a-constant": (
        lambda: tg.grad(lambda x: x * tg.grad(lambda y: 3.0)(2.0))(1.5),
        0.0,
    ),
    # the outer variable enters only through the closure: d/dx [d/dy e^(xy)|_{y=1}] =
    # d/dx [x eˣ] = (1 + x) eˣ
    "only-through-closure-grad": (
        lambda: tg.grad(lambda x: tg.grad(lambda y: tg.exp(x * y))(1.0))(0.6),
        1.6 * np.exp(0.6),
    ),
    # hvp of y ↦ e^(xy) at y = 1, v = 1: x² eˣ; derivative (2x + x²) eˣ
    "only-through-closure-hvp": (
        lambda: tg.grad(lambda x: tg.hvp(lambda y: tg.exp(x * y))(1.0, 1.0))(0.6),
        (1.2 + 0.36) * np.exp(0.6),
    ),
    # jacobian of y ↦ e^(x y) (vector y) at y0: diag(x e^(x y0)); d/dx Σ = Σ (1 + x y0) e^(x y0)
    "only-through-closure-jacobian": (
        lambda: tg.grad(lambda x: tg.sum(tg.jacobian(lambda y: tg.exp(x * y))(Y_VEC)))(0.6),
        np.sum((1 + 0.6 * Y_VEC) * np.exp(0.6 * Y_VEC)),
    ),
}


@pytest.mark.parametrize("case", list(IGNORING_CASES))
def test_inner_function_ignores_its_argument(case):
    thunk, expected = IGNORING_CASES[case]
    close(thunk(), expected)


# ============================================================================ argnums tuples
def test_grad_argnums_tuple_at_both_levels():
    """inner f(a, b) = a b x y: (∂a, ∂b) = (b x y, a x y); h(x, y) = Σ = (a0 + b0) x y, so
    ∇h = ((a0 + b0) y, (a0 + b0) x)."""
    a0, b0, x0, y0 = 0.5, -1.5, 1.2, 0.7

    def h(x, y):
        ga, gb = tg.grad(lambda a, b: a * b * x * y, argnums=(0, 1))(a0, b0)
        return ga + gb

    gx, gy = tg.grad(h, argnums=(0, 1))(x0, y0)
    close(gx, (a0 + b0) * y0)
    close(gy, (a0 + b0) * x0)


@pytest.mark.parametrize("outer_mode, inner_mode", list(itertools.product(MODES, MODES)))
def test_jacobian_argnums_tuple_at_both_levels(outer_mode, inner_mode):
    """f(a, b) = a ∘ b: J_a = diag(b), J_b = diag(a); ∂J_a/∂a = 0, ∂J_a/∂b_k = E_kkk,
    ∂J_b/∂a_k = E_kkk, ∂J_b/∂b = 0."""
    a, b = np.array([1.0, 2.0, -0.5]), np.array([0.3, -0.7, 1.1])
    E = np.zeros((3, 3, 3))
    E[np.arange(3), np.arange(3), np.arange(3)] = 1.0
    inner = tg.jacobian(lambda a, b: a * b, argnums=(0, 1), mode=inner_mode)
    Ja, Jb = inner(a, b)
    close(Ja, np.diag(b))
    close(Jb, np.diag(a))
    Jaa, Jab = tg.jacobian(lambda a, b: inner(a, b)[0], argnums=(0, 1), mode=outer_mode)(a, b)
    Jba, Jbb = tg.jacobian(lambda a, b: inner(a, b)[1], argnums=(0, 1), mode=outer_mode)(a, b)
    close(Jaa, 0 * E)
    close(Jab, E)
    close(Jba, E)
    close(Jbb, 0 * E)


def test_hvp_argnums_tuple_inside_grad_argnums_tuple():
    """f(x, y) = c Σ x² y + d Σ y³ has Hessian blocks c·diag(2y), c·diag(2x), d·diag(6y);
    h(c, d) = Σ (H v)_x + Σ (H v)_y, so ∂h/∂c = Σ (2y vx + 2x vy + 2x vx), ∂h/∂d = Σ 6 y vy."""
    x0, y0, vx, vy = X_VEC, Y_VEC, U_VEC, V_VEC

    def h(c, d):
        hx, hy = tg.hvp(lambda x, y: c * tg.sum(x * x * y) + d * tg.sum(y**3), argnums=(0, 1))(
            x0, y0, (vx, vy)
        )
        return tg.sum(hx) + tg.sum(hy)

    gc, gd = tg.grad(h, argnums=(0, 1))(0.8, -1.3)
    close(gc, np.sum(2 * y0 * vx + 2 * x0 * vy + 2 * x0 * vx))
    close(gd, np.sum(6 * y0 * vy))


def test_jvp_argnums_tuple_inside_grad_argnums_tuple():
    """jvp of (a, b) ↦ c a b + d a² along (va, vb): c (b va + a vb) + 2 d a va; summed, its
    gradient in (c, d) is (Σ (b0 va + a0 vb), Σ 2 a0 va)."""
    a0, b0, va, vb = X_VEC, Y_VEC, U_VEC, V_VEC

    def h(c, d):
        return tg.sum(tg.jvp(lambda a, b: c * a * b + d * a**2, argnums=(0, 1))(a0, b0, (va, vb)))

    gc, gd = tg.grad(h, argnums=(0, 1))(0.8, -1.3)
    close(gc, np.sum(b0 * va + a0 * vb))
    close(gd, np.sum(2 * a0 * va))


def test_jvp_argnums_tuple():
    """f(a, b) = a ∘ b + a³: J_a v_a + J_b v_b = (b + 3a²) ∘ va + a ∘ vb; argnums=1 alone: a ∘ vb."""
    a, b, va, vb = X_VEC, Y_VEC, U_VEC, V_VEC
    f = lambda a, b: a * b + a**3
    close(tg.jvp(f, argnums=(0, 1))(a, b, (va, vb)), (b + 3 * a * a) * va + a * vb)
    close(tg.jvp(f, argnums=1)(a, b, vb), a * vb)


def test_vjp_with_several_primals_inside_grad():
    """vjp of (a, b) ↦ x a b at (a0, b0) with cotangent u: (u x b0, u x a0); the gradient
    of Σ of both in x is Σ u (a0 + b0)."""
    a0, b0, u = X_VEC, Y_VEC, U_VEC

    def h(x):
        ca, cb = tg.vjp(lambda a, b: x * a * b, a0, b0)[1](u)
        return tg.sum(ca) + tg.sum(cb)

    close(tg.grad(h)(0.9), np.sum(u * (a0 + b0)))


def test_value_and_grad_argnums_tuple_inside_jacobian():
    """g(x) = Σ of the gradient of (a, b) ↦ x Σ a² b at (a0, b0) = Σ (2 x a0 b0 + x a0²):
    a vector x gives the Jacobian diag(2 a0 b0 + a0²) when the inner sum is elementwise."""
    a0, b0 = X_VEC, Y_VEC

    def g(x):
        _, (ga, gb) = tg.value_and_grad(lambda a, b: tg.sum(x * a * a * b), argnums=(0, 1))(a0, b0)
        return ga + gb

    for mode in MODES:
        close(tg.jacobian(g, mode=mode)(U_VEC), np.diag(2 * a0 * b0 + a0 * a0))


# ============================================================================ input and result types
INPUT_KINDS = {
    "float": lambda v: float(v),
    "ndarray": lambda v: np.asarray(v),
    "0-d tensor": lambda v: tg.Tensor(v),
}

NESTED_SCALAR = {
    # every result is f''(x) = 6x for f = x³ at x = 1.5: 9
    "grad-of-grad": lambda x: tg.grad(tg.grad(lambda x: x**3))(x),
    "jvp-of-grad": lambda x: tg.jvp(tg.grad(lambda x: x**3))(x, 1.0),
    "grad-of-jvp": lambda x: tg.grad(lambda x: tg.jvp(lambda x: x**3)(x, 1.0))(x),
    "jacobian-of-grad": lambda x: tg.jacobian(tg.grad(lambda x: x**3))(x),
    "hvp": lambda x: tg.hvp(lambda x: x**3)(x, 1.0),
    "value_and_grad-of-grad": lambda x: tg.value_and_grad(tg.grad(lambda x: x**3))(x)[1],
    "vjp-of-grad": lambda x: tg.vjp(tg.grad(lambda x: x**3), x)[1](1.0)[0],
    "grad-of-checkpoint-grad": lambda x: tg.grad(tg.checkpoint(tg.grad(lambda x: x**3)))(x),
}


@pytest.mark.parametrize("kind", list(INPUT_KINDS))
@pytest.mark.parametrize("name", list(NESTED_SCALAR))
def test_nested_value_for_every_input_kind(name, kind):
    close(NESTED_SCALAR[name](INPUT_KINDS[kind](1.5)), 9.0)


@pytest.mark.parametrize("kind", ["float", "ndarray"])
@pytest.mark.parametrize("name", list(NESTED_SCALAR))
def test_nested_result_is_an_ndarray_at_the_top_level(name, kind):
    result = NESTED_SCALAR[name](INPUT_KINDS[kind](1.5))
    assert isinstance(result, np.ndarray) and not isinstance(result, tg.Tensor), type(result)


def test_every_transform_returns_ndarrays_at_the_top_level():
    x, v = np.array([0.5, 1.5]), np.array([1.0, -1.0])
    f = lambda x: tg.sum(x**3)
    value, g = tg.value_and_grad(f)(x)
    out, vjp_fn = tg.vjp(lambda x: x**3, x)
    results = {
        "grad": tg.grad(f)(x),
        "value": value,
        "value_and_grad": g,
        "vjp out": out,
        "vjp cotangent": vjp_fn(v)[0],
        "jvp": tg.jvp(lambda x: x**3)(x, v),
        "jacobian": tg.jacobian(lambda x: x**3)(x),
        "jacobian forward": tg.jacobian(lambda x: x**3, mode="forward")(x),
        "hvp": tg.hvp(f)(x, v),
    }
    for name, result in results.items():
        assert type(result) is np.ndarray, (name, type(result))


# ============================================================================ power at 0
@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("exponent", [0, 0.0])
def test_power_zero_at_zero_has_zero_derivatives(exponent, order):
    """x⁰ = 1 for every x: every derivative is 0, at x = 0 too (and at x = 2)."""
    x = np.array([0.0, 2.0])
    f = lambda x: x**exponent
    for _ in range(order):
        f = _vector_grad(f)
    close(f(x), np.zeros(2), atol=0)


POWER_AT_ZERO = {
    # y: derivatives of x^y at x = 0 of order 1, 2, 3 (None: infinite, not checked)
    1: [1.0, 0.0, 0.0],
    2: [0.0, 2.0, 0.0],
    3: [0.0, 0.0, 6.0],
    1.5: [0.0, None, None],
    2.5: [0.0, 0.0, None],
    3.5: [0.0, 0.0, 0.0],
}


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("y", list(POWER_AT_ZERO))
def test_power_derivatives_at_zero(y, order):
    """d^k x^y/dx^k = falling(y, k) x^(y − k) → at x = 0: falling(y, k) if k = y, 0 if k < y
    (no 0·inf, no NaN)."""
    expected = POWER_AT_ZERO[y][order - 1]
    if expected is None:
        pytest.skip("the derivative is infinite at 0")
    f = lambda x: x**y
    for _ in range(order):
        f = d_grad(f)
    close(f(0.0), expected, atol=0)


@pytest.mark.parametrize("y", [1.0, 2.0, 3.0, 1.5, 2.5])
def test_power_gradient_in_the_exponent_at_zero(y):
    """∂/∂y 0^y = 0^y log 0 → 0 for y > 0 (the limit), and ∂/∂x by the rule above."""
    gx, gy = tg.grad(lambda x, y: x**y, argnums=(0, 1))(0.0, y)
    close(gy, 0.0, atol=0)
    close(gx, 1.0 if y == 1.0 else 0.0, atol=0)


def test_power_with_tensor_exponent_at_zero_second_order():
    """f(x, y) = x^y at (0, 2): ∂²f/∂x² = y(y − 1) x^(y−2) = 2; ∂²f/∂x∂y =
    x^(y−1)(1 + y log x) → 0 as x → 0 for y = 2; no NaN."""
    hx = tg.grad(lambda x, y: tg.grad(lambda x: x**y)(x), argnums=(0, 1))(0.0, 2.0)
    close(hx[0], 2.0, atol=0)
    close(hx[1], 0.0, atol=0)


def test_power_vector_hvp_at_zero():
    """Σ x³ at x = (0, 1): H = diag(6x) = diag(0, 6); Hv finite with v = (1, 1)."""
    close(tg.hvp(lambda x: tg.sum(x**3))(np.array([0.0, 1.0]), np.ones(2)), [0.0, 6.0], atol=0)
    close(tg.hvp(lambda x: tg.sum(x**1))(np.array([0.0, 1.0]), np.ones(2)), [0.0, 0.0], atol=0)


# ============================================================================ a list of tensors given to an op
LIST_CASES = {
    # op applied to [x, something of x] at x = x0: the closed-form derivative, if stacked
    "sum": (lambda x: tg.sum([x, x + 2]), 0.0, 2.0),  # d(2x + 2) = 2
    "sum-tuple": (lambda x: tg.sum((x, 3 * x)), 0.5, 4.0),  # d(4x) = 4
    "mean": (lambda x: tg.mean([x, 3 * x]), 0.5, 2.0),  # d(2x) = 2
    "max": (lambda x: tg.max([x, 2 * x]), 1.0, 2.0),  # max = 2x at x = 1
    "min": (lambda x: tg.min([x, 2 * x]), 1.0, 1.0),  # min = x at x = 1
    "logsumexp": (lambda x: tg.logsumexp([x, x]), 0.0, 1.0),  # log 2 + x
    "exp": (lambda x: tg.sum(tg.exp([x, 2 * x])), 0.0, 3.0),  # eˣ + 2e²ˣ at 0
    "tanh": (lambda x: tg.sum(tg.tanh([x, x])), 0.0, 2.0),  # 2 (1 − t²) at 0
    "multiply": (lambda x: tg.sum(tg.multiply([x, x], 3.0)), 0.2, 6.0),  # 6x → 6
    "softmax": (lambda x: tg.softmax([x, 0.0])[0], 0.0, 0.25),  # σ' = σ(1 − σ)
    "matmul": (lambda x: tg.matmul([x, 1.0], np.array([2.0, 5.0])), 0.0, 2.0),
    "concatenate-nested": (lambda x: tg.sum(tg.concatenate([[x], [2 * x]])), 0.0, 3.0),
}


@pytest.mark.parametrize("case", list(LIST_CASES))
def test_an_op_given_a_list_of_tensors_differentiates_it_or_refuses(case):
    """Either stacked and differentiated (the closed form), or a TypeError; never a
    silently dropped gradient."""
    f, x0, expected = LIST_CASES[case]
    try:
        result = tg.grad(f)(x0)
    except TypeError:
        return
    close(result, expected)


# ============================================================================ reductions of Python scalars and lists
LIST_DATA = [1.0, 2.0, 4.0]
NESTED_DATA = [[1.0, 2.0], [3.0, 5.0]]
REDUCTIONS = {
    "sum": (tg.sum, 3.5, 7.0, [4.0, 7.0]),
    "mean": (tg.mean, 3.5, 7.0 / 3, [2.0, 3.5]),
    "max": (tg.max, 3.5, 4.0, [3.0, 5.0]),
    "min": (tg.min, 3.5, 1.0, [1.0, 2.0]),
    "logsumexp": (
        tg.logsumexp,
        3.5,
        np.log(np.e + np.e**2 + np.e**4),
        [np.log(np.e + np.e**3), np.log(np.e**2 + np.e**5)],
    ),
}


@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reduction_of_a_python_scalar(name):
    fn, scalar, _, _ = REDUCTIONS[name]
    close(fn(scalar), scalar)
    close(fn(3), 3.0)  # an int too


@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reduction_of_a_list(name):
    fn, _, of_list, by_column = REDUCTIONS[name]
    close(fn(LIST_DATA), of_list)
    close(fn(NESTED_DATA, axis=0), by_column)


@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_gradient_of_a_reduction_of_a_float(name):
    """Each reduction of one number is that number: derivative 1."""
    fn = REDUCTIONS[name][0]
    close(tg.grad(lambda x: fn(x))(2.5), 1.0)


# ============================================================================ dtypes
DTYPE_TOL = {np.float16: 5e-3, np.float32: 2e-6}
DTYPE_TRANSFORMS = {
    # f = Σ x³ (or x³ elementwise); v = (1, −1, 2); closed forms with x in float64
    "grad": (lambda x, v: tg.grad(lambda x: tg.sum(x**3))(x), lambda x, v: 3 * x * x),
    "value_and_grad": (
        lambda x, v: tg.value_and_grad(lambda x: tg.sum(x**3))(x)[1],
        lambda x, v: 3 * x * x,
    ),
    "vjp": (lambda x, v: tg.vjp(lambda x: x**3, x)[1](v)[0], lambda x, v: 3 * x * x * v),
    "jvp": (lambda x, v: tg.jvp(lambda x: x**3)(x, v), lambda x, v: 3 * x * x * v),
    "jacobian": (lambda x, v: tg.jacobian(lambda x: x**3)(x), lambda x, v: np.diag(3 * x * x)),
    "jacobian_fwd": (
        lambda x, v: tg.jacobian(lambda x: x**3, mode="forward")(x),
        lambda x, v: np.diag(3 * x * x),
    ),
    "hvp": (lambda x, v: tg.hvp(lambda x: tg.sum(x**3))(x, v), lambda x, v: 6 * x * v),
    "grad-of-grad": (
        lambda x, v: tg.grad(lambda x: tg.sum(tg.grad(lambda x: tg.sum(x**3))(x)))(x),
        lambda x, v: 6 * x,
    ),
    "jacobian-of-grad": (
        lambda x, v: tg.jacobian(tg.grad(lambda x: tg.sum(x**3)))(x),
        lambda x, v: np.diag(6 * x),
    ),
    "checkpoint": (
        lambda x, v: tg.grad(lambda x: tg.sum(tg.checkpoint(lambda x: x**3)(x)))(x),
        lambda x, v: 3 * x * x,
    ),
}


@pytest.mark.parametrize("dtype", [np.float16, np.float32], ids=["float16", "float32"])
@pytest.mark.parametrize("name", list(DTYPE_TRANSFORMS))
def test_dtype_is_kept_through_transforms(name, dtype):
    x = np.array([0.5, 1.25, -0.75], dtype=dtype)
    v = np.array([1.0, -1.0, 2.0], dtype=dtype)
    run, expected = DTYPE_TRANSFORMS[name]
    result = run(x, v)
    assert np.asarray(tg.value_of(result)).dtype == dtype
    close(
        result,
        expected(x.astype(np.float64), v.astype(np.float64)),
        rtol=DTYPE_TOL[dtype],
        atol=DTYPE_TOL[dtype],
    )


@pytest.mark.parametrize("dtype", [np.float16, np.float32], ids=["float16", "float32"])
def test_dtype_of_a_tensor_input(dtype):
    """A Tensor made from float16/float32 data keeps the dtype, and so does its gradient."""
    t = tg.Tensor(np.ones(2, dtype))
    assert np.asarray(tg.value_of(tg.grad(lambda x: tg.sum(x * x))(t))).dtype == dtype


# ============================================================================ graph tools on blocked and checkpointed graphs
def _nca_data():
    X = np.random.default_rng(0).normal(size=(40, 5))
    return X, np.arange(40) % 3


def test_cost_report_of_the_blocked_nca_loss():
    """Blocks of 10 rows compute the same as the full 40 × 40 loss, so the forward flops are
    of the same size (at least half of the full pass's), and the reverse sweep costs > 0."""
    X, y = _nca_data()
    blocked = tg.cost_report(lambda A: tg.nca_loss(A, X, y, block_size=10), np.ones((2, 5)))
    full = tg.cost_report(lambda A: tg.nca_loss(A, X, y, block_size=40), np.ones((2, 5)))
    assert full.forward_flops > 0 and full.backward_flops > 0
    assert blocked.backward_flops > 0
    assert 0.5 * full.forward_flops <= blocked.forward_flops <= 10 * full.forward_flops
    assert blocked.forward_flops == sum(row.forward_flops for row in blocked.nodes)
    assert all(row.forward_flops >= 0 and row.vjp_flops >= 0 for row in blocked.nodes)
    assert any("sum_of_blocks" in row.op for row in blocked.nodes)
    assert "total" in str(blocked)


def test_cost_report_of_a_checkpointed_graph():
    """A checkpoint costs the same forward, and its VJP at least the plain VJPs (it re-runs f)."""
    f = lambda x: tg.exp(x) * tg.tanh(x)
    plain = tg.cost_report(lambda x: tg.sum(f(x)), np.ones(6))
    checkpointed = tg.cost_report(lambda x: tg.sum(tg.checkpoint(f)(x)), np.ones(6))
    assert checkpointed.forward_flops == plain.forward_flops > 0
    assert checkpointed.backward_flops >= plain.backward_flops > 0
    assert any("checkpoint" in row.op for row in checkpointed.nodes)


def test_to_dot_of_the_blocked_nca_loss_and_of_a_checkpoint():
    X, y = _nca_data()
    A = tg.Tensor(np.ones((2, 5)), requires_grad=True)
    dot = tg.to_dot(tg.nca_loss(A, X, y, block_size=10))
    assert dot.startswith("digraph {") and dot.rstrip().endswith("}")
    assert "sum_of_blocks" in dot and "input" in dot
    dot = tg.to_dot(tg.sum(tg.checkpoint(lambda x: tg.exp(x) * x)(A)))
    assert "checkpoint" in dot and "->" in dot


def test_detect_anomaly_on_the_blocked_nca_loss():
    """No false alarm: the same gradient, and second derivative, with detection on."""
    X, y = _nca_data()
    A0 = np.random.default_rng(4).normal(size=(2, 5)) * 0.3
    loss = lambda A: tg.nca_loss(A, X, y, block_size=10)
    g = tg.grad(loss)(A0)
    with tg.detect_anomaly():
        np.testing.assert_array_equal(tg.grad(loss)(A0), g)
        report = tg.cost_report(loss, A0)
        V = np.ones((2, 5))
        hv = tg.hvp(loss)(A0, V)
    assert report.backward_flops > 0
    assert np.all(np.isfinite(hv))


def test_detect_anomaly_on_a_checkpointed_graph():
    f = tg.checkpoint(lambda x: tg.exp(x) * x)
    x = np.array([0.5, -1.0])
    with tg.detect_anomaly():
        close(tg.grad(lambda x: tg.sum(f(x)))(x), (1 + x) * np.exp(x))
        close(tg.grad(lambda x: tg.sum(tg.grad(lambda x: tg.sum(f(x)))(x)))(x), (2 + x) * np.exp(x))


@pytest.mark.parametrize("wrap", ["checkpoint", "sum_of_blocks"])
def test_detect_anomaly_names_an_infinite_vjp_inside_a_wrapped_function(wrap):
    """√x at 0 has an infinite derivative: detect_anomaly must raise, not return inf."""
    sqrt_sum = lambda x: tg.sum(tg.sqrt(x))
    wrapped = {
        "checkpoint": lambda x: tg.sum(tg.checkpoint(tg.sqrt)(x)),
        "sum_of_blocks": lambda x: tg.sum_of_blocks(
            lambda x, b: sqrt_sum(x[b]), x, blocks=[slice(0, 1), slice(1, 2)]
        ),
    }[wrap]
    with tg.detect_anomaly(), pytest.raises(tg.AnomalyError, match="sqrt"):
        tg.grad(wrapped)(np.array([0.0, 1.0]))
