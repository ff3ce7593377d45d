"""NeighborhoodComponentsAnalysis: a drop-in for scikit-learn's, on the engine.

The estimator is scikit-learn's NCA in every visible respect (parameters,
defaults, fitted attributes, the ``callback`` contract, validation and its
messages) with three differences inside: the gradient of the objective comes
from backpropagation through :func:`~tinygrad_nca.nca_loss` instead of a
hand-derived formula; the objective can be "expected" or "log"; and the work
can be done in float32 or in row blocks that fit a memory budget.
"""
from __future__ import annotations

import math
import re
import sys
import time
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import (BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin,
                          _fit_context)
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ..optim import minimize
from ..tensor import value_of
from .io import load_model, save_model
from .loss import nca_loss

__all__ = ["NeighborhoodComponentsAnalysis", "NCA"]


class NeighborhoodComponentsAnalysis(ClassNamePrefixFeaturesOutMixin, TransformerMixin,
                                     BaseEstimator):
    r"""Neighbourhood Components Analysis, with the gradient from backpropagation.

    NCA (Goldberger et al., 2004) learns a linear map A (n_components ×
    n_features) under which a stochastic nearest-neighbour rule classifies the
    training data well. Point i picks neighbour j ≠ i with probability
    p_ij = softmax_j(−‖Ax_i − Ax_j‖²); with p_i = Σ_{j in i's class} p_ij the
    estimator maximises f(A) = Σ_i p_i (``objective="expected"``) or
    Σ_i log p_i (``objective="log"``) by L-BFGS-B, the gradient coming from
    the engine (see :func:`tinygrad_nca.nca_loss`).

    A drop-in replacement for :class:`sklearn.neighbors.NeighborhoodComponentsAnalysis`:
    the same parameters and defaults, "auto" initialisation rule, fitted
    attributes, callback contract and error messages; only the extras below
    are new.

    Parameters
    ----------
    n_components : int, default=None
        Dimension of the projected space; None means n_features.
    init : {"auto", "pca", "lda", "identity", "random"} or ndarray of shape (n_components, n_features), default="auto"
        Starting transformation. "auto" chooses "lda" if
        n_components <= min(n_features, n_classes − 1), else "pca" if
        n_components < min(n_features, n_samples), else "identity". "random"
        draws standard normal entries from ``random_state``.
    warm_start : bool, default=False
        Start from the previous fit's ``components_`` (``init`` and
        ``n_components`` are then ignored).
    max_iter : int, default=50
        Maximum number of L-BFGS-B iterations.
    tol : float, default=1e-5
        Convergence tolerance, as in scikit-learn: stop when the largest
        component of the gradient is at most ``tol``, or when an iteration
        lowers the loss by at most ``tol`` relative to max(|loss|, 1).
    callback : callable, default=None
        Called after every iteration as ``callback(transformation, n_iter)``
        with the flattened current transformation and the iteration number
        (1, 2, …).
    verbose : int, default=0
        1 (or more) prints an iteration table: iteration, objective, seconds.
    random_state : int, RandomState instance or None, default=None
        Seeds the "random" and "pca" initialisations.
    objective : {"expected", "log"}, default="expected"
        The quantity maximised: the expected number of correctly classified
        points (scikit-learn's) or the log-likelihood Σ_i log p_i.
    dtype : {np.float64, np.float32}, default=np.float64
        Precision of the whole fit: data, transformation, loss and gradient.
        float32 halves memory and is about twice as fast.
    max_memory : int, float, str or None, default=None
        A bound on the memory of one loss and gradient evaluation, in bytes or
        as a string such as "2GB", "512MiB". When the N × N matrices do not
        fit, the loss is evaluated in row blocks sized to fit (same result,
        one extra forward pass per evaluation); when even one row at a time
        cannot fit, ``fit`` raises a ValueError saying so. None: no bound,
        full matrices.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The learned transformation; ``transform(X) = X @ components_.T``.
    n_iter_ : int
        Number of iterations performed. (scikit-learn's estimator reports one
        more than the iterations it ran; this is the number actually run.)
    random_state_ : numpy.random.RandomState
        The generator used for initialisation.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features, when ``X`` had string column names.
    loss_curve_ : ndarray of shape (n_iter_ + 1,)
        The objective (the maximised quantity, Σ p_i or Σ log p_i) at the
        initial transformation and after every iteration.

    See Also
    --------
    tinygrad_nca.nca_loss : The objective, from engine operations.
    sklearn.neighbors.NeighborhoodComponentsAnalysis : The original.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from tinygrad_nca import NeighborhoodComponentsAnalysis
    >>> X, y = load_iris(return_X_y=True)
    >>> nca = NeighborhoodComponentsAnalysis(n_components=2, random_state=0)
    >>> nca.fit(X, y).transform(X).shape
    (150, 2)
    >>> bool(nca.loss_curve_[-1] > nca.loss_curve_[0])   # the objective went up
    True
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "init": [StrOptions({"auto", "pca", "lda", "identity", "random"}), np.ndarray],
        "warm_start": ["boolean"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "callback": [callable, None],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "objective": [StrOptions({"expected", "log"})],
        "dtype": [Options(type, {np.float32, np.float64}), StrOptions({"float32", "float64"}),
                  np.dtype],
        "max_memory": [Interval(Real, 0, None, closed="neither"), str, None],
    }

    def __init__(self, n_components=None, *, init="auto", warm_start=False, max_iter=50,
                 tol=1e-5, callback=None, verbose=0, random_state=None,
                 objective="expected", dtype=np.float64, max_memory=None):
        self.n_components = n_components
        self.init = init
        self.warm_start = warm_start
        self.max_iter = max_iter
        self.tol = tol
        self.callback = callback
        self.verbose = verbose
        self.random_state = random_state
        self.objective = objective
        self.dtype = dtype
        self.max_memory = max_memory

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Learn the transformation from training data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training samples.
        y : array-like of shape (n_samples,)
            Their class labels (at least two classes).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        dtype = self._float_dtype()
        X, y = validate_data(self, X, y, ensure_min_samples=2, dtype=dtype)
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        if len(encoder.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes, but y has a single "
                f"class ({encoder.classes_[0]!r}): with one class every neighbour is of the "
                "right class and there is nothing to learn.")
        y = encoder.transform(y)
        self._check_dimensions(X)
        init = self._validated_init(X)
        self.random_state_ = check_random_state(self.random_state)

        started = time.perf_counter()
        transformation = np.asarray(self._initialize(X, y, init), dtype=dtype)
        block_size = self._block_size(X.shape[0], transformation.shape[0], dtype.itemsize)
        result, converged = self._minimize(transformation, X, y, block_size)

        self.components_ = np.asarray(result.x, dtype=dtype)
        self.n_iter_ = int(result.nit)
        self.loss_curve_ = -np.asarray(result.loss_curve, dtype=np.float64)
        if not converged:
            hint = ("increase max_iter" if self.n_iter_ >= self.max_iter else
                    "the line search could not improve the objective further, usually "
                    "because it is already as accurate as the precision (dtype) allows")
            warnings.warn(f"[{type(self).__name__}] NCA did not converge: {result.message} "
                          f"({hint}).", ConvergenceWarning, stacklevel=3)
        if self.verbose:
            print(f"[{type(self).__name__}] Training took "
                  f"{time.perf_counter() - started:8.2f}s.")
        return self

    def _minimize(self, transformation, X, y, block_size):
        """L-BFGS-B on −objective; returns (result, converged)."""
        name = type(self).__name__
        objective, tol, max_iter = self.objective, self.tol, self.max_iter
        last = {}                       # the latest evaluation: {"A": array, "value": float}
        state = {"previous": None, "converged": False, "clock": time.perf_counter()}

        def loss(A, X, y):
            value = nca_loss(A, X, y, objective=objective, block_size=block_size)
            last["A"], last["value"] = np.array(value_of(A)), float(value.value)
            if state["previous"] is None:
                state["previous"] = last["value"]          # the objective at the start
            return -value

        def objective_at(A):
            if "A" in last and np.array_equal(last["A"], A):
                return last["value"]
            return float(nca_loss(A, X, y, objective=objective, block_size=block_size).value)

        def on_iteration(A, n_iter):
            value = objective_at(A)
            previous, state["previous"] = state["previous"], value
            if self.verbose:
                now = time.perf_counter()
                print(f"[{name}] {n_iter:>10d} {value:>20.6e} {now - state['clock']:>10.2f}")
                sys.stdout.flush()
                state["clock"] = now
            if self.callback is not None:
                self.callback(np.ravel(A), n_iter)
            # scikit-learn hands ``tol`` to SciPy as both gtol and ftol;
            # optim.minimize applies it as gtol (and ftol = tol²), so the
            # relative-decrease test is applied here, as SciPy applies it: after
            # the iteration, unless max_iter has been reached.
            decrease = value - previous     # the fall of the minimised loss, −objective
            scale = max(abs(value), abs(previous), 1.0)
            if n_iter < max_iter and decrease <= tol * scale:
                state["converged"] = True
                return True
            return False

        if self.verbose:
            header = f"{'Iteration':>10} {'Objective Value':>20} {'Time(s)':>10}"
            print(f"[{name}]\n[{name}] {header}\n[{name}] {'-' * len(header)}")
        result = minimize(loss, transformation, args=(X, y), method="L-BFGS-B",
                          max_iter=max_iter, tol=tol, callback=on_iteration)
        return result, bool(result.success) or state["converged"]

    # ------------------------------------------------------------------ checks and init
    def _float_dtype(self):
        dtype = np.dtype(self.dtype)
        if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ValueError(f"dtype must be np.float32 or np.float64, got {self.dtype!r}")
        return dtype

    def _check_dimensions(self, X):
        n_features = X.shape[1]
        if self.n_components is not None and self.n_components > n_features:
            raise ValueError(
                f"The preferred dimensionality of the projected space `n_components` "
                f"({self.n_components}) cannot be greater than the given data dimensionality "
                f"({n_features})!")
        if self.warm_start and hasattr(self, "components_") \
                and self.components_.shape[1] != n_features:
            raise ValueError(
                f"The new inputs dimensionality ({n_features}) does not match the input "
                f"dimensionality of the previously learned transformation "
                f"({self.components_.shape[1]}).")

    def _validated_init(self, X):
        init = self.init
        if not isinstance(init, np.ndarray):
            return init
        init = check_array(init)
        if init.shape[1] != X.shape[1]:
            raise ValueError(
                f"The input dimensionality ({init.shape[1]}) of the given linear transformation "
                f"`init` must match the dimensionality of the given inputs `X` ({X.shape[1]}).")
        if init.shape[0] > init.shape[1]:
            raise ValueError(
                f"The output dimensionality ({init.shape[0]}) of the given linear "
                f"transformation `init` cannot be greater than its input dimensionality "
                f"({init.shape[1]}).")
        if self.n_components is not None and self.n_components != init.shape[0]:
            raise ValueError(
                f"The preferred dimensionality of the projected space `n_components` "
                f"({self.n_components}) does not match the output dimensionality of the given "
                f"linear transformation `init` ({init.shape[0]})!")
        return init

    def _initialize(self, X, y, init):
        """The starting transformation, by scikit-learn's rules."""
        if self.warm_start and hasattr(self, "components_"):
            return self.components_
        if isinstance(init, np.ndarray):
            return init
        n_samples, n_features = X.shape
        n_components = self.n_components or n_features
        if init == "auto":
            n_classes = len(np.unique(y))
            if n_components <= min(n_features, n_classes - 1):
                init = "lda"            # uses the labels: the most informed start
            elif n_components < min(n_features, n_samples):
                init = "pca"
            else:
                init = "identity"
        if init == "identity":
            return np.eye(n_components, n_features)
        if init == "random":
            return self.random_state_.standard_normal(size=(n_components, n_features))
        started = time.perf_counter()
        if init == "pca":
            from sklearn.decomposition import PCA
            if self.verbose:
                print("Finding principal components... ", end="")
            transformation = PCA(n_components=n_components,
                                 random_state=self.random_state_).fit(X).components_
        else:
            from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
            if self.verbose:
                print("Finding most discriminative components... ", end="")
            lda = LinearDiscriminantAnalysis(n_components=n_components).fit(X, y)
            transformation = lda.scalings_.T[:n_components]
        if self.verbose:
            print(f"done in {time.perf_counter() - started:5.2f}s")
        return transformation

    def _block_size(self, n_samples, n_components, itemsize):
        """The row-block size that keeps one loss + gradient within ``max_memory``
        (None: the full N × N matrices fit)."""
        if self.max_memory is None:
            return None
        budget = parse_bytes(self.max_memory)

        def need(block):
            return memory_estimate(n_samples, n_components, itemsize, block)

        if need(n_samples) <= budget:
            return None
        if need(1) > budget:
            raise ValueError(
                f"max_memory={self.max_memory!r} ({budget:,.0f} bytes) is too small for "
                f"{n_samples} samples and n_components={n_components}: one loss and gradient "
                f"evaluation needs about {need(1):,.0f} bytes even one row at a time "
                f"({need(n_samples):,.0f} with the full {n_samples}×{n_samples} matrices). "
                "Raise max_memory, lower n_components or fit on fewer samples.")
        low, high = 1, n_samples           # need(low) fits, need(high) does not
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if need(middle) <= budget else (low, middle)
        return low

    # ------------------------------------------------------------------ transform
    def transform(self, X):
        """Project data with the learned transformation: ``X @ components_.T``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_components)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=self.components_.dtype)
        return X @ self.components_.T

    @property
    def _n_features_out(self):
        return self.components_.shape[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        # transform works in the fit's precision: float32 in → float32 out only
        # for a float32 model (a float64 model returns float64 for any input).
        tags.transformer_tags.preserves_dtype = [np.dtype(self.dtype).name]
        return tags

    # ------------------------------------------------------------------ model files
    def save(self, path):
        """Write the fitted model to ``path`` as an ``.npz`` file (atomically).

        See :mod:`tinygrad_nca.nca.io` for the layout. ``callback`` is not saved.
        """
        check_is_fitted(self)
        save_model(self, path)

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save`.

        Raises
        ------
        ValueError
            If the file is not a model file of this format (or is newer than
            this version of tinygrad_nca can read).
        """
        return load_model(cls, path)


