"""The linear autoencoder, tied or untied, fitted by L-BFGS with engine gradients.

Encoder W⁽¹⁾ (K × D), decoder W⁽²⁾ (D × K), centred data X (N × D):

    H = X W⁽¹⁾ᵀ,    F = H W⁽²⁾ᵀ,    E = Σₙ Σ_d (F − X)²ₙd.

*Tied* weights use one matrix U (D × K) in both places: W⁽¹⁾ = Uᵀ, W⁽²⁾ = U.
The code does not derive a tied gradient: it calls the same error function with
U in both slots, so the reverse sweep sends one cotangent into U through the
transpose and one directly, and sums them where U fans out:

    Ū = W̄⁽¹⁾ᵀ + W̄⁽²⁾.

That sum is what "parameter tying" means for gradients.

Every minimiser of E reconstructs X by projecting onto the top-K principal
subspace, so the autoencoder matches PCA's reconstruction error and spans
PCA's subspace; but E is unchanged by U ↦ UQ for any orthogonal Q, so the
columns of U are an orthonormal basis of that subspace, not the principal
directions themselves (U = VQ).
"""
from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from .. import ops
from ..optim import minimize

__all__ = ["LinearAutoencoder", "reconstruction_error", "tied_reconstruction_error"]


def reconstruction_error(W1, W2, X):
    """E(W⁽¹⁾, W⁽²⁾) = Σ (X W⁽¹⁾ᵀ W⁽²⁾ᵀ − X)²: the untied autoencoder's error.

    >>> import numpy as np
    >>> X = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> float(reconstruction_error(np.eye(2), np.eye(2), X))   # identity reconstructs exactly
    0.0
    """
    H = X @ ops.transpose(W1)           # codes, N × K
    F = H @ ops.transpose(W2)           # reconstructions, N × D
    return ops.sum((F - X) ** 2)


def tied_reconstruction_error(U, X):
    """E(U) = E(W⁽¹⁾ = Uᵀ, W⁽²⁾ = U): the same function with U used twice.

    Its gradient is accumulated by the engine at the shared parameter U.
    """
    return reconstruction_error(ops.transpose(U), U, X)


class LinearAutoencoder(TransformerMixin, BaseEstimator):
    """Linear autoencoder trained on centred data by minimising the squared error.

    Parameters
    ----------
    n_components : int
        Code size K (1 ≤ K ≤ n_features).
    tied : bool, default=True
        Use one matrix U for encoder (Uᵀ) and decoder (U); otherwise learn W⁽¹⁾
        and W⁽²⁾ separately.
    max_iter : int, default=2000
        Maximum number of L-BFGS iterations.
    tol : float, default=1e-10
        Gradient tolerance of L-BFGS (see :func:`tinygrad_nca.optim.minimize`).
        The objective is the mean over samples of the squared error, E / N.
    random_state : int, RandomState or None
        Seed of the random initialisation (Gaussian entries of variance 1/D).
    optimizer : callable, optional
        ``optimizer(fun, x0)`` returning an object with ``x`` (and optionally
        ``nit``, ``loss_curve``, ``success``), e.g. a ``functools.partial`` of
        :func:`tinygrad_nca.optim.adam`. Default: L-BFGS-B via ``minimize``.
    verbose : int, default=0
        Passed to ``minimize``: 1 prints the iteration table.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The encoder W⁽¹⁾ (for tied weights, Uᵀ), like PCA's ``components_``.
    decoder_ : ndarray of shape (n_features, n_components)
        The decoder W⁽²⁾ (for tied weights, U).
    mean_ : ndarray of shape (n_features,)
        Per-feature mean removed before encoding.
    reconstruction_error_ : float
        E = Σ (F − X)² on the (centred) training data at the end of fitting.
    loss_curve_ : list of float
        E / N at the start and after every iteration.
    n_iter_ : int
        Number of optimiser iterations.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from tinygrad_nca.models.autoencoder import LinearAutoencoder
    >>> X = np.random.default_rng(0).normal(size=(50, 4)) * [3.0, 2.0, 0.5, 0.1]
    >>> ae = LinearAutoencoder(n_components=2, random_state=0).fit(X)
    >>> ae.components_.shape, ae.transform(X).shape, ae.inverse_transform(ae.transform(X)).shape
    ((2, 4), (50, 2), (50, 4))
    >>> np.allclose(ae.components_ @ ae.components_.T, np.eye(2), atol=1e-5)   # orthonormal rows
    True
    """

    def __init__(self, n_components=2, *, tied=True, max_iter=2000, tol=1e-10,
                 random_state=None, optimizer=None, verbose=0):
        self.n_components = n_components
        self.tied = tied
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.optimizer = optimizer
        self.verbose = verbose

    def fit(self, X, y=None):
        """Centre X and minimise the reconstruction error over the weights."""
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
        n_samples, n_features = X.shape
        K = self.n_components
        if not isinstance(K, numbers.Integral) or not 1 <= K <= n_features:
            raise ValueError(f"n_components must be an integer in [1, n_features={n_features}], "
                             f"got {K!r}")
        self.mean_ = X.mean(axis=0)
        Xc = X - self.mean_
        rng = check_random_state(self.random_state)
        scale = 1.0 / np.sqrt(n_features)

        if self.tied:
            x0 = (rng.normal(scale=scale, size=(n_features, K))).astype(X.dtype)
            fun = lambda U, X: tied_reconstruction_error(U, X) / n_samples
        else:
            x0 = (rng.normal(scale=scale, size=(K, n_features)).astype(X.dtype),
                  rng.normal(scale=scale, size=(n_features, K)).astype(X.dtype))
            fun = lambda W, X: reconstruction_error(W[0], W[1], X) / n_samples

        if self.optimizer is None:
            result = minimize(fun, x0, args=(Xc,), max_iter=self.max_iter, tol=self.tol,
                              verbose=self.verbose)
        else:
            result = self.optimizer(lambda params: fun(params, Xc), x0)
        if not result.get("success", True):
            warnings.warn(f"LinearAutoencoder did not converge: {result.get('message')}",
                          ConvergenceWarning, stacklevel=2)

        if self.tied:
            U = np.asarray(result.x)
            self.components_, self.decoder_ = U.T.copy(), U
        else:
            self.components_, self.decoder_ = (np.asarray(w) for w in result.x)
        self.reconstruction_error_ = float(
            reconstruction_error(self.components_, self.decoder_, Xc))
        self.loss_curve_ = list(result.get("loss_curve", []))
        self.n_iter_ = int(result.get("nit", 0))
        return self

    def transform(self, X):
        """Codes H = (X − mean) W⁽¹⁾ᵀ, of shape (n_samples, n_components)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return (X - self.mean_) @ self.components_.T

    def inverse_transform(self, H):
        """Reconstructions F = H W⁽²⁾ᵀ + mean, of shape (n_samples, n_features)."""
        check_is_fitted(self)
        H = np.asarray(H)
        if H.ndim != 2 or H.shape[1] != self.components_.shape[0]:
            raise ValueError(f"inverse_transform expects codes of shape (n_samples, "
                             f"{self.components_.shape[0]}), got {H.shape}")
        return H @ self.decoder_.T + self.mean_
