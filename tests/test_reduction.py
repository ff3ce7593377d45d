"""Tests of LinearReduction: Z = XA with any loss, its cost, and NCA as a special case."""

from functools import partial

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import tinygrad_nca as tg
from tinygrad_nca.exercises import loo_1nn_error, nca_classifier_loss, two_feature_data
from tinygrad_nca.models.reduction import LinearReduction, reduction_objective
from tinygrad_nca.tensor import listening


def squared_error_to(y):
    return lambda Z, y: tg.mean(tg.sum((Z - y) ** 2, axis=1))


def test_regression_loss_recovers_least_squares():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 4))
    Y = X @ rng.normal(size=(4, 2)) + 0.1 * rng.normal(size=(50, 2))
    model = LinearReduction(2, squared_error_to(Y), tol=1e-10, random_state=0).fit(X, Y)
    A_lstsq = np.linalg.lstsq(X, Y, rcond=None)[0]
    np.testing.assert_allclose(model.components_, A_lstsq.T, atol=1e-6)
    np.testing.assert_allclose(model.transform(X), X @ A_lstsq, atol=1e-5)
    assert model.components_.shape == (2, 4) and model.n_iter_ > 0
    assert model.loss_ == pytest.approx(np.mean(np.sum((X @ A_lstsq - Y) ** 2, axis=1)))


def test_unsupervised_loss_of_z():
    # A loss of Z alone: make the projected features white, ZᵀZ/N = I.
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 3)) * [3.0, 1.0, 0.3]
    X = X - X.mean(axis=0)
    whiten = lambda Z: tg.sum((Z.T @ Z / len(X) - np.eye(2)) ** 2)
    Z = LinearReduction(2, whiten, tol=1e-10, random_state=0).fit_transform(X)
    np.testing.assert_allclose(Z.T @ Z / len(X), np.eye(2), atol=1e-6)


def backward_and_forward_flops(D, N=30, K=2):
    rng = np.random.default_rng(D)
    X, A, y = rng.normal(size=(N, D)), rng.normal(size=(D, K)), np.arange(N) % 3
    report = tg.cost_report(lambda A: reduction_objective(A, X, nca_classifier_loss, y), A)
    return report.forward_flops, report.backward_flops


def test_backward_cost_is_linear_in_D_and_a_small_multiple_of_forward():
    N, K = 30, 2
    costs = {D: backward_and_forward_flops(D, N, K) for D in (20, 40, 80, 160)}
    for D, (forward, backward) in costs.items():
        assert backward <= 4 * forward, (D, forward, backward)
    # Only Ā = XᵀZ̄ sees D: each extra feature costs exactly 2NK more backward flops.
    for D1, D2 in [(20, 40), (40, 80), (80, 160)]:
        assert costs[D2][1] - costs[D1][1] == 2 * N * K * (D2 - D1)
        assert costs[D2][0] - costs[D1][0] == 2 * N * K * (D2 - D1)


def test_backward_cost_counted_by_the_op_listener():
    # The same fact measured without cost_report: listen to every primitive executed.
    N, K = 25, 3
    backward = {}
    for D in (10, 100):
        rng = np.random.default_rng(0)
        X, A = rng.normal(size=(N, D)), rng.normal(size=(D, K))
        counted = []
        out = reduction_objective(tg.Tensor(A, requires_grad=True), X, lambda Z: tg.sum(Z**2))
        with listening(on_op=lambda name, flops: counted.append((name, flops))):
            out.backward()
        backward[D] = sum(f for _, f in counted)
        matmuls = [f for name, f in counted if name == "matmul"]
        assert matmuls == [2 * N * D * K]  # Ā = XᵀZ̄ only: no X̄ is computed
    assert backward[100] - backward[10] == 2 * N * K * 90


def nca_data():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    X, y = X[::10], y[::10]
    return (X - X.mean(axis=0)) / X.std(axis=0), y


def test_nca_as_reduction_layer_matches_nca_loss_and_the_papers_gradient():
    from tinygrad_nca.nca.loss import nca_loss
    from tinygrad_nca.nca.reference import nca_loss_and_grad_reference

    X, y = nca_data()
    A = np.random.default_rng(0).normal(scale=0.5, size=(4, 2))
    model = LinearReduction(2, nca_classifier_loss)
    objective = lambda A: reduction_objective(A, X, model.loss, y)
    value, gradient = tg.value_and_grad(objective)(A)
    # NCA's map is K × D (z = Aᵀx there) and it is maximised.
    assert value == pytest.approx(-float(nca_loss(A.T, X, y)), rel=1e-12)
    paper_value, paper_gradient = nca_loss_and_grad_reference(A.T, X, y)
    assert value == pytest.approx(-paper_value, rel=1e-12)
    np.testing.assert_allclose(gradient, -paper_gradient.T, rtol=1e-9, atol=1e-12)
    tg.check_grads(objective, A, mode="full")


def test_fitting_nca_loss_drops_the_noise_feature():
    X, y = two_feature_data(n=30, seed=0)  # feature 0: noise of scale 10
    euclidean = float(loo_1nn_error(np.eye(2), X, y))
    model = LinearReduction(2, nca_classifier_loss, random_state=0, max_iter=100).fit(X, y)
    A = model.components_  # K × D, as for NCA
    assert euclidean > 0.15
    assert float(loo_1nn_error(A, X, y)) == 0.0
    weight = np.linalg.norm(A, axis=0)  # how much each input feature is used
    assert weight[1] > 5 * weight[0], weight


