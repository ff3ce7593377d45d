"""The table of derivative rules: every primitive's forward and VJP side by side.

Read each entry as a line of a textbook table: the primitive (its forward rule
is a NumPy function, or a function of :mod:`tinygrad_nca.kernels` where a
measured speed-up needed one), its VJP, and the public function that calls it.
``g`` is the cotangent of the output ``ans`` (ȳ in the notes), and each VJP
returns the cotangent of one input (x̄). VJPs use the same tensor operations as
everything else, so the derivative of a derivative comes for free. Functions
that are compositions of others (var from mean and a square, tile from
broadcast_to and reshape, …) need no rule of their own, and say so.

Broadcasting is an operation of its own (``broadcast_to``, whose VJP is a sum
back to the input's shape): binary operations broadcast their tensor operands
explicitly first, so none of their VJPs needs an "unbroadcast" special case.

Every public function accepts what NumPy accepts for an array: a Tensor, an
ndarray, a Python number, or a (nested) list or tuple of these, which is
stacked into one array (differentiably, when it holds Tensors).
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np

from . import kernels
from .errors import ShapeError
from .tensor import (
    ArrayLike,
    Axis,
    DTypeLike,
    Primitive,
    Shape,
    Tensor,
    as_tensor,
    cast,
    current_recorder,
    is_grad_enabled,
    overwritable,
    primitive,
    value_of,
)

if TYPE_CHECKING:
    from typing_extensions import TypeIs  # (mypy's own copy: never imported at run time)

# A long list of names stays packed (ruff format would put one per line).
# fmt: off
__all__ = [
    "abs", "add", "append", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2",
    "arctanh", "argmax", "argmin", "argsort", "array_split", "astype", "atleast_1d",
    "atleast_2d", "atleast_3d", "average", "broadcast_to", "ceil", "clip", "column_stack",
    "concatenate", "cos", "cosh", "cross", "cumprod", "cumsum", "deg2rad", "diag", "diagonal",
    "diff", "divide", "dot", "einsum", "exp", "exp2", "expand_dims", "expm1", "flatten", "flip",
    "fliplr", "flipud", "floor", "fmax", "fmin", "hsplit", "hstack", "hypot", "inner", "kron",
    "log", "log10", "log1p", "log2", "log_softmax", "logaddexp", "logaddexp2", "logsumexp",
    "matmul", "max", "maximum", "mean", "min", "minimum", "mod", "moveaxis", "multiply",
    "nan_to_num", "negative", "outer", "pad", "power", "prod", "rad2deg", "ravel", "reciprocal",
    "remainder", "repeat", "reshape", "roll", "rollaxis", "rot90", "round", "sign", "sin",
    "sinc", "sinh", "softmax", "softmax_mass", "sort", "split", "sqrt", "square", "squeeze",
    "stack", "std", "subtract", "sum", "swapaxes", "take_along_axis", "tan", "tanh",
    "tensordot", "tile", "trace", "transpose", "tril", "triu", "var", "vsplit", "vstack", "where",
]
# fmt: on


def _one_number(v: Any) -> TypeIs[int]:
    """Whether an argument typed ``int | Sequence[...]`` is the number (NumPy's test, so
    that a NumPy integer or a 0-d array counts as one too)."""
    return np.ndim(v) == 0


def _shape(x):
    # np.shape, minus its Python overhead for the common case (this runs per op)
    return x.shape if isinstance(x, np.ndarray) else np.shape(x)


def _arg(x):
    """An op's array argument: a list or tuple becomes one array, as NumPy reads it
    (the stack of its entries when any is a Tensor, so that it is differentiated);
    anything else passes through untouched (only lists and tuples are looked into)."""
    if isinstance(x, (list, tuple)):
        if _holds_tensor(x):
            return stack([_arg(item) for item in x])
        return Tensor(x).value  # floats, as Tensor makes them (a ragged list: ShapeError)
    return x


def _holds_tensor(items):
    return builtins.any(
        isinstance(i, Tensor) or (isinstance(i, (list, tuple)) and _holds_tensor(i)) for i in items
    )


def _array(x: ArrayLike) -> Tensor | np.ndarray:
    """``_arg(x)``, and a Python number as a float array (reductions read its dtype)."""
    x = _arg(x)
    return x if isinstance(x, (Tensor, np.ndarray)) else Tensor(x).value


def _reduced_size(ans, x, *_, **__):
    return x.size  # a reduction touches every input element once


def _unreduce(g, shape, axis):
    """Bring the cotangent of a reduction back to keepdims form."""
    return reshape(g, kernels.kept_shape(shape, axis))


def _zero(g, ans, *args, **kwargs):
    """The VJP of a piecewise-constant function: zero (a constant, even for inf ḡ)."""
    return Tensor(np.zeros(_shape(value_of(args[0])), dtype=value_of(ans).dtype))


def _check_axis(name, axis, shape):
    """``axis`` as a non-negative index into ``shape``, or a ShapeError naming ``name``."""
    if not -len(shape) <= axis < len(shape):
        raise ShapeError(
            f"{name}: axis {axis} is out of range for shape {shape} ({len(shape)} axes)"
        )
    return axis % len(shape)


# ------------------------------------------------------------------ masks of values
# Piecewise-constant factors that VJPs read off their inputs' values (a sign, a mask of
# the entries inside a clip, the tie weights of a maximum). Each is a constant of the
# graph, no derivative flows through it, as before; they are primitives applied to the
# raw arrays (value_of) only so that tg.jit records them as steps of its program instead
# of freezing the first call's values into it (see jit.py).
_sign_of = primitive(np.sign, name="sign_of", flops=lambda ans, *a, **k: ans.size)
_isfinite = primitive(np.isfinite, name="isfinite")
_floor_divide = primitive(np.floor_divide, name="floor_divide")
_less = primitive(np.less, name="less")
_less_equal = primitive(np.less_equal, name="less_equal")
_greater = primitive(np.greater, name="greater")
_greater_equal = primitive(np.greater_equal, name="greater_equal")
_equal = primitive(np.equal, name="equal")
_not_equal = primitive(np.not_equal, name="not_equal")
_both_zero = primitive(lambda a, b: (a == 0) & (b == 0), name="both_zero")
_inside = primitive(lambda x, low, high: (low <= x) & (x <= high), name="inside")


# ------------------------------------------------------------------ broadcasting
@primitive(name="broadcast_to", flops=lambda ans, x, shape: 0)
def _broadcast_to(x, shape):
    return np.broadcast_to(x, shape)


def _sum_to(g, shape):
    """Sum ``g`` down to ``shape`` (the reverse of broadcasting to g.shape)."""
    if g.shape == tuple(shape):
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1
    )
    return reshape(sum(g, axis=axes), shape)


_broadcast_to.defvjp(lambda g, ans, x, shape: _sum_to(g, x.shape))


def broadcast_to(x: ArrayLike, shape: Shape) -> Tensor:
    """Broadcast ``x`` to ``shape`` (NumPy rules).

    y = broadcast_to(x, shape) copies x along new leading axes and along axes
    where x has size 1. Each entry of x is used several times, so its cotangent
    is the sum of theirs: x̄ = ḡ summed over the broadcast axes, back to x's shape.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda b: tg.sum(tg.broadcast_to(b, (3, 2)) * np.arange(6.0).reshape(3, 2)))(np.zeros(2))
    array([6., 9.])
    """
    x = _arg(x)
    dims = (int(shape),) if _one_number(shape) else tuple(shape)
    if _shape(value_of(x)) == dims:
        return as_tensor(x)
    try:
        np.broadcast_shapes(_shape(value_of(x)), dims)
    except ValueError:
        raise ShapeError(
            f"broadcast_to: cannot broadcast shape {_shape(value_of(x))} to {dims}"
        ) from None
    return _broadcast_to(x, dims)


def _broadcast_operands(name, *operands):
    """Broadcast the tensor operands of an elementwise op to their common shape
    (lists and tuples among them first read as arrays)."""
    arrays = [_arg(a) for a in operands]
    shapes = [_shape(value_of(a)) for a in arrays]
    if all(shape == shapes[0] for shape in shapes):
        return arrays  # nothing to broadcast (the common case)
    try:
        out = np.broadcast_shapes(*shapes)
    except ValueError:
        listed = " and ".join(str(s) for s in shapes)
        raise ShapeError(f"{name}: shapes {listed} cannot be broadcast together") from None
    return [broadcast_to(a, out) if isinstance(a, Tensor) and a.shape != out else a for a in arrays]


# ------------------------------------------------------------------ arithmetic
_add = primitive(kernels.plain_row_loops(np.add), name="add")
_add.defvjp(lambda g, ans, x, y: g, lambda g, ans, x, y: g)


def add(x: ArrayLike, y: ArrayLike) -> Tensor:
    """x + y, elementwise, with NumPy broadcasting.

    VJP: x̄ = ḡ, ȳ = ḡ (summed back to each operand's shape where it was broadcast).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda b: tg.sum(tg.add(np.ones((4, 2)), b)))(np.zeros(2))   # b used in 4 rows
    array([4., 4.])
    """
    return _add(*_broadcast_operands("add", x, y))


_subtract = primitive(kernels.plain_row_loops(np.subtract), name="subtract")
_subtract.defvjp(lambda g, ans, x, y: g, lambda g, ans, x, y: -g)


def subtract(x: ArrayLike, y: ArrayLike) -> Tensor:
    """x − y, elementwise, with NumPy broadcasting.

    VJP: x̄ = ḡ, ȳ = −ḡ.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda y: tg.sum(tg.subtract(1.0, y)))(np.array([2.0, 3.0]))
    array([-1., -1.])
    """
    return _subtract(*_broadcast_operands("subtract", x, y))


_multiply = primitive(kernels.plain_row_loops(np.multiply), name="multiply")
_multiply.defvjp(lambda g, ans, x, y: g * y, lambda g, ans, x, y: g * x)


def multiply(x: ArrayLike, y: ArrayLike) -> Tensor:
    """x · y, elementwise, with NumPy broadcasting.

    VJP: x̄ = ḡ · y, ȳ = ḡ · x.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda x: tg.sum(tg.multiply(x, np.array([3.0, 4.0]))))(np.ones(2))
    array([3., 4.])
    """
    return _multiply(*_broadcast_operands("multiply", x, y))


_divide = primitive(kernels.plain_row_loops(np.divide), name="divide")
_divide.defvjp(lambda g, ans, x, y: g / y, lambda g, ans, x, y: -g * ans / y)


def divide(x: ArrayLike, y: ArrayLike) -> Tensor:
    """x / y, elementwise, with NumPy broadcasting.

    VJP: x̄ = ḡ / y, ȳ = −ḡ · x / y² (written −ḡ · ans / y, reusing the output).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda y: tg.sum(tg.divide(1.0, y)))(np.array([1.0, 2.0]))   # −1/y²
    array([-1.  , -0.25])
    """
    return _divide(*_broadcast_operands("divide", x, y))


def _lowered(x, y):
    """y − 1, except 1 where y = 0 (there the factor y of y·x^(y−1) is 0 anyway, and
    x^1 keeps 0·x^(−1) = 0·inf = NaN away from x = 0, at every order). For a tensor y
    only where x = 0 too: elsewhere d/dy of y·x^(y−1) needs the true exponent."""
    if isinstance(y, Tensor):
        return where(_both_zero(y.value, value_of(x)), 1.0, y - 1)
    if isinstance(y, np.ndarray):
        return np.where(y == 0, 1, y - 1).astype(y.dtype)
    return 1 if y == 0 else y - 1


_power = primitive(np.power, name="power")
_power.defvjp(
    lambda g, ans, x, y: g * y * x ** _lowered(x, y),
    # d(x^y)/dy = x^y log x; where x <= 0 the power is not smooth in y: use 0.
    lambda g, ans, x, y: g * ans * log(where(_greater(value_of(x), 0), x, 1.0)),
)


def power(x: ArrayLike, y: ArrayLike) -> Tensor:
    """x ** y, elementwise, with NumPy broadcasting (scalar or tensor exponent).

    VJP: x̄ = ḡ · y · x^(y−1), taken as 0 where y = 0 (so x ** 0 has derivative 0
    at x = 0 too, at every order, not 0 · inf = NaN); ȳ = ḡ · x^y · log x where
    x > 0, taken as 0 where x ≤ 0 (where the power is not a smooth function of y;
    at x = 0 it is x^y · log x → 0 for y > 0).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda x: tg.sum(tg.power(x, 3)))(np.array([1.0, 2.0]))
    array([ 3., 12.])
    >>> float(tg.grad(lambda x: x ** 0.0)(0.0)), float(tg.grad(tg.grad(lambda x: x ** 2))(0.0))
    (0.0, 2.0)
    """
    return _power(*_broadcast_operands("power", x, y))


_negative = primitive(np.negative, name="negative")
_negative.defvjp(lambda g, ans, x: -g)


def negative(x: ArrayLike) -> Tensor:
    """−x, elementwise.

    VJP: x̄ = −ḡ.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda x: tg.sum(tg.negative(x)))(np.ones(2))
    array([-1., -1.])
    """
    return _negative(_arg(x))


@primitive(name="tie_weights")
def _tie_weights_of(mine, other, ans):
    chosen = mine == ans
    return (chosen * np.where(mine == other, 0.5, 1.0)).astype(ans.dtype)


def _tie_weights(mine, other, ans):
    """1 where ``mine`` is the one chosen, 1/2 on a tie, else 0 (in ans's dtype)."""
    return _tie_weights_of(value_of(mine), value_of(other), value_of(ans))


def _chooser(fn):
    """A primitive choosing one operand per entry: the chosen one gets ḡ (half each on a tie)."""
    return primitive(fn, name=fn.__name__).defvjp(
        lambda g, ans, x, y: g * _tie_weights(x, y, ans),
        lambda g, ans, x, y: g * _tie_weights(y, x, ans),
    )


_maximum = _chooser(np.maximum)


def maximum(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Elementwise maximum of x and y, with NumPy broadcasting.

    VJP: the cotangent goes to the larger operand; on a tie each gets half.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda x: tg.sum(tg.maximum(x, 0.0)))(np.array([-1.0, 0.0, 2.0]))
    array([0. , 0.5, 1. ])
    """
    return _maximum(*_broadcast_operands("maximum", x, y))


_minimum = _chooser(np.minimum)


def minimum(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Elementwise minimum of x and y, with NumPy broadcasting.

    VJP: the cotangent goes to the smaller operand; on a tie each gets half.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda x: tg.sum(tg.minimum(x, 1.0)))(np.array([0.0, 1.0, 2.0]))
    array([1. , 0.5, 0. ])
    """
    return _minimum(*_broadcast_operands("minimum", x, y))


_fmax = _chooser(np.fmax)


def fmax(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Elementwise maximum ignoring NaN (``np.fmax``): a NaN loses to a number.

    VJP: as :func:`maximum`; the chosen (non-NaN) operand gets ḡ, a NaN operand 0.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda x: tg.sum(tg.fmax(x, np.array([np.nan, 5.0]))))(np.array([1.0, 2.0]))
    array([1., 0.])
    """
    return _fmax(*_broadcast_operands("fmax", x, y))


_fmin = _chooser(np.fmin)


def fmin(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Elementwise minimum ignoring NaN (``np.fmin``): a NaN loses to a number.

    VJP: as :func:`minimum`; the chosen (non-NaN) operand gets ḡ, a NaN operand 0.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda x: tg.sum(tg.fmin(x, np.array([np.nan, 0.0]))))(np.array([1.0, 2.0]))
    array([1., 0.])
    """
    return _fmin(*_broadcast_operands("fmin", x, y))


_mod = primitive(np.mod, name="mod")
_mod.defvjp(
    lambda g, ans, x, y: g,  # x mod y = x − ⌊x/y⌋·y, ⌊x/y⌋ piecewise constant
    lambda g, ans, x, y: -g * _floor_divide(value_of(x), value_of(y)),
)


def mod(x: ArrayLike, y: ArrayLike) -> Tensor:
    """x mod y with the sign of y (``np.mod``, Python's ``%``), with NumPy broadcasting.

    x mod y = x − ⌊x/y⌋ · y. VJP: x̄ = ḡ, ȳ = −ḡ · ⌊x/y⌋ (the floor is piecewise
    constant: at its jumps, where x is a multiple of y, the one-sided rule of
    the piece NumPy's floor division picks).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.mod(np.array([5.0, -5.0]), 3.0).value
    array([2., 1.])
    >>> tg.grad(lambda y: tg.sum(tg.mod(7.0, y)))(np.array([3.0]))   # −⌊7/3⌋
    array([-2.])
    """
    return _mod(*_broadcast_operands("mod", x, y))


remainder = mod


def square(x: ArrayLike) -> Tensor:
    """x², elementwise: ``x * x`` (a composition, as exact as ``np.square``).

    VJP (of the product): x̄ = 2 ḡ x.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda x: tg.sum(tg.square(x)))(np.array([1.0, -3.0]))
    array([ 2., -6.])
    """
    x = _arg(x)
    return multiply(x, x)


def reciprocal(x: ArrayLike) -> Tensor:
    """1 / x, elementwise: ``1 / x`` (a composition, as exact as ``np.reciprocal``).

    VJP (of the division): x̄ = −ḡ / x².

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda x: tg.sum(tg.reciprocal(x)))(np.array([2.0]))
    array([-0.25])
    """
    return divide(1.0, _arg(x))


# ------------------------------------------------------------------ elementwise functions
# Each entry: y = f(x) elementwise, x̄ = ḡ · f′(x). Where f′ is best written with the
# output (exp, tanh, sqrt, tan) the rule reuses ``ans`` instead of recomputing f.
def _unary(fn, vjp, name=None):
    return primitive(fn, name=name or fn.__name__).defvjp(vjp)


_LN2, _LN10, _PI = math.log(2.0), math.log(10.0), math.pi  # Python floats keep float32

_exp = _unary(np.exp, lambda g, ans, x: g * ans)  # (e^x)' = e^x: reuse the output


def exp(x: ArrayLike) -> Tensor:
    """e^x, elementwise.

    VJP: x̄ = ḡ · e^x (the output, reused).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda x: tg.sum(tg.exp(x)))(np.zeros(2))
    array([1., 1.])
    """
    return _exp(_arg(x))


_exp2 = _unary(np.exp2, lambda g, ans, x: g * ans * _LN2)


def exp2(x: ArrayLike) -> Tensor:
    """2^x, elementwise.

    VJP: x̄ = ḡ · 2^x · ln 2.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> bool(float(tg.grad(tg.exp2)(1.0)) == 2 * np.log(2))
    True
    """
    return _exp2(_arg(x))


_expm1 = _unary(np.expm1, lambda g, ans, x: g * (ans + 1))


def expm1(x: ArrayLike) -> Tensor:
    """e^x − 1, elementwise, accurate for small x.

    VJP: x̄ = ḡ · e^x (the output plus 1).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> float(tg.grad(tg.expm1)(0.0))
    1.0
    """
    return _expm1(_arg(x))


_log = _unary(np.log, lambda g, ans, x: g / x)


def log(x: ArrayLike) -> Tensor:
    """Natural logarithm, elementwise.

    VJP: x̄ = ḡ / x.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda x: tg.sum(tg.log(x)))(np.array([1.0, 4.0]))
    array([1.  , 0.25])
    """
    return _log(_arg(x))


_log1p = _unary(np.log1p, lambda g, ans, x: g / (1 + x))


def log1p(x: ArrayLike) -> Tensor:
    """log(1 + x), elementwise, accurate for small x.

    VJP: x̄ = ḡ / (1 + x).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> float(tg.grad(tg.log1p)(1.0))
    0.5
    """
    return _log1p(_arg(x))


_log2 = _unary(np.log2, lambda g, ans, x: g / (x * _LN2))


def log2(x: ArrayLike) -> Tensor:
    """Base-2 logarithm, elementwise.

    VJP: x̄ = ḡ / (x ln 2).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> bool(float(tg.grad(tg.log2)(2.0)) == 1 / (2 * np.log(2)))
    True
    """
    return _log2(_arg(x))


_log10 = _unary(np.log10, lambda g, ans, x: g / (x * _LN10))


def log10(x: ArrayLike) -> Tensor:
    """Base-10 logarithm, elementwise.

    VJP: x̄ = ḡ / (x ln 10).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> bool(float(tg.grad(tg.log10)(1.0)) == 1 / np.log(10))
    True
    """
    return _log10(_arg(x))


_logaddexp = primitive(np.logaddexp, name="logaddexp").defvjp(
    lambda g, ans, x, y: g * exp(x - ans),  # e^x / (e^x + e^y)
    lambda g, ans, x, y: g * exp(y - ans),
)


def logaddexp(x: ArrayLike, y: ArrayLike) -> Tensor:
    """log(e^x + e^y), elementwise and without overflow, with NumPy broadcasting.

    VJP: x̄ = ḡ · e^(x − ans), ȳ = ḡ · e^(y − ans) (the two weights of a softmax).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> np.allclose(tg.grad(tg.logaddexp, argnums=(0, 1))(1000.0, 1000.0), 0.5)   # no overflow
    True
    """
    return _logaddexp(*_broadcast_operands("logaddexp", x, y))


_logaddexp2 = primitive(np.logaddexp2, name="logaddexp2").defvjp(
    lambda g, ans, x, y: g * exp2(x - ans), lambda g, ans, x, y: g * exp2(y - ans)
)


def logaddexp2(x: ArrayLike, y: ArrayLike) -> Tensor:
    """log₂(2^x + 2^y), elementwise, with NumPy broadcasting.

    VJP: x̄ = ḡ · 2^(x − ans), ȳ = ḡ · 2^(y − ans).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tuple(float(g) for g in tg.grad(tg.logaddexp2, argnums=(0, 1))(3.0, 3.0))
    (0.5, 0.5)
    """
    return _logaddexp2(*_broadcast_operands("logaddexp2", x, y))


_sqrt = _unary(np.sqrt, lambda g, ans, x: g * 0.5 / ans)


def sqrt(x: ArrayLike) -> Tensor:
    """√x, elementwise.

    VJP: x̄ = ḡ / (2√x) (the output, reused).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda x: tg.sum(tg.sqrt(x)))(np.array([1.0, 4.0]))
    array([0.5 , 0.25])
    """
    return _sqrt(_arg(x))


_abs = _unary(np.abs, lambda g, ans, x: g * _sign_of(value_of(x)), name="abs")  # 0 at the kink


def abs(x: ArrayLike) -> Tensor:
    """|x|, elementwise.

    VJP: x̄ = ḡ · sign(x), 0 at x = 0 (the kink; the central difference agrees).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda x: tg.sum(tg.abs(x)))(np.array([-2.0, 0.0, 3.0]))
    array([-1.,  0.,  1.])
    """
    return _abs(_arg(x))


# -- trigonometric and hyperbolic
_sin = _unary(np.sin, lambda g, ans, x: g * cos(x))


def sin(x: ArrayLike) -> Tensor:
    """sin x, elementwise.

    VJP: x̄ = ḡ · cos x.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> float(tg.grad(tg.sin)(0.0))
    1.0
    """
    return _sin(_arg(x))


_cos = _unary(np.cos, lambda g, ans, x: -g * sin(x))


def cos(x: ArrayLike) -> Tensor:
    """cos x, elementwise.

    VJP: x̄ = −ḡ · sin x.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> float(tg.grad(tg.cos)(np.pi / 2))
    -1.0
    """
    return _cos(_arg(x))


_tan = _unary(np.tan, lambda g, ans, x: g * (1 + ans * ans))


def tan(x: ArrayLike) -> Tensor:
    """tan x, elementwise.

    VJP: x̄ = ḡ · (1 + tan² x) (the output, reused).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> float(tg.grad(tg.tan)(0.0))
    1.0
    """
    return _tan(_arg(x))


_arcsin = _unary(np.arcsin, lambda g, ans, x: g / sqrt(1 - x * x))


def arcsin(x: ArrayLike) -> Tensor:
    """arcsin x, elementwise, for |x| ≤ 1.

    VJP: x̄ = ḡ / √(1 − x²) (infinite at |x| = 1).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> float(tg.grad(tg.arcsin)(0.0))
    1.0
    """
    return _arcsin(_arg(x))


_arccos = _unary(np.arccos, lambda g, ans, x: -g / sqrt(1 - x * x))


def arccos(x: ArrayLike) -> Tensor:
    """arccos x, elementwise, for |x| ≤ 1.

    VJP: x̄ = −ḡ / √(1 − x²).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> float(tg.grad(tg.arccos)(0.0))
    -1.0
    """
    return _arccos(_arg(x))


_arctan = _unary(np.arctan, lambda g, ans, x: g / (1 + x * x))


def arctan(x: ArrayLike) -> Tensor:
    """arctan x, elementwise.

    VJP: x̄ = ḡ / (1 + x²).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> float(tg.grad(tg.arctan)(1.0))
    0.5
    """
    return _arctan(_arg(x))


_arctan2 = primitive(np.arctan2, name="arctan2").defvjp(
    lambda g, ans, y, x: g * x / (x * x + y * y), lambda g, ans, y, x: -g * y / (x * x + y * y)
)


def arctan2(y: ArrayLike, x: ArrayLike) -> Tensor:
    """The angle of the point (x, y), elementwise (``np.arctan2``), with NumPy broadcasting.

    VJP: ȳ = ḡ · x / (x² + y²), x̄ = −ḡ · y / (x² + y²) (undefined at the origin).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tuple(float(g) for g in tg.grad(tg.arctan2, argnums=(0, 1))(1.0, 1.0))
    (0.5, -0.5)
    """
    return _arctan2(*_broadcast_operands("arctan2", y, x))


_hypot = primitive(np.hypot, name="hypot").defvjp(
    lambda g, ans, x, y: g * x / ans, lambda g, ans, x, y: g * y / ans
)


def hypot(x: ArrayLike, y: ArrayLike) -> Tensor:
    """√(x² + y²), elementwise and without overflow, with NumPy broadcasting.

    VJP: x̄ = ḡ · x / ans, ȳ = ḡ · y / ans (undefined at the origin).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tuple(float(g) for g in tg.grad(tg.hypot, argnums=(0, 1))(3.0, 4.0))
    (0.6, 0.8)
    """
    return _hypot(*_broadcast_operands("hypot", x, y))


_sinh = _unary(np.sinh, lambda g, ans, x: g * cosh(x))


def sinh(x: ArrayLike) -> Tensor:
    """sinh x, elementwise (``np.sinh`` itself, not (e^x − e^−x)/2, so that the
    values are NumPy's to the last bit).

    VJP: x̄ = ḡ · cosh x.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> float(tg.grad(tg.sinh)(0.0))
    1.0
    """
    return _sinh(_arg(x))


_cosh = _unary(np.cosh, lambda g, ans, x: g * sinh(x))


def cosh(x: ArrayLike) -> Tensor:
    """cosh x, elementwise.

    VJP: x̄ = ḡ · sinh x.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> float(tg.grad(tg.cosh)(0.0))
    0.0
    """
    return _cosh(_arg(x))


_tanh = _unary(np.tanh, lambda g, ans, x: g * (1 - ans * ans))


def tanh(x: ArrayLike) -> Tensor:
    """tanh x, elementwise.

    VJP: x̄ = ḡ · (1 − tanh² x) (the output, reused).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> float(tg.grad(tg.tanh)(0.0))
    1.0
    """
    return _tanh(_arg(x))


_arcsinh = _unary(np.arcsinh, lambda g, ans, x: g / sqrt(x * x + 1))


def arcsinh(x: ArrayLike) -> Tensor:
    """arsinh x, elementwise.

    VJP: x̄ = ḡ / √(x² + 1).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> float(tg.grad(tg.arcsinh)(0.0))
    1.0
    """
    return _arcsinh(_arg(x))


_arccosh = _unary(np.arccosh, lambda g, ans, x: g / (sqrt(x - 1) * sqrt(x + 1)))


def arccosh(x: ArrayLike) -> Tensor:
    """arcosh x, elementwise, for x ≥ 1.

    VJP: x̄ = ḡ / √(x² − 1), written ḡ / (√(x − 1) √(x + 1)) (no cancellation near 1).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> bool(np.isclose(tg.grad(tg.arccosh)(2.0), 1 / np.sqrt(3)))
    True
    """
    return _arccosh(_arg(x))


_arctanh = _unary(np.arctanh, lambda g, ans, x: g / (1 - x * x))


def arctanh(x: ArrayLike) -> Tensor:
    """artanh x, elementwise, for |x| < 1.

    VJP: x̄ = ḡ / (1 − x²).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> float(tg.grad(tg.arctanh)(0.5))
    1.3333333333333333
    """
    return _arctanh(_arg(x))


def _sinc_derivative(x):
    # (cos πx − sinc x) / x, evaluated at a safe x ≠ 0; at x = 0 its Taylor term −π²x/3,
    # which is 0 there and has the right derivative (sinc″(0) = −π²/3).
    zero = _equal(value_of(x), 0)
    safe = where(zero, 1.0, x)
    return where(zero, x * (-_PI * _PI / 3), (cos(_PI * safe) - sinc(safe)) / safe)


_sinc = _unary(np.sinc, lambda g, ans, x: g * _sinc_derivative(x))


def sinc(x: ArrayLike) -> Tensor:
    """The normalised sinc, sin(πx) / (πx), 1 at x = 0 (``np.sinc``).

    VJP: x̄ = ḡ · (cos πx − sinc x) / x, and 0 at x = 0 (where sinc has its maximum).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> float(tg.grad(tg.sinc)(0.0)) == 0, bool(np.isclose(tg.grad(tg.sinc)(0.5), -4 / np.pi))
    (True, True)
    """
    return _sinc(_arg(x))


_deg2rad = _unary(np.deg2rad, lambda g, ans, x: g * (_PI / 180))


def deg2rad(x: ArrayLike) -> Tensor:
    """Degrees to radians, x · π/180, elementwise.

    VJP: x̄ = ḡ · π/180.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> bool(tg.grad(tg.deg2rad)(90.0) == np.pi / 180)
    True
    """
    return _deg2rad(_arg(x))


_rad2deg = _unary(np.rad2deg, lambda g, ans, x: g * (180 / _PI))


def rad2deg(x: ArrayLike) -> Tensor:
    """Radians to degrees, x · 180/π, elementwise.

    VJP: x̄ = ḡ · 180/π.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> bool(tg.grad(tg.rad2deg)(1.0) == 180 / np.pi)
    True
    """
    return _rad2deg(_arg(x))


# -- piecewise constant: the derivative is 0 wherever it exists (and taken as 0 at the jumps)
_sign = _unary(np.sign, _zero)


def sign(x: ArrayLike) -> Tensor:
    """−1, 0 or 1 by the sign of x, elementwise.

    VJP: x̄ = 0 (piecewise constant; at 0, where it jumps, also 0).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda x: tg.sum(tg.sign(x)))(np.array([-2.0, 0.0, 3.0]))
    array([0., 0., 0.])
    """
    return _sign(_arg(x))


_floor = _unary(np.floor, _zero)


def floor(x: ArrayLike) -> Tensor:
    """⌊x⌋, elementwise.

    VJP: x̄ = 0 (piecewise constant; at the integers, where it jumps, also 0).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.floor(np.array([-1.5, 1.5])).value, tg.grad(tg.floor)(1.5)
    (array([-2.,  1.]), array(0.))
    """
    return _floor(_arg(x))


_ceil = _unary(np.ceil, _zero)


def ceil(x: ArrayLike) -> Tensor:
    """⌈x⌉, elementwise.

    VJP: x̄ = 0 (piecewise constant; at the integers, where it jumps, also 0).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.ceil(np.array([-1.5, 1.5])).value, tg.grad(tg.ceil)(1.5)
    (array([-1.,  2.]), array(0.))
    """
    return _ceil(_arg(x))


_round = primitive(np.round, name="round").defvjp(_zero)


def round(x: ArrayLike, decimals: int = 0) -> Tensor:
    """x rounded to ``decimals`` decimals, half to even (``np.round``).

    VJP: x̄ = 0 (piecewise constant; at the half-way points, where it jumps, also 0).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.round(np.array([0.5, 1.5, 2.675]), 2).value
    array([0.5 , 1.5 , 2.68])
    >>> float(tg.grad(tg.round)(1.3))
    0.0
    """
    return _round(_arg(x), decimals=decimals)


_clip = primitive(np.clip, name="clip").defvjp(
    lambda g, ans, x, low, high: _where(
        _inside(value_of(x), value_of(low), value_of(high)), g, 0.0
    ),
    lambda g, ans, x, low, high: _where(_less(value_of(x), value_of(low)), g, 0.0),
    lambda g, ans, x, low, high: _where(_greater(value_of(x), value_of(high)), g, 0.0),
)


def clip(a: ArrayLike, a_min: ArrayLike | None = None, a_max: ArrayLike | None = None) -> Tensor:
    """``a`` limited to [a_min, a_max], elementwise (``np.clip``; None: no bound).

    VJP: ā = ḡ where a_min ≤ a ≤ a_max (boundaries included: there the value
    passes through unchanged, the convention of PyTorch's clamp) and 0 outside;
    a bound given as a tensor gets ḡ where it is the one returned (a < a_min,
    a > a_max). With a_min > a_max NumPy returns a_max everywhere, and the rule
    is not meant for that case.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda x: tg.sum(tg.clip(x, 0.0, 1.0)))(np.array([-1.0, 0.0, 0.5, 1.0, 2.0]))
    array([0., 1., 1., 1., 0.])
    """
    low = -np.inf if a_min is None else a_min
    high = np.inf if a_max is None else a_max
    return _clip(*_broadcast_operands("clip", a, low, high))


_nan_to_num = primitive(np.nan_to_num, name="nan_to_num").defvjp(
    lambda g, ans, x, **k: _where(_isfinite(value_of(x)), g, 0.0)
)


def nan_to_num(
    x: ArrayLike,
    copy: bool = True,
    nan: float = 0.0,
    posinf: float | None = None,
    neginf: float | None = None,
) -> Tensor:
    """NaN replaced by ``nan`` and ±inf by ``posinf``/``neginf`` (by default the
    largest finite numbers), like ``np.nan_to_num`` (always a new array: ``copy``
    is accepted for NumPy's signature).

    VJP: x̄ = ḡ where x is finite, 0 where it was replaced (a constant).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda x: tg.sum(tg.nan_to_num(x)))(np.array([1.0, np.nan, np.inf]))
    array([1., 0., 0.])
    """
    return _nan_to_num(_arg(x), nan=nan, posinf=posinf, neginf=neginf)


_where: Primitive = primitive(np.where, name="where")
_where.defvjp(
    None,
    lambda g, ans, cond, x, y: _where(cond, g, 0.0),
    lambda g, ans, cond, x, y: _where(cond, 0.0, g),
)


@overload
def where(condition: ArrayLike, x: None = None, y: None = None) -> tuple[np.ndarray, ...]: ...
@overload
def where(condition: ArrayLike, x: ArrayLike, y: ArrayLike) -> Tensor: ...
def where(
    condition: ArrayLike, x: ArrayLike | None = None, y: ArrayLike | None = None
) -> Tensor | tuple[np.ndarray, ...]:
    """``x`` where ``condition`` holds, else ``y``; ``condition`` is a constant boolean array.

    VJP: x̄ = ḡ where the condition holds (0 elsewhere), ȳ = ḡ elsewhere. The
    condition itself gets no gradient. With the condition alone, the indices
    where it holds (``np.nonzero``): integers, not differentiable.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda x: tg.sum(tg.where(x > 0, x * x, -x)))(np.array([-2.0, 3.0]))
    array([-1.,  6.])
    >>> tg.where(np.array([0.0, 2.0, 3.0]) > 1)
    (array([1, 2]),)
    """
    condition = np.asarray(value_of(_arg(condition)), dtype=bool)
    if x is None and y is None:
        return np.nonzero(condition)
    if x is None or y is None:
        raise ValueError("where: give both x and y, or neither (then the indices are returned)")
    return _where(*_broadcast_operands("where", condition, x, y))


_select = where  # (for functions with a where= argument)

_astype = cast  # defined with the reverse sweep, which casts cotangents with it


def astype(x: ArrayLike, dtype: DTypeLike) -> Tensor:
    """Cast to ``dtype``; the cotangent is cast back to the input's dtype.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda x: tg.sum(tg.astype(x, np.float32)))(np.ones(2)).dtype
    dtype('float64')
    """
    x, dtype = _arg(x), np.dtype(dtype)
    if not isinstance(x, Tensor):
        return Tensor(np.asarray(x, dtype=dtype))
    return x if x.dtype == dtype else _astype(x, dtype)


# ------------------------------------------------------------------ shapes
# Rearranging entries: each VJP puts ḡ's entries back where they came from.
@primitive(name="reshape", flops=lambda *a, **k: 0)
def _reshape(x, shape):
    try:
        return np.reshape(x, shape)
    except ValueError:
        raise ShapeError(
            f"reshape: cannot reshape shape {np.shape(x)} (size {np.size(x)}) into {shape}"
        ) from None


_reshape.defvjp(lambda g, ans, x, shape: _reshape(g, x.shape))


def reshape(x: ArrayLike, shape: Shape) -> Tensor:
    """The entries of ``x`` in a new shape (C order), like ``np.reshape``.

    VJP: x̄ = ḡ reshaped back to x's shape.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.reshape(np.arange(6.0), (2, -1)).shape
    (2, 3)
    """
    return _reshape(_arg(x), shape)


def ravel(x: ArrayLike) -> Tensor:
    """The entries of ``x`` as a 1-D array: ``reshape(x, -1)`` (a composition).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.ravel(np.ones((2, 3))).shape, tg.Tensor(np.ones((2, 3))).flatten().shape
    ((6,), (6,))
    """
    return reshape(x, (-1,))


flatten = ravel

_transpose = primitive(
    lambda x, axes: np.transpose(x, axes), name="transpose", flops=lambda *a, **k: 0
)
_transpose.defvjp(lambda g, ans, x, axes: _transpose(g, tuple(np.argsort(axes))))


def transpose(x: ArrayLike, axes: Sequence[int] | None = None) -> Tensor:
    """Permute the axes of ``x`` (reverse them by default), like ``np.transpose``.

    VJP: x̄ = ḡ with the inverse permutation applied.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.transpose(tg.Tensor(np.zeros((2, 3, 4))), (2, 0, 1)).shape
    (4, 2, 3)
    """
    x = _arg(x)
    shape = _shape(value_of(x))
    if axes is None:
        return _transpose(x, tuple(reversed(range(len(shape)))))
    axes = tuple(_check_axis("transpose", a, shape) for a in axes)
    if sorted(axes) != list(range(len(shape))):
        raise ShapeError(
            f"transpose: axes {axes} are not a permutation of the {len(shape)} "
            f"axes of shape {shape}"
        )
    return _transpose(x, axes)


def swapaxes(x: ArrayLike, axis1: int, axis2: int) -> Tensor:
    """Exchange two axes of ``x``, like ``np.swapaxes`` (a transpose).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.swapaxes(tg.Tensor(np.zeros((2, 3, 4))), -1, -2).shape
    (2, 4, 3)
    """
    x = _arg(x)
    shape = _shape(value_of(x))
    axis1, axis2 = _check_axis("swapaxes", axis1, shape), _check_axis("swapaxes", axis2, shape)
    axes = list(range(len(shape)))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return _transpose(x, tuple(axes))


def _axes(name, axis, ndim):
    """``axis`` (an int or a sequence) as a tuple of non-negative axes of ``ndim`` dims."""
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    axes = tuple(_check_axis(name, int(a), (None,) * ndim) for a in axes)
    if len(set(axes)) != len(axes):
        raise ShapeError(f"{name}: repeated axis in {axis}")
    return axes


def moveaxis(x: ArrayLike, source: int | Sequence[int], destination: int | Sequence[int]) -> Tensor:
    """Move axes of ``x`` to new positions, the others keeping their order, like
    ``np.moveaxis`` (a transpose).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.moveaxis(np.zeros((2, 3, 4)), 0, -1).shape
    (3, 4, 2)
    """
    x = _arg(x)
    ndim = len(_shape(value_of(x)))
    sources, destinations = _axes("moveaxis", source, ndim), _axes("moveaxis", destination, ndim)
    if len(sources) != len(destinations):
        raise ShapeError(
            f"moveaxis: {len(sources)} source axes but {len(destinations)} destinations"
        )
    order = [a for a in range(ndim) if a not in sources]
    for dest, src in sorted(zip(destinations, sources, strict=False)):
        order.insert(dest, src)
    return _transpose(x, tuple(order))


def rollaxis(x: ArrayLike, axis: int, start: int = 0) -> Tensor:
    """Move ``axis`` to before position ``start``, like ``np.rollaxis`` (a transpose).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.rollaxis(np.zeros((2, 3, 4)), 2).shape
    (4, 2, 3)
    """
    x = _arg(x)
    ndim = len(_shape(value_of(x)))
    axis = _check_axis("rollaxis", axis, (None,) * ndim)
    if not -ndim <= start <= ndim:
        raise ShapeError(f"rollaxis: start {start} is out of range for {ndim} axes")
    start = start % (ndim + 1) if start < 0 else start
    if start > axis:
        start -= 1
    order = [a for a in range(ndim) if a != axis]
    order.insert(start, axis)
    return _transpose(x, tuple(order))


def expand_dims(x: ArrayLike, axis: int | Sequence[int]) -> Tensor:
    """Insert a size-1 axis at ``axis``, like ``np.expand_dims`` (a reshape).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.expand_dims(tg.Tensor(np.zeros((2, 3))), 1).shape
    (2, 1, 3)
    """
    x = _arg(x)
    shape = _shape(value_of(x))
    try:
        return reshape(x, np.expand_dims(np.empty(shape, np.int8), axis).shape)
    except ValueError as err:  # NumPy's AxisError is a ValueError
        raise ShapeError(f"expand_dims: axis {axis} does not fit shape {shape} ({err})") from None


def squeeze(x: ArrayLike, axis: Axis = None) -> Tensor:
    """Remove size-1 axes (all, or those in ``axis``), like ``np.squeeze`` (a reshape).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.squeeze(tg.Tensor(np.zeros((2, 1, 3)))).shape
    (2, 3)
    """
    x = _arg(x)
    shape = _shape(value_of(x))
    try:
        return reshape(x, np.squeeze(np.empty(shape, np.int8), axis).shape)
    except ValueError as err:
        raise ShapeError(f"squeeze: cannot remove axis {axis} of shape {shape} ({err})") from None


def _at_least(
    ndim_fn: Callable[[np.ndarray], np.ndarray], arys: tuple[ArrayLike, ...]
) -> Tensor | list[Tensor]:
    out: list[Tensor] = []
    for a in arys:
        a = _arg(a)
        shape = ndim_fn(np.empty(_shape(value_of(a)), np.int8)).shape
        out.append(reshape(a, shape) if isinstance(a, Tensor) else Tensor(np.reshape(a, shape)))
    return out[0] if len(out) == 1 else out


@overload
def atleast_1d(ary: ArrayLike, /) -> Tensor: ...
@overload
def atleast_1d(ary: ArrayLike, other: ArrayLike, /, *arys: ArrayLike) -> list[Tensor]: ...
def atleast_1d(*arys: ArrayLike) -> Tensor | list[Tensor]:
    """Each input with at least 1 axis, like ``np.atleast_1d`` (a reshape; a list
    for several inputs).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.atleast_1d(2.0).shape
    (1,)
    """
    return _at_least(np.atleast_1d, arys)


@overload
def atleast_2d(ary: ArrayLike, /) -> Tensor: ...
@overload
def atleast_2d(ary: ArrayLike, other: ArrayLike, /, *arys: ArrayLike) -> list[Tensor]: ...
def atleast_2d(*arys: ArrayLike) -> Tensor | list[Tensor]:
    """Each input with at least 2 axes, like ``np.atleast_2d``: a vector becomes a row.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.atleast_2d(np.ones(3)).shape
    (1, 3)
    """
    return _at_least(np.atleast_2d, arys)


@overload
def atleast_3d(ary: ArrayLike, /) -> Tensor: ...
@overload
def atleast_3d(ary: ArrayLike, other: ArrayLike, /, *arys: ArrayLike) -> list[Tensor]: ...
def atleast_3d(*arys: ArrayLike) -> Tensor | list[Tensor]:
    """Each input with at least 3 axes, like ``np.atleast_3d``: (n,) → (1, n, 1),
    (m, n) → (m, n, 1).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.atleast_3d(np.ones((2, 3))).shape
    (2, 3, 1)
    """
    return _at_least(np.atleast_3d, arys)


# -- picking entries: indexing gathers, and its VJP scatters (adding up repeated picks)
_getitem = primitive(lambda x, index: x[index], name="getitem", flops=lambda *a, **k: 0)


@primitive(name="scatter_add")
def _scatter_add(g, index, shape):
    out = np.zeros(shape, dtype=g.dtype)
    if _basic(index) or _distinct_rows(index, shape):
        out[index] = g  # each entry selected once: an assignment, many times faster
    else:
        np.add.at(out, index, g)  # repeated integer indices must add up
    return out


def _distinct_rows(index, shape):
    """Whether ``index`` is one integer array picking rows with no repeat (a permutation
    of the points, as nca_loss's sort by class)."""
    if not (isinstance(index, np.ndarray) and index.ndim == 1 and index.dtype.kind in "iu"):
        return False
    if index.size == 0 or len(shape) == 0:
        return index.size == 0
    return bool(np.bincount(index % shape[0], minlength=shape[0]).max() <= 1)


_getitem.defvjp(lambda g, ans, x, index: _scatter_add(g, index, x.shape))


def _basic(index):
    """Whether ``index`` is basic indexing (no arrays): no entry is picked twice."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(
        isinstance(i, (slice, int, np.integer, type(None), type(Ellipsis)))
        and not isinstance(i, bool)
        for i in parts
    )


_scatter_add.defvjp(lambda g, ans, gx, index, shape: _getitem(g, index))


def _plain_index(index):
    """Turn Tensors inside an index into arrays (an index carries no gradient)."""
    if isinstance(index, tuple):
        return tuple(value_of(i) for i in index)
    return value_of(index)


def _along(axis, ndim, index):
    """The index tuple that applies ``index`` along ``axis`` of ``ndim`` axes."""
    return (slice(None),) * axis + (index,) + (slice(None),) * (ndim - axis - 1)


def take_along_axis(arr: ArrayLike, indices: ArrayLike, axis: int | None) -> Tensor:
    """Entries of ``arr`` picked by the integer array ``indices`` along ``axis``, like
    ``np.take_along_axis`` (indexing: the VJP adds ḡ into the picked places).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> x = np.array([[10.0, 30.0, 20.0]])
    >>> tg.take_along_axis(x, np.array([[1, 1]]), axis=1).value
    array([[30., 30.]])
    >>> tg.grad(lambda x: tg.sum(tg.take_along_axis(x, np.array([[1, 1]]), axis=1)))(x)
    array([[0., 2., 0.]])
    """
    arr, indices = _arg(arr), np.asarray(value_of(indices))
    shape = _shape(value_of(arr))
    if axis is None:
        arr, shape, axis = ravel(arr), (int(np.prod(shape)),), 0
    axis = _check_axis("take_along_axis", axis, shape)
    if indices.ndim != len(shape) or indices.dtype.kind not in "iu":
        raise ShapeError(
            f"take_along_axis: indices must be integers with the {len(shape)} "
            f"axes of the array (got {indices.dtype} of shape {indices.shape})"
        )
    grids = np.ogrid[tuple(slice(n) for n in indices.shape)]
    index = tuple(indices if i == axis else grid for i, grid in enumerate(grids))
    return _getitem(arr, index)


def _slices_along(axis, ndim, start, stop, step=None):
    return _along(axis, ndim, slice(start, stop, step))


def flip(m: ArrayLike, axis: Axis = None) -> Tensor:
    """The entries of ``m`` in reverse order along ``axis`` (all axes by default),
    like ``np.flip`` (indexing with reversed slices).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.flip(np.arange(3.0)).value
    array([2., 1., 0.])
    """
    m = _arg(m)
    ndim = len(_shape(value_of(m)))
    axes = range(ndim) if axis is None else _axes("flip", axis, ndim)
    index = [slice(None)] * ndim
    for a in axes:
        index[a] = slice(None, None, -1)
    return _getitem(m, tuple(index))


def fliplr(m: ArrayLike) -> Tensor:
    """``m`` with its columns in reverse order (axis 1), like ``np.fliplr``.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.fliplr(np.array([[1.0, 2.0]])).value
    array([[2., 1.]])
    """
    m = _arg(m)
    if len(_shape(value_of(m))) < 2:
        raise ShapeError("fliplr: the input must have at least 2 axes")
    return flip(m, 1)


def flipud(m: ArrayLike) -> Tensor:
    """``m`` with its rows in reverse order (axis 0), like ``np.flipud``.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.flipud(np.array([[1.0], [2.0]])).value
    array([[2.],
           [1.]])
    """
    m = _arg(m)
    if len(_shape(value_of(m))) < 1:
        raise ShapeError("flipud: the input must have at least 1 axis")
    return flip(m, 0)


def roll(a: ArrayLike, shift: int | Sequence[int], axis: Axis = None) -> Tensor:
    """The entries of ``a`` shifted cyclically by ``shift`` along ``axis`` (flattened
    if None), like ``np.roll`` (two slices joined: the VJP rolls ḡ back).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.roll(np.arange(4.0), 1).value
    array([3., 0., 1., 2.])
    """
    a = _arg(a)
    shape = _shape(value_of(a))
    if axis is None:
        return reshape(roll(ravel(a), shift, 0), shape)
    shifts, axes = np.broadcast_arrays(np.atleast_1d(shift), np.atleast_1d(axis))
    total: dict[int, int] = {}
    for s, ax in zip(shifts.tolist(), axes.tolist(), strict=False):
        ax = _check_axis("roll", ax, shape)
        total[ax] = total.get(ax, 0) + s
    for ax, s in total.items():
        n = shape[ax]
        s = s % n if n else 0
        if s:
            a = concatenate(
                [
                    _getitem(a, _slices_along(ax, len(shape), n - s, None)),
                    _getitem(a, _slices_along(ax, len(shape), None, n - s)),
                ],
                axis=ax,
            )
    return as_tensor(a)


def rot90(m: ArrayLike, k: int = 1, axes: Sequence[int] = (0, 1)) -> Tensor:
    """``m`` rotated by 90° ``k`` times in the plane of ``axes``, like ``np.rot90``
    (flips and a transpose).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.rot90(np.array([[1.0, 2.0], [3.0, 4.0]])).value
    array([[2., 4.],
           [1., 3.]])
    """
    m = _arg(m)
    ndim = len(_shape(value_of(m)))
    if len(axes) != 2 or ndim < 2:
        raise ShapeError("rot90: axes must be two axes of an array of at least 2 axes")
    a0, a1 = _axes("rot90", axes, ndim)
    k %= 4
    if k == 0:
        return as_tensor(m)
    if k == 2:
        return flip(flip(m, a0), a1)
    order = list(range(ndim))
    order[a0], order[a1] = order[a1], order[a0]
    if k == 1:
        return transpose(flip(m, a1), order)
    return flip(transpose(m, order), a1)


def repeat(
    a: ArrayLike, repeats: int | Sequence[int] | np.ndarray, axis: int | None = None
) -> Tensor:
    """Each entry of ``a`` repeated ``repeats`` times along ``axis`` (flattened if
    None), like ``np.repeat`` (indexing with repeated indices: the VJP sums the
    copies' cotangents).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.repeat(np.array([1.0, 2.0]), 2).value
    array([1., 1., 2., 2.])
    >>> tg.grad(lambda x: tg.sum(tg.repeat(x, [1, 3])))(np.zeros(2))
    array([1., 3.])
    """
    a = _arg(a)
    if axis is None:
        a, axis = ravel(a), 0
    shape = _shape(value_of(a))
    axis = _check_axis("repeat", axis, shape)
    try:
        index = np.repeat(np.arange(shape[axis]), value_of(repeats))
    except ValueError as err:
        raise ShapeError(f"repeat: {err}") from None
    return _getitem(a, _along(axis, len(shape), index))


def tile(a: ArrayLike, reps: Shape) -> Tensor:
    """``a`` repeated as a block ``reps`` times along each axis, like ``np.tile``:
    a composition of broadcast_to and reshape (the VJP sums the copies).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.tile(np.array([1.0, 2.0]), 2).value
    array([1., 2., 1., 2.])
    >>> tg.grad(lambda x: tg.sum(tg.tile(x, (2, 3))))(np.zeros(2))
    array([6., 6.])
    """
    a = _arg(a)
    reps = tuple(np.atleast_1d(reps).tolist())
    shape = _shape(value_of(a))
    ndim = builtins.max(len(shape), len(reps))
    shape, reps = (1,) * (ndim - len(shape)) + shape, (1,) * (ndim - len(reps)) + reps
    spread_out = builtins.sum(((1, n) for n in shape), ())  # (1, d0, 1, d1, …)
    copies = builtins.sum(
        ((r, n) for r, n in zip(reps, shape, strict=False)), ()
    )  # (r0, d0, r1, d1, …)
    tiled = broadcast_to(reshape(a, spread_out), copies)
    return reshape(tiled, tuple(r * n for r, n in zip(reps, shape, strict=False)))


@primitive(name="pad", flops=lambda *a, **k: 0)
def _pad(x, widths, constant_values=0):
    return np.pad(x, widths, mode="constant", constant_values=constant_values)


_pad.defvjp(
    lambda g, ans, x, widths, constant_values=0: _getitem(
        g, tuple(slice(before, before + n) for (before, _), n in zip(widths, x.shape, strict=False))
    )
)


def pad(
    array: ArrayLike,
    pad_width: int | Sequence[int] | Sequence[Sequence[int]],
    mode: str = "constant",
    constant_values: float = 0,
) -> Tensor:
    """``array`` with ``pad_width`` constant entries added before and after each axis,
    like ``np.pad`` (only ``mode="constant"``; the constants are not differentiated).

    VJP: x̄ = ḡ with the padding cut off.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.pad(np.array([1.0, 2.0]), (1, 2)).value
    array([0., 1., 2., 0., 0.])
    """
    if mode != "constant":
        raise ValueError(f"pad: only mode='constant' is differentiable here, not {mode!r}")
    array = _arg(array)
    ndim = len(_shape(value_of(array)))
    try:
        widths = np.broadcast_to(np.asarray(pad_width, dtype=np.intp), (ndim, 2))
    except ValueError:
        raise ShapeError(f"pad: pad_width {pad_width} does not fit {ndim} axes") from None
    if np.any(widths < 0):
        raise ValueError(f"pad: pad_width {pad_width} has negative entries")
    return _pad(array, tuple(map(tuple, widths.tolist())), constant_values=constant_values)


# -- joining and splitting
@primitive(name="concatenate", flops=lambda *a, **k: 0)
def _concatenate(*xs, axis=0):
    return np.concatenate(xs, axis=axis)


@_concatenate.defvjp_argnum
def _concatenate_vjp(i, g, ans, *xs, axis=0):
    # The cotangent of the i-th piece is its own slice of ḡ.
    start = builtins.sum(_shape(value_of(x))[axis] for x in xs[:i])
    index = [slice(None)] * g.ndim
    index[axis] = slice(start, start + _shape(value_of(xs[i]))[axis])
    return _getitem(g, tuple(index))


def concatenate(arrays: Sequence[ArrayLike], axis: int | None = 0) -> Tensor:
    """Join arrays along an existing axis, like ``np.concatenate`` (``axis=None``:
    flattened first).

    VJP: each input's cotangent is its own slice of ḡ.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda a: tg.sum(tg.concatenate([a, 2 * a]) ** 2))(np.array([1.0]))   # 2a + 8a
    array([10.])
    """
    arrays = [_arg(a) for a in arrays]
    if axis is None:
        arrays, axis = [ravel(a) for a in arrays], 0
    shapes = [_shape(value_of(a)) for a in arrays]
    try:
        np.concatenate([np.empty(s, dtype=np.int8) for s in shapes], axis=axis)
    except ValueError as err:  # NumPy's AxisError is a ValueError too
        raise ShapeError(
            f"concatenate: shapes {shapes} do not fit along axis {axis} ({err})"
        ) from None
    return _concatenate(*arrays, axis=axis % len(shapes[0]))


def stack(arrays: Sequence[ArrayLike], axis: int = 0) -> Tensor:
    """Join arrays along a new axis, like ``np.stack``.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.stack([np.zeros(3), tg.Tensor(np.ones(3))], axis=1).shape
    (3, 2)
    """
    arrays = [_arg(a) for a in arrays]
    shapes = {_shape(value_of(a)) for a in arrays}
    if len(shapes) > 1:
        raise ShapeError(f"stack: all inputs must have the same shape, got {sorted(shapes)}")
    return concatenate([expand_dims(a, axis) for a in arrays], axis=axis)


def vstack(tup: Sequence[ArrayLike]) -> Tensor:
    """Join arrays as rows (axis 0, vectors becoming rows), like ``np.vstack``.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.vstack([np.ones(2), np.zeros(2)]).shape
    (2, 2)
    """
    return concatenate([atleast_2d(a) for a in tup], axis=0)


def hstack(tup: Sequence[ArrayLike]) -> Tensor:
    """Join arrays as columns (axis 1; vectors end to end), like ``np.hstack``.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.hstack([np.ones(2), np.zeros(3)]).shape
    (5,)
    """
    arrays = [atleast_1d(a) for a in tup]
    return concatenate(arrays, axis=0 if arrays and arrays[0].ndim == 1 else 1)


def column_stack(tup: Sequence[ArrayLike]) -> Tensor:
    """Join vectors as the columns of a matrix (and matrices side by side), like
    ``np.column_stack``.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.column_stack([np.ones(3), np.zeros(3)]).shape
    (3, 2)
    """
    arrays = []
    for a in tup:
        a = _arg(a)
        shape = _shape(value_of(a))
        arrays.append(reshape(a, (shape[0], 1)) if len(shape) == 1 else atleast_2d(a))
    return concatenate(arrays, axis=1)


def append(arr: ArrayLike, values: ArrayLike, axis: int | None = None) -> Tensor:
    """``values`` added at the end of ``arr`` (both flattened if ``axis`` is None),
    like ``np.append`` (a concatenation).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.append(np.ones((1, 2)), [3.0]).value
    array([1., 1., 3.])
    """
    arr, values = _arg(arr), _arg(values)
    if axis is None:
        arr, values, axis = ravel(arr), ravel(values), 0
    return concatenate([arr, values], axis=axis)


def array_split(
    ary: ArrayLike, indices_or_sections: int | Sequence[int], axis: int = 0
) -> list[Tensor]:
    """``ary`` cut into pieces along ``axis``, like ``np.array_split``: into n
    near-equal pieces (the first ones one longer), or at the given indices.

    Each piece is a slice, whose VJP puts ḡ back in its place.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> [p.shape for p in tg.array_split(np.arange(5.0), 2)]
    [(3,), (2,)]
    """
    ary = _arg(ary)
    shape = _shape(value_of(ary))
    axis = _check_axis("array_split", axis, shape)
    n = shape[axis]
    if _one_number(indices_or_sections):
        sections = int(indices_or_sections)
        if sections <= 0:
            raise ValueError("array_split: the number of sections must be larger than 0")
        each, extra = divmod(n, sections)
        bounds = np.cumsum([0] + extra * [each + 1] + (sections - extra) * [each]).tolist()
    else:
        bounds = [0] + list(indices_or_sections) + [n]
    return [
        _getitem(ary, _slices_along(axis, len(shape), start, stop))
        for start, stop in zip(bounds[:-1], bounds[1:], strict=False)
    ]


def split(ary: ArrayLike, indices_or_sections: int | Sequence[int], axis: int = 0) -> list[Tensor]:
    """``ary`` cut into equal pieces (or at the given indices) along ``axis``, like
    ``np.split``: a ValueError if n pieces cannot be equal.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> [p.value for p in tg.split(np.arange(4.0), 2)]
    [array([0., 1.]), array([2., 3.])]
    """
    if _one_number(indices_or_sections):
        shape = _shape(value_of(_arg(ary)))
        n = shape[_check_axis("split", axis, shape)]
        if int(indices_or_sections) <= 0 or n % int(indices_or_sections):
            raise ValueError(
                f"split: an axis of length {n} does not split into "
                f"{indices_or_sections} equal pieces (use array_split)"
            )
    return array_split(ary, indices_or_sections, axis)


def hsplit(ary: ArrayLike, indices_or_sections: int | Sequence[int]) -> list[Tensor]:
    """``split`` along axis 1 (axis 0 for a vector), like ``np.hsplit``.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> [p.shape for p in tg.hsplit(np.ones((2, 4)), 2)]
    [(2, 2), (2, 2)]
    """
    ary = _arg(ary)
    ndim = len(_shape(value_of(ary)))
    if ndim == 0:
        raise ShapeError("hsplit: the input must have at least 1 axis")
    return split(ary, indices_or_sections, 1 if ndim > 1 else 0)


def vsplit(ary: ArrayLike, indices_or_sections: int | Sequence[int]) -> list[Tensor]:
    """``split`` along axis 0 of an array of at least 2 axes, like ``np.vsplit``.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> [p.shape for p in tg.vsplit(np.ones((4, 2)), 2)]
    [(2, 2), (2, 2)]
    """
    ary = _arg(ary)
    if len(_shape(value_of(ary))) < 2:
        raise ShapeError("vsplit: the input must have at least 2 axes")
    return split(ary, indices_or_sections, 0)


# ------------------------------------------------------------------ linear algebra
def _matmul_flops(ans, a, b):
    return 2 * ans.size * a.shape[-1]


_matmul = primitive(kernels.matmul, name="matmul", flops=_matmul_flops)
_matmul.defvjp(
    lambda g, ans, a, b: g @ swapaxes(b, -1, -2),  # Ā = C̄ Bᵀ
    lambda g, ans, a, b: swapaxes(a, -1, -2) @ g,
)  # B̄ = Aᵀ C̄


def matmul(a: ArrayLike, b: ArrayLike) -> Tensor:
    """Matrix product with NumPy's rules (1-D operands, batched stacks).

    For C = AB the VJPs are Ā = C̄Bᵀ and B̄ = AᵀC̄; with a transposed operand,
    C = ABᵀ, they compose into Ā = C̄B and B̄ = C̄ᵀA. Each costs one product of
    the size of the forward one. Batch axes broadcast, and their cotangents are
    summed back.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> A, B = np.ones((2, 3)), np.arange(12.0).reshape(4, 3)
    >>> C_bar = np.ones((2, 4))
    >>> A_bar, B_bar = tg.vjp(lambda a, b: a @ b.T, A, B)[1](C_bar)
    >>> np.array_equal(A_bar, C_bar @ B), np.array_equal(B_bar, C_bar.T @ A)
    (True, True)
    """
    a, b = _arg(a), _arg(b)
    sa, sb = _shape(value_of(a)), _shape(value_of(b))
    if len(sa) == len(sb) == 2 and sa[1] == sb[0]:
        return _matmul(a, b)  # two matrices: nothing to adapt
    if len(sa) == 0 or len(sb) == 0:
        raise ShapeError(f"matmul: scalar operands are not allowed (shapes {sa} and {sb}); use *")
    k_a, k_b = sa[-1], (sb[-2] if len(sb) > 1 else sb[0])
    if k_a != k_b:
        raise ShapeError(f"matmul: shapes {sa} and {sb} are not aligned ({k_a} != {k_b})")
    # 1-D operands become matrices (and are squeezed back) so the VJP stays 2-D.
    a2 = reshape(a, (1, sa[0])) if len(sa) == 1 else a
    b2 = reshape(b, (sb[0], 1)) if len(sb) == 1 else b
    batch = np.broadcast_shapes(_shape(value_of(a2))[:-2], _shape(value_of(b2))[:-2])
    if isinstance(a2, Tensor) and a2.shape[:-2] != batch:
        a2 = broadcast_to(a2, batch + a2.shape[-2:])
    if isinstance(b2, Tensor) and b2.shape[:-2] != batch:
        b2 = broadcast_to(b2, batch + b2.shape[-2:])
    out = _matmul(a2, b2)
    if len(sa) == 1 or len(sb) == 1:
        out = reshape(out, np.matmul(np.empty(sa, np.int8), np.empty(sb, np.int8)).shape)
    return out


# -- contractions. Every sum of products is an einsum: the cotangent of one operand is
# the einsum of ḡ with the others, into that operand's subscripts. A letter that only
# that operand has (summed over in the forward) comes back by a ones vector; a letter it
# repeats (a diagonal, 'ii') by an identity matrix. np.dot, np.inner and np.tensordot keep
# their own forward (BLAS, NumPy's exact values) and share this rule.
def _contraction_vjp(k, g, ans, *operands, subscripts, **_):
    inputs, output = subscripts.split("->")
    inputs = inputs.split(",")
    sizes = {
        c: n
        for s, x in zip(inputs, operands, strict=False)
        for c, n in zip(s, _shape(value_of(x)), strict=False)
    }
    unused = iter(c for c in kernels.LETTERS if c not in subscripts)
    dtype = value_of(ans).dtype
    target, extra_terms, extra_arrays, seen = "", [], [], set()
    for c in inputs[k]:
        if c in seen:  # a repeated letter: δ(c, c′) puts ḡ on the diagonal
            fresh = next(unused)
            target += fresh
            extra_terms.append(c + fresh)
            extra_arrays.append(np.eye(sizes[c], dtype=dtype))
        else:
            seen.add(c)
            target += c
    present = set(output).union(*(set(s) for j, s in enumerate(inputs) if j != k))
    for c in sorted(seen - present):  # summed over by operand k alone: spread ḡ over it
        extra_terms.append(c)
        extra_arrays.append(np.ones(sizes[c], dtype=dtype))
    terms = [output] + [s for j, s in enumerate(inputs) if j != k] + extra_terms
    arrays = [g] + [x for j, x in enumerate(operands) if j != k] + extra_arrays
    return _einsum(*arrays, subscripts=",".join(terms) + "->" + target)


def _contraction(name, forward):
    """A primitive computing a contraction with ``forward``, differentiated as the einsum
    ``subscripts`` (which the wrapper works out)."""
    op = primitive(
        forward,
        name=name,
        flops=lambda ans, *xs, **k: (
            2
            * ans.size
            * builtins.max(1, int(np.prod([np.size(x) for x in xs])) // builtins.max(ans.size, 1))
        ),
    )
    op.defvjp_argnum(_contraction_vjp)
    return op


_einsum = _contraction("einsum", lambda *xs, subscripts: np.einsum(subscripts, *xs))


def _explicit_subscripts(subscripts, shapes):
    """``subscripts`` with '...' replaced by letters and the output written out, as NumPy
    reads them (implicit output: the ellipsis axes, then the letters used once, sorted)."""
    subscripts = subscripts.replace(" ", "")
    inputs, arrow, output = subscripts.partition("->")
    inputs = inputs.split(",")
    if len(inputs) != len(shapes):
        raise ValueError(f"einsum: {len(inputs)} operand subscripts for {len(shapes)} operands")
    if any(
        c not in kernels.LETTERS
        for c in subscripts.replace("...", "").replace(",", "").replace("->", "")
    ):
        raise ValueError(f"einsum: subscripts {subscripts!r} use characters other than letters")
    unused = [c for c in kernels.LETTERS if c not in subscripts]
    ranks = []
    for s, shape in zip(inputs, shapes, strict=False):
        letters = len(s.replace("...", ""))
        if ("..." in s and letters > len(shape)) or ("..." not in s and letters != len(shape)):
            raise ShapeError(f"einsum: subscripts {s!r} do not fit an operand of shape {shape}")
        ranks.append(len(shape) - letters if "..." in s else 0)
    ellipsis = "".join(unused[: builtins.max(ranks, default=0)])
    inputs = [
        s.replace("...", ellipsis[len(ellipsis) - r :] if r else "")
        for s, r in zip(inputs, ranks, strict=False)
    ]
    if arrow:
        output = output.replace("...", ellipsis)
    else:
        counts = "".join(inputs)
        output = ellipsis + "".join(
            sorted(c for c in set(counts) if counts.count(c) == 1 and c not in ellipsis)
        )
    return inputs, output


def einsum(subscripts: str, *operands: ArrayLike) -> Tensor:
    """Einstein summation, like ``np.einsum`` (explicit or implicit output, '...',
    repeated letters for diagonals and traces, broadcasting).

    VJP: the cotangent of operand k is the einsum of ḡ with the other operands into
    k's subscripts (with ones for letters only k has and identities for letters k
    repeats): for C = einsum('ij,jk->ik', A, B), Ā = einsum('ik,jk->ij', C̄, B).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> A, B = np.arange(6.0).reshape(2, 3), np.ones((3, 2))
    >>> np.array_equal(tg.einsum('ij,jk', A, B).value, A @ B)
    True
    >>> tg.grad(lambda A: tg.einsum('ii', A))(np.ones((2, 2)))     # the trace
    array([[1., 0.],
           [0., 1.]])
    """
    if not isinstance(subscripts, str):
        raise TypeError("einsum: the first argument must be the subscripts string")
    arrays = [_arg(x) for x in operands]
    shapes = [_shape(value_of(x)) for x in arrays]
    inputs, output = _explicit_subscripts(subscripts, shapes)
    sizes: dict[str, int] = {}
    for s, shape in zip(inputs, shapes, strict=False):
        for c, n in zip(s, shape, strict=False):
            if sizes.get(c, 1) not in (1, n) and n != 1:
                raise ShapeError(
                    f"einsum: letter {c!r} has sizes {sizes[c]} and {n} (operand shapes {shapes})"
                )
            sizes[c] = builtins.max(sizes.get(c, 1), n)
    if set(output) - set("".join(inputs)) or len(set(output)) != len(output):
        raise ValueError(
            f"einsum: output subscripts {output!r} must be distinct letters of the inputs"
        )
    # a size-1 axis that broadcasts against a longer one is broadcast explicitly (its VJP sums)
    arrays = [
        broadcast_to(x, tuple(sizes[c] for c in s))
        if isinstance(x, Tensor) and len(set(s)) == len(s) and x.shape != tuple(sizes[c] for c in s)
        else x
        for x, s in zip(arrays, inputs, strict=False)
    ]
    return _einsum(*arrays, subscripts=",".join(inputs) + "->" + output)


_tensordot = _contraction("tensordot", lambda a, b, subscripts, axes: np.tensordot(a, b, axes))


def tensordot(
    a: ArrayLike, b: ArrayLike, axes: int | Sequence[int] | Sequence[Sequence[int]] = 2
) -> Tensor:
    """Sum of products over the axes ``axes`` of ``a`` and ``b`` (the last n of a with
    the first n of b for an int n), like ``np.tensordot`` (same NumPy forward).

    VJP: the einsum rule (see :func:`einsum`) for the same contraction.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> a, b = np.ones((2, 3, 4)), np.ones((3, 4, 5))
    >>> tg.tensordot(a, b).shape, float(tg.tensordot(a, b).value[0, 0])
    ((2, 5), 12.0)
    """
    a, b = _arg(a), _arg(b)
    sa, sb = _shape(value_of(a)), _shape(value_of(b))
    if _one_number(axes):
        n = int(axes)
        axes_a, axes_b = list(range(len(sa) - n, len(sa))), list(range(n))
    else:
        axes_a, axes_b = (list(np.atleast_1d(ax)) for ax in axes)
    axes_a = [_check_axis("tensordot", int(i), sa) for i in axes_a]
    axes_b = [_check_axis("tensordot", int(i), sb) for i in axes_b]
    if len(axes_a) != len(axes_b) or any(
        sa[i] != sb[j] for i, j in zip(axes_a, axes_b, strict=False)
    ):
        raise ShapeError(
            f"tensordot: axes {axes_a} of shape {sa} do not match axes {axes_b} of shape {sb}"
        )
    letters = iter(kernels.LETTERS)
    sub_a = [next(letters) for _ in sa]
    sub_b = [next(letters) for _ in sb]
    for i, j in zip(axes_a, axes_b, strict=False):
        sub_b[j] = sub_a[i]
    output = [c for i, c in enumerate(sub_a) if i not in axes_a] + [
        c for j, c in enumerate(sub_b) if j not in axes_b
    ]
    spec = "".join(sub_a) + "," + "".join(sub_b) + "->" + "".join(output)
    return _tensordot(a, b, subscripts=spec, axes=(tuple(axes_a), tuple(axes_b)))


_dot = _contraction("dot", lambda a, b, subscripts: np.dot(a, b))


def dot(a: ArrayLike, b: ArrayLike) -> Tensor:
    """The dot product with NumPy's rules (same NumPy forward): scalars multiply,
    vectors give their inner product, matrices their product, and in N-D the sum
    over the last axis of a and the second-to-last of b.

    VJP: the einsum rule (see :func:`einsum`) for the same contraction.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> float(tg.dot(np.array([1.0, 2.0]), np.array([3.0, 4.0])).value)
    11.0
    >>> tg.grad(lambda a: tg.dot(a, np.array([3.0, 4.0])))(np.zeros(2))
    array([3., 4.])
    """
    a, b = _arg(a), _arg(b)
    sa, sb = _shape(value_of(a)), _shape(value_of(b))
    if len(sa) == 0 or len(sb) == 0:
        return multiply(a, b)
    if sa[-1] != sb[-2 if len(sb) > 1 else 0]:
        raise ShapeError(f"dot: shapes {sa} and {sb} are not aligned")
    letters = iter(kernels.LETTERS)
    sub_a = "".join(next(letters) for _ in sa)
    letters_b = [next(letters) for _ in sb]
    letters_b[-2 if len(sb) > 1 else 0] = sub_a[-1]
    sub_b = "".join(letters_b)
    output = sub_a[:-1] + sub_b.replace(sub_a[-1], "")
    return _dot(a, b, subscripts=f"{sub_a},{sub_b}->{output}")


_inner = _contraction("inner", lambda a, b, subscripts: np.inner(a, b))


def inner(a: ArrayLike, b: ArrayLike) -> Tensor:
    """Sum of products over the last axes of ``a`` and ``b``, like ``np.inner`` (same
    NumPy forward; scalars multiply).

    VJP: the einsum rule (see :func:`einsum`) for the same contraction.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.inner(np.ones((2, 3)), np.ones((4, 3))).shape
    (2, 4)
    """
    a, b = _arg(a), _arg(b)
    sa, sb = _shape(value_of(a)), _shape(value_of(b))
    if len(sa) == 0 or len(sb) == 0:
        return multiply(a, b)
    if sa[-1] != sb[-1]:
        raise ShapeError(f"inner: the last axes of shapes {sa} and {sb} differ")
    letters = iter(kernels.LETTERS[1:])
    sub_a = "".join(next(letters) for _ in sa[:-1]) + "a"
    sub_b = "".join(next(letters) for _ in sb[:-1]) + "a"
    return _inner(a, b, subscripts=f"{sub_a},{sub_b}->{sub_a[:-1]}{sub_b[:-1]}")


def outer(a: ArrayLike, b: ArrayLike) -> Tensor:
    """Every product a_i b_j of the flattened inputs, like ``np.outer``: a column
    times a row, a composition of reshape and multiply.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.outer(np.array([1.0, 2.0]), np.array([1.0, 10.0, 100.0])).value
    array([[  1.,  10., 100.],
           [  2.,  20., 200.]])
    """
    return multiply(reshape(_arg(a), (-1, 1)), reshape(_arg(b), (1, -1)))


_diagonal = primitive(
    lambda x, offset, axis1, axis2: np.diagonal(x, offset, axis1, axis2),
    name="diagonal",
    flops=lambda *a, **k: 0,
)


@primitive(name="diagonal_scatter", flops=lambda *a, **k: 0)
def _diagonal_scatter(g, shape, offset, axis1, axis2):
    """Zeros of ``shape`` with ``g`` on the diagonal (the reverse of ``np.diagonal``)."""
    out = np.zeros(shape, dtype=g.dtype)
    n = g.shape[-1]
    rows, cols = np.arange(n) + builtins.max(-offset, 0), np.arange(n) + builtins.max(offset, 0)
    np.moveaxis(out, (axis1, axis2), (-2, -1))[..., rows, cols] = g
    return out


_diagonal_scatter.defvjp(
    lambda o, ans, g, shape, offset, axis1, axis2: _diagonal(o, offset, axis1, axis2)
)
_diagonal.defvjp(
    lambda g, ans, x, offset, axis1, axis2: _diagonal_scatter(g, x.shape, offset, axis1, axis2)
)


def diagonal(a: ArrayLike, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """The diagonal (``offset`` above it if positive) of the matrices in the plane
    ``axis1``, ``axis2``, as a last axis, like ``np.diagonal``.

    VJP: x̄ = zeros with ḡ written on that diagonal.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda A: tg.sum(tg.diagonal(A, 1)))(np.zeros((2, 3)))
    array([[0., 1., 0.],
           [0., 0., 1.]])
    """
    a = _arg(a)
    shape = _shape(value_of(a))
    if len(shape) < 2:
        raise ShapeError(f"diagonal: the input needs at least 2 axes, has shape {shape}")
    axis1, axis2 = _check_axis("diagonal", axis1, shape), _check_axis("diagonal", axis2, shape)
    if axis1 == axis2:
        raise ShapeError("diagonal: axis1 and axis2 must differ")
    return _diagonal(a, int(offset), axis1, axis2)


def trace(a: ArrayLike, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """Sum of the diagonal, like ``np.trace``: ``sum(diagonal(a, …), axis=-1)`` (a composition).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(tg.trace)(np.zeros((2, 2)))
    array([[1., 0.],
           [0., 1.]])
    """
    return sum(diagonal(a, offset, axis1, axis2), axis=-1)


def diag(v: ArrayLike, k: int = 0) -> Tensor:
    """A vector's entries on the k-th diagonal of a square matrix, or a matrix's k-th
    diagonal, like ``np.diag`` (one is the other's VJP).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.diag(np.array([1.0, 2.0])).value
    array([[1., 0.],
           [0., 2.]])
    """
    v = _arg(v)
    shape = _shape(value_of(v))
    if len(shape) == 2:
        return diagonal(v, k)
    if len(shape) != 1:
        raise ShapeError(f"diag: the input must be 1-D or 2-D, has shape {shape}")
    n = shape[0] + builtins.abs(int(k))
    if not isinstance(v, Tensor):
        return Tensor(np.diag(v, k))
    return _diagonal_scatter(v, (n, n), int(k), 0, 1)


def _triangle(name, keep):
    def fn(m, k=0):
        m = _arg(m)
        shape = _shape(value_of(m))
        if len(shape) < 2:
            raise ShapeError(f"{name}: the input needs at least 2 axes, has shape {shape}")
        return where(keep(shape[-2], shape[-1], k), m, 0.0)

    return fn


_tril = _triangle("tril", lambda n, m, k: np.tri(n, m, k, dtype=bool))
_triu = _triangle("triu", lambda n, m, k: ~np.tri(n, m, k - 1, dtype=bool))


def tril(m: ArrayLike, k: int = 0) -> Tensor:
    """The lower triangle (on and below the k-th diagonal) of the matrices in ``m``,
    zeros above, like ``np.tril``: a ``where`` with a constant mask (a composition).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda m: tg.sum(tg.tril(m)))(np.zeros((2, 2)))
    array([[1., 0.],
           [1., 1.]])
    """
    return _tril(m, k)


def triu(m: ArrayLike, k: int = 0) -> Tensor:
    """The upper triangle (on and above the k-th diagonal) of the matrices in ``m``,
    zeros below, like ``np.triu``: a ``where`` with a constant mask (a composition).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda m: tg.sum(tg.triu(m)))(np.zeros((2, 2)))
    array([[1., 1.],
           [0., 1.]])
    """
    return _triu(m, k)


def kron(a: ArrayLike, b: ArrayLike) -> Tensor:
    """The Kronecker product, like ``np.kron``: every a entry times a block b, a
    composition of reshape, multiply (broadcast) and reshape, as NumPy computes it.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.kron(np.array([1.0, 10.0]), np.array([1.0, 2.0])).value
    array([ 1.,  2., 10., 20.])
    """
    a, b = _arg(a), _arg(b)
    sa, sb = _shape(value_of(a)), _shape(value_of(b))
    if len(sa) == 0 or len(sb) == 0:
        return multiply(a, b)
    nd = builtins.max(len(sa), len(sb))
    sa, sb = (1,) * (nd - len(sa)) + sa, (1,) * (nd - len(sb)) + sb
    a_spread = reshape(a, builtins.sum(((n, 1) for n in sa), ()))  # (a0, 1, a1, 1, …)
    b_spread = reshape(b, builtins.sum(((1, n) for n in sb), ()))  # (1, b0, 1, b1, …)
    return reshape(multiply(a_spread, b_spread), tuple(m * n for m, n in zip(sa, sb, strict=False)))


def cross(a: ArrayLike, b: ArrayLike, axis: int = -1) -> Tensor:
    """The cross product of 3-vectors along ``axis`` (broadcast), like ``np.cross``:
    a composition of products and differences of the components, as NumPy computes it.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.cross(np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])).value
    array([0., 0., 1.])
    """
    a, b = _arg(a), _arg(b)
    for name, x in (("a", a), ("b", b)):
        shape = _shape(value_of(x))
        if not shape or shape[axis if -len(shape) <= axis < len(shape) else -1] != 3:
            raise ShapeError(
                f"cross: {name} must have length 3 along axis {axis}, "
                f"has shape {shape} (only 3-vectors are supported)"
            )
    a, b = moveaxis(a, axis, -1), moveaxis(b, axis, -1)
    a0, a1, a2 = (a[..., i] for i in range(3))
    b0, b1, b2 = (b[..., i] for i in range(3))
    out = stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)
    return moveaxis(out, -1, axis)


# ------------------------------------------------------------------ reductions
_sum = primitive(kernels.masked_sum, name="sum", flops=_reduced_size)
_sum.defvjp(
    lambda g, ans, x, axis=None, keepdims=False, where=True: (
        broadcast_to(_unreduce(g, x.shape, axis), x.shape)
        if where is True
        else _spread(_unreduce(g, x.shape, axis), x.shape, where)
    )
)

# The VJP of a masked sum: ḡ spread over the mask (0 outside), and its own VJP.
_spread: Primitive = primitive(kernels.spread, name="spread", flops=lambda ans, *a, **k: ans.size)
_spread.defvjp(lambda o, ans, g, shape, where: _sum_to(_masked(o, where), g.shape))


def _masked(g, where_mask):
    """Zero the entries outside the mask (no-op for the default ``True``)."""
    if where_mask is True:
        return g
    return _where(where_mask, g, 0.0)


def _cast_input(x, dtype):
    return x if dtype is None else astype(x, dtype)


def sum(
    x: ArrayLike,
    axis: Axis = None,
    keepdims: bool = False,
    where: ArrayLike | None = None,
    dtype: DTypeLike | None = None,
) -> Tensor:
    """Σ x along ``axis``; with ``where=mask`` only the masked entries count (a masked sum).

    VJP: x̄ = ḡ broadcast back to x's shape (0 outside the mask).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> x = np.arange(6.0).reshape(2, 3)
    >>> tg.sum(x, axis=1).value, tg.sum(x, where=x > 2).value
    (array([ 3., 12.]), array(12.))
    >>> tg.grad(lambda x: tg.sum(x, where=x > 2))(x)
    array([[0., 0., 0.],
           [1., 1., 1.]])
    >>> tg.sum([tg.Tensor(1.0), 2.0]).value      # a list is one array, as in NumPy
    array(3.)
    """
    x = _cast_input(_array(x), dtype)
    return _sum(x, axis=axis, keepdims=keepdims, where=_mask_or_true(where, x, "sum"))


def mean(
    x: ArrayLike,
    axis: Axis = None,
    keepdims: bool = False,
    where: ArrayLike | None = None,
    dtype: DTypeLike | None = None,
) -> Tensor:
    """Mean along ``axis`` over the entries where ``where`` holds.

    mean = Σ_selected x / (number selected). VJP: each selected entry gets ḡ / count, the others 0.
    A slice with nothing selected has mean 0 and passes no gradient (NumPy would give NaN and a
    warning): a row of a batch whose mask is empty then simply drops out of a loss instead of
    turning it into NaN.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda x: tg.mean(x))(np.zeros(4))
    array([0.25, 0.25, 0.25, 0.25])
    >>> x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    >>> tg.mean(x, axis=1, where=np.array([[True, False, True], [False, False, False]])).value
    array([2., 0.])
    >>> float(tg.mean(3.5).value)
    3.5
    """
    x = _cast_input(_array(x), dtype)
    shape = _shape(value_of(x))
    mask = np.broadcast_to(_mask_or_true(where, x, "mean"), shape)
    count = np.maximum(np.sum(mask, axis=axis, keepdims=keepdims), 1)
    return sum(x, axis=axis, keepdims=keepdims, where=where) / count.astype(value_of(x).dtype)


def _mask_or_true(where_mask, x, name):
    """The boolean mask (``True`` for none), checked to broadcast to ``x``'s shape."""
    if where_mask is None or where_mask is True:
        return True
    mask, shape = np.asarray(value_of(where_mask), dtype=bool), _shape(value_of(x))
    try:
        if np.broadcast_shapes(mask.shape, shape) == shape:
            return mask
    except ValueError:
        pass
    raise ShapeError(
        f"{name}: where mask of shape {mask.shape} does not broadcast to the input's shape {shape}"
    )


