"""Optimisers driven by the engine's gradients.

Three ways to minimise a scalar function ``fun(params, *args)`` written with
engine operations:

* :func:`minimize` hands the problem to SciPy (L-BFGS-B by default), with the
  gradient from :func:`tinygrad_nca.value_and_grad` (one forward and one
  reverse sweep per evaluation). The method of choice for full-batch problems.
* :func:`sgd` (gradient descent with momentum) and :func:`adam` run a plain loop
  of update steps, one mini-batch per step if ``batches`` is given. Their update
  rules are the small classes :class:`SGD` and :class:`Adam`, short enough to read
  as the formulas they implement.

``params`` can be one array or a tuple of arrays (several parameter arrays
optimised together, e.g. an encoder and a decoder matrix); results come back in
the same structure. Importing this module imports NumPy only; SciPy is imported
when :func:`minimize` is called.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .tensor import ArrayLike, value_of
from .transforms import value_and_grad
from .validation import check_callable, check_int, check_real

if TYPE_CHECKING:
    from scipy.optimize import OptimizeResult

__all__ = ["minimize", "sgd", "adam", "descend", "SGD", "Adam", "Result"]


# ------------------------------------------------------------------ argument checks
# ------------------------------------------------------------------ parameter structure
def _as_structure(x0):
    """Return (list of float arrays, is_tuple) for one array or a tuple/list of arrays."""
    is_tuple = isinstance(x0, (tuple, list))
    arrays = [np.array(value_of(a)) for a in (x0 if is_tuple else [x0])]
    if is_tuple and not arrays:
        raise ValueError("x0 is an empty tuple: give at least one parameter array")
    for i, a in enumerate(arrays):
        name = f"x0[{i}]" if is_tuple else "x0"
        if a.dtype.kind in "biu":
            arrays[i] = a = a.astype(np.float64)  # integer starting points: optimise in float64
        if a.dtype.kind != "f":
            raise TypeError(f"{name} has dtype {a.dtype}; parameters must be real float arrays")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} contains NaN or inf; start from finite values")
    return arrays, is_tuple


def _check_args(args):
    """``args`` as a tuple; an array given for ``args`` would be split into its rows."""
    if not isinstance(args, (tuple, list)):
        raise ValueError(
            f"args must be a tuple of extra arguments of fun, got "
            f"{type(args).__name__}; for one argument X write args=(X,)"
        )
    return tuple(args)


def _pack(arrays, is_tuple):
    return tuple(arrays) if is_tuple else arrays[0]


def _value_and_grad_fn(fun, n_arrays, is_tuple):
    """(params, *args) -> (float value, list of gradient arrays)."""
    if is_tuple:
        # Differentiate with respect to every array: spread them as separate arguments.
        def spread(*arrays_and_args):
            return fun(tuple(arrays_and_args[:n_arrays]), *arrays_and_args[n_arrays:])

        vg = value_and_grad(spread, argnums=tuple(range(n_arrays)))

        def evaluate(arrays, args):
            value, grads = vg(*arrays, *args)
            return float(value), list(grads)
    else:
        vg = value_and_grad(fun, argnums=0)

        def evaluate(arrays, args):
            value, grad = vg(arrays[0], *args)
            return float(value), [grad]

    return evaluate


def _given_gradient_fn(fun, is_tuple):
    """(params, *args) -> (float value, list of gradient arrays), from a ``fun`` that
    returns both."""

    def evaluate(arrays, args):
        value, grads = fun(_pack(arrays, is_tuple), *args)
        return float(value_of(value)), [value_of(g) for g in (grads if is_tuple else [grads])]

    return evaluate


# ------------------------------------------------------------------ SciPy driver
class _Stop(Exception):
    """Raised by our callback wrapper when the user's callback asks to stop."""


def _asks_to_stop(callback, params, n_iter):
    """Whether ``callback`` returns True or raises StopIteration (SciPy's way to stop)."""
    try:
        return bool(callback(params, n_iter))
    except StopIteration:
        return True


