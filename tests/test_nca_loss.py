"""Tests of nca_loss: against the paper's closed form, scikit-learn's own NCA
gradient and finite differences; numerical safety; blockwise = full; float32."""

import tracemalloc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.neighbors import NeighborhoodComponentsAnalysis as SklearnNCA

import tinygrad_nca as tg
from tinygrad_nca.nca.reference import nca_loss_and_grad_reference

OBJECTIVES = ["expected", "log"]
DISTANCES = ["gram", "broadcast"]


def problem(seed=0, n=30, n_features=5, n_components=3, n_classes=3, scale=0.5, singleton=True):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_features))
    y = rng.integers(0, n_classes, n)
    if singleton:
        y[0] = n_classes + 5  # a class with one point: no classmate
    A = scale * rng.standard_normal((n_components, n_features))
    return A, X, y


def relative_error(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300)


def value_and_grad(A, X, y, **kwargs):
    value, gradient = tg.value_and_grad(tg.nca_loss)(A, X, y, **kwargs)
    return float(value), gradient


def sklearn_loss_and_grad(A, X, y):
    """scikit-learn's objective Σ p_i and its hand-derived gradient (sign=+1)."""
    nca = SklearnNCA()
    nca.n_iter_ = 1  # past the first call, which prints a header when verbose
    same_class = y[:, None] == y[None, :]
    value, gradient = nca._loss_grad_lbfgs(A.ravel(), X, same_class, 1.0)
    return value, gradient.reshape(A.shape)


# ---------------------------------------------------------------- independent references
@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("distance", DISTANCES)
@pytest.mark.parametrize("block_size", [None, 7])
def test_matches_the_papers_closed_form(objective, distance, block_size):
    A, X, y = problem(seed=1)
    value, gradient = value_and_grad(
        A, X, y, objective=objective, distance=distance, block_size=block_size
    )
    ref_value, ref_gradient = nca_loss_and_grad_reference(A, X, y, objective=objective)
    assert relative_error(value, ref_value) < 1e-10
    assert relative_error(gradient, ref_gradient) < 1e-10


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("distance", DISTANCES)
def test_matches_scikit_learns_loss_and_gradient(seed, distance):
    A, X, y = problem(seed=seed, n=50, n_features=6, n_components=4, n_classes=4)
    value, gradient = value_and_grad(A, X, y, distance=distance)
    sk_value, sk_gradient = sklearn_loss_and_grad(A, X, y)
    assert relative_error(value, sk_value) < 1e-10
    assert relative_error(gradient, sk_gradient) < 1e-10


def test_the_objectives_mean_what_they_say():
    # Two tight, far-apart pairs: every point's classmate is nearest, p_i ≈ 1.
    X = np.array([[0.0, 0.0], [0.0, 0.1], [5.0, 0.0], [5.0, 0.1]])
    y = np.array([0, 0, 1, 1])
    assert float(tg.nca_loss(np.eye(2), X, y).value) == pytest.approx(4.0, abs=1e-9)
    assert float(tg.nca_loss(np.eye(2), X, y, objective="log").value) == pytest.approx(
        0.0, abs=1e-9
    )
    # A = 0 maps every point to the origin: p_ij = 1/(N−1), p_i = (|C_i|−1)/(N−1).
    assert float(tg.nca_loss(np.zeros((1, 2)), X, y).value) == pytest.approx(4 / 3)


def test_labels_of_any_type_and_order_give_the_same_loss():
    A, X, y = problem(seed=2, singleton=False)
    names = np.array(["cat", "dog", "emu"])[y]
    permutation = np.random.default_rng(0).permutation(len(y))
    base = float(tg.nca_loss(A, X, y).value)
    assert float(tg.nca_loss(A, X, names).value) == pytest.approx(base, rel=1e-12)
    assert float(tg.nca_loss(A, X[permutation], y[permutation]).value) == pytest.approx(
        base, rel=1e-12
    )


