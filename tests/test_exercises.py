"""Tests of the course exercises: each number checked against an independent computation."""

import numpy as np
import pytest
from scipy.linalg import subspace_angles
from sklearn.decomposition import PCA

import tinygrad_nca as tg
from tinygrad_nca import exercises as ex


def loo_1nn_error_numpy(A, X, y):
    """1-NN leave-one-out error by argmin over a distance matrix (no engine)."""
    Z = X @ A.T
    d = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(axis=2)
    np.fill_diagonal(d, np.inf)
    return float(np.mean(y[np.argmin(d, axis=1)] != y))


# ------------------------------------------------------------------ exercise 1
@pytest.fixture(scope="module")
def knn():
    return ex.knn_loo_exercise()


def test_loo_error_matches_argmin_rule(knn):
    X, y = knn["X"], knn["y"]
    rng = np.random.default_rng(0)
    for A in [np.eye(2), np.diag([0.0, 1.0]), rng.normal(size=(2, 2)), rng.normal(size=(1, 2))]:
        assert float(ex.loo_1nn_error(A, X, y)) == loo_1nn_error_numpy(A, X, y)


def test_dropping_the_noise_feature_reaches_zero_loo_error(knn):
    assert knn["error_identity"] == loo_1nn_error_numpy(np.eye(2), knn["X"], knn["y"])
    assert knn["error_identity"] > 0.2
    assert knn["error_dropped"] == 0.0


def test_loo_error_has_zero_derivative(knn):
    np.testing.assert_array_equal(knn["engine_gradient"], 0.0)
    np.testing.assert_array_equal(knn["finite_difference_gradient"], 0.0)
    # ... while the distances it is built from do respond to A:
    assert np.max(np.abs(knn["margin_gradient"])) > 1.0
    # and at a random A the engine agrees with finite differences (both zero).
    A = np.random.default_rng(1).normal(size=(2, 2))
    tg.check_grads(lambda A: ex.loo_1nn_error(A, knn["X"], knn["y"]), A, mode="full")


def test_loo_error_along_a_path_is_piecewise_constant(knn):
    errors, n = knn["path_error"], len(knn["y"])
    jumps = np.count_nonzero(np.diff(errors))
    assert 1 <= jumps < len(errors) // 4  # mostly flat, with a few jumps
    np.testing.assert_allclose(errors * 2 * n, np.round(errors * 2 * n), atol=1e-9)  # k/(2N)
    assert errors[0] == knn["error_identity"] and errors[-1] == 0.0


# ------------------------------------------------------------------ exercise 2
def test_semicircle_data():
    X = ex.semicircle(50, seed=3)
    np.testing.assert_allclose(np.sum(X**2, axis=1), 1.0)
    assert np.all(X[:, 1] >= 0) and np.all(np.abs(X[:, 0]) <= 1)


def test_only_a_nonlinear_decoder_reconstructs_the_semicircle():
    r = ex.semicircle_autoencoders(n=50, hidden=8, max_iter=150)
    # The best line, from scikit-learn's PCA on the same points:
    pca = PCA(n_components=1).fit(r["X"])
    line = np.mean(np.sum((pca.inverse_transform(pca.transform(r["X"])) - r["X"]) ** 2, axis=1))
    assert r["pca_error"] == pytest.approx(line, rel=1e-10)
    assert r["linear"] == pytest.approx(line, rel=1e-6)
    assert r["linear_encoder_mlp_decoder"] < 0.02 * line
    # A linear decoder's reconstructions lie on a line: never better than PCA.
    assert r["mlp_encoder_linear_decoder"] >= line * (1 - 1e-9)
    rec = r["reconstructions"]["mlp_encoder_linear_decoder"]
    assert np.linalg.matrix_rank(rec - rec.mean(axis=0), tol=1e-8) == 1


# ------------------------------------------------------------------ exercise 3
def test_parameter_tying_is_gradient_accumulation():
    r = ex.parameter_tying_exercise()
    scale = np.max(np.abs(r["tied_gradient"]))
    assert r["max_abs_difference"] <= 1e-12 * scale
    assert r["decoder_only_difference"] > 0.1 * scale
    np.testing.assert_allclose(
        r["tied_gradient"], r["encoder_gradient"].T + r["decoder_gradient"], rtol=1e-12
    )