def _count(shape, axis):
    return int(
        np.prod(
            [shape[a] for a in range(len(shape))]
            if axis is None
            else [shape[a] for a in (axis if isinstance(axis, tuple) else (axis,))]
        )
    )


def var(
    x: ArrayLike,
    axis: Axis = None,
    dtype: DTypeLike | None = None,
    ddof: float = 0,
    keepdims: bool = False,
) -> Tensor:
    """Variance along ``axis``, Σ (x − mean)² / (n − ddof), like ``np.var``: a
    composition of sum, subtract and multiply, in NumPy's own order of operations.

    Its VJP, by the chain rule: x̄ = 2 ḡ (x − mean) / (n − ddof).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> x = np.array([1.0, 2.0, 3.0, 6.0])
    >>> bool(tg.var(x).value == np.var(x)), bool(tg.var(x, ddof=1).value == np.var(x, ddof=1))
    (True, True)
    >>> tg.grad(tg.var)(x)            # 2 (x − 3) / 4
    array([-1. , -0.5,  0. ,  1.5])
    """
    x = _cast_input(_array(x), dtype)
    n = _count(_shape(value_of(x)), axis)
    centred = x - sum(x, axis=axis, keepdims=True) / n
    return sum(centred * centred, axis=axis, keepdims=keepdims) / builtins.max(n - ddof, 0)


