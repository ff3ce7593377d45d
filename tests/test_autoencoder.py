"""Tests of the linear autoencoder: tied gradients by accumulation, and PCA."""

import numpy as np
import pytest
from scipy.linalg import subspace_angles
from sklearn.decomposition import PCA
from sklearn.utils.estimator_checks import check_estimator

import tinygrad_nca as tg
from tinygrad_nca.models.autoencoder import (
    LinearAutoencoder,
    reconstruction_error,
    tied_reconstruction_error,
)


def make_data(seed=0, n=80, spectrum=(3.0, 2.0, 1.5, 1.0, 0.5, 0.2)):
    """Centred data with distinct variances along random orthogonal directions."""
    rng = np.random.default_rng(seed)
    rotation = np.linalg.qr(rng.normal(size=(len(spectrum),) * 2))[0]
    X = rng.normal(size=(n, len(spectrum))) * spectrum @ rotation
    return X - X.mean(axis=0)


def pca_error(X, k):
    pca = PCA(n_components=k).fit(X)
    return pca, float(np.sum((pca.inverse_transform(pca.transform(X)) - X) ** 2))


def test_tied_gradient_is_the_sum_of_the_untied_gradients():
    rng = np.random.default_rng(0)
    X, U = rng.normal(size=(20, 5)), rng.normal(size=(5, 2))
    tied = tg.grad(tied_reconstruction_error)(U, X)
    # The untied gradients, evaluated separately at W1 = Uᵀ, W2 = U ...
    W1_bar, W2_bar = tg.grad(reconstruction_error, argnums=(0, 1))(U.T.copy(), U.copy(), X)
    np.testing.assert_allclose(tied, W1_bar.T + W2_bar, rtol=1e-12)
    # ... and each one against the closed form, R = F − X: W̄2 = 2RᵀH, W̄1 = 2(RW2)ᵀX.
    H = X @ U
    R = H @ U.T - X
    np.testing.assert_allclose(W2_bar, 2 * R.T @ H, rtol=1e-10)
    np.testing.assert_allclose(W1_bar, 2 * (R @ U).T @ X, rtol=1e-10)
    # Only one of them is not the tied gradient.
    assert not np.allclose(tied, W2_bar)