def test_tied_autoencoder_vs_pca():
    r = ex.tied_autoencoder_vs_pca(n_components=2, random_state=1)
    assert abs(r["relative_gap"]) <= 1e-6
    assert np.max(r["principal_angles"]) < 1e-5
    np.testing.assert_allclose(subspace_angles(r["U"], r["V"]), r["principal_angles"])
    np.testing.assert_allclose(r["U"], r["V"] @ r["Q"], atol=1e-6)
    assert r["orthogonality_error"] < 1e-6
    assert r["distance_from_signed_permutation"] > 0.01
    np.testing.assert_allclose(r["Q"].T @ r["Q"], np.eye(2), atol=1e-6)


# ------------------------------------------------------------------ exercise 4
def test_nca_classifier_loss_gradient():
    rng = np.random.default_rng(2)
    Z, y = rng.normal(size=(8, 2)), rng.integers(0, 3, size=8)
    tg.check_grads(ex.nca_classifier_loss, Z, y, mode="full")


def test_nca_classifier_loss_by_loops():
    rng = np.random.default_rng(3)
    Z, y = rng.normal(size=(6, 2)), np.array([0, 0, 1, 1, 2, 0])
    total = 0.0
    for i in range(6):
        w = np.array([np.exp(-np.sum((Z[i] - Z[j]) ** 2)) if j != i else 0.0 for j in range(6)])
        total += w[(y == y[i])].sum() / w.sum()
    assert float(ex.nca_classifier_loss(Z, y)) == pytest.approx(-total, rel=1e-12)


def test_nca_is_a_reduction_layer_with_a_classifier_loss():
    r = ex.nca_as_reduction_layer()
    assert r["value"] < 0 and r["value_difference"] <= 1e-12 * abs(r["value"])
    assert r["max_gradient_difference"] <= 1e-9 * np.max(np.abs(r["paper_gradient"]))


# ------------------------------------------------------------------ bad arguments
def test_nca_as_reduction_layer_needs_x_and_y_together():
    X, y = ex.two_feature_data(10)
    with pytest.raises(ValueError, match="X is given without y"):  # was a TypeError deep inside
        ex.nca_as_reduction_layer(X=X)
    with pytest.raises(ValueError, match="y is given without X"):  # y was silently replaced
        ex.nca_as_reduction_layer(y=y)
    r = ex.nca_as_reduction_layer(X, y, n_components=1)
    assert r["gradient"].shape == (2, 1) and r["max_gradient_difference"] < 1e-10


@pytest.mark.parametrize(
    "X, y, kwargs, message",
    [
        (
            np.array([[0.0, np.nan], [1.0, 2.0], [2.0, 0.0]]),
            [0, 1, 0],
            {},
            "NaN",
        ),  # was a NaN result
        (np.ones((4, 2)), [0, 1], {}, "inconsistent numbers of samples"),
        (np.eye(3), [1, 1, 1], {}, "single class"),
        (np.eye(3), [0, 1, 0], {"n_components": 0}, "n_components must be an integer >= 1"),
        (np.eye(3), [0, 1, 0], {"n_components": 2.5}, "n_components must be an integer >= 1"),
    ],
)
def test_nca_as_reduction_layer_checks_its_data(X, y, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ex.nca_as_reduction_layer(X, y, **kwargs)


def test_losses_check_the_labels_and_the_shape():
    X, y = ex.two_feature_data(10)
    with pytest.raises(ValueError, match=r"one label per row of X: expected shape \(10,\)"):
        ex.loo_1nn_error(np.eye(2), X, y[:5])
    with pytest.raises(ValueError, match=r"one label per row of Z"):
        ex.nca_classifier_loss(X, y[:5])
    with pytest.raises(ValueError, match="Z must be 2-D"):
        ex.nca_classifier_loss(X[:, 0], y)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: ex.two_feature_data(n=2.5), "n must be an integer"),
        (lambda: ex.two_feature_data(noise=np.nan), "noise must be a finite"),
        (
            lambda: ex.knn_loo_exercise(n=10, eps=0.0),
            r"eps must be in \(0",
        ),  # was ZeroDivisionError
        (lambda: ex.semicircle_autoencoders(n=10, hidden=0), "hidden must be an integer >= 1"),
        (lambda: ex.semicircle_autoencoders(n=1), "n must be an integer >= 2"),
        (lambda: ex.parameter_tying_exercise(n_features=0), "n_features must be an integer >= 1"),
    ],
)
def test_exercise_parameters_are_checked(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_loo_error_rejects_nan():
    # NaN distances used to count every point as a tie: an error of 0.5, silently
    X, y = ex.two_feature_data(10)
    with pytest.raises(ValueError, match="A contains NaN"):
        ex.loo_1nn_error(np.full((2, 2), np.nan), X, y)
    with pytest.raises(ValueError, match="X contains NaN or inf"):
        ex.loo_1nn_error(np.eye(2), np.where(X > 1, np.inf, X), y)