def test_given_optimizer_and_float32():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 3)).astype(np.float32)
    Y = X @ np.array([[1.0], [0.0], [-1.0]], dtype=np.float32)
    from tinygrad_nca.optim import adam

    model = LinearReduction(1, squared_error_to(Y), random_state=0)
    model.set_params(optimizer=partial(adam, lr=0.05, n_steps=800)).fit(X, Y)
    assert model.components_.dtype == np.float32 and model.n_iter_ == 800
    np.testing.assert_allclose(model.components_, [[1.0, 0.0, -1.0]], atol=1e-3)


def test_init_options():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 4)) * [4.0, 1.0, 1.0, 0.5]
    loss = lambda Z: tg.sum(Z**2) * 0.0  # a flat loss: the fit keeps the start
    A0 = rng.normal(size=(4, 2))
    np.testing.assert_array_equal(LinearReduction(2, loss, init=A0).fit(X).components_, A0.T)
    pca_start = LinearReduction(1, loss, init="pca").fit(X).components_
    assert abs(pca_start[0, 0]) > 0.95


def test_bad_input():
    X = np.random.default_rng(4).normal(size=(20, 3))
    loss = lambda Z: tg.sum(Z**2)
    with pytest.raises(ValueError, match="loss must be a callable"):
        LinearReduction(2).fit(X)
    with pytest.raises(ValueError, match="scalar"):
        LinearReduction(2, lambda Z: Z * 2).fit(X)
    with pytest.raises(ValueError, match="n_components"):
        LinearReduction(0, loss).fit(X)
    with pytest.raises(ValueError, match="init"):
        LinearReduction(2, loss, init=np.ones((2, 3))).fit(X)
    with pytest.raises(ValueError, match="init"):
        LinearReduction(2, loss, init="zeros").fit(X)
    with pytest.raises(ValueError, match="NaN"):
        LinearReduction(2, loss).fit(np.where(X > 1, np.nan, X))
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        model = LinearReduction(2, lambda Z: tg.sum((Z - 1.0) ** 4), max_iter=2).fit(X)
    with pytest.raises(ValueError, match="features"):
        model.transform(X[:, :2])


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(n_components=True), "n_components must be a positive integer"),
        (dict(max_iter=2.5), "max_iter must be an integer >= 1"),  # was truncated by SciPy
        (dict(max_iter=-1), "max_iter must be an integer >= 1"),
        (dict(tol="small"), "tol must be a finite number"),
        (dict(optimizer=1), "optimizer must be a callable"),
        (dict(init=np.full((3, 1), np.nan)), "init array contains NaN"),
        (dict(init=[["a"], ["b"], ["c"]]), "init must be 'random', 'pca' or an array of numbers"),
    ],
)
def test_bad_parameters_have_clear_errors(params, message):
    X = np.random.default_rng(4).normal(size=(10, 3))
    with pytest.raises(ValueError, match=message):
        LinearReduction(**{"n_components": 1, "loss": lambda Z: tg.sum(Z**2), **params}).fit(X)


def test_a_callback_stop_is_not_a_convergence_failure():
    import warnings

    from tinygrad_nca.optim import minimize

    X = np.random.default_rng(4).normal(size=(20, 3))
    y = X @ np.array([1.0, 2.0, 3.0])
    loss = lambda Z, y: tg.mean((Z[:, 0] - y) ** 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = LinearReduction(
            1, loss, random_state=0, optimizer=partial(minimize, callback=lambda A, n: n >= 2)
        ).fit(X, y)
    assert model.n_iter_ == 2


def test_a_custom_optimizer_returning_nan_is_an_error():
    from tinygrad_nca.optim import Result

    X = np.random.default_rng(4).normal(size=(10, 3))
    with pytest.raises(ValueError, match="NaN or inf.*diverged"):
        LinearReduction(
            1,
            lambda Z: tg.sum(Z**2),
            optimizer=lambda f, A0: Result(x=A0 * np.inf, message="diverged"),
        ).fit(X)


def unit_variance(Z, y=None):
    """A loss usable with or without labels: projected features of unit second moment."""
    return tg.sum((tg.mean(Z**2, axis=0) - 1.0) ** 2)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
def test_scikit_learn_estimator_checks():
    from sklearn.utils.estimator_checks import check_estimator

    check_estimator(LinearReduction(1, unit_variance, max_iter=20, random_state=0))


def test_a_loss_that_is_nan_at_the_start_is_named():
    # with a custom optimizer this used to give a warning and A0 as the "fitted" map
    X = np.random.default_rng(4).normal(size=(10, 3))
    nan_loss = lambda Z: tg.sum(tg.log(Z))  # log of negative entries
    from tinygrad_nca.optim import adam

    for optimizer in (None, partial(adam, n_steps=5)):
        with (
            pytest.raises(ValueError, match="loss is nan at the initial map"),
            np.errstate(invalid="ignore"),
        ):
            LinearReduction(1, nan_loss, optimizer=optimizer, random_state=0).fit(X)