def minimize(
    fun: Callable[..., Any],
    x0: ArrayLike,
    *,
    args: Sequence[Any] = (),
    method: str = "L-BFGS-B",
    max_iter: int = 100,
    tol: float = 1e-5,
    callback: Callable[[Any, int], Any] | None = None,
    verbose: int = 0,
    jac: bool = False,
) -> OptimizeResult:
    """Minimise ``fun(params, *args)`` with SciPy, gradients from the engine.

    SciPy works on one float64 vector; this function flattens the parameter
    arrays into it and back, and evaluates ``fun`` in the dtype of ``x0`` (a
    float32 model stays float32), casting values and gradients at the boundary.

    Parameters
    ----------
    fun : callable
        ``fun(params, *args)`` returns a scalar Tensor (or float) built from
        engine operations. ``params`` is an ndarray when ``x0`` is one, a tuple
        of ndarrays when ``x0`` is a tuple or list of arrays.
    x0 : ndarray or tuple of ndarrays
        Starting point; its structure, shapes and dtypes are kept.
    args : tuple
        Extra arguments passed to ``fun`` (not differentiated).
    method : str
        A gradient-based method of ``scipy.optimize.minimize`` ("L-BFGS-B",
        "BFGS", "CG", ...).
    max_iter : int
        Maximum number of iterations.
    tol : float
        Stopping tolerance. For L-BFGS-B it is the gradient tolerance ``gtol``
        (stop when the largest component of the projected gradient is at most
        ``tol``), and the relative-decrease tolerance is ``ftol = tol²``
        (stop when (f_k − f_{k+1}) / max(|f_k|, |f_{k+1}|, 1) ≤ tol²; floored at
        float64's machine epsilon). Other methods get ``tol`` as SciPy's ``tol``.
    callback : callable, optional
        ``callback(params, n_iter)`` after every iteration, with the current
        parameters in the structure of ``x0``; returning True (or raising
        ``StopIteration``, SciPy's convention) stops early.
    verbose : int
        ``1`` prints a table: iteration, objective, seconds since the start.
    jac : bool
        As SciPy's ``jac=True``: ``fun`` returns ``(value, gradient)`` itself,
        the gradient in the structure of ``params`` (a replayed
        ``tg.jit(tg.value_and_grad(f))`` does), and the engine does not
        differentiate it again.

    Returns
    -------
    scipy.optimize.OptimizeResult
        ``x`` (same structure as ``x0``), ``fun``, ``jac`` (same structure),
        ``nit``, ``nfev``, ``success``, ``message``, ``loss_curve``: the
        objective at ``x0`` followed by its value after every iteration, and
        ``stopped_by_callback``. A stop asked for by ``callback`` is not
        convergence, so ``success`` is False then (as in SciPy), with
        ``stopped_by_callback`` True and the message "stopped by callback": the
        estimators read that flag to tell a deliberate stop from a failure.

    Raises
    ------
    ValueError
        If ``x0`` or the value or gradient of ``fun`` at ``x0`` is not finite,
        ``fun`` does not return a scalar, or ``max_iter``, ``tol``, ``args`` or
        ``callback`` is invalid (the message names which).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> from tinygrad_nca.optim import minimize
    >>> res = minimize(lambda p: tg.sum((p[0] - 3.0) ** 2) + tg.sum((p[1] + 1.0) ** 2),
    ...                (np.zeros(2), np.zeros((1, 1))))
    >>> np.round(res.x[0], 6), np.round(res.x[1], 6), res.success
    (array([3., 3.]), array([[-1.]]), True)
    """
    import scipy.optimize

    arrays, is_tuple = _as_structure(x0)
    if not isinstance(method, str):
        raise ValueError(
            f"method must be the name of a scipy.optimize.minimize method "
            f"(a str such as 'L-BFGS-B'), got {method!r}"
        )
    max_iter = check_int("max_iter", max_iter, 1)
    tol = check_real("tol", tol, 0.0)
    check_callable("callback", callback)
    args = _check_args(args)
    shapes = [a.shape for a in arrays]
    dtypes = [a.dtype for a in arrays]
    splits = np.cumsum([a.size for a in arrays])[:-1]
    evaluate = (
        _given_gradient_fn(fun, is_tuple) if jac else _value_and_grad_fn(fun, len(arrays), is_tuple)
    )

    def unflatten(theta):
        return [
            piece.reshape(shape).astype(dtype, copy=True)
            for piece, shape, dtype in zip(np.split(theta, splits), shapes, dtypes, strict=False)
        ]

    last: dict[str, Any] = {}  # the latest evaluation, so iteration records need no extra call

    def objective(theta):
        value, grads = evaluate(unflatten(theta), args)
        last.update(theta=theta.copy(), value=value)
        flat = np.concatenate([np.asarray(g, dtype=np.float64).ravel() for g in grads])
        return value, flat

    theta0 = np.concatenate([a.astype(np.float64).ravel() for a in arrays])
    value0, grad0 = objective(theta0)
    if not np.isfinite(value0) or not np.all(np.isfinite(grad0)):
        raise ValueError(
            f"fun or its gradient is not finite at x0 (value {value0}); "
            "check the data and the starting point"
        )

    loss_curve = [value0]
    start = time.perf_counter()
    state: dict[str, Any] = {"nit": 0, "theta": theta0}
    if verbose:
        print(f"{'iter':>6} {'objective':>16} {'seconds':>9}")
        print(f"{0:>6d} {value0:>16.8g} {0.0:>9.3f}")

    def on_iteration(theta, *_):  # (trust-constr also passes its state)
        state["nit"] += 1
        state["theta"] = np.array(theta, copy=True)
        if "theta" in last and np.array_equal(last["theta"], theta):
            value = last["value"]
        else:
            value = objective(theta)[0]
        loss_curve.append(value)
        if verbose:
            print(f"{state['nit']:>6d} {value:>16.8g} {time.perf_counter() - start:>9.3f}")
        if callback is not None and _asks_to_stop(
            callback, _pack(unflatten(theta), is_tuple), state["nit"]
        ):
            raise _Stop

    if method.upper() == "L-BFGS-B":
        options = {
            "maxiter": max_iter,
            "gtol": tol,
            "ftol": max(tol**2, np.finfo(np.float64).eps),
            "maxfun": max(15000, 20 * max_iter),
        }
        extra = {}
    else:
        options, extra = {"maxiter": max_iter}, {"tol": tol}
    try:
        result = scipy.optimize.minimize(
            objective,
            theta0,
            jac=True,
            method=method,
            callback=on_iteration,
            options=options,
            **extra,
        )
    except _Stop:
        theta = state["theta"]
        value, grad = objective(theta)
        result = scipy.optimize.OptimizeResult(
            x=theta,
            fun=value,
            jac=grad,
            nit=state["nit"],
            success=False,
            status=-1,
            message="stopped by callback",
        )
        result.stopped_by_callback = True
    else:
        result.stopped_by_callback = False
    result.x = _pack(unflatten(np.asarray(result.x, dtype=np.float64)), is_tuple)
    # (trust-constr keeps the objective's gradient in ``grad``; its ``jac`` is the constraints')
    jac = result["grad"] if "grad" in result else result.get("jac")
    if jac is not None:
        result.jac = _pack(unflatten(np.asarray(jac, dtype=np.float64)), is_tuple)
    result.fun = float(np.asarray(result.fun))
    result.loss_curve = loss_curve
    return result


