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
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from .. import ops
from ..jit import replayed_objective
from ..optim import minimize
from ..tensor import ArrayLike, Tensor
from ._fitting import check_common_params, fitted_params

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["LinearAutoencoder", "reconstruction_error", "tied_reconstruction_error"]


def reconstruction_error(W1: ArrayLike, W2: ArrayLike, X: ArrayLike) -> Tensor:
    """E(W⁽¹⁾, W⁽²⁾) = Σ (X W⁽¹⁾ᵀ W⁽²⁾ᵀ − X)²: the untied autoencoder's error.

    The sum runs over every sample and feature: the squared Frobenius norm
    of the reconstruction error.

    Parameters
    ----------
    W1 : array_like or Tensor of shape (K, D)
        The encoder W⁽¹⁾: code H = X W⁽¹⁾ᵀ.
    W2 : array_like or Tensor of shape (D, K)
        The decoder W⁽²⁾: reconstruction F = H W⁽²⁾ᵀ.
    X : ndarray of shape (N, D)
        The (centred) data.

    Returns
    -------
    Tensor
        A scalar, differentiable with respect to ``W1`` and ``W2``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> float(reconstruction_error(np.eye(2), np.eye(2), X))   # identity reconstructs exactly
    0.0
    """
    H = X @ ops.transpose(W1)  # codes, N × K
    F = H @ ops.transpose(W2)  # reconstructions, N × D
    return ops.sum((F - X) ** 2)


