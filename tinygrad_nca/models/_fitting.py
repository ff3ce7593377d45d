"""What both estimators do around the optimiser: check its result and warn as scikit-learn does."""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

__all__ = ["check_common_params", "fitted_params"]


def check_common_params(estimator):
    """Check ``max_iter``, ``tol`` and ``optimizer``, naming the estimator and the parameter.

    Done in ``fit`` (scikit-learn's convention), before any work, and also when a
    custom optimizer makes ``max_iter`` and ``tol`` unused, so that a typo is found
    whichever optimiser runs.
    """
    name = type(estimator).__name__
    max_iter, tol = estimator.max_iter, estimator.tol
    if (
        isinstance(max_iter, (bool, np.bool_))
        or not isinstance(max_iter, numbers.Integral)
        or max_iter < 1
    ):
        raise ValueError(f"{name}: max_iter must be an integer >= 1, got {max_iter!r}")
    if (
        isinstance(tol, (bool, np.bool_))
        or not isinstance(tol, numbers.Real)
        or not np.isfinite(float(tol))
        or tol < 0
    ):
        raise ValueError(f"{name}: tol must be a finite number >= 0, got {tol!r}")
    if estimator.optimizer is not None and not callable(estimator.optimizer):
        raise ValueError(
            f"{name}: optimizer must be a callable optimizer(fun, x0) or None, "
            f"got {estimator.optimizer!r}"
        )


def fitted_params(estimator, result, x0):
    """The optimiser's ``result.x``, checked against ``x0``; warns if it did not converge.

    A stop asked for by a callback (``stopped_by_callback``, set by
    :mod:`tinygrad_nca.optim`) is the user's decision, not a failure: no
    ConvergenceWarning then, as scikit-learn warns only when the solver gives up.
    Weights of the wrong shape or with NaN/inf (a diverged custom optimiser)
    are an error here rather than a fitted model that returns NaN.
    """
    name = type(estimator).__name__
    if not result.get("success", True) and not result.get("stopped_by_callback", False):
        warnings.warn(
            f"{name} did not converge: {result.get('message')}", ConvergenceWarning, stacklevel=3
        )
    expected = x0 if isinstance(x0, tuple) else (x0,)
    x = result.x if isinstance(x0, tuple) else (result.x,)
    if not isinstance(x, (tuple, list)) or len(x) != len(expected):
        raise ValueError(
            f"{name}: the optimizer returned x of the wrong structure: expected "
            f"{len(expected)} array(s) like x0"
        )
    x = tuple(np.asarray(a) for a in x)
    if [a.shape for a in x] != [a.shape for a in expected]:
        raise ValueError(
            f"{name}: the optimizer returned x of shape(s) {[a.shape for a in x]}, "
            f"expected {[a.shape for a in expected]} (those of x0)"
        )
    if not all(np.all(np.isfinite(a)) for a in x):
        raise ValueError(
            f"{name}: the optimizer returned weights with NaN or inf "
            f"({result.get('message', 'no message')}); lower its learning rate "
            "or scale the data"
        )
    return x if isinstance(x0, tuple) else x[0]