# ------------------------------------------------------------------ first-order update rules
def _check_step_shapes(rule, params, grads, state, what):
    """A clear error instead of NumPy's broadcast error (or, worse, a broadcast that works)."""
    name = type(rule).__name__
    shapes = [np.shape(p) for p in params]
    if [np.shape(g) for g in grads] != shapes:
        raise ValueError(
            f"{name}.step: the gradients have shapes {[np.shape(g) for g in grads]}, "
            f"the parameters {shapes}; they must match"
        )
    if state is not None and [s.shape for s in state] != shapes:
        raise ValueError(
            f"{name}.step: the parameters have shapes {shapes}, but the {what} "
            f"kept from earlier steps has shapes {[s.shape for s in state]}; "
            "call reset() before using the rule on a new problem"
        )


class SGD:
    """Gradient descent with (heavy-ball) momentum.

    At every step, with learning rate η and momentum μ,

        v ← μ v − η ∇f(θ),   θ ← θ + v,

    starting from v = 0. The velocity v is a running sum of past gradients,
    each weighted by μ once more per step: along a direction where the
    gradient keeps its sign the steps grow (towards η / (1 − μ) times the
    gradient, 10 times for μ = 0.9), and where it flips sign from step to step
    (a narrow valley) they cancel. With ``momentum=0`` this is plain gradient
    descent θ ← θ − η ∇f(θ).

    The object holds the velocity between steps. :func:`descend` calls
    :meth:`reset` at the start of every run, so one object can be reused: each
    run starts from v = 0 (as an optax optimiser starts from ``init(params)``),
    never from the momentum of an earlier problem. Calling :meth:`step` by hand
    continues from the stored velocity, and parameters of other shapes than it
    was built for are an error until :meth:`reset`.

    Parameters
    ----------
    lr : float, default 0.01
        The learning rate η, > 0.
    momentum : float, default 0.9
        The momentum μ, in [0, 1).

    Raises
    ------
    ValueError
        If ``lr`` or ``momentum`` is not a finite number in its range.

    Examples
    --------
    Two steps by hand, with a constant gradient g = (0.5, −1):

    >>> import numpy as np
    >>> rule = SGD(lr=0.1, momentum=0.9)
    >>> params, grads = [np.array([1.0, 2.0])], [np.array([0.5, -1.0])]
    >>> params = rule.step(params, grads)      # v = −0.1 g
    >>> np.round(params[0], 6)
    array([0.95, 2.1 ])
    >>> params = rule.step(params, grads)      # v = 0.9 · (−0.1 g) − 0.1 g = −0.19 g
    >>> np.round(params[0], 6)
    array([0.855, 2.29 ])
    """

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        self.lr = check_real("lr", lr, 0.0, low_open=True)
        self.momentum = check_real("momentum", momentum, 0.0, 1.0)
        self.velocity: list[np.ndarray] | None = None
        """The velocity v: one array per parameter array (None before the first step)."""

    def reset(self) -> None:
        """Forget the velocity: the next step starts from v = 0, as a new object would.

        Examples
        --------
        >>> import numpy as np
        >>> rule = SGD(lr=0.1)
        >>> _ = rule.step([np.zeros(2)], [np.ones(2)])
        >>> rule.reset()
        >>> rule.velocity is None
        True
        """
        self.velocity = None

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> list[np.ndarray]:
        """Apply one update and return the new parameters.

        Parameters
        ----------
        params : list of ndarray
            The current parameters θ (not modified).
        grads : list of ndarray
            ∇f(θ), one array per parameter array, of the same shapes.

        Returns
        -------
        list of ndarray
            θ + v, with v updated in place in :attr:`velocity`.

        Raises
        ------
        ValueError
            If ``params`` and ``grads`` do not match in number and shapes, or
            do not match the velocity kept from earlier steps (call
            :meth:`reset` to start on a new problem).

        Examples
        --------
        >>> import numpy as np
        >>> SGD(lr=0.5, momentum=0.0).step([np.array([1.0])], [np.array([4.0])])
        [array([-1.])]
        """
        _check_step_shapes(self, params, grads, self.velocity, "velocity")
        if self.velocity is None:
            self.velocity = [np.zeros_like(p) for p in params]
        new = []
        for p, g, v in zip(params, grads, self.velocity, strict=False):
            v *= self.momentum
            v -= self.lr * g
            new.append(p + v)
        return new