# ---------------------------------------------------------------- finite differences
@st.composite
def nca_problems(draw):
    n = draw(st.integers(2, 12))
    n_features = draw(st.integers(1, 5))
    n_components = draw(st.integers(1, n_features))
    n_classes = draw(st.integers(1, 4))
    scale = draw(st.floats(0.1, 1.5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X = rng.standard_normal((n, n_features))
    y = rng.integers(0, n_classes, n)
    A = scale * rng.standard_normal((n_components, n_features))
    return A, X, y


@given(
    nca_problems(),
    st.sampled_from(OBJECTIVES),
    st.sampled_from(DISTANCES),
    st.sampled_from([None, 1, 3]),
)
def test_gradient_matches_finite_differences(problem_, objective, distance, block_size):
    A, X, y = problem_
    # Both A and X are checked: the engine differentiates with respect to either.
    tg.check_grads(
        lambda A, X: tg.nca_loss(
            A, X, y, objective=objective, distance=distance, block_size=block_size
        ),
        A,
        X,
    )


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_second_derivative_matches_finite_differences(objective):
    A, X, y = problem(seed=3, n=10, n_features=3, n_components=2)
    for block_size in (None, 4):
        tg.check_grads(
            lambda A: tg.nca_loss(A, X, y, objective=objective, block_size=block_size), A, order=2
        )


# ---------------------------------------------------------------- numerical safety
def safety_cases():
    A, X, y = problem(seed=4, n=20)
    duplicates = X.copy()
    duplicates[1::2] = duplicates[::2]  # every point has an exact twin
    return {
        "huge scale (distances ~1e6)": (1e3 * A, X, y),
        "tiny scale": (1e-8 * A, X, y),
        "duplicate points": (A, duplicates, y),
        "duplicates, other classes": (A, duplicates, np.arange(20) % 3),
        "singleton classes": (A, X, np.r_[np.arange(10), np.zeros(10, int)]),
        "only singletons": (A, X, np.arange(20)),
        "one point": (A, X[:1], y[:1]),
        "A = 0": (0 * A, X, y),
    }


@pytest.mark.parametrize("case", list(safety_cases()))
@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("distance", DISTANCES)
def test_never_nan(case, objective, distance):
    A, X, y = safety_cases()[case]
    for block_size in (None, 3):
        # detect_anomaly raises at the first NaN/inf in any forward value or VJP.
        with tg.detect_anomaly():
            value, gradient = value_and_grad(
                A, X, y, objective=objective, distance=distance, block_size=block_size
            )
        assert np.isfinite(value) and np.all(np.isfinite(gradient)), case
        if len(y) > 1 and case != "huge scale (distances ~1e6)":
            ref_value, ref_gradient = nca_loss_and_grad_reference(A, X, y, objective=objective)
            assert value == pytest.approx(ref_value, rel=1e-9, abs=1e-12)
            np.testing.assert_allclose(
                gradient, ref_gradient, rtol=1e-7, atol=1e-9 * max(1.0, np.abs(ref_gradient).max())
            )


def test_huge_scale_matches_the_reference():
    # At distances ~1e6 the Gram form loses digits to cancellation (as does
    # scikit-learn's): absolute error ~ ε·‖z‖², tiny next to the distances.
    A, X, y = safety_cases()["huge scale (distances ~1e6)"]
    for objective in OBJECTIVES:
        value, _ = value_and_grad(A, X, y, objective=objective)
        ref_value, _ = nca_loss_and_grad_reference(A, X, y, objective=objective)
        assert value == pytest.approx(ref_value, rel=1e-6, abs=1e-6)


def test_singletons_contribute_nothing():
    A, X, y = problem(seed=5, singleton=False)
    y_with_singleton = y.copy()
    y_with_singleton[0] = 99
    rest = np.arange(1, len(y))
    for objective in OBJECTIVES:
        with_singleton = float(tg.nca_loss(A, X, y_with_singleton, objective=objective).value)
        # The same sum computed by hand over the other points (the singleton
        # still counts as a neighbour, so it stays in X).
        _, reference_terms = _per_point_terms(A, X, y_with_singleton, objective)
        assert with_singleton == pytest.approx(sum(reference_terms[i] for i in rest), rel=1e-12)


def _per_point_terms(A, X, y, objective):
    Z = X @ A.T
    d = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    P = np.exp(-(d - d.min(axis=1, keepdims=True)))
    P /= P.sum(axis=1, keepdims=True)
    p = np.array([P[i, (y == y[i]) & (np.arange(len(y)) != i)].sum() for i in range(len(y))])
    with np.errstate(divide="ignore"):
        return P, p if objective == "expected" else np.log(p)


# ---------------------------------------------------------------- blockwise
@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("block_size", [1, 16, 50, 1000])
def test_blockwise_equals_full(objective, block_size):
    A, X, y = problem(seed=6, n=100, n_features=8, n_components=4, n_classes=5)
    full = value_and_grad(A, X, y, objective=objective)
    blocked = value_and_grad(A, X, y, objective=objective, block_size=block_size)
    assert relative_error(blocked[0], full[0]) < 1e-10
    assert relative_error(blocked[1], full[1]) < 1e-10


def _peak_bytes(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_blockwise_needs_less_memory():
    A, X, y = problem(seed=7, n=600, n_features=10, n_components=4, n_classes=5)
    pair_matrix = 600 * 600 * 8  # one N × N float64 matrix
    full = _peak_bytes(lambda: value_and_grad(A, X, y))
    blocked = _peak_bytes(lambda: value_and_grad(A, X, y, block_size=30))
    assert full > 2 * pair_matrix  # the full path holds N × N matrices ...
    assert blocked < 0.6 * pair_matrix  # ... a block of 30 rows does not
    assert blocked < full / 5


# ---------------------------------------------------------------- dtypes and errors
@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("block_size", [None, 8])
def test_float32_stays_float32(objective, block_size):
    A, X, y = problem(seed=8)
    value, gradient = value_and_grad(
        A.astype(np.float32), X.astype(np.float32), y, objective=objective, block_size=block_size
    )
    value64, gradient64 = value_and_grad(A, X, y, objective=objective)
    assert tg.nca_loss(A.astype(np.float32), X.astype(np.float32), y).dtype == np.float32
    assert gradient.dtype == np.float32
    assert value == pytest.approx(value64, rel=1e-5)
    assert relative_error(gradient, gradient64) < 1e-4


def test_tensor_inputs_and_backward():
    A, X, y = problem(seed=9)
    A_t = tg.Tensor(A, requires_grad=True)
    X_t = tg.Tensor(X, requires_grad=True)
    tg.nca_loss(A_t, X_t, y).backward()
    _, (grad_A, grad_X) = tg.value_and_grad(tg.nca_loss, argnums=(0, 1))(A, X, y)
    np.testing.assert_allclose(A_t.grad, grad_A, rtol=1e-12)
    np.testing.assert_allclose(X_t.grad, grad_X, rtol=1e-12)


@pytest.mark.parametrize(
    "arguments, match",
    [
        ((np.ones(3), np.ones((4, 3)), [0, 0, 1, 1]), "A must be a 2-D"),
        ((np.ones((2, 3)), np.ones(3), [0, 0, 1]), "X must be a 2-D"),
        ((np.ones((2, 5)), np.ones((4, 3)), [0, 0, 1, 1]), "one column per feature"),
        ((np.ones((2, 3)), np.ones((4, 3)), [0, 1, 1]), "3 labels but X has 4 rows"),
        ((np.ones((2, 3)), np.ones((4, 3)), np.zeros((4, 1))), "1-D array of labels"),
    ],
)
def test_shape_errors_name_the_problem(arguments, match):
    with pytest.raises(tg.ShapeError, match=match):
        tg.nca_loss(*arguments)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(objective="mean"), "objective must be one of"),
        (dict(distance="cosine"), "distance must be one of"),
        (dict(block_size=0), "block_size must be a positive integer"),
        (dict(block_size=2.5), "block_size must be a positive integer"),
    ],
)
def test_bad_options_are_rejected(kwargs, match):
    A, X, y = problem()
    with pytest.raises(ValueError, match=match):
        tg.nca_loss(A, X, y, **kwargs)
