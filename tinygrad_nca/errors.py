"""Exceptions raised by tinygrad_nca.

Each error is a subclass of the built-in exception a Python programmer would
expect (a bad shape is a ``ValueError``, a failed check an ``AssertionError``),
so ``except ValueError`` in existing code still catches it, while
``except tg.ShapeError`` catches only ours. All three are importable from the
top level: ``tg.ShapeError``, ``tg.AnomalyError``, ``tg.GradientCheckError``.
"""

__all__ = ["ShapeError", "AnomalyError", "GradientCheckError"]


class ShapeError(ValueError):
    """Operands whose shapes do not fit the operation.

    Raised by the operation that received them: a matrix product whose inner
    dimensions differ (``(n, k) @ (k', m)`` with k ≠ k'), operands that do
    not broadcast together under NumPy's rules, a reshape to a different
    size, an axis out of range, transpose axes that are not a permutation,
    arrays that do not concatenate, a ``where=`` mask that does not
    broadcast to its operand. The message names the operation and the
    shapes, so the mistake can be found without reading a NumPy traceback.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> A, B = tg.Tensor(np.ones((2, 3))), tg.Tensor(np.ones((2, 3)))
    >>> A @ B
    Traceback (most recent call last):
        ...
    tinygrad_nca.errors.ShapeError: matmul: shapes (2, 3) and (2, 3) are not aligned (3 != 2)
    >>> (A @ B.T).shape        # (2, 3) @ (3, 2) is defined
    (2, 2)
    >>> isinstance(tg.ShapeError("..."), ValueError)
    True
    """


class AnomalyError(FloatingPointError):
    """A NaN or inf appeared in an op's output or VJP under ``detect_anomaly``.

    Outside :func:`tinygrad_nca.detect_anomaly` a NaN spreads silently through
    the rest of the forward and reverse sweeps, and only the final gradient
    shows it. Inside, every primitive's output and every VJP's output is
    checked as soon as it is computed, and the first non-finite value raises
    this error, naming the op (and, for a VJP, the op inside it). The checks
    cost a pass over every array, so use it to find a NaN, not all the time.

    Examples
    --------
    The forward pass: log of a negative number.

    >>> import numpy as np, tinygrad_nca as tg
    >>> with tg.detect_anomaly():
    ...     x = tg.Tensor([1.0, -1.0], requires_grad=True)
    ...     y = tg.sum(tg.log(x))
    Traceback (most recent call last):
        ...
    tinygrad_nca.errors.AnomalyError: log: forward output contains NaN

    The reverse sweep: √x is finite at 0, but its derivative 1 / (2√x) is not.

    >>> with tg.detect_anomaly():
    ...     x = tg.Tensor([0.0, 4.0], requires_grad=True)
    ...     tg.sum(tg.sqrt(x)).backward()
    Traceback (most recent call last):
        ...
    tinygrad_nca.errors.AnomalyError: sqrt: VJP: ... contains inf
    """


class GradientCheckError(AssertionError):
    """An analytic gradient disagrees with finite differences.

    Raised by :func:`tinygrad_nca.check_grads` when the engine's derivative
    (from the VJPs) and a central finite difference
    (f(x + εv) − f(x − εv)) / 2ε differ by more than the tolerance. The
    message names the argument, the worst element, both values and their
    relative error. It is an ``AssertionError`` so that a failed check inside
    a test reads as a failed test.

    Examples
    --------
    A primitive whose VJP has a sign error: the derivative of tanh is
    1 − tanh², not 1 + tanh².

    >>> import numpy as np, tinygrad_nca as tg
    >>> wrong_tanh = tg.primitive(lambda x: np.tanh(x), name="wrong_tanh")
    >>> _ = wrong_tanh.defvjp(lambda g, ans, x: g * (1 + ans * ans))
    >>> tg.check_grads(lambda x: tg.sum(wrong_tanh(x)), np.array([0.5, -1.0]))
    Traceback (most recent call last):
        ...
    tinygrad_nca.errors.GradientCheckError: check_grads: argument 0 (shape (2,), float64): ...
    """