class Adam:
    """Adam (Kingma & Ba, 2015): steps scaled by running moments of the gradient.

    At step t = 1, 2, …, with gradient g = ∇f(θ) and all operations elementwise,

        m ← β₁ m + (1 − β₁) g,   s ← β₂ s + (1 − β₂) g²,
        m̂ = m / (1 − β₁ᵗ),   ŝ = s / (1 − β₂ᵗ),   θ ← θ − η m̂ / (√ŝ + ε),

    starting from m = s = 0. m is a running mean of the gradient, s of its
    square. Because m and s start at zero they are too small in the first
    steps (at t = 1, m = (1 − β₁) g); dividing by 1 − βᵗ corrects this bias.
    The step m̂ / √ŝ has no units: each parameter moves by about η per step
    whatever the scale of its gradient, which is why Adam needs little tuning.

    The object holds m, s and t between steps. :func:`descend` calls
    :meth:`reset` at the start of every run, so one object can be reused: each
    run starts from m = s = 0, t = 0 (as an optax optimiser starts from
    ``init(params)``). Calling :meth:`step` by hand continues from the stored
    moments, and parameters of other shapes than they were built for are an
    error until :meth:`reset`.

    Parameters
    ----------
    lr : float, default 1e-3
        The learning rate η, > 0: roughly the size of each step.
    beta1, beta2 : float, default 0.9 and 0.999
        Decay rates β₁, β₂ of the running moments, in [0, 1).
    eps : float, default 1e-8
        ε > 0, which keeps the division finite where ŝ = 0.

    Raises
    ------
    ValueError
        If a hyperparameter is not a finite number in its range.

    Examples
    --------
    The first step moves every parameter by η against the sign of its
    gradient (m̂ = g and ŝ = g² at t = 1), however large the gradient:

    >>> import numpy as np
    >>> rule = Adam(lr=0.1)
    >>> new = rule.step([np.array([1.0, 2.0])], [np.array([0.5, -1000.0])])
    >>> np.round(new[0], 6), rule.t
    (array([0.9, 2.1]), 1)
    """

    def __init__(
        self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
    ) -> None:
        self.lr = check_real("lr", lr, 0.0, low_open=True)
        self.beta1 = check_real("beta1", beta1, 0.0, 1.0)
        self.beta2 = check_real("beta2", beta2, 0.0, 1.0)
        self.eps = check_real("eps", eps, 0.0, low_open=True)
        self.m: list[np.ndarray] | None = None
        self.s: list[np.ndarray] | None = None
        """The running moments m and s: one array per parameter array each
        (None before the first step)."""
        self.t = 0
        """The number of steps taken so far."""

    def reset(self) -> None:
        """Forget m, s and t: the next step is step 1 again, as for a new object.

        Examples
        --------
        >>> import numpy as np
        >>> rule = Adam(lr=0.1)
        >>> _ = rule.step([np.zeros(2)], [np.ones(2)])
        >>> rule.reset()
        >>> rule.t, rule.m is None
        (0, True)
        """
        self.m = self.s = None
        self.t = 0

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> list[np.ndarray]:
        """Apply one update and return the new parameters.

        Parameters
        ----------
        params : list of ndarray
            The current parameters θ (not modified).
        grads : list of ndarray
            ∇f(θ), one array per parameter array, of the same shapes.

        Returns
        -------
        list of ndarray
            θ − η m̂ / (√ŝ + ε); m, s and t are updated in place.

        Raises
        ------
        ValueError
            If ``params`` and ``grads`` do not match in number and shapes, or
            do not match the moments kept from earlier steps (call
            :meth:`reset` to start on a new problem).

        Examples
        --------
        >>> import numpy as np
        >>> rule, params = Adam(lr=0.01), [np.array([5.0])]
        >>> for _ in range(3):      # a constant gradient: m̂ = g, ŝ = g², steps of η
        ...     params = rule.step(params, [np.array([2.0])])
        >>> rule.t, np.round(params[0], 6)
        (3, array([4.97]))
        """
        _check_step_shapes(self, params, grads, self.m, "moments")
        if self.m is None or self.s is None:  # (set together: both or neither)
            self.m = [np.zeros_like(p) for p in params]
            self.s = [np.zeros_like(p) for p in params]
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        new = []
        for p, g, m, s in zip(params, grads, self.m, self.s, strict=False):
            m *= b1
            m += (1 - b1) * g
            s *= b2
            s += (1 - b2) * g * g
            m_hat = m / (1 - b1**self.t)
            s_hat = s / (1 - b2**self.t)
            new.append(p - self.lr * m_hat / (np.sqrt(s_hat) + self.eps))
        return new


