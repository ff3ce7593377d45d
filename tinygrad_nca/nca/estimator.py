"""NeighborhoodComponentsAnalysis: a drop-in for scikit-learn's, on the engine.

The estimator is scikit-learn's NCA in every visible respect (parameters,
defaults, fitted attributes, the ``callback`` contract, validation and its
messages) with four differences inside: the gradient of the objective comes
from backpropagation through :func:`~tinygrad_nca.nca_loss` instead of a
hand-derived formula; the objective can be "expected" or "log"; the work can be
done in float32 or in row blocks that fit a memory budget; and for large N the
solver can be Adam or SGD on stratified mini-batches (:func:`stratified_batches`)
instead of full-batch L-BFGS.
"""

from __future__ import annotations

import concurrent.futures
import functools
import math
import re
import sys
import time
import warnings
from collections.abc import Callable
from concurrent.futures import Executor
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ..jit import ReplayedObjective, replayed_objective
from ..optim import SGD, Adam, descend, minimize
from ..tensor import value_of
from .io import load_model, save_model

if TYPE_CHECKING:
    import os

    import numpy.typing as npt
from .loss import nca_loss

__all__ = ["NeighborhoodComponentsAnalysis", "NCA", "stratified_batches"]

_NCA = TypeVar("_NCA", bound="NeighborhoodComponentsAnalysis")


