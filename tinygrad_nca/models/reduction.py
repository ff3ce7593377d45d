"""The reduction layer Z = XA composed with any differentiable loss of Z.

A (D × K) maps each point to K features; a loss written with engine operations
scores the projected points, with or without labels:

    minimise over A:   L(Z),   or L(Z, y),   with Z = XA.

Backpropagation reaches A through one matrix product: given the loss's
cotangent Z̄ (N × K, whatever the loss is), the gradient is

    Ā = Xᵀ Z̄,

2NDK flops, the same as the forward product XA. Whatever the loss costs, it
costs it in K dimensions; only this last step sees D, and linearly. That is why
methods like NCA should project first and compare points afterwards.

NCA itself is this layer with its classifier loss of Z: minus the expected
number of points that a stochastic nearest-neighbour rule in Z-space gets
right (see :func:`tinygrad_nca.exercises.nca_classifier_loss`).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from .. import ops
from ..jit import replayed_objective
from ..optim import minimize
from ..tensor import ArrayLike, Tensor, as_tensor
from ._fitting import check_common_params, fitted_params

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["LinearReduction", "reduction_objective"]


def reduction_objective(
    A: ArrayLike, X: ArrayLike, loss: Callable[..., Any], y: ArrayLike | None = None
) -> Tensor:
    """L(XA) — or L(XA, y) when labels are given: the objective over A.

    Parameters
    ----------
    A : array_like or Tensor of shape (D, K)
        The map: row n of Z = XA is the projection of sample n.
    X : ndarray of shape (N, D)
    loss : callable
        ``loss(Z)`` or ``loss(Z, y)``, returning a scalar Tensor.
    y : array_like of shape (N,), optional
        Labels; passed to ``loss`` when given.

    Returns
    -------
    Tensor
        A scalar. Its gradient with respect to A is Xᵀ Z̄, where Z̄ = ∂L/∂Z.

    Examples
    --------
    L(Z) = Σ z², with A picking the first feature: 1² + 3² = 10.

    >>> import numpy as np, tinygrad_nca as tg
    >>> X = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> float(reduction_objective(np.array([[1.0], [0.0]]), X, lambda Z: tg.sum(Z ** 2)))
    10.0
    """
    Z = ops.matmul(X, A)
    return loss(Z) if y is None else loss(Z, y)


class LinearReduction(TransformerMixin, BaseEstimator):
    """Learn a linear map Z = XA by minimising a user-written loss of Z.

    Parameters
    ----------
    n_components : int
        K, the number of output features (1 ≤ K).
    loss : callable
        ``loss(Z)`` (or ``loss(Z, y)`` when ``fit`` is given ``y``) returning a
        scalar Tensor built from engine operations, to be minimised. ``Z`` is
        a Tensor of shape (n_samples, n_components); ``y`` is the label array
        as given to ``fit``.
    max_iter : int, default=200
        Maximum number of optimiser iterations.
    tol : float, default=1e-6
        Gradient tolerance of L-BFGS (see :func:`tinygrad_nca.optim.minimize`).
    random_state : int, RandomState or None
        Seed of the random initialisation.
    init : {"random", "pca"} or ndarray of shape (n_features, n_components)
        "random": Gaussian entries of variance 1/D; "pca": the top principal
        directions of X; an array: that A.
    optimizer : callable, optional
        ``optimizer(fun, A0)`` returning a dict with attribute access holding
        ``x`` (and optionally ``nit``, ``loss_curve``, ``success``,
        ``message``), such as :class:`tinygrad_nca.optim.Result` or SciPy's
        ``OptimizeResult``: e.g. a ``functools.partial`` of
        :func:`tinygrad_nca.optim.adam`. Default: L-BFGS-B via ``minimize``.
    verbose : int, default=0
        Passed to ``minimize``: 1 prints the iteration table.
    jit : bool, default=True
        Evaluate the objective and its gradient by replaying a program traced
        once (:func:`tinygrad_nca.jit`; ``y`` is static) in the default
        optimiser: the same result as ``jit=False``, without building the
        graph at every iteration. A loss the jit cannot trace (one computing
        with NumPy on its input's values) is evaluated eagerly, with a
        RuntimeWarning.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        Aᵀ.
    loss_ : float
        The loss at the fitted A.
    loss_curve_ : list of float
    n_iter_ : int
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> from tinygrad_nca.models.reduction import LinearReduction
    >>> X = np.random.default_rng(0).normal(size=(40, 3))
    >>> # Regression onto a target, written as a loss of Z:
    >>> y = X @ np.array([1.0, -2.0, 0.5])
    >>> lr = LinearReduction(1, lambda Z, y: tg.mean((Z[:, 0] - y) ** 2), random_state=0)
    >>> np.round(lr.fit(X, y).components_, 4)
    array([[ 1. , -2. ,  0.5]])
    """

    # Set by fit (declared for type checkers; an estimator has them only once fitted).
    components_: np.ndarray
    loss_: float
    loss_curve_: list[float]
    n_iter_: int

    def __init__(
        self,
        n_components: int = 2,
        loss: Callable[..., Any] | None = None,
        *,
        max_iter: int = 200,
        tol: float = 1e-6,
        random_state: int | np.random.RandomState | None = None,
        init: str | np.ndarray = "random",
        optimizer: Any = None,
        verbose: int = 0,
        jit: bool = True,
    ) -> None:
        self.n_components = n_components
        self.loss = loss
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.init = init
        self.optimizer = optimizer
        self.verbose = verbose
        self.jit = jit

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike | None = None) -> LinearReduction:
        """Minimise ``loss(XA[, y])`` over A.

        The loss is called once at the initial A first, so that a loss that
        does not return a scalar, or returns NaN or inf, is reported before any
        optimisation.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            Float64 or float32 (kept); at least 2 samples.
        y : array_like, optional
            Labels or targets, passed to ``loss`` as its second argument.

        Returns
        -------
        self : LinearReduction

        Raises
        ------
        ValueError
            If ``loss`` is not callable or does not return a finite scalar, or
            ``n_components``, ``init``, ``max_iter``, ``tol`` or ``optimizer``
            is invalid, or a custom optimizer returns a map of the wrong shape
            or with NaN/inf.

        Warns
        -----
        ConvergenceWarning
            If the optimiser reports that it did not converge (not when a
            callback of a custom optimizer stopped it on purpose).

        Examples
        --------
        NCA is this layer with :func:`~tinygrad_nca.exercises.nca_classifier_loss`.
        On data where feature 1 gives the class and feature 0 is noise, the
        fitted map weights feature 1 far more, and 1-NN in Z makes no mistakes:

        >>> import numpy as np
        >>> from tinygrad_nca.exercises import loo_1nn_error, nca_classifier_loss, two_feature_data
        >>> X, y = two_feature_data(20, noise=2.0)
        >>> nca = LinearReduction(1, nca_classifier_loss, random_state=0).fit(X, y)
        >>> w = np.abs(nca.components_[0])
        >>> bool(w[1] > 5 * w[0])
        True
        >>> float(loo_1nn_error(np.eye(2), X, y)), float(loo_1nn_error(nca.components_, X, y))
        (0.15, 0.0)
        """
        if not callable(self.loss):
            raise ValueError(
                "loss must be a callable loss(Z) or loss(Z, y) returning a scalar "
                f"Tensor, got {self.loss!r}"
            )
        if y is None:
            X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
        else:
            X, y = validate_data(
                self, X, y, dtype=[np.float64, np.float32], ensure_min_samples=2, multi_output=True
            )
        K = self.n_components
        if isinstance(K, bool) or not isinstance(K, numbers.Integral) or K < 1:
            raise ValueError(f"n_components must be a positive integer, got {K!r}")
        check_common_params(self)
        A0 = self._initial_map(X, K)

        first = as_tensor(reduction_objective(A0, X, self.loss, y))
        if first.size != 1:
            raise ValueError(f"loss must return a scalar, but returned shape {first.shape}")
        if not np.isfinite(first.value).all():
            raise ValueError(
                f"loss is {first.item()} at the initial map (init={self.init!r}): "
                "check the loss, the data and init"
            )

        def fun(A):
            return reduction_objective(A, X, self.loss, y)

        if self.optimizer is None:
            objective = fun
            if self.jit:  # X traced, y static (labels decide masks); a loss that
                #                 cannot be traced is evaluated eagerly, with a warning
                replayed = replayed_objective(
                    lambda A, X, y: reduction_objective(A, X, self.loss, y),
                    static_argnums=2,
                    fallback=True,
                )
                objective = lambda A: replayed(A, X, y)  # noqa: E731
            result = minimize(
                objective, A0, max_iter=self.max_iter, tol=self.tol, verbose=self.verbose
            )
        else:
            result = self.optimizer(fun, A0)
        A = fitted_params(self, result, A0)
        self.components_ = A.T.copy()
        self.loss_ = float(as_tensor(fun(A)).value)
        self.loss_curve_ = list(result.get("loss_curve", []))
        self.n_iter_ = int(result.get("nit", 0))
        return self

    def _initial_map(self, X, K):
        n_features = X.shape[1]
        if isinstance(self.init, str) and self.init == "random":
            rng = check_random_state(self.random_state)
            return rng.normal(scale=1 / np.sqrt(n_features), size=(n_features, K)).astype(X.dtype)
        if isinstance(self.init, str) and self.init == "pca":
            if K > min(X.shape):
                raise ValueError(
                    f"init='pca' needs n_components <= min(n_samples, n_features) "
                    f"= {min(X.shape)}, got {K}"
                )
            _, _, Vt = np.linalg.svd(X - X.mean(axis=0), full_matrices=False)
            return Vt[:K].T.astype(X.dtype)
        if isinstance(self.init, str):
            raise ValueError(f"init must be 'random', 'pca' or an array, got {self.init!r}")
        try:
            A0 = np.asarray(self.init, dtype=X.dtype)
        except (TypeError, ValueError):
            raise ValueError(
                f"init must be 'random', 'pca' or an array of numbers, got {self.init!r}"
            ) from None
        if not np.all(np.isfinite(A0)):
            raise ValueError("init array contains NaN or inf")
        if A0.shape != (n_features, K):
            raise ValueError(
                f"init array has shape {A0.shape}; expected (n_features, "
                f"n_components) = {(n_features, K)}"
            )
        return A0.copy()

    def transform(self, X: npt.ArrayLike) -> np.ndarray:
        """Z = XA, of shape (n_samples, n_components).

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_components)

        Examples
        --------
        A regression map fitted on 20 points, applied to two new ones:

        >>> import numpy as np, tinygrad_nca as tg
        >>> X = np.random.default_rng(0).normal(size=(20, 2))
        >>> y = X @ np.array([2.0, -1.0])
        >>> r = LinearReduction(1, lambda Z, y: tg.mean((Z[:, 0] - y) ** 2), random_state=0)
        >>> np.round(r.fit(X, y).transform(np.array([[1.0, 0.0], [0.0, 1.0]])), 4)
        array([[ 2.],
               [-1.]])
        """
        check_is_fitted(self)
        X = np.asarray(validate_data(self, X, dtype=[np.float64, np.float32], reset=False))
        return X @ self.components_.T