NCA = NeighborhoodComponentsAnalysis


# ---------------------------------------------------------------------- memory budget
# Measured peak extra memory of one loss + gradient (tracemalloc, both
# objectives, float32 and float64): about 6.6 N×N entries for the full matrices
# and 7.9 B×N for a block of B rows, plus a few N×(d+1) arrays and a few kB of
# graph bookkeeping per block. Rounded up; tests check the bound holds.
_PER_PAIR = 9          # B × N entries alive at the peak
_PER_POINT = 24        # N × (d + 1) entries: Z, its norms, their cotangents
_PER_BLOCK = 512       # bytes of bookkeeping per block (its slice, list entries)


def memory_estimate(n_samples, n_components, itemsize, block_size):
    """Bytes needed by one NCA loss + gradient with row blocks of ``block_size``."""
    blocks = math.ceil(n_samples / block_size)
    return (itemsize * (_PER_PAIR * block_size * n_samples + _PER_POINT * n_samples
                        * (n_components + 1)) + _PER_BLOCK * blocks)


_UNITS = {"": 1, "b": 1, "k": 10 ** 3, "kb": 10 ** 3, "m": 10 ** 6, "mb": 10 ** 6,
          "g": 10 ** 9, "gb": 10 ** 9, "t": 10 ** 12, "tb": 10 ** 12,
          "kib": 2 ** 10, "mib": 2 ** 20, "gib": 2 ** 30, "tib": 2 ** 40}


def parse_bytes(size) -> float:
    """A memory size in bytes from a number or a string like "2GB", "512 MiB".

    >>> parse_bytes("2GB"), parse_bytes("1.5 KiB"), parse_bytes(1000)
    (2000000000.0, 1536.0, 1000.0)
    """
    if isinstance(size, str):
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*", size)
        unit = match.group(2).lower() if match else None
        if match is None or unit not in _UNITS:
            raise ValueError(f"max_memory={size!r} is not a memory size: give bytes as a number "
                             "or a string such as '2GB', '500MB' or '1.5GiB'")
        size = float(match.group(1)) * _UNITS[unit]
    size = float(size)
    if not size > 0:
        raise ValueError(f"max_memory must be positive, got {size}")
    return size