def std(
    x: ArrayLike,
    axis: Axis = None,
    dtype: DTypeLike | None = None,
    ddof: float = 0,
    keepdims: bool = False,
) -> Tensor:
    """Standard deviation along ``axis``, √var, like ``np.std`` (a composition).

    Its VJP, by the chain rule: x̄ = ḡ (x − mean) / ((n − ddof) · std).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(tg.std)(np.array([1.0, 3.0]))
    array([-0.5,  0.5])
    """
    return sqrt(var(x, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims))


@overload
def average(
    a: ArrayLike,
    axis: Axis = None,
    weights: ArrayLike | None = None,
    returned: Literal[False] = False,
    keepdims: bool = False,
) -> Tensor: ...
@overload
def average(
    a: ArrayLike,
    axis: Axis = None,
    weights: ArrayLike | None = None,
    *,
    returned: Literal[True],
    keepdims: bool = False,
) -> tuple[Tensor, Tensor]: ...
@overload
def average(
    a: ArrayLike,
    axis: Axis = None,
    weights: ArrayLike | None = None,
    returned: bool = False,
    keepdims: bool = False,
) -> Tensor | tuple[Tensor, Tensor]: ...
def average(
    a: ArrayLike,
    axis: Axis = None,
    weights: ArrayLike | None = None,
    returned: bool = False,
    keepdims: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Weighted mean along ``axis``, Σ w x / Σ w, like ``np.average`` (a composition;
    the weights are differentiated too). Without weights, the mean.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> float(tg.average(np.array([1.0, 3.0]), weights=np.array([3.0, 1.0])).value)
    1.5
    >>> tg.grad(lambda x: tg.average(x, weights=np.array([3.0, 1.0])))(np.zeros(2))
    array([0.75, 0.25])
    """
    a = _array(a)
    if weights is None:
        avg = mean(a, axis=axis, keepdims=keepdims)
        scale = Tensor(
            np.full(
                _shape(avg.value),
                _count(_shape(value_of(a)), axis) if _shape(value_of(a)) else 1,
                dtype=avg.dtype,
            )
        )
        return (avg, scale) if returned else avg
    w = _array(weights)
    shape_a, shape_w = _shape(value_of(a)), _shape(value_of(w))
    if shape_a != shape_w:
        if axis is None:
            raise ShapeError(
                "average: axis must be given when the weights' shape differs from the array's"
            )
        axes = _axes("average", axis, len(shape_a))
        if shape_w != tuple(shape_a[i] for i in axes):
            raise ShapeError(
                f"average: weights of shape {shape_w} do not match the array's "
                f"axes {axes} of shape {shape_a}"
            )
        w = reshape(w, tuple(shape_a[i] if i in axes else 1 for i in range(len(shape_a))))
    total = sum(
        broadcast_to(w, np.broadcast_shapes(_shape(value_of(w)), shape_a))
        if isinstance(w, Tensor)
        else np.broadcast_to(w, shape_a),
        axis=axis,
        keepdims=keepdims,
    )
    avg = sum(multiply(a, w), axis=axis, keepdims=keepdims) / total
    return (avg, broadcast_to(total, avg.shape)) if returned else avg


@primitive(name="prod", flops=_reduced_size)
def _prod(x, axis=None, keepdims=False):
    return np.prod(x, axis=axis, keepdims=keepdims)


# x̄_i = ḡ · Π_{j≠i} x_j, the product of the others, never ans / x_i (0/0 at a zero).
_prod.defvjp(
    lambda g, ans, x, axis=None, keepdims=False: (
        broadcast_to(_unreduce(g, x.shape, axis), x.shape) * _product_of_others(x, axis)
    )
)


@primitive(name="others_product")
def _others_product(x):
    """Π_{j≠i} x_j along the last axis, for each i: the products before and after i
    (exclusive running products), so that a zero in x costs nothing special."""
    ones = np.ones(x.shape[:-1] + (1,), dtype=x.dtype)
    before = np.cumprod(np.concatenate([ones, x[..., :-1]], axis=-1), axis=-1)
    after = np.cumprod(np.concatenate([ones, x[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    return before * after


def _others_product_vjp(o, ans, x):
    # x̄_k = Σ_{i≠k} ō_i Π_{j∉{i,k}} x_j: row i of Y is x with x_i set to 1, so the
    # product of the others in row i, at k ≠ i, is Π_{j∉{i,k}} x_j (at k = i: dropped).
    n = x.shape[-1]
    eye = np.eye(n, dtype=bool)
    rows = where(eye, 1.0, broadcast_to(expand_dims(x, -2), x.shape[:-1] + (n, n)))
    pairs = where(eye, 0.0, _others_product(rows))
    return sum(expand_dims(o, -1) * pairs, axis=-2)


_others_product.defvjp(_others_product_vjp)


def _product_of_others(x, axis):
    """Π of the other entries of each entry's reduction group (``axis`` may be a tuple)."""
    shape = x.shape
    axes = tuple(range(len(shape))) if axis is None else _axes("prod", axis, len(shape))
    kept = tuple(a for a in range(len(shape)) if a not in axes)
    moved = transpose(x, kept + axes)
    flat = reshape(moved, moved.shape[: len(kept)] + (-1,))
    out = reshape(_others_product(flat), moved.shape)
    return transpose(out, tuple(np.argsort(kept + axes)))


def prod(
    x: ArrayLike, axis: Axis = None, dtype: DTypeLike | None = None, keepdims: bool = False
) -> Tensor:
    """Π x along ``axis``, like ``np.prod``.

    VJP: x̄_i = ḡ · Π_{j≠i} x_j, computed from running products before and after
    i, never as ans / x_i: exact with zeros in the input (one zero: only its own
    entry has a nonzero gradient; two or more: all zero).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(tg.prod)(np.array([2.0, 0.0, 5.0]))
    array([ 0., 10.,  0.])
    """
    x = _cast_input(_array(x), dtype)
    return _prod(x, axis=axis, keepdims=keepdims)


def _flip_along(g, axis):
    return _getitem(g, _slices_along(axis, g.ndim, None, None, -1))


@primitive(name="cumsum")
def _cumsum(x, axis):
    return np.cumsum(x, axis=axis)


# x̄_j = Σ_{i≥j} ḡ_i: a running sum of ḡ from the end.
_cumsum.defvjp(lambda g, ans, x, axis: _flip_along(_cumsum(_flip_along(g, axis), axis), axis))


def cumsum(x: ArrayLike, axis: int | None = None, dtype: DTypeLike | None = None) -> Tensor:
    """Running sum along ``axis`` (of the flattened array if None), like ``np.cumsum``.

    VJP: x̄_j = Σ_{i≥j} ḡ_i, the running sum of ḡ taken from the end.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda x: tg.sum(tg.cumsum(x)))(np.zeros(3))
    array([3., 2., 1.])
    """
    x = _cast_input(_array(x), dtype)
    if axis is None:
        x, axis = ravel(x), 0
    return _cumsum(x, axis=_check_axis("cumsum", axis, _shape(value_of(x))))


@primitive(name="cumprod")
def _cumprod(x, axis):
    return np.cumprod(x, axis=axis)


def _cumprod_vjp(g, ans, x, axis):
    # x̄_k = Σ_{i≥k} ḡ_i Π_{j≤i, j≠k} x_j. Without zeros in x that is (Σ_{i≥k} ḡ_i ans_i) / x_k;
    # with zeros, row k of Y is x with x_k set to 1, whose running product gives the terms.
    # (under tg.jit, the general rule: the program must not depend on where the zeros are)
    if current_recorder() is None and np.all(x.value != 0):
        return _flip_along(cumsum(_flip_along(g * ans, axis), axis), axis) / x
    xl, gl = moveaxis(x, axis, -1), moveaxis(g, axis, -1)
    n = xl.shape[-1]
    eye = np.eye(n, dtype=bool)
    rows = where(eye, 1.0, broadcast_to(expand_dims(xl, -2), xl.shape[:-1] + (n, n)))
    later = np.triu(np.ones((n, n), dtype=bool))  # i ≥ k in row k
    terms = where(later, expand_dims(gl, -2) * _cumprod(rows, axis=-1), 0.0)
    return moveaxis(sum(terms, axis=-1), -1, axis)


_cumprod.defvjp(_cumprod_vjp)


def cumprod(x: ArrayLike, axis: int | None = None, dtype: DTypeLike | None = None) -> Tensor:
    """Running product along ``axis`` (of the flattened array if None), like ``np.cumprod``.

    VJP: x̄_k = Σ_{i≥k} ḡ_i Π_{j≤i, j≠k} x_j; as (Σ_{i≥k} ḡ_i ans_i) / x_k when x has
    no zero, and by the products themselves (n² of them) when it has.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda x: tg.sum(tg.cumprod(x)))(np.array([2.0, 3.0]))   # 1 + 3, 2
    array([4., 2.])
    >>> tg.grad(lambda x: tg.sum(tg.cumprod(x)))(np.array([0.0, 3.0]))
    array([4., 0.])
    """
    x = _cast_input(_array(x), dtype)
    if axis is None:
        x, axis = ravel(x), 0
    return _cumprod(x, axis=_check_axis("cumprod", axis, _shape(value_of(x))))


def diff(
    a: ArrayLike,
    n: int = 1,
    axis: int = -1,
    prepend: ArrayLike | None = None,
    append: ArrayLike | None = None,
) -> Tensor:
    """The n-th difference along ``axis``, a[1:] − a[:-1] repeated n times, like
    ``np.diff`` (a composition of slices and subtract; ``prepend``/``append`` joined first).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.diff(np.array([1.0, 4.0, 9.0])).value
    array([3., 5.])
    >>> tg.grad(lambda x: tg.sum(tg.diff(x) ** 2))(np.array([1.0, 4.0, 9.0]))
    array([-6., -4., 10.])
    """
    a = _arg(a)
    shape = _shape(value_of(a))
    if n < 0:
        raise ValueError(f"diff: order n must be non-negative, got {n}")
    if not shape:
        raise ShapeError("diff: the input must have at least 1 axis")
    axis = _check_axis("diff", axis, shape)
    pieces = []
    for extra in (prepend, a, append):
        if extra is None:
            continue
        extra = _arg(extra)
        if extra is not a and not _shape(value_of(extra)):
            extra = (
                broadcast_to(extra, shape[:axis] + (1,) + shape[axis + 1 :])
                if isinstance(extra, Tensor)
                else np.broadcast_to(extra, shape[:axis] + (1,) + shape[axis + 1 :])
            )
        pieces.append(extra)
    if len(pieces) > 1:
        a = concatenate(pieces, axis=axis)
    for _ in range(n):
        a = _getitem(a, _slices_along(axis, len(shape), 1, None)) - _getitem(
            a, _slices_along(axis, len(shape), None, -1)
        )
    return as_tensor(a)


def sort(a: ArrayLike, axis: int | None = -1) -> Tensor:
    """``a`` sorted along ``axis`` (flattened if None), like ``np.sort``: the entries
    picked in sorted order (take_along_axis), so the gradient follows the permutation.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda x: tg.sort(x)[0])(np.array([3.0, 1.0, 2.0]))   # the smallest is x[1]
    array([0., 1., 0.])
    """
    a = _array(a)
    if axis is None:
        a, axis = ravel(a), 0
    order = _argsort(value_of(a), axis=axis, kind="stable").value
    return take_along_axis(a, order, axis)


def argsort(
    a: ArrayLike,
    axis: int | None = -1,
    kind: Literal["quicksort", "mergesort", "heapsort", "stable"] | None = None,
) -> np.ndarray:
    """Indices that sort ``a`` along ``axis`` (``np.argsort``): integers, not differentiable.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.argsort(tg.Tensor([3.0, 1.0, 2.0]))
    array([1, 2, 0])
    """
    return _argsort(value_of(_array(a)), axis=axis, kind=kind).value


# (primitives on raw arrays, with no derivative: so that tg.jit records them)
_argsort = primitive(np.argsort, name="argsort")
_argmax = primitive(np.argmax, name="argmax")
_argmin = primitive(np.argmin, name="argmin")


def argmax(a: ArrayLike, axis: int | None = None, keepdims: bool = False) -> np.ndarray | np.intp:
    """Index of the maximum (``np.argmax``): an integer array, not differentiable.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> int(tg.argmax(tg.Tensor([1.0, 5.0, 2.0])))
    1
    """
    return _argmax(value_of(_array(a)), axis=axis, keepdims=keepdims).value


def argmin(a: ArrayLike, axis: int | None = None, keepdims: bool = False) -> np.ndarray | np.intp:
    """Index of the minimum (``np.argmin``): an integer array, not differentiable.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> int(tg.argmin(tg.Tensor([1.0, 5.0, 0.5])))
    2
    """
    return _argmin(value_of(_array(a)), axis=axis, keepdims=keepdims).value


@primitive(name="extreme_share")
def _extreme_share(x, ans, axis=None):
    """1/k at the k entries equal to the extreme of their group, 0 elsewhere."""
    hits = x == np.reshape(ans, kernels.kept_shape(x.shape, axis))
    return (hits / np.sum(hits, axis=axis, keepdims=True)).astype(x.dtype)


def _extreme(fn):
    def forward(x, axis=None, keepdims=False):
        return fn(x, axis=axis, keepdims=keepdims)

    def vjp(g, ans, x, axis=None, keepdims=False):
        # Every element equal to the extreme shares the gradient equally.
        share = _extreme_share(value_of(x), value_of(ans), axis=axis)
        return broadcast_to(_unreduce(g, x.shape, axis), x.shape) * share

    return primitive(forward, name=fn.__name__, flops=_reduced_size).defvjp(vjp)


_amax = _extreme(np.max)


def max(x: ArrayLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Maximum along ``axis``; tied maxima share the gradient equally.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda x: tg.max(x))(np.array([1.0, 3.0, 3.0]))
    array([0. , 0.5, 0.5])
    """
    return _amax(_array(x), axis=axis, keepdims=keepdims)


_amin = _extreme(np.min)


def min(x: ArrayLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Minimum along ``axis``; tied minima share the gradient equally.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda x: tg.min(x))(np.array([2.0, 1.0, 5.0]))
    array([0., 1., 0.])
    """
    return _amin(_array(x), axis=axis, keepdims=keepdims)


# ------------------------------------------------------------------ softmax family
# All three take an optional boolean ``where`` mask: masked entries take no part,
# get probability exactly 0 and cotangent exactly 0, even when a whole row is
# masked out (the forward rules are in kernels.py, with their measured reasons).
_logsumexp = primitive(kernels.logsumexp, name="logsumexp", flops=lambda ans, x, **k: 5 * x.size)
_logsumexp.defvjp(
    lambda g, ans, x, axis=None, keepdims=False, where=True: (
        _unreduce(g, x.shape, axis) * _softmax(x, axis=axis, where=where)
    )
)


def logsumexp(
    x: ArrayLike,
    axis: Axis = None,
    keepdims: bool = False,
    where: ArrayLike | None = None,
    b: ArrayLike | None = None,
) -> Tensor:
    """Numerically stable log Σ exp(x) along ``axis``; ``where`` masks entries out
    (a fully masked row gives −inf and zero gradient); ``b``: log Σ b·exp(x) with
    weights b ≥ 0 (SciPy's ``logsumexp(x, b=b)``), the same as adding log b to x.

    Computed as m + log Σ exp(x − m) with m the (masked) maximum, so large
    entries do not overflow. VJP: x̄ = ḡ · softmax(x), the probabilities (with b:
    of x + log b; b̄ = x̄ / b).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> float(tg.logsumexp(np.array([1000.0, 1000.0])).value) - 1000   # log 2, no overflow
    0.693147...
    >>> tg.grad(lambda x: tg.logsumexp(x))(np.zeros(4))
    array([0.25, 0.25, 0.25, 0.25])
    >>> bool(tg.logsumexp(np.zeros(2), b=np.array([1.0, 3.0])).value == np.log(4))
    True
    """
    x = _array(x)
    mask = _mask_or_true(where, x, "logsumexp")
    if b is not None:
        b = _arg(b)
        if np.any(value_of(b) < 0):
            raise ValueError("logsumexp: the weights b must be non-negative")
        pair, positive = _broadcast_operands("logsumexp", x, b), value_of(b) > 0
        x = add(pair[0], log(_select(positive, pair[1], 1.0)))
        mask = np.broadcast_to(positive, x.shape) & mask
    return _logsumexp(x, axis=axis, keepdims=keepdims, where=mask)


_softmax: Primitive = primitive(
    kernels.softmax, name="softmax", flops=lambda ans, x, **k: 5 * x.size
)
# The VJP reuses the forward result p, and is a primitive of its own so that it
# runs in one array: ḡ's own when the sweep lets it (see tensor.overwritable).
_softmax.defvjp(
    lambda g, ans, x, axis=-1, where=True: _softmax_vjp(
        g, ans, axis=axis, where=where, overwrite=overwritable(g)
    )
)

_softmax_vjp: Primitive = primitive(
    kernels.softmax_vjp, name="softmax_vjp", flops=lambda ans, g, p, **k: 4 * p.size
)


def _softmax_vjp_wrt_p(o, ans, g, p, axis=-1, where=True, overwrite=False):
    # x̄ = p ∘ (ḡ − s) with s = Σ ḡ∘p, so p̄ = ō ∘ (ḡ − s) − ḡ Σ ō∘p (masked ō, ḡ).
    g, o = _masked(g, where), _masked(o, where)
    return o * (g - sum(g * p, axis=axis, keepdims=True)) - g * sum(o * p, axis=axis, keepdims=True)


# x̄ is linear in ḡ with a symmetric matrix (diag p − p pᵀ), so its VJP in ḡ is itself.
_softmax_vjp.defvjp(
    lambda o, ans, g, p, axis=-1, where=True, overwrite=False: _softmax_vjp(
        o, p, axis=axis, where=where
    ),
    _softmax_vjp_wrt_p,
)


def softmax(x: ArrayLike, axis: int = -1, where: ArrayLike | None = None) -> Tensor:
    """Stable softmax along ``axis``; masked entries get probability exactly 0
    and cotangent exactly 0 (a fully masked row is all zeros).

    p = exp(x − m) / Σ exp(x − m). VJP: x̄ = p ∘ (ḡ − Σ ḡ ∘ p), reusing p.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> x = np.zeros((2, 2))
    >>> tg.softmax(x, axis=1, where=~np.eye(2, dtype=bool)).value   # the diagonal masked out
    array([[0., 1.],
           [1., 0.]])
    """
    x = _array(x)
    return _softmax(x, axis=axis, where=_mask_or_true(where, x, "softmax"))


_log_softmax = primitive(
    kernels.log_softmax, name="log_softmax", flops=lambda ans, x, **k: 5 * x.size
)
# p = exp(log p) reuses the forward result (0 at masked entries, where log p = −inf).
_log_softmax.defvjp(
    lambda g, ans, x, axis=-1, where=True: (  # x̄ = ḡ − p Σ ḡ
        _masked(
            _masked(g, where) - exp(ans) * sum(_masked(g, where), axis=axis, keepdims=True), where
        )
    )
)


def log_softmax(x: ArrayLike, axis: int = -1, where: ArrayLike | None = None) -> Tensor:
    """Stable log-softmax along ``axis``; masked entries are −inf with zero gradient.

    log p = x − logsumexp(x). VJP: x̄ = ḡ − p Σ ḡ.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> np.exp(tg.log_softmax(np.log([1.0, 3.0])).value)
    array([0.25, 0.75])
    """
    x = _array(x)
    return _log_softmax(x, axis=axis, where=_mask_or_true(where, x, "log_softmax"))


_softmax_mass: Primitive = primitive(
    kernels.softmax_mass, name="softmax_mass", saves=True, flops=lambda ans, x, *a, **k: 5 * x.size
)
_softmax_mass_vjp: Primitive = primitive(
    kernels.softmax_mass_vjp, name="softmax_mass_vjp", flops=lambda ans, *a, **k: ans.size
)


@_softmax_mass.defvjp
def _softmax_mass_rule(g, ans, x, start, stop, exclude=None, overwrite=False, layout=None):
    # x̄_ij = ḡ_i p_ij ([start_i ≤ j < stop_i] − mass_i)
    if not is_grad_enabled() and ans._saved is not None:
        e, s = ans._saved  # a plain sweep: one pass over what the forward pass kept
        return _softmax_mass_vjp(g, ans, e, s, start, stop, overwrite=False, layout=layout)
    # A recorded sweep (its result will be differentiated again): the same formula in
    # tensor operations of x and of the output, so that their dependence on x is seen.
    inside = kernels.in_range(start, stop, x.shape[1])
    p = _softmax(x, axis=1, where=_others(x.shape, exclude))
    return p * (reshape(g, (-1, 1)) * (inside - reshape(ans, (-1, 1))))


def _others(shape, exclude):
    """The mask j ≠ exclude_i (True if nothing is excluded)."""
    if exclude is None:
        return True
    mask = np.ones(shape, dtype=bool)
    mask[np.arange(shape[0]), exclude] = False
    return mask


def softmax_mass(
    x: ArrayLike, start: ArrayLike, stop: ArrayLike, exclude: ArrayLike | None = None
) -> Tensor:
    """The probability each row's softmax puts on a range of columns:
    mass_i = Σ_{start_i ≤ j < stop_i} p_ij, with p_i = softmax(x_i) over the columns
    j ≠ ``exclude[i]`` (none left out if ``exclude`` is None).

    NCA's p_i, with the points sorted by class (a point's classmates are one range of
    columns, and the point itself is left out). It is ``sum(softmax(x, axis=1,
    where=others), axis=1, where=in_range)`` as one operation, fused as PyTorch fuses
    ``log_softmax`` with the NLL loss: the VJP

        x̄_ij = ḡ_i p_ij ([start_i ≤ j < stop_i] − mass_i)

    needs none of the Σ_j ḡ_ij p_ij of softmax's own VJP (it is ḡ_i mass_i), so the
    value and gradient take five passes over the matrix (row max, shift, exp, row sum;
    one scaling in the VJP) where the composition takes about twelve. The forward
    pass keeps exp(x − max) and its row sums for the VJP (``Primitive(saves=True)``);
    a recorded sweep (derivatives of derivatives) uses the formula above in tensor
    operations instead.

    Parameters
    ----------
    x : array_like or Tensor of shape (B, N)
        Logits, one row per softmax.
    start, stop : array_like of int, shape (B,)
        Row i's range of columns, 0 ≤ start_i ≤ stop_i ≤ N. Runs of consecutive rows
        sharing a range are summed as one slice.
    exclude : array_like of int, shape (B,), optional
        A column per row that takes no part in the softmax (probability 0).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> x = np.zeros((2, 3))
    >>> tg.softmax_mass(x, start=[0, 1], stop=[2, 3], exclude=[0, 1]).value
    array([0.5, 0.5])
    >>> p = tg.softmax(x, axis=1, where=np.array([[0, 1, 1], [1, 0, 1]], dtype=bool)).value
    >>> p[0, 0:2].sum(), p[1, 1:3].sum()
    (np.float64(0.5), np.float64(0.5))
    """
    x = _array(x)
    shape = _shape(value_of(x))
    if len(shape) != 2:
        raise ShapeError(f"softmax_mass: x must be a (rows, columns) matrix, got shape {shape}")
    if value_of(x).dtype.kind != "f":
        raise TypeError(f"softmax_mass: x must hold floats, got dtype {value_of(x).dtype}")
    rows, n = shape
    start_, stop_ = (_row_indices(v, rows, name) for v, name in ((start, "start"), (stop, "stop")))
    if np.any(start_ < 0) or np.any(stop_ > n) or np.any(start_ > stop_):
        raise ValueError(f"softmax_mass: the ranges must satisfy 0 <= start <= stop <= {n}")
    exclude_ = None
    if exclude is not None:
        exclude_ = _row_indices(exclude, rows, "exclude")
        if np.any(exclude_ < 0) or np.any(exclude_ >= n):
            raise ValueError(f"softmax_mass: exclude must hold column indices in [0, {n})")
    # (overwrite=False spelled out: tg.jit turns it on when x dies here, see jit._IN_PLACE)
    layout = kernels.range_layout(start_, stop_, n)  # (found once, for the forward and VJP)
    return _softmax_mass(x, start_, stop_, exclude=exclude_, overwrite=False, layout=layout)


def _row_indices(v, rows, name):
    """One integer per row, as an int64 array (a clear error otherwise)."""
    a = np.asarray(value_of(v))
    if a.shape != (rows,) or (a.size and a.dtype.kind not in "iu"):
        raise ValueError(
            f"softmax_mass: {name} must be {rows} integers (one per row of x), "
            f"got {a.dtype} of shape {a.shape}"
        )
    return a.astype(np.int64, copy=False)


# ------------------------------------------------------------------ Tensor operators
def _reflected(fn):
    return lambda self, other: fn(other, self)


def _compare(fn):
    # (a primitive on the raw arrays, as before a boolean array: so that tg.jit records it)
    return lambda self, other: fn(self.value, value_of(other)).value


def _negative_method(self):
    return _negative(self)


def _abs_method(self):
    return _abs(self)


def _getitem_method(self, index):
    return _getitem(self, _plain_index(index))


def _reshape_method(self, *shape):
    """``x.reshape(2, 3)`` or ``x.reshape((2, 3))``: see :func:`tinygrad_nca.reshape`."""
    return reshape(self, shape[0] if len(shape) == 1 else shape)


def _transpose_method(self, *axes):
    """``x.transpose()``, ``x.transpose(1, 0)`` or ``x.transpose((1, 0))``: see
    :func:`tinygrad_nca.transpose`."""
    return transpose(self, (axes[0] if len(axes) == 1 else axes) or None)


# Everything Tensor gets here, by name: what type checkers see of it is declared in the class
# (tensor.py, under TYPE_CHECKING), and tests/test_typing.py checks that the two agree.
# The table stays one row per operator pair (ruff format would put one entry per line).
# fmt: off
_TENSOR_METHODS = {
    "__add__": add, "__radd__": _reflected(add),
    "__sub__": subtract, "__rsub__": _reflected(subtract),
    "__mul__": multiply, "__rmul__": _reflected(multiply),
    "__truediv__": divide, "__rtruediv__": _reflected(divide),
    "__pow__": power, "__rpow__": _reflected(power),
    "__mod__": mod, "__rmod__": _reflected(mod),
    "__matmul__": matmul, "__rmatmul__": _reflected(matmul),
    "__neg__": _negative_method,
    "__abs__": _abs_method,
    "__lt__": _compare(_less), "__le__": _compare(_less_equal),
    "__gt__": _compare(_greater), "__ge__": _compare(_greater_equal),
    "__eq__": _compare(_equal), "__ne__": _compare(_not_equal),
    "__getitem__": _getitem_method,
    "T": property(lambda self: transpose(self),
                  doc="The transpose (all axes reversed), recorded: ``transpose(self)``."),
    "mT": property(lambda self: swapaxes(self, -1, -2),
                   doc="The last two axes swapped (a stack of matrices, each transposed)."),
    # Methods as NumPy's ndarray has them: x.sum(axis=0) is tg.sum(x, axis=0).
    **{op.__name__: op for op in (
        exp, log, sqrt, tanh, sum, mean, max, min, prod, var, std, cumsum, cumprod, clip,
        round, ravel, squeeze, swapaxes, repeat, diagonal, trace, dot, argmax, argmin,
        argsort, logsumexp, softmax, log_softmax, astype)},
    "flatten": flatten,
    "reshape": _reshape_method,
    "transpose": _transpose_method,
}
# fmt: on
for _name, _method in _TENSOR_METHODS.items():
    setattr(Tensor, _name, _method)
# Defining __eq__ in a class body would unset __hash__; attached afterwards it does not,
# and Tensor keeps its own (identity) hash.