def tied_reconstruction_error(U: ArrayLike, X: ArrayLike) -> Tensor:
    """E(U) = E(W⁽¹⁾ = Uᵀ, W⁽²⁾ = U): the same function with U used twice.

    Its gradient is accumulated by the engine at the shared parameter U:
    Ū = W̄⁽¹⁾ᵀ + W̄⁽²⁾, the untied gradients evaluated at (Uᵀ, U) and added.

    Parameters
    ----------
    U : array_like or Tensor of shape (D, K)
    X : ndarray of shape (N, D)

    Returns
    -------
    Tensor
        A scalar.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> U, X = np.array([[1.0], [0.5]]), np.array([[1.0, 2.0], [3.0, -1.0]])
    >>> tied = tg.grad(tied_reconstruction_error)(U, X)
    >>> W1_bar, W2_bar = tg.grad(reconstruction_error, argnums=(0, 1))(U.T, U, X)
    >>> np.allclose(tied, W1_bar.T + W2_bar)
    True
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
        ``optimizer(fun, x0)`` returning a dict with attribute access holding
        ``x`` (and optionally ``nit``, ``loss_curve``, ``success``,
        ``message``), such as :class:`tinygrad_nca.optim.Result` or SciPy's
        ``OptimizeResult``: e.g. a ``functools.partial`` of
        :func:`tinygrad_nca.optim.adam`. ``x0`` is U for tied weights and the
        tuple (W⁽¹⁾, W⁽²⁾) otherwise. Default: L-BFGS-B via ``minimize``.
    verbose : int, default=0
        Passed to ``minimize``: 1 prints the iteration table.
    jit : bool, default=True
        Evaluate the error and its gradient by replaying a program traced
        once (:func:`tinygrad_nca.jit`) in the default optimiser: the same
        result as ``jit=False``, bit for bit, without building the graph at
        every iteration.

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

    # Set by fit (declared for type checkers; an estimator has them only once fitted).
    mean_: np.ndarray
    components_: np.ndarray
    decoder_: np.ndarray
    reconstruction_error_: float
    loss_curve_: list[float]
    n_iter_: int

    def __init__(
        self,
        n_components: int = 2,
        *,
        tied: bool = True,
        max_iter: int = 2000,
        tol: float = 1e-10,
        random_state: int | np.random.RandomState | None = None,
        optimizer: Any = None,
        verbose: int = 0,
        jit: bool = True,
    ) -> None:
        self.n_components = n_components
        self.tied = tied
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.optimizer = optimizer
        self.verbose = verbose
        self.jit = jit

    def fit(self, X: npt.ArrayLike, y: Any = None) -> LinearAutoencoder:
        """Centre X and minimise the reconstruction error over the weights.

        The optimiser minimises E / N (the mean over samples), whose scale
        does not grow with the number of samples, so that ``tol`` means the
        same for small and large data sets.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            Training data, float64 or float32 (kept: a float32 fit computes
            in float32); at least 2 samples.
        y : None
            Ignored; present for scikit-learn's API.

        Returns
        -------
        self : LinearAutoencoder

        Raises
        ------
        ValueError
            If X is not a finite 2-D float array of at least 2 samples, a
            parameter is invalid (``n_components`` not an integer in
            [1, n_features], ``tied`` not a bool, ``max_iter``, ``tol`` or
            ``optimizer`` of the wrong kind), or a custom optimizer returns
            weights of the wrong shape or with NaN/inf.

        Warns
        -----
        ConvergenceWarning
            If the optimiser reports that it did not converge (not when a
            callback of a custom optimizer stopped it on purpose).

        Examples
        --------
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(30, 3))
        >>> ae = LinearAutoencoder(n_components=2, random_state=0).fit(X)
        >>> ae.components_.shape, ae.decoder_.shape, bool(np.allclose(ae.mean_, X.mean(axis=0)))
        ((2, 3), (3, 2), True)
        """
        X = np.asarray(validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2))
        n_samples, n_features = X.shape
        K = self.n_components
        if (
            isinstance(K, (bool, np.bool_))
            or not isinstance(K, numbers.Integral)
            or not 1 <= K <= n_features
        ):
            raise ValueError(
                f"n_components must be an integer in [1, n_features={n_features}], got {K!r}"
            )
        if not isinstance(self.tied, (bool, np.bool_)):
            raise ValueError(f"tied must be True or False, got {self.tied!r}")
        check_common_params(self)
        self.mean_ = X.mean(axis=0)
        Xc = X - self.mean_
        rng = check_random_state(self.random_state)
        scale = 1.0 / np.sqrt(n_features)

        if self.tied:
            x0 = (rng.normal(scale=scale, size=(n_features, K))).astype(X.dtype)
            fun = lambda U, X: tied_reconstruction_error(U, X) / n_samples
        else:
            x0 = (
                rng.normal(scale=scale, size=(K, n_features)).astype(X.dtype),
                rng.normal(scale=scale, size=(n_features, K)).astype(X.dtype),
            )
            fun = lambda W, X: reconstruction_error(W[0], W[1], X) / n_samples

        if self.optimizer is None:
            objective = fun
            if self.jit and self.tied:
                objective = replayed_objective(fun)
            elif self.jit:
                error = replayed_objective(
                    lambda W1, W2, X: reconstruction_error(W1, W2, X) / n_samples, argnums=(0, 1)
                )
                objective = lambda W, X: error(W[0], W[1], X)  # noqa: E731
            result = minimize(
                objective,
                x0,
                args=(Xc,),
                max_iter=self.max_iter,
                tol=self.tol,
                verbose=self.verbose,
            )
        else:
            result = self.optimizer(lambda params: fun(params, Xc), x0)
        weights = fitted_params(self, result, x0)

        if self.tied:
            self.components_, self.decoder_ = weights.T.copy(), weights
        else:
            self.components_, self.decoder_ = weights
        self.reconstruction_error_ = float(
            reconstruction_error(self.components_, self.decoder_, Xc)
        )
        self.loss_curve_ = list(result.get("loss_curve", []))
        self.n_iter_ = int(result.get("nit", 0))
        return self

    def transform(self, X: npt.ArrayLike) -> np.ndarray:
        """Codes H = (X − mean) W⁽¹⁾ᵀ, of shape (n_samples, n_components).

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_components)

        Examples
        --------
        Points on a line through (1, 1): one number per point codes them.

        >>> import numpy as np
        >>> X = np.outer([-2.0, -1.0, 0.0, 1.0, 2.0], [3.0, 4.0]) + 1.0
        >>> H = LinearAutoencoder(n_components=1, random_state=0).fit(X).transform(X)
        >>> H.shape, np.round(np.abs(H[:, 0]), 4)      # distance along the line, up to sign
        ((5, 1), array([10.,  5.,  0.,  5., 10.]))
        """
        check_is_fitted(self)
        X = np.asarray(validate_data(self, X, dtype=[np.float64, np.float32], reset=False))
        return (X - self.mean_) @ self.components_.T

    def inverse_transform(self, H: npt.ArrayLike) -> np.ndarray:
        """Reconstructions F = H W⁽²⁾ᵀ + mean, of shape (n_samples, n_features).

        Parameters
        ----------
        H : array_like of shape (n_samples, n_components)
            Codes, as returned by :meth:`transform`.

        Returns
        -------
        ndarray of shape (n_samples, n_features)

        Raises
        ------
        ValueError
            If ``H`` is not a finite 2-D array of numbers with ``n_components``
            columns.

        Examples
        --------
        Data on a line are reconstructed exactly from a 1-D code:

        >>> import numpy as np
        >>> X = np.outer([-2.0, -1.0, 0.0, 1.0, 2.0], [3.0, 4.0]) + 1.0
        >>> ae = LinearAutoencoder(n_components=1, random_state=0).fit(X)
        >>> np.allclose(ae.inverse_transform(ae.transform(X)), X)
        True
        """
        check_is_fitted(self)
        H = np.asarray(
            check_array(H, dtype=[np.float64, np.float32], ensure_2d=False, input_name="H")
        )  # finite numbers; the shape is checked here
        if H.ndim != 2 or H.shape[1] != self.components_.shape[0]:
            raise ValueError(
                f"inverse_transform expects codes of shape (n_samples, "
                f"{self.components_.shape[0]}), got {H.shape}"
            )
        return H @ self.decoder_.T + self.mean_