def test_gradients_against_finite_differences():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(10, 4))
    tg.check_grads(tied_reconstruction_error, rng.normal(size=(4, 2)), X, mode="full")
    tg.check_grads(
        lambda W1, W2: reconstruction_error(W1, W2, X),
        rng.normal(size=(2, 4)),
        rng.normal(size=(4, 2)),
        mode="full",
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_tied_autoencoder_matches_pca_but_not_its_basis(seed):
    X = make_data(seed)
    k = 2
    pca, e_pca = pca_error(X, k)
    ae = LinearAutoencoder(n_components=k, random_state=seed).fit(X)
    U, V = ae.decoder_, pca.components_.T  # both D × K
    # 1. the same reconstruction error ...
    assert abs(ae.reconstruction_error_ - e_pca) <= 1e-6 * e_pca
    np.testing.assert_allclose(ae.components_, U.T)
    # 2. ... the same subspace ...
    assert np.max(subspace_angles(U, V)) < 1e-5
    # 3. ... but U = VQ with Q orthogonal, and not V up to signs and order.
    Q = V.T @ U
    np.testing.assert_allclose(U, V @ Q, atol=1e-6)
    np.testing.assert_allclose(Q.T @ Q, np.eye(k), atol=1e-6)
    assert np.min(np.max(np.abs(Q), axis=1)) < 0.99, f"Q is a signed permutation: {Q}"


def test_untied_autoencoder_matches_pca_error_and_subspace():
    X = make_data(3)
    pca, e_pca = pca_error(X, 2)
    ae = LinearAutoencoder(n_components=2, tied=False, random_state=0).fit(X)
    assert abs(ae.reconstruction_error_ - e_pca) <= 1e-6 * e_pca
    assert np.max(subspace_angles(ae.decoder_, pca.components_.T)) < 1e-4
    assert np.max(subspace_angles(ae.components_.T, pca.components_.T)) < 1e-4


def test_fit_centres_and_round_trips():
    X = make_data(4) + np.array([10.0, -5.0, 0.0, 1.0, 2.0, 3.0])
    ae = LinearAutoencoder(n_components=6, random_state=0).fit(X)  # full rank: exact
    np.testing.assert_allclose(ae.mean_, X.mean(axis=0))
    np.testing.assert_allclose(ae.inverse_transform(ae.transform(X)), X, atol=1e-5)
    pca = PCA(n_components=3).fit(X)
    ae3 = LinearAutoencoder(n_components=3, random_state=0).fit(X)
    np.testing.assert_allclose(
        ae3.inverse_transform(ae3.transform(X)), pca.inverse_transform(pca.transform(X)), atol=1e-5
    )


def test_float32_data_stays_float32():
    X = make_data(5).astype(np.float32)
    ae = LinearAutoencoder(n_components=2, random_state=0, tol=1e-6).fit(X)
    assert ae.components_.dtype == np.float32
    _, e_pca = pca_error(X.astype(np.float64), 2)
    assert abs(ae.reconstruction_error_ - e_pca) <= 1e-4 * e_pca


def test_other_optimizer():
    from functools import partial

    from tinygrad_nca.optim import adam

    X = make_data(6)
    _, e_pca = pca_error(X, 1)
    ae = LinearAutoencoder(
        n_components=1, random_state=0, optimizer=partial(adam, lr=0.05, n_steps=600)
    ).fit(X)
    assert abs(ae.reconstruction_error_ - e_pca) <= 1e-3 * e_pca
    assert ae.n_iter_ == 600


def test_bad_input():
    X = make_data(0)
    with pytest.raises(ValueError, match="n_components"):
        LinearAutoencoder(n_components=7).fit(X)
    with pytest.raises(ValueError, match="n_components"):
        LinearAutoencoder(n_components=0).fit(X)
    with pytest.raises(ValueError, match="NaN"):
        LinearAutoencoder().fit(np.where(X > 2, np.nan, X))
    ae = LinearAutoencoder(random_state=0).fit(X)
    with pytest.raises(ValueError, match="features"):
        ae.transform(X[:, :3])
    with pytest.raises(ValueError, match="shape"):
        ae.inverse_transform(np.ones((3, 5)))


@pytest.mark.parametrize(
    "params, message",
    [
        (
            dict(n_components=True),
            "n_components must be an integer",
        ),  # was "an integer is required"
        (dict(n_components=np.True_), "n_components must be an integer"),
        (dict(n_components=1.5), "n_components must be an integer"),
        (dict(tied="no"), "tied must be True or False"),  # was silently tied
        (dict(max_iter=0), "max_iter must be an integer >= 1"),
        (dict(max_iter=2.5), "max_iter must be an integer >= 1"),
        (dict(tol=np.nan), "tol must be a finite number"),
        (dict(tol=-1.0), "tol must be a finite number >= 0"),
        (dict(optimizer="adam"), "optimizer must be a callable"),
    ],
)
def test_bad_parameters_have_clear_errors(params, message):
    with pytest.raises(ValueError, match=message):
        LinearAutoencoder(**{"n_components": 1, **params}).fit(make_data(0, n=10))


def test_a_callback_stop_is_not_a_convergence_failure():
    """A user who stops the optimiser on purpose gets no ConvergenceWarning; running out of
    iterations still gives one."""
    import warnings
    from functools import partial

    from sklearn.exceptions import ConvergenceWarning

    from tinygrad_nca.optim import adam, minimize

    X = make_data(0, n=20)
    stop = lambda params, n: n >= 2
    for optimizer in (partial(minimize, callback=stop), partial(adam, callback=stop)):
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            ae = LinearAutoencoder(n_components=1, random_state=0, optimizer=optimizer).fit(X)
        assert ae.n_iter_ == 2
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        LinearAutoencoder(n_components=1, random_state=0, max_iter=2).fit(X)


def test_a_custom_optimizer_returning_bad_weights_is_an_error():
    from tinygrad_nca.optim import Result

    X = make_data(0, n=10)
    with pytest.raises(ValueError, match=r"shape\(s\) \[\(2, 2\)\], expected \[\(6, 1\)\]"):
        LinearAutoencoder(1, optimizer=lambda f, x0: Result(x=np.zeros((2, 2)))).fit(X)
    with pytest.raises(ValueError, match="NaN or inf"):
        LinearAutoencoder(1, optimizer=lambda f, x0: Result(x=x0 * np.nan)).fit(X)
    with pytest.raises(ValueError, match="wrong structure"):
        LinearAutoencoder(1, tied=False, optimizer=lambda f, x0: Result(x=x0[0])).fit(X)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
def test_scikit_learn_estimator_checks():
    check_estimator(LinearAutoencoder(n_components=1, max_iter=50, tol=1e-6, random_state=0))


def test_inverse_transform_rejects_nan_codes():
    ae = LinearAutoencoder(n_components=1, tol=1e-6, random_state=0).fit(make_data(0, n=10))
    with pytest.raises(ValueError, match="H contains NaN"):  # was a NaN reconstruction
        ae.inverse_transform(np.array([[np.nan]]))
    with pytest.raises(ValueError, match="could not convert"):  # was NumPy's UFuncTypeError
        ae.inverse_transform(np.array([["a"]]))
