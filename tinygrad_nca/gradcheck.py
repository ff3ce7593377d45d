"""Gradient checking by central finite differences.

``check_grads`` is public: use it to check the gradient of your own loss.

Random mode (the default) needs O(1) evaluations however many parameters there
are: for random directions v (input) and u (output) it compares

    analytic  uᵀ J v = ⟨vjp(u), v⟩
    numeric   ⟨u, (f(x + h v) − f(x − h v)) / 2h⟩

One projection sums the errors of all of J's entries with random weights, which
can cancel by chance (measured: a derivative off by 1e-4 of a 3-element input
passed at order 2); each of ``directions`` independent pairs (u, v) must agree,
so a chance cancellation in all of them is unlikely.

Full mode builds the whole numerical Jacobian, column by column, and compares
it with the analytic one row by row, so it can name the worst element.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

from .errors import GradientCheckError
from .tensor import ArrayLike, value_of
from .transforms import vjp

__all__ = ["check_grads", "GradientCheckError"]

# Default step and tolerances per dtype. The step is the cube root of machine
# epsilon (it balances truncation error h² against rounding error ε/h). The
# float32 atol allows for rounding in intermediates larger than the output
# (logits of 50 behind a loss of 1: ε·50/h ≈ 1e-3), which the noise floor
# below, computed from |f| alone, cannot see.
_DEFAULTS = {
    np.dtype(np.float64): dict(eps=6e-6, rtol=1e-5, atol=1e-8),
    np.dtype(np.float32): dict(eps=5e-3, rtol=2e-2, atol=1e-3),
}
_FULL_CHECK_LIMIT = 50_000  # |input| × |output| up to which a failure is re-run in full


def _is_differentiable(x: Any) -> bool:
    return np.asarray(value_of(x)).dtype.kind == "f"


def _settings(x, eps, rtol, atol):
    dtype = np.asarray(value_of(x)).dtype
    base = _DEFAULTS.get(dtype, _DEFAULTS[np.dtype(np.float64)])
    return (
        base["eps"] if eps is None else eps,
        base["rtol"] if rtol is None else rtol,
        base["atol"] if atol is None else atol,
        np.finfo(dtype).eps,
    )


def check_grads(
    f: Callable[..., Any],
    *args: ArrayLike,
    order: int = 1,
    mode: Literal["random", "full"] = "random",
    eps: float | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    seed: int = 0,
    argnums: Sequence[int] | None = None,
    directions: int = 3,
) -> None:
    """Check the gradient of ``f`` at ``args`` against central finite differences.

    Parameters
    ----------
    f : callable
        Takes arrays (or Tensors) and returns a Tensor of any shape, built from
        tinygrad_nca operations.
    *args : array_like
        The point of the check. Float arguments are checked; others (integer
        labels, ...) are passed through.
    order : int
        1 checks the first derivative; 2 also checks the derivative of the
        gradient (the VJP of the VJP), and so on.
    mode : {"random", "full"}
        "random": one random projection per argument, O(1) evaluations.
        "full": the whole Jacobian, 2·size evaluations per argument.
    eps, rtol, atol : float, optional
        Step and tolerances; by default chosen from the dtype (float32 uses a
        larger step and looser tolerances so that it gives no false failures).
        A noise floor from rounding, ε·|f|/h, is always added to the tolerance.
    seed : int
        Seed of the random directions.
    argnums : sequence of int, optional
        Which arguments to check (default: every float argument).
    directions : int
        Random mode: how many independent random projections must agree
        (each costs two evaluations of ``f`` and one VJP).

    Raises
    ------
    GradientCheckError
        Naming the argument, the worst element, the analytic and numeric values
        and the relative error.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.check_grads(lambda x: tg.sum(tg.tanh(x) ** 2), np.linspace(-1, 1, 5))
    """
    if mode not in ("random", "full"):
        raise ValueError(f"mode must be 'random' or 'full', got {mode!r}")
    if order < 1:
        raise ValueError(f"order must be >= 1, got {order}")
    if isinstance(directions, bool) or not isinstance(directions, int) or directions < 1:
        raise ValueError(f"directions must be a positive integer, got {directions!r}")
    argnums = (
        [i for i, a in enumerate(args) if _is_differentiable(a)]
        if argnums is None
        else list(argnums)
    )
    rng = np.random.default_rng(seed)
    for i in argnums:
        if mode == "random":
            for _ in range(directions):
                _check_random(f, args, i, rng, eps, rtol, atol)
        else:
            _check_full(f, args, i, eps, rtol, atol)
    if order > 1:
        u = _random_like(rng, _evaluate(f, args))
        for i in argnums:

            def gradient(*xs, _i=i):
                return vjp(f, *xs)[1](u)[_i]

            _check_recorded_value(gradient, args, i, eps, rtol, atol)
            check_grads(
                gradient,
                *args,
                order=order - 1,
                mode=mode,
                eps=eps,
                rtol=rtol,
                atol=atol,
                seed=seed + 1,
                argnums=argnums,
                directions=directions,
            )


def _check_recorded_value(gradient, args, i, eps, rtol, atol):
    """The gradient an outer transform differentiates comes from a *recorded* sweep;
    finite differences see only plain sweeps. The two run different code (overwritten
    cotangents, stored block gradients), so their values must agree too: otherwise
    the next order would check the derivative of a gradient nobody computed."""
    plain = _evaluate(gradient, args)
    recorded = np.asarray(value_of(vjp(gradient, *args)[0]))
    _, rtol, atol, _ = _settings(args[i], eps, rtol, atol)
    excess = np.abs(recorded - plain) - (atol + rtol * np.maximum(np.abs(recorded), np.abs(plain)))
    if excess.size and np.nanmax(np.where(np.isnan(excess), np.inf, excess)) > 0:
        worst = np.unravel_index(
            np.argmax(np.where(np.isnan(excess), np.inf, excess)), excess.shape
        )
        raise GradientCheckError(
            f"check_grads: the gradient with respect to argument {i} differs between a plain "
            f"and a recorded reverse sweep: element {tuple(int(k) for k in worst)} is "
            f"{plain[worst]:.6e} plain, {recorded[worst]:.6e} recorded (relative error "
            f"{_relative(plain[worst], recorded[worst]):.2e}, rtol {rtol:g}, atol {atol:g})"
        )


def _evaluate(f: Callable[..., Any], args: Any) -> np.ndarray:
    return np.asarray(value_of(f(*args)))


def _random_like(rng, x):
    return rng.standard_normal(np.shape(x)).astype(np.asarray(x).dtype)


def _shifted(args, i, delta):
    args = list(args)
    x = np.asarray(value_of(args[i]))
    args[i] = x + delta.astype(x.dtype)
    return args


def _vjp_wrt(f, args, i, u):
    """The analytic cotangent of argument i for output cotangent u."""

    def f_i(x):
        return f(*(list(args[:i]) + [x] + list(args[i + 1 :])))

    out, vjp_fn = vjp(f_i, np.asarray(value_of(args[i])))
    return np.asarray(value_of(vjp_fn(u)[0]))


def _check_random(f, args, i, rng, eps, rtol, atol):
    x = np.asarray(value_of(args[i]))
    h, rtol, atol, machine_eps = _settings(x, eps, rtol, atol)
    h = h * max(1.0, float(np.max(np.abs(x), initial=0.0)))
    out = _evaluate(f, args)
    machine_eps = _output_eps(out, machine_eps)
    v = _random_like(rng, x)
    v /= max(float(np.max(np.abs(v), initial=0.0)), 1e-300)  # unit max-norm direction
    u = _random_like(rng, out)
    f_plus, f_minus = (
        _evaluate(f, _shifted(args, i, h * v)),
        _evaluate(f, _shifted(args, i, -h * v)),
    )
    numeric = float(np.sum(u * _difference(f_plus, f_minus) / (2 * h)))
    analytic = float(np.sum(_vjp_wrt(f, args, i, u).astype(np.float64) * v))
    noise = 10 * machine_eps * float(np.sum(np.abs(u) * _magnitude(f_plus, f_minus))) / h
    scale = np.sqrt(
        float(np.sum(u.astype(np.float64) ** 2)) * float(np.sum(v.astype(np.float64) ** 2))
    )
    if abs(analytic - numeric) <= atol * scale + noise + rtol * max(abs(analytic), abs(numeric)):
        return
    if x.size * max(out.size, 1) <= _FULL_CHECK_LIMIT:
        # The element-by-element check decides: it raises naming the worst element. If it
        # passes, the projection was a false alarm: terms of the sum cancelled, leaving a
        # small total to compare with the truncation error of large ones (float32, order 2).
        _check_full(f, args, i, eps, rtol, atol)
        return
    raise GradientCheckError(
        f"check_grads: argument {i} (shape {x.shape}, {x.dtype}): directional derivative "
        f"along a random direction: analytic {analytic:.6e}, numeric {numeric:.6e}, "
        f"relative error {_relative(analytic, numeric):.2e} (rtol {rtol:g}, atol {atol:g}, "
        f"step {h:.2e})"
    )


def _check_full(f, args, i, eps, rtol, atol):
    x = np.asarray(value_of(args[i]))
    h, rtol, atol, machine_eps = _settings(x, eps, rtol, atol)
    h = h * max(1.0, float(np.max(np.abs(x), initial=0.0)))
    out = _evaluate(f, args)
    machine_eps = _output_eps(out, machine_eps)
    numeric = np.empty(out.shape + x.shape)
    noise = np.empty(out.shape + x.shape)
    for k in np.ndindex(*x.shape):
        step = np.zeros(x.shape)
        step[k] = h
        f_plus, f_minus = (
            _evaluate(f, _shifted(args, i, step)),
            _evaluate(f, _shifted(args, i, -step)),
        )
        numeric[(Ellipsis,) + k] = _difference(f_plus, f_minus) / (2 * h)
        noise[(Ellipsis,) + k] = 10 * machine_eps * _magnitude(f_plus, f_minus) / h
    analytic = np.empty_like(numeric)
    for j in np.ndindex(*out.shape):
        basis = np.zeros(out.shape, dtype=out.dtype)
        basis[j] = 1
        analytic[j] = _vjp_wrt(f, args, i, basis)
    allowed = atol + noise + rtol * np.maximum(np.abs(analytic), np.abs(numeric))
    excess = np.abs(analytic - numeric) - allowed
    excess = np.where(np.isnan(excess), np.inf, excess)
    if analytic.size == 0 or excess.max() <= 0:
        return
    worst = tuple(int(k) for k in np.unravel_index(np.argmax(excess), excess.shape))
    out_index, in_index = worst[: out.ndim], worst[out.ndim :]
    a, n = analytic[worst], numeric[worst]
    where = f"output element {out_index}, " if out.ndim else ""
    raise GradientCheckError(
        f"check_grads: argument {i} (shape {x.shape}, {x.dtype}): worst element is "
        f"{where}input element {in_index}: analytic {a:.6e}, numeric {n:.6e}, relative error "
        f"{_relative(a, n):.2e} ({int((excess > 0).sum())} of {excess.size} elements out of "
        f"tolerance; rtol {rtol:g}, atol {atol:g}, step {h:.2e})"
    )


def _output_eps(out, input_eps):
    """Rounding is set by the coarser of the input and output precisions."""
    return max(input_eps, np.finfo(out.dtype).eps) if out.dtype.kind == "f" else input_eps


def _difference(f_plus, f_minus):
    """f(x+h) − f(x−h) in float64; an output stuck at the same value (even ±inf,
    like a masked log-probability) has difference 0, not inf − inf = NaN."""
    f_plus, f_minus = f_plus.astype(np.float64), f_minus.astype(np.float64)
    with np.errstate(invalid="ignore"):
        return np.where(f_plus == f_minus, 0.0, f_plus - f_minus)


def _magnitude(f_plus, f_minus):
    """|f| for the rounding-noise floor, ignoring outputs that are not finite."""
    magnitude = np.maximum(np.abs(f_plus.astype(np.float64)), np.abs(f_minus.astype(np.float64)))
    return np.where(np.isfinite(magnitude), magnitude, 0.0)


def _relative(a, n):
    return abs(a - n) / max(abs(a), abs(n), 1e-300)