class NeighborhoodComponentsAnalysis(
    ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    r"""Neighbourhood Components Analysis, with the gradient from backpropagation.

    NCA (Goldberger et al., 2004) learns a linear map A (n_components ×
    n_features) under which a stochastic nearest-neighbour rule classifies the
    training data well. Point i picks neighbour j ≠ i with probability
    p_ij = softmax_j(−‖Ax_i − Ax_j‖²); with p_i = Σ_{j in i's class} p_ij the
    estimator maximises f(A) = Σ_i p_i (``objective="expected"``) or
    Σ_i log p_i (``objective="log"``) by L-BFGS-B, the gradient coming from
    the engine (see :func:`tinygrad_nca.nca_loss`).

    For data too large for full-batch fits (the objective costs O(N²)), the
    ``"adam"`` and ``"sgd"`` solvers follow the gradient of the objective on
    random mini-batches B of ``batch_size`` points instead: each step maximises
    (1/|B|) Σ_{i∈B} p_i^B, where p_i^B counts only neighbours inside B. Every
    batch holds each class in proportion to its size and at least 2 points of
    each class it holds, so every point has a classmate to be pulled towards.
    A step then costs O(dD|B| + d|B|²), and one epoch (a pass over the data)
    O(dDN + dN|B|): linear in N.

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
        Maximum number of L-BFGS-B iterations; for ``solver="adam"`` or
        ``"sgd"``, the maximum number of epochs (passes over the training
        data, each of about n_samples / batch_size steps), as in
        scikit-learn's MLP.
    tol : float, default=1e-5
        Convergence tolerance, as in scikit-learn: stop when the largest
        component of the gradient is at most ``tol``, or when an iteration
        lowers the loss by at most ``tol`` relative to max(|loss|, 1). For
        "adam" and "sgd": stop when the mean mini-batch objective (per point)
        of the last 10 epochs is at most 10 × ``tol`` above that of the 10
        epochs before, i.e. it rose by at most ``tol`` per epoch (so a fit
        stops after 20 epochs at the earliest). Unlike scikit-learn's MLP,
        which compares each epoch with the best one so far, this compares
        means: an epoch's mean over a few mini-batches is noisy, and the best
        of many noisy epochs stands above the trend, so the MLP rule stops
        fits that are still improving by much more than ``tol``.
    callback : callable, default=None
        Called after every iteration (every epoch for "adam" and "sgd") as
        ``callback(transformation, n_iter)`` with the flattened current
        transformation and the iteration number (1, 2, …). Its return value is
        ignored, as in scikit-learn; to stop the fit early, raise
        ``StopIteration`` in it (SciPy's convention): the fit then ends after
        that iteration, keeps the transformation reached, and does not warn.
    verbose : int, default=0
        1 (or more) prints an iteration table: iteration (epoch), objective,
        seconds. For "adam" and "sgd" the objective is the epoch's mean
        mini-batch objective per point; 2 or more also prints a row about
        every tenth of an epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds the "random" and "pca" initialisations and, for "adam" and
        "sgd", the mini-batches.
    objective : {"expected", "log"}, default="expected"
        The quantity maximised: the expected number of correctly classified
        points (scikit-learn's) or the log-likelihood Σ_i log p_i.
    dtype : {np.float64, np.float32}, default=np.float64
        Precision of the whole fit: data, transformation, loss and gradient.
        float32 halves memory and is about twice as fast.
    max_memory : int, float, str or None, default=None
        A bound on the memory of one loss and gradient evaluation, in bytes or
        as a string such as "2GB", "512MiB". When the N × N matrices do not
        fit, the loss is evaluated in row blocks sized to fit (same result;
        each block is differentiated as soon as it is computed, so nothing is
        computed twice); when even one row at a time cannot fit, ``fit``
        raises a ValueError saying so. None: no bound, and
        :func:`~tinygrad_nca.nca_loss` chooses its blocks (about 2 million
        pairs each; the full N × N matrices below about 1,450 points). For
        "adam" and "sgd" the bound applies to one mini-batch.
    solver : {"lbfgs", "adam", "sgd"}, default="lbfgs"
        "lbfgs": full-batch L-BFGS-B, scikit-learn's method; O(N²) time and
        memory per iteration. "adam" (Kingma & Ba, 2015) or "sgd" (with
        momentum 0.9): stochastic steps on stratified mini-batches (see
        above; :func:`stratified_batches`), for large N.
    batch_size : int, default=None
        Points per mini-batch for "adam" and "sgd" (at least 2; clipped to
        n_samples). None means min(1000, n_samples). Ignored by "lbfgs".
        The mini-batch objective is divided by the batch's size, so the
        learning rate does not depend on it.
    learning_rate : float, default=None
        Step size for "adam" and "sgd". Adam moves every entry of the
        transformation by about ``learning_rate`` per step, whatever the
        gradient's scale, so None means 0.02 × the root-mean-square entry of
        the initial transformation (e.g. 0.02/√n_features for "pca"); for
        "sgd", None means 0.1. Ignored by "lbfgs".
    n_jobs : int, default=None
        Threads evaluating the row blocks of each loss and gradient at the
        same time (see :func:`tinygrad_nca.nca_loss`): None means 1, -1 every
        core, -2 all but one (joblib's convention). The fit is bit-identical
        for every ``n_jobs``. Only evaluations with several row blocks (more
        than about 1,450 points, or a ``max_memory`` that forces blocks) are
        shared out. Limit the BLAS to one thread per job (``OMP_NUM_THREADS=1``
        or ``threadpoolctl``), or the threads compete for the cores.
    executor : concurrent.futures.Executor, default=None
        Evaluate the row blocks there instead of in this process: e.g. a Dask
        cluster's ``distributed.Client(...).get_executor()`` (install
        ``tinygrad-nca[dask]``). Each task is sent the projected data
        (n_samples × n_components), never X. It is used, not shut down, and
        shared, not copied, by :func:`sklearn.base.clone`. Give ``n_jobs`` or
        ``executor``, not both.
    jit : bool, default=True
        Evaluate the objective and its gradient by replaying a program traced
        once (:func:`tinygrad_nca.jit`): the same NumPy calls without building
        the graph, several times faster for small problems. The labels are
        static for "lbfgs" (one program per fit) and traced for "adam" and
        "sgd" (one program per batch size). The fit equals ``jit=False``'s to
        rounding (bit for bit for "lbfgs"). Not used with ``n_jobs`` > 1 or an
        ``executor``, whose blocks run elsewhere.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The learned transformation; ``transform(X) = X @ components_.T``.
    n_iter_ : int
        Number of iterations performed (epochs for "adam" and "sgd").
        (scikit-learn's estimator reports one more than the iterations it ran;
        this is the number actually run.)
    random_state_ : numpy.random.RandomState
        The generator used for initialisation.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features, when ``X`` had string column names.
    loss_curve_ : ndarray of shape (n_iter_ + 1,)
        The objective (the maximised quantity, Σ p_i or Σ log p_i) at the
        initial transformation and after every iteration. For "adam" and
        "sgd": the mini-batch objective per point, on the first mini-batch at
        the initial transformation, then the mean over each epoch's
        mini-batches (each taken before its step).

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
    >>> def five_epochs(transformation, n_iter):
    ...     if n_iter == 5:
    ...         raise StopIteration            # a deliberate stop: no ConvergenceWarning
    >>> adam = NeighborhoodComponentsAnalysis(n_components=2, solver="adam", batch_size=50,
    ...                                       callback=five_epochs, random_state=0)
    >>> adam.fit(X, y).n_iter_                  # 5 epochs of 3 mini-batches of 50 points
    5
    >>> bool(adam.loss_curve_[-1] > adam.loss_curve_[0])
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
        "dtype": [
            Options(type, {np.float32, np.float64}),
            StrOptions({"float32", "float64"}),
            np.dtype,
        ],
        "max_memory": [Interval(Real, 0, None, closed="neither"), str, None],
        "solver": [StrOptions({"lbfgs", "adam", "sgd"})],
        "batch_size": [Interval(Integral, 2, None, closed="left"), None],
        "learning_rate": [Interval(Real, 0, None, closed="neither"), None],
        "n_jobs": [
            Interval(Integral, None, -1, closed="right"),
            Interval(Integral, 1, None, closed="left"),
            None,
        ],
        "executor": [concurrent.futures.Executor, None],
        "jit": ["boolean"],
    }

    def __init__(
        self,
        n_components: int | None = None,
        *,
        init: str | npt.ArrayLike = "auto",
        warm_start: bool = False,
        max_iter: int = 50,
        tol: float = 1e-5,
        callback: Callable[[np.ndarray, int], Any] | None = None,
        verbose: int = 0,
        random_state: int | np.random.RandomState | None = None,
        objective: Literal["expected", "log"] = "expected",
        dtype: npt.DTypeLike = np.float64,
        max_memory: int | float | str | None = None,
        solver: Literal["lbfgs", "sgd", "adam"] = "lbfgs",
        batch_size: int | None = None,
        learning_rate: float | None = None,
        n_jobs: int | None = None,
        executor: Executor | None = None,
        jit: bool = True,
    ) -> None:
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
        self.solver = solver
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.n_jobs = n_jobs
        self.executor = executor
        self.jit = jit

    def __sklearn_clone__(self):
        """A clone that shares ``executor``: scikit-learn's clone deep-copies every
        parameter that is not an estimator, and an executor (a handle on running
        workers, with locks and queues) can be neither copied nor duplicated."""
        from sklearn.base import clone

        if self.executor is None:
            return super().__sklearn_clone__()
        params = {
            name: value if name == "executor" else clone(value, safe=False)
            for name, value in self.get_params(deep=False).items()
        }
        return type(self)(**params)

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> NeighborhoodComponentsAnalysis:
        """Learn the transformation from training data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training samples.
        y : array-like of shape (n_samples,)
            Their class labels. A single class is allowed (a fold of a
            cross-validation can hold one): see Notes.

        Returns
        -------
        self : object
            The fitted estimator.

        Notes
        -----
        With a single class in ``y`` every neighbour is of the right class,
        so p_i = 1 for every point and the objective (N for "expected", 0 for
        "log") does not depend on the transformation: there is nothing to
        learn. As scikit-learn does, the fit then succeeds without a warning
        and keeps the initial transformation ("auto" picks "pca" or
        "identity", since "lda" needs two classes); no iteration runs, so
        ``n_iter_`` is 0, ``loss_curve_`` holds the one starting value and the
        callback is not called. ``init="lda"`` with one class is a ValueError,
        as in scikit-learn.
        """
        dtype = self._float_dtype()
        X, y = validate_data(self, X, y, ensure_min_samples=2, dtype=dtype)
        X = np.asarray(X)  # (validate_data is untyped: tell mypy it is an array)
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        y = encoder.transform(y)
        self._check_dimensions(X)
        init = self._validated_init(X)
        single_class = len(encoder.classes_) == 1
        if (
            single_class
            and isinstance(init, str)
            and init == "lda"
            and not (self.warm_start and hasattr(self, "components_"))
        ):
            # (scikit-learn lets LDA fail on it, with a message about n_components)
            raise ValueError(
                f"init='lda' needs samples of at least 2 classes, but y has a single class "
                f"({encoder.classes_[0]!r}); use init='auto', 'pca' or 'identity'."
            )
        self.random_state_ = check_random_state(self.random_state)

        started = time.perf_counter()
        self._stopped_by_callback = False
        transformation = np.asarray(self._initialize(X, y, init), dtype=dtype)
        if single_class:
            self._keep_initial(transformation, X.shape[0], encoder.classes_[0])
            return self
        if self.solver == "lbfgs":
            block_size = self._block_size(X.shape[0], transformation.shape[0], dtype.itemsize)
            result, converged = self._minimize(transformation, X, y, block_size)
        else:
            result, converged = self._descend(transformation, X, y)

        self.components_ = np.asarray(result.x, dtype=dtype)
        self.n_iter_ = int(result.nit)
        self.loss_curve_ = -np.asarray(result.loss_curve, dtype=np.float64)
        if not converged and not self._stopped_by_callback:
            hint = (
                "increase max_iter"
                if self.n_iter_ >= self.max_iter
                else "the line search could not improve the objective further, usually "
                "because it is already as accurate as the precision (dtype) allows"
            )
            warnings.warn(
                f"[{type(self).__name__}] NCA did not converge: {result.message} ({hint}).",
                ConvergenceWarning,
                stacklevel=3,
            )
        if self.verbose:
            print(f"[{type(self).__name__}] Training took {time.perf_counter() - started:8.2f}s.")
        return self

    def _keep_initial(self, transformation, n_samples, label):
        """The fit on a single class: the initial transformation, no iteration.

        With one class p_i = 1 for every point, so the objective is a constant:
        Σ_i p_i = N ("expected") or Σ_i log p_i = 0 ("log"); the stochastic
        solvers record it per point (1 or 0). No optimiser is run: L-BFGS-B
        would stop at once on the zero gradient, Adam and SGD would idle
        through 20 epochs before their stopping rule noticed.
        """
        per_point = self.solver != "lbfgs"
        if self.objective == "expected":
            value = 1.0 if per_point else float(n_samples)
        else:
            value = 0.0
        self.components_ = transformation
        self.n_iter_ = 0
        self.loss_curve_ = np.array([value])
        if self.verbose:
            print(
                f"[{type(self).__name__}] y holds a single class ({label!r}): the objective "
                f"is {value:g} whatever the transformation; keeping the initial one."
            )

    def _user_callback(self, A, n_iter):
        """Call the user's callback; True if it asked to stop (raised StopIteration)."""
        if self.callback is None:
            return False
        try:
            self.callback(np.ravel(A), n_iter)
        except StopIteration:
            self._stopped_by_callback = True
            return True
        return False

    def _minimize(self, transformation, X, y, block_size):
        """L-BFGS-B on −objective; returns (result, converged)."""
        name = type(self).__name__
        objective, tol, max_iter = self.objective, self.tol, self.max_iter
        last: dict[str, Any] = {}  # the latest evaluation: {"A": array, "value": float}
        jobs: dict[str, Any] = {"n_jobs": self.n_jobs, "executor": self.executor}
        state: dict[str, Any] = {"previous": None, "converged": False, "clock": time.perf_counter()}

        # value and gradient from one replay, handed to SciPy as they are
        replayed = _replayed_nca(objective, block_size) if self._jitted() else None

        def objective_of(A, X, y):
            if replayed is not None:
                return replayed(A, X, y)
            return nca_loss(A, X, y, objective=objective, block_size=block_size, **jobs)

        def noted(A, value):
            last["A"], last["value"] = np.array(value_of(A)), value
            if state["previous"] is None:
                state["previous"] = value  # the objective at the start

        def loss(A, X, y):
            if replayed is not None:
                value, (gradient,) = replayed.step(A, X, y)
                noted(A, float(value))
                return -value, -gradient
            value = objective_of(A, X, y)
            noted(A, float(value.value))
            return -value

        def objective_at(A):
            if "A" in last and np.array_equal(last["A"], A):
                return last["value"]
            return float(objective_of(A, X, y).value)

        def on_iteration(A, n_iter):
            value = objective_at(A)
            previous, state["previous"] = state["previous"], value
            if self.verbose:
                now = time.perf_counter()
                print(f"[{name}] {n_iter:>10d} {value:>20.6e} {now - state['clock']:>10.2f}")
                sys.stdout.flush()
                state["clock"] = now
            if self._user_callback(A, n_iter):
                return True
            # scikit-learn hands ``tol`` to SciPy as both gtol and ftol;
            # optim.minimize applies it as gtol (and ftol = tol²), so the
            # relative-decrease test is applied here, as SciPy applies it: after
            # the iteration, unless max_iter has been reached.
            decrease = value - previous  # the fall of the minimised loss, −objective
            scale = max(abs(value), abs(previous), 1.0)
            if n_iter < max_iter and decrease <= tol * scale:
                state["converged"] = True
                return True
            return False

        if self.verbose:
            header = f"{'Iteration':>10} {'Objective Value':>20} {'Time(s)':>10}"
            print(f"[{name}]\n[{name}] {header}\n[{name}] {'-' * len(header)}")
        result = minimize(
            loss,
            transformation,
            args=(X, y),
            method="L-BFGS-B",
            max_iter=max_iter,
            tol=tol,
            callback=on_iteration,
            jac=replayed is not None,
        )
        return result, bool(result.success) or state["converged"]

    def _descend(self, transformation, X, y):
        """Adam or SGD on −(mini-batch objective) / batch size, one epoch at a time;
        returns (result, converged). Stops when the last ``_N_ITER_NO_CHANGE``
        epochs rose by at most ``tol`` per epoch on average (:func:`_stalled`)."""
        name, objective = type(self).__name__, self.objective
        n_samples = X.shape[0]
        batch_size = min(n_samples, 1000 if self.batch_size is None else self.batch_size)
        n_batches = math.ceil(n_samples / batch_size)
        largest = batch_size + len(np.unique(y))  # stratified batches can be a little larger
        block_size = self._block_size(
            min(largest, n_samples), transformation.shape[0], X.dtype.itemsize
        )
        if self.solver == "adam":
            # Adam moves every entry by about lr per step whatever the gradient's
            # scale, so the default is a fraction of the entries' typical size.
            scale = float(np.sqrt(np.mean(np.square(transformation, dtype=np.float64))))
            default = 0.02 * scale if scale > 0 else 1e-3
            rule: Adam | SGD = Adam(
                lr=default if self.learning_rate is None else self.learning_rate
            )
        else:
            rule = SGD(lr=0.1 if self.learning_rate is None else self.learning_rate, momentum=0.9)
        rng = self.random_state_
        epoch_batches: list[np.ndarray] = []

        def batch(step):
            if step % n_batches == 0:  # a new epoch: a fresh partition of the data
                epoch_batches[:] = stratified_batches(y, batch_size, rng)
            index = epoch_batches[step % n_batches]
            return X[index], y[index]

        def objective_of(A, Xb, yb):
            return nca_loss(
                A,
                Xb,
                yb,
                objective=objective,
                block_size=block_size,
                n_jobs=self.n_jobs,
                executor=self.executor,
            )

        if self._jitted():  # labels traced too: one program per batch size
            objective_of = replayed_objective(objective_of)

        def loss(A, Xb, yb):
            return objective_of(A, Xb, yb) * (-1.0 / Xb.shape[0])

        state: dict[str, Any] = {
            "clock": time.perf_counter(),
            "losses": [],
            "converged": False,
            "epochs": [],
            "first": None,
        }
        every = max(1, n_batches // 10) if self.verbose >= 2 else 0

        def progress(step, n_steps, value):
            if state["first"] is None:
                state["first"] = -value
            state["losses"].append(-value)
            if every and step % n_batches and step % every == 0:
                print(
                    f"[{name}] {step / n_batches:>10.2f} {-value:>20.6e} "
                    f"{time.perf_counter() - state['clock']:>10.2f}   (step {step})"
                )
                sys.stdout.flush()

        def on_step(A, step):
            if step % n_batches:
                return False
            epoch = step // n_batches
            value = float(np.mean(state["losses"]))
            state["losses"].clear()
            state["epochs"].append(value)
            if self.verbose:
                now = time.perf_counter()
                print(f"[{name}] {epoch:>10d} {value:>20.6e} {now - state['clock']:>10.2f}")
                sys.stdout.flush()
                state["clock"] = now
            if self._user_callback(A, epoch):
                return True
            if epoch < self.max_iter and _stalled(state["epochs"], self.tol):
                state["converged"] = True
                return True
            return False

        if self.verbose:
            header = f"{'Epoch':>10} {'Objective Value':>20} {'Time(s)':>10}"
            print(
                f"[{name}] {self.solver}: {n_batches} mini-batches of about {batch_size} "
                f"points per epoch\n[{name}] {header}\n[{name}] {'-' * len(header)}"
            )
        result = descend(
            loss,
            transformation,
            rule,
            n_steps=self.max_iter * n_batches,
            batches=batch,
            callback=on_step,
            progress=progress,
        )
        if not result.success:
            raise ValueError(
                f"{name} (solver={self.solver!r}): the mini-batch objective became "
                f"non-finite ({result.message}); lower learning_rate (it was "
                f"{rule.lr}) or standardise the data."
            )
        result.nit = len(state["epochs"])
        if not (state["converged"] or self._stopped_by_callback):
            result.message = (
                f"reached max_iter={self.max_iter} epochs while the mini-batch "
                f"objective still rose by more than tol={self.tol} per epoch "
                f"over the last {_N_ITER_NO_CHANGE}"
            )
        result.loss_curve = [-state["first"]] + [-v for v in state["epochs"]]
        return result, state["converged"]

    # ------------------------------------------------------------------ checks and init
    def _jitted(self):
        """Whether the objective is replayed (see ``jit``): not when blocks run on
        other threads or processes, which a trace cannot follow."""
        return bool(self.jit) and self.executor is None and self.n_jobs in (None, 1)

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
                f"({n_features})!"
            )
        if (
            self.warm_start
            and hasattr(self, "components_")
            and self.components_.shape[1] != n_features
        ):
            raise ValueError(
                f"The new inputs dimensionality ({n_features}) does not match the input "
                f"dimensionality of the previously learned transformation "
                f"({self.components_.shape[1]})."
            )

    def _validated_init(self, X):
        init = self.init
        if not isinstance(init, np.ndarray):
            return init
        init = check_array(init)
        if init.shape[1] != X.shape[1]:
            raise ValueError(
                f"The input dimensionality ({init.shape[1]}) of the given linear transformation "
                f"`init` must match the dimensionality of the given inputs `X` ({X.shape[1]})."
            )
        if init.shape[0] > init.shape[1]:
            raise ValueError(
                f"The output dimensionality ({init.shape[0]}) of the given linear "
                f"transformation `init` cannot be greater than its input dimensionality "
                f"({init.shape[1]})."
            )
        if self.n_components is not None and self.n_components != init.shape[0]:
            raise ValueError(
                f"The preferred dimensionality of the projected space `n_components` "
                f"({self.n_components}) does not match the output dimensionality of the given "
                f"linear transformation `init` ({init.shape[0]})!"
            )
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
                init = "lda"  # uses the labels: the most informed start
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
            transformation = (
                PCA(n_components=n_components, random_state=self.random_state_).fit(X).components_
            )
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
                "Raise max_memory, lower n_components or fit on fewer samples."
            )
        low, high = 1, n_samples  # need(low) fits, need(high) does not
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if need(middle) <= budget else (low, middle)
        return low

    # ------------------------------------------------------------------ transform
    def transform(self, X: npt.ArrayLike) -> np.ndarray:
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

    def get_mahalanobis_matrix(self) -> np.ndarray:
        r"""The Mahalanobis matrix M = LᵀL of the learned metric (L = ``components_``).

        NCA learns a linear map L (n_components × n_features); the squared
        distance it puts between two points is the Euclidean one after the
        map, which is a Mahalanobis distance in the original space:

            ‖Lx − Ly‖² = (x − y)ᵀ LᵀL (x − y) = (x − y)ᵀ M (x − y).

        M is symmetric and positive semi-definite, of rank at most
        n_components. The name and definition are metric-learn's
        (``get_mahalanobis_matrix``), so code written for its estimators works
        with this one.

        Returns
        -------
        M : ndarray of shape (n_features, n_features)
            ``components_.T @ components_``, in the dtype of the fit.

        Examples
        --------
        >>> import numpy as np
        >>> nca = NeighborhoodComponentsAnalysis(init="identity", max_iter=1)
        >>> nca.components_ = np.array([[1.0, 2.0], [0.0, 3.0]])    # set by hand, as if fitted
        >>> nca.get_mahalanobis_matrix()
        array([[ 1.,  2.],
               [ 2., 13.]])
        """
        check_is_fitted(self)
        L = self.components_
        return L.T @ L

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
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the fitted model to ``path`` as an ``.npz`` file (atomically).

        See :mod:`tinygrad_nca.nca.io` for the layout. ``callback`` is not saved.
        """
        check_is_fitted(self)
        save_model(self, path)

    @classmethod
    def load(cls: type[_NCA], path: str | os.PathLike[str]) -> _NCA:
        """Read a model written by :meth:`save`.

        Raises
        ------
        ValueError
            If the file is not a model file of this format (or is newer than
            this version of tinygrad_nca can read).
        """
        return load_model(cls, path)


NCA = NeighborhoodComponentsAnalysis

# The window of the stochastic solvers' stopping rule, in epochs (scikit-learn's
# MLP default for n_iter_no_change).
_N_ITER_NO_CHANGE = 10


def _stalled(epoch_values, tol, window=_N_ITER_NO_CHANGE):
    """Whether a stochastic fit has stopped improving: the mean of the last
    ``window`` epoch values is at most ``window × tol`` above the mean of the
    ``window`` before (a rise of at most ``tol`` per epoch).

    Means of windows, not the best epoch so far: each epoch's value is a mean
    over a few random mini-batches, so it is noisy, and the best of many noisy
    epochs lies above the trend; with a rise per epoch smaller than the noise,
    "no epoch beat the best in ``window`` epochs" then happens while the
    objective still rises steadily (measured: 784 features, 5,000 points,
    batches of 1,000, epoch noise ≈ 0.006 per point, stopped while rising
    ≈ 0.001 per epoch). The difference of two window means has the noise of
    one epoch times √(2 / window) and no upward bias.

    >>> _stalled([0.1 * k for k in range(20)], tol=1e-3)   # rising 0.1 per epoch
    False
    >>> _stalled([0.5] * 20, tol=1e-3)
    True
    >>> _stalled([0.5] * 19, tol=1e-3)                      # too few epochs to tell
    False
    """
    if len(epoch_values) < 2 * window:
        return False
    recent = np.mean(epoch_values[-window:])
    before = np.mean(epoch_values[-2 * window : -window])
    return bool(recent - before <= window * tol)


# ---------------------------------------------------------------------- mini-batches
def stratified_batches(
    y: npt.ArrayLike, batch_size: int, random_state: int | np.random.RandomState | None = None
) -> list[np.ndarray]:
    """Partition the points into random mini-batches, classes stratified.

    One epoch's batches: about ceil(N / batch_size) index arrays that together
    hold every index exactly once. Each class c (n_c points) is shuffled and
    dealt out evenly over the batches, so a batch holds ⌊n_c / n_batches⌋ or
    ⌈n_c / n_batches⌉ of its points, its share; a class too small to give
    every batch 2 points is dealt to only ⌊n_c / 2⌋ of them (random ones), so
    wherever a class appears it has at least 2 points and every point has a
    classmate (except the lone point of a class of 1). Batch sizes therefore
    vary a little around ``batch_size``.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class labels.
    batch_size : int
        The target number of points per batch (>= 2).
    random_state : int, RandomState instance or None
        The source of randomness.

    Returns
    -------
    list of ndarray
        Sorted index arrays, one per batch.

    Examples
    --------
    >>> y = [0] * 6 + [1] * 4 + [2] * 2
    >>> batches = stratified_batches(y, 6, random_state=0)
    >>> [np.bincount(np.take(y, b), minlength=3).tolist() for b in batches]  # per class
    [[3, 2, 0], [3, 2, 2]]
    """
    _, codes = np.unique(np.asarray(y), return_inverse=True)
    codes = codes.ravel()
    if batch_size < 2:
        raise ValueError(f"batch_size must be at least 2, got {batch_size}")
    rng = check_random_state(random_state)
    n_batches = max(1, math.ceil(codes.size / batch_size))
    members: list[list[np.ndarray]] = [[] for _ in range(n_batches)]
    for c in range(int(codes.max()) + 1 if codes.size else 0):
        points = rng.permutation(np.flatnonzero(codes == c))
        if points.size == 0:
            continue
        k = min(n_batches, max(1, points.size // 2))
        # Random target batches, so that the larger shares of np.array_split
        # (its first pieces) and the small classes don't pile up in batch 0.
        targets = rng.permutation(n_batches)[:k]
        for target, piece in zip(targets, np.array_split(points, k), strict=False):
            members[target].append(piece)
    return [np.sort(np.concatenate(parts)) for parts in members if parts]


# ---------------------------------------------------------------------- memory budget
# Measured peak extra memory of one loss + gradient (tracemalloc, both
# objectives, float32 and float64): about 6.6 N×N entries for the full matrices
# and 7.9 B×N for a block of B rows, plus a few N×(d+1) arrays and a few kB of
# graph bookkeeping per block. Rounded up; tests check the bound holds.
_PER_PAIR = 9  # B × N entries alive at the peak
_PER_POINT = 24  # N × (d + 1) entries: Z, its norms, their cotangents
_PER_BLOCK = 512  # bytes of bookkeeping per block (its slice, list entries)


def memory_estimate(n_samples: int, n_components: int, itemsize: int, block_size: int) -> int:
    """Bytes needed by one NCA loss + gradient with row blocks of ``block_size``."""
    blocks = math.ceil(n_samples / block_size)
    return (
        itemsize
        * (_PER_PAIR * block_size * n_samples + _PER_POINT * n_samples * (n_components + 1))
        + _PER_BLOCK * blocks
    )


_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "m": 10**6,
    "mb": 10**6,
    "g": 10**9,
    "gb": 10**9,
    "t": 10**12,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


def parse_bytes(size: int | float | str) -> float:
    """A memory size in bytes from a number or a string like "2GB", "512 MiB".

    >>> parse_bytes("2GB"), parse_bytes("1.5 KiB"), parse_bytes(1000)
    (2000000000.0, 1536.0, 1000.0)
    """
    if isinstance(size, str):
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*", size)
        unit = match.group(2).lower() if match else None
        if match is None or unit not in _UNITS:
            raise ValueError(
                f"max_memory={size!r} is not a memory size: give bytes as a number "
                "or a string such as '2GB', '500MB' or '1.5GiB'"
            )
        size = float(match.group(1)) * _UNITS[unit]
    size = float(size)
    if not size > 0:
        raise ValueError(f"max_memory must be positive, got {size}")
    return size


@functools.lru_cache(maxsize=8)
def _replayed_nca(
    objective: Literal["expected", "log"], block_size: int | None
) -> ReplayedObjective:
    """The replayed NCA objective for L-BFGS fits, one per (objective, block_size) and
    shared by every fit: a fit on data of shapes and labels met before (a grid search
    over other settings, a repeated fit) replays the program an earlier fit traced."""

    def nca_objective(A, X, y):
        return nca_loss(A, X, y, objective=objective, block_size=block_size)

    return replayed_objective(nca_objective, static_argnums=2)