class Result(dict):
    """The outcome of :func:`descend`, :func:`sgd` and :func:`adam`: a dict with attribute access.

    ``res.x`` and ``res["x"]`` are the same thing, as in SciPy's
    ``OptimizeResult``, so code written for :func:`minimize`'s result (and
    estimators that accept either) can read both. The keys are listed under
    Returns in :func:`descend`.

    Examples
    --------
    >>> res = Result(x=1.5, nit=3)
    >>> res.x, res["nit"], res.get("success", True)
    (1.5, 3, True)
    >>> res.fun
    Traceback (most recent call last):
        ...
    AttributeError: fun
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value  # res.nit = 3 sets res["nit"] too: the two stay the same thing


def _check_batches(batches):
    if batches is None or callable(batches):
        return
    if isinstance(batches, (str, bytes)) or not (
        hasattr(batches, "__len__") and hasattr(batches, "__getitem__")
    ):
        raise ValueError(
            f"batches must be a sequence of argument tuples (e.g. a list) or a "
            f"callable batches(step), got {type(batches).__name__}"
        )
    if len(batches) == 0:
        raise ValueError(
            "batches is empty: give at least one mini-batch (a tuple of "
            "arguments of fun), or batches=None to use args at every step"
        )


def _batch_for(batches, step):
    batch = batches(step) if callable(batches) else batches[step % len(batches)]
    # tuple(X) of an array would silently hand fun one argument per row of X
    if not isinstance(batch, (tuple, list)):
        where = "batches(step)" if callable(batches) else "each element of batches"
        raise ValueError(
            f"{where} must be a tuple of arguments of fun, got "
            f"{type(batch).__name__} at step {step}; for one argument X use (X,)"
        )
    return tuple(batch)


def descend(
    fun: Callable[..., Any],
    x0: ArrayLike,
    rule: SGD | Adam,
    *,
    n_steps: int,
    args: Sequence[Any] = (),
    batches: Sequence[Any] | Callable[[int], Any] | None = None,
    callback: Callable[[Any, int], Any] | None = None,
    progress: Callable[[int, int, float], Any] | None = None,
) -> Result:
    """Run ``n_steps`` updates of ``rule`` (an :class:`SGD` or :class:`Adam`) on ``fun``.

    Each step evaluates ``fun`` and its gradient at the current parameters
    (one forward and one reverse sweep, through
    :func:`tinygrad_nca.value_and_grad`) and hands the gradient to
    ``rule.step``. With ``batches``, each step sees one mini-batch, so
    ∇f is a noisy estimate of the full gradient that costs a fraction of it:
    stochastic gradient descent. The loop stops early if the loss becomes NaN
    or infinite (the learning rate is too large), rather than carrying
    NaN parameters to the end.

    Every call is a new run: it first calls ``rule.reset()`` (if the rule has
    one), so a rule object used before starts again from zero momentum
    instead of carrying the previous problem's state into this one.

    Parameters
    ----------
    fun : callable
        ``fun(params, *args)`` returning a scalar Tensor, as in :func:`minimize`.
    x0 : ndarray or tuple of ndarrays
        Starting point.
    rule : SGD or Adam
        Any object with ``step(params, grads) -> params`` (lists of arrays),
        and optionally ``reset()``, called once at the start.
    n_steps : int
        Number of updates, an integer >= 0.
    args : tuple
        Extra arguments of ``fun`` used at every step when ``batches`` is None.
    batches : sequence of tuples, or callable, optional
        Mini-batches: step ``t`` calls ``fun(params, *batches[t % len(batches)])``
        (a non-empty sequence, such as a list); a callable is called as
        ``batches(t)`` and returns the argument tuple.
    callback : callable, optional
        ``callback(params, step)`` after every update; returning True (or
        raising ``StopIteration``) stops.
    progress : callable, optional
        ``progress(step, n_steps, loss)`` after every update (for a progress
        bar or a log line); its return value is ignored.

    Returns
    -------
    Result
        ``x`` (same structure as ``x0``), ``fun`` (the loss at the last step's
        batch, before its update), ``nit``, ``loss_curve`` (the loss at every
        step), ``success`` (False only if the loss or its gradient became
        non-finite: the parameters are then those before the step that would
        have used it), ``stopped_by_callback`` and ``message``.

    Raises
    ------
    ValueError
        If ``n_steps`` is not an integer >= 0, ``batches`` is empty, or
        ``args``, ``batches``, ``callback`` or ``progress`` is of the wrong kind.

    Examples
    --------
    Least squares on mini-batches of two rows each: step t uses the rows
    t mod 2, 2 + t mod 2, … (half of the data). The data are noise-free, so
    every mini-batch has the same minimiser and the iterates reach it.

    >>> import numpy as np, tinygrad_nca as tg
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, -1.0]])
    >>> y = X @ np.array([2.0, -1.0])
    >>> loss = lambda w, X, y: tg.mean((X @ w - y) ** 2)
    >>> batches = [(X[0::2], y[0::2]), (X[1::2], y[1::2])]
    >>> res = descend(loss, np.zeros(2), SGD(lr=0.2, momentum=0.5), n_steps=100,
    ...               batches=batches)
    >>> np.round(res.x, 6), res.nit, res.success
    (array([ 2., -1.]), 100, True)
    """
    arrays, is_tuple = _as_structure(x0)
    n_steps = check_int("n_steps", n_steps, 0)
    args = _check_args(args)
    _check_batches(batches)
    check_callable("callback", callback)
    check_callable("progress", progress)
    evaluate = _value_and_grad_fn(fun, len(arrays), is_tuple)
    if hasattr(rule, "reset"):
        rule.reset()  # a new run: no momentum carried over from an earlier one
    losses, message, success, stopped = [], "reached n_steps", True, False
    for step in range(1, n_steps + 1):
        batch = args if batches is None else _batch_for(batches, step - 1)
        value, grads = evaluate(arrays, batch)
        if not np.isfinite(value):
            message = (
                f"loss became {value} at step {step}; lower the learning rate"
                if step > 1
                else f"loss is {value} at x0, before any update: check the data and x0"
            )
            success = False
            break
        losses.append(value)
        grads = [np.asarray(g, dtype=a.dtype) for g, a in zip(grads, arrays, strict=False)]
        if not all(np.all(np.isfinite(g)) for g in grads):
            # a finite loss with a NaN/inf slope: a point where fun is not differentiable
            # (sqrt or log at 0, say); an update would make every parameter NaN
            message = (
                f"the gradient has NaN or inf at step {step} although the loss is finite "
                f"({value}): fun is not differentiable there"
            )
            success = False
            break
        arrays = [
            np.asarray(p, dtype=a.dtype)
            for p, a in zip(rule.step(arrays, grads), arrays, strict=False)
        ]
        if progress is not None:
            progress(step, n_steps, value)
        if callback is not None and _asks_to_stop(callback, _pack(arrays, is_tuple), step):
            message, stopped = "stopped by callback", True
            break
    return Result(
        x=_pack(arrays, is_tuple),
        fun=losses[-1] if losses else None,
        nit=len(losses),
        loss_curve=losses,
        success=success,
        stopped_by_callback=stopped,
        message=message,
    )


def sgd(
    fun: Callable[..., Any],
    x0: ArrayLike,
    *,
    lr: float = 0.01,
    momentum: float = 0.9,
    n_steps: int = 100,
    args: Sequence[Any] = (),
    batches: Sequence[Any] | Callable[[int], Any] | None = None,
    callback: Callable[[Any, int], Any] | None = None,
    progress: Callable[[int, int, float], Any] | None = None,
) -> Result:
    """Minimise ``fun`` by gradient descent with momentum (see :class:`SGD`, :func:`descend`).

    A fresh ``SGD(lr, momentum)`` rule run by :func:`descend`; the other
    arguments and the returned :class:`Result` are those of :func:`descend`.

    Examples
    --------
    f(w) = ‖w − 2‖², whose gradient 2(w − 2) vanishes at w = (2, 2, 2):

    >>> import numpy as np, tinygrad_nca as tg
    >>> res = sgd(lambda w: tg.sum((w - 2.0) ** 2), np.zeros(3), lr=0.1, n_steps=200)
    >>> np.round(res.x, 4)
    array([2., 2., 2.])
    """
    return descend(
        fun,
        x0,
        SGD(lr=lr, momentum=momentum),
        n_steps=n_steps,
        args=args,
        batches=batches,
        callback=callback,
        progress=progress,
    )


def adam(
    fun: Callable[..., Any],
    x0: ArrayLike,
    *,
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    n_steps: int = 100,
    args: Sequence[Any] = (),
    batches: Sequence[Any] | Callable[[int], Any] | None = None,
    callback: Callable[[Any, int], Any] | None = None,
    progress: Callable[[int, int, float], Any] | None = None,
) -> Result:
    """Minimise ``fun`` with Adam (see :class:`Adam`, :func:`descend`).

    A fresh ``Adam(lr, beta1, beta2, eps)`` rule run by :func:`descend`; the
    other arguments and the returned :class:`Result` are those of
    :func:`descend`.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> res = adam(lambda w: tg.sum((w - 2.0) ** 2), np.zeros(3), lr=0.1, n_steps=500)
    >>> np.round(res.x, 3)
    array([2., 2., 2.])
    """
    return descend(
        fun,
        x0,
        Adam(lr=lr, beta1=beta1, beta2=beta2, eps=eps),
        n_steps=n_steps,
        args=args,
        batches=batches,
        callback=callback,
        progress=progress,
    )
