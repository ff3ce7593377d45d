"""The table of derivative rules: every primitive's forward and VJP side by side.

Read each entry as a line of a textbook table: the primitive (its forward rule
is a NumPy function, or a function of :mod:`tinygrad_nca.kernels` where a
measured speed-up needed one), its VJP, and the public function that calls it.
``g`` is the cotangent of the output ``ans`` (ȳ in the notes), and each VJP
returns the cotangent of one input (x̄). VJPs use the same tensor operations as
everything else, so the derivative of a derivative comes for free.

Broadcasting is an operation of its own (``broadcast_to``, whose VJP is a sum
back to the input's shape): binary operations broadcast their tensor operands
explicitly first, so none of their VJPs needs an "unbroadcast" special case.
"""
from __future__ import annotations

import builtins

import numpy as np

from . import kernels
from .errors import ShapeError
from .tensor import Tensor, cast, overwritable, primitive, value_of


def _shape(x):
    # np.shape, minus its Python overhead for the common case (this runs per op)
    return x.shape if isinstance(x, np.ndarray) else np.shape(x)


def _reduced_size(ans, x, *_, **__):
    return x.size       # a reduction touches every input element once


def _unreduce(g, shape, axis):
    """Bring the cotangent of a reduction back to keepdims form."""
    return reshape(g, kernels.kept_shape(shape, axis))


# ------------------------------------------------------------------ broadcasting
@primitive(name="broadcast_to", flops=lambda ans, x, shape: 0)
def _broadcast_to(x, shape):
    return np.broadcast_to(x, shape)


def _sum_to(g, shape):
    """Sum ``g`` down to ``shape`` (the reverse of broadcasting to g.shape)."""
    if g.shape == tuple(shape):
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape)
                                      if n == 1 and g.shape[lead + i] != 1)
    return reshape(sum(g, axis=axes), shape)


_broadcast_to.defvjp(lambda g, ans, x, shape: _sum_to(g, x.shape))


def broadcast_to(x, shape):
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
    shape = tuple(shape)
    if _shape(value_of(x)) == shape:
        return x
    try:
        np.broadcast_shapes(_shape(value_of(x)), shape)
    except ValueError:
        raise ShapeError(f"broadcast_to: cannot broadcast shape {_shape(value_of(x))} "
                         f"to {shape}") from None
    return _broadcast_to(x, shape)


def _broadcast_operands(name, *operands):
    """Broadcast the tensor operands of an elementwise op to their common shape."""
    shapes = [_shape(value_of(a)) for a in operands]
    if all(shape == shapes[0] for shape in shapes):
        return operands                 # nothing to broadcast (the common case)
    try:
        out = np.broadcast_shapes(*shapes)
    except ValueError:
        listed = " and ".join(str(s) for s in shapes)
        raise ShapeError(f"{name}: shapes {listed} cannot be broadcast together") from None
    return [broadcast_to(a, out) if isinstance(a, Tensor) and a.shape != out else a
            for a in operands]


# ------------------------------------------------------------------ arithmetic
_add = primitive(kernels.plain_row_loops(np.add), name="add")
_add.defvjp(lambda g, ans, x, y: g,
            lambda g, ans, x, y: g)


def add(x, y):
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
_subtract.defvjp(lambda g, ans, x, y: g,
                 lambda g, ans, x, y: -g)


def subtract(x, y):
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
_multiply.defvjp(lambda g, ans, x, y: g * y,
                 lambda g, ans, x, y: g * x)


def multiply(x, y):
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
_divide.defvjp(lambda g, ans, x, y: g / y,
               lambda g, ans, x, y: -g * ans / y)


def divide(x, y):
    """x / y, elementwise, with NumPy broadcasting.

    VJP: x̄ = ḡ / y, ȳ = −ḡ · x / y² (written −ḡ · ans / y, reusing the output).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda y: tg.sum(tg.divide(1.0, y)))(np.array([1.0, 2.0]))   # −1/y²
    array([-1.  , -0.25])
    """
    return _divide(*_broadcast_operands("divide", x, y))


_power = primitive(np.power, name="power")
_power.defvjp(lambda g, ans, x, y: g * y * x ** (y - 1),
              # d(x^y)/dy = x^y log x; where x <= 0 the power is not smooth in y: use 0.
              lambda g, ans, x, y: g * ans * log(where(value_of(x) > 0, x, 1.0)))


def power(x, y):
    """x ** y, elementwise, with NumPy broadcasting (scalar or tensor exponent).

    VJP: x̄ = ḡ · y · x^(y−1), ȳ = ḡ · x^y · log x (taken as 0 where x ≤ 0, where
    the power is not a smooth function of y).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda x: tg.sum(tg.power(x, 3)))(np.array([1.0, 2.0]))
    array([ 3., 12.])
    """
    return _power(*_broadcast_operands("power", x, y))


negative = primitive(np.negative, name="negative")
negative.defvjp(lambda g, ans, x: -g)


_maximum = primitive(np.maximum, name="maximum")
_maximum.defvjp(  # a tie sends half of the gradient to each side
    lambda g, ans, x, y: g * _tie_weights(x, y, ans),
    lambda g, ans, x, y: g * _tie_weights(y, x, ans))

_minimum = primitive(np.minimum, name="minimum")
_minimum.defvjp(
    lambda g, ans, x, y: g * _tie_weights(x, y, ans),
    lambda g, ans, x, y: g * _tie_weights(y, x, ans))


def _tie_weights(mine, other, ans):
    """1 where ``mine`` is the one chosen, 1/2 on a tie, else 0 (in ans's dtype)."""
    mine, other = value_of(mine), value_of(other)
    chosen = mine == value_of(ans)
    return (chosen * np.where(mine == other, 0.5, 1.0)).astype(ans.dtype)


def maximum(x, y):
    """Elementwise maximum of x and y, with NumPy broadcasting.

    VJP: the cotangent goes to the larger operand; on a tie each gets half.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda x: tg.sum(tg.maximum(x, 0.0)))(np.array([-1.0, 0.0, 2.0]))
    array([0. , 0.5, 1. ])
    """
    return _maximum(*_broadcast_operands("maximum", x, y))


def minimum(x, y):
    """Elementwise minimum of x and y, with NumPy broadcasting.

    VJP: the cotangent goes to the smaller operand; on a tie each gets half.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda x: tg.sum(tg.minimum(x, 1.0)))(np.array([0.0, 1.0, 2.0]))
    array([1. , 0.5, 0. ])
    """
    return _minimum(*_broadcast_operands("minimum", x, y))


# ------------------------------------------------------------------ elementwise functions
exp = primitive(np.exp, name="exp")
exp.defvjp(lambda g, ans, x: g * ans)            # (e^x)' = e^x: reuse the output

log = primitive(np.log, name="log")
log.defvjp(lambda g, ans, x: g / x)

sqrt = primitive(np.sqrt, name="sqrt")
sqrt.defvjp(lambda g, ans, x: g * 0.5 / ans)

tanh = primitive(np.tanh, name="tanh")
tanh.defvjp(lambda g, ans, x: g * (1 - ans * ans))

abs = primitive(np.abs, name="abs")
abs.defvjp(lambda g, ans, x: g * np.sign(value_of(x)))   # 0 at the kink

_where = primitive(np.where, name="where")
_where.defvjp(None,
              lambda g, ans, cond, x, y: _where(cond, g, 0.0),
              lambda g, ans, cond, x, y: _where(cond, 0.0, g))


def where(condition, x, y):
    """``x`` where ``condition`` holds, else ``y``; ``condition`` is a constant boolean array.

    VJP: x̄ = ḡ where the condition holds (0 elsewhere), ȳ = ḡ elsewhere. The
    condition itself gets no gradient.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda x: tg.sum(tg.where(x > 0, x * x, -x)))(np.array([-2.0, 3.0]))
    array([-1.,  6.])
    """
    condition = np.asarray(value_of(condition), dtype=bool)
    return _where(*_broadcast_operands("where", condition, x, y))


_astype = cast      # defined with the reverse sweep, which casts cotangents with it


def astype(x, dtype):
    """Cast to ``dtype``; the cotangent is cast back to the input's dtype.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda x: tg.sum(tg.astype(x, np.float32)))(np.ones(2)).dtype
    dtype('float64')
    """
    dtype = np.dtype(dtype)
    if not isinstance(x, Tensor):
        return Tensor(np.asarray(x, dtype=dtype))
    return x if x.dtype == dtype else _astype(x, dtype)


# ------------------------------------------------------------------ shapes
@primitive(name="reshape", flops=lambda *a, **k: 0)
def reshape(x, shape):
    try:
        return np.reshape(x, shape)
    except ValueError:
        raise ShapeError(f"reshape: cannot reshape shape {np.shape(x)} (size {np.size(x)}) "
                         f"into {shape}") from None


reshape.defvjp(lambda g, ans, x, shape: reshape(g, x.shape))


_transpose = primitive(lambda x, axes: np.transpose(x, axes), name="transpose",
                       flops=lambda *a, **k: 0)
_transpose.defvjp(lambda g, ans, x, axes: _transpose(g, tuple(np.argsort(axes))))


def transpose(x, axes=None):
    """Permute the axes of ``x`` (reverse them by default), like ``np.transpose``.

    VJP: x̄ = ḡ with the inverse permutation applied.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.transpose(tg.Tensor(np.zeros((2, 3, 4))), (2, 0, 1)).shape
    (4, 2, 3)
    """
    shape = _shape(value_of(x))
    if axes is None:
        return _transpose(x, tuple(reversed(range(len(shape)))))
    axes = tuple(_check_axis("transpose", a, shape) for a in axes)
    if sorted(axes) != list(range(len(shape))):
        raise ShapeError(f"transpose: axes {axes} are not a permutation of the {len(shape)} "
                         f"axes of shape {shape}")
    return _transpose(x, axes)


def _check_axis(name, axis, shape):
    """``axis`` as a non-negative index into ``shape``, or a ShapeError naming ``name``."""
    if not -len(shape) <= axis < len(shape):
        raise ShapeError(f"{name}: axis {axis} is out of range for shape {shape} "
                         f"({len(shape)} axes)")
    return axis % len(shape)


def swapaxes(x, axis1, axis2):
    """Exchange two axes of ``x``, like ``np.swapaxes`` (a transpose).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.swapaxes(tg.Tensor(np.zeros((2, 3, 4))), -1, -2).shape
    (2, 4, 3)
    """
    shape = _shape(value_of(x))
    axis1, axis2 = _check_axis("swapaxes", axis1, shape), _check_axis("swapaxes", axis2, shape)
    axes = list(range(len(shape)))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return _transpose(x, tuple(axes))


def expand_dims(x, axis):
    """Insert a size-1 axis at ``axis``, like ``np.expand_dims`` (a reshape).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.expand_dims(tg.Tensor(np.zeros((2, 3))), 1).shape
    (2, 1, 3)
    """
    shape = _shape(value_of(x))
    try:
        return reshape(x, np.expand_dims(np.empty(shape, np.int8), axis).shape)
    except ValueError as err:       # NumPy's AxisError is a ValueError
        raise ShapeError(f"expand_dims: axis {axis} does not fit shape {shape} ({err})") from None


def squeeze(x, axis=None):
    """Remove size-1 axes (all, or those in ``axis``), like ``np.squeeze`` (a reshape).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.squeeze(tg.Tensor(np.zeros((2, 1, 3)))).shape
    (2, 3)
    """
    shape = _shape(value_of(x))
    try:
        return reshape(x, np.squeeze(np.empty(shape, np.int8), axis).shape)
    except ValueError as err:
        raise ShapeError(f"squeeze: cannot remove axis {axis} of shape {shape} ({err})") from None


_getitem = primitive(lambda x, index: x[index], name="getitem", flops=lambda *a, **k: 0)
_getitem.defvjp(lambda g, ans, x, index: _scatter_add(g, index, x.shape))


@primitive(name="scatter_add")
def _scatter_add(g, index, shape):
    out = np.zeros(shape, dtype=g.dtype)
    if _basic(index):
        out[index] = g             # slices and integers select each entry once
    else:
        np.add.at(out, index, g)   # repeated integer indices must add up
    return out


def _basic(index):
    """Whether ``index`` is basic indexing (no arrays): no entry is picked twice."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (slice, int, np.integer, type(None), type(Ellipsis)))
               and not isinstance(i, bool) for i in parts)


_scatter_add.defvjp(lambda g, ans, gx, index, shape: _getitem(g, index))


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


def concatenate(arrays, axis=0):
    """Join arrays along an existing axis, like ``np.concatenate``.

    VJP: each input's cotangent is its own slice of ḡ.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda a: tg.sum(tg.concatenate([a, 2 * a]) ** 2))(np.array([1.0]))   # 2a + 8a
    array([10.])
    """
    arrays = list(arrays)
    shapes = [_shape(value_of(a)) for a in arrays]
    try:
        np.concatenate([np.empty(s, dtype=np.int8) for s in shapes], axis=axis)
    except ValueError as err:      # NumPy's AxisError is a ValueError too
        raise ShapeError(f"concatenate: shapes {shapes} do not fit along axis {axis} ({err})") from None
    return _concatenate(*arrays, axis=axis)


def stack(arrays, axis=0):
    """Join arrays along a new axis, like ``np.stack``.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.stack([np.zeros(3), tg.Tensor(np.ones(3))], axis=1).shape
    (3, 2)
    """
    arrays = list(arrays)
    return concatenate([expand_dims(a, axis) for a in arrays], axis=axis)


# ------------------------------------------------------------------ linear algebra
def _matmul_flops(ans, a, b):
    return 2 * ans.size * a.shape[-1]


_matmul = primitive(kernels.matmul, name="matmul", flops=_matmul_flops)
_matmul.defvjp(lambda g, ans, a, b: g @ swapaxes(b, -1, -2),    # Ā = C̄ Bᵀ
               lambda g, ans, a, b: swapaxes(a, -1, -2) @ g)    # B̄ = Aᵀ C̄


def matmul(a, b):
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
    sa, sb = _shape(value_of(a)), _shape(value_of(b))
    if len(sa) == len(sb) == 2 and sa[1] == sb[0]:
        return _matmul(a, b)           # two matrices: nothing to adapt
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


# ------------------------------------------------------------------ reductions
_sum = primitive(kernels.masked_sum, name="sum", flops=_reduced_size)
_sum.defvjp(lambda g, ans, x, axis=None, keepdims=False, where=True:
            broadcast_to(_unreduce(g, x.shape, axis), x.shape) if where is True
            else _spread(_unreduce(g, x.shape, axis), x.shape, where))

# The VJP of a masked sum: ḡ spread over the mask (0 outside), and its own VJP.
_spread = primitive(kernels.spread, name="spread", flops=lambda ans, *a, **k: ans.size)
_spread.defvjp(lambda o, ans, g, shape, where: _sum_to(_masked(o, where), g.shape))


def _masked(g, where_mask):
    """Zero the entries outside the mask (no-op for the default ``True``)."""
    if where_mask is True:
        return g
    return _where(where_mask, g, 0.0)


def sum(x, axis=None, keepdims=False, where=None):
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
    """
    return _sum(x, axis=axis, keepdims=keepdims, where=_mask_or_true(where, x, "sum"))


def mean(x, axis=None, keepdims=False, where=None):
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
    """
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
    raise ShapeError(f"{name}: where mask of shape {mask.shape} does not broadcast to "
                     f"the input's shape {shape}")


def _extreme(fn):
    def forward(x, axis=None, keepdims=False):
        return fn(x, axis=axis, keepdims=keepdims)

    def vjp(g, ans, x, axis=None, keepdims=False):
        # Every element equal to the extreme shares the gradient equally.
        hits = value_of(x) == np.reshape(value_of(ans), kernels.kept_shape(x.shape, axis))
        share = (hits / np.sum(hits, axis=axis, keepdims=True)).astype(x.dtype)
        return broadcast_to(_unreduce(g, x.shape, axis), x.shape) * share
    return primitive(forward, name=fn.__name__, flops=_reduced_size).defvjp(vjp)


_amax = _extreme(np.max)


def max(x, axis=None, keepdims=False):
    """Maximum along ``axis``; tied maxima share the gradient equally.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda x: tg.max(x))(np.array([1.0, 3.0, 3.0]))
    array([0. , 0.5, 0.5])
    """
    return _amax(x, axis=axis, keepdims=keepdims)


_amin = _extreme(np.min)


def min(x, axis=None, keepdims=False):
    """Minimum along ``axis``; tied minima share the gradient equally.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda x: tg.min(x))(np.array([2.0, 1.0, 5.0]))
    array([0., 1., 0.])
    """
    return _amin(x, axis=axis, keepdims=keepdims)


# ------------------------------------------------------------------ softmax family
# All three take an optional boolean ``where`` mask: masked entries take no part,
# get probability exactly 0 and cotangent exactly 0, even when a whole row is
# masked out (the forward rules are in kernels.py, with their measured reasons).
_logsumexp = primitive(kernels.logsumexp, name="logsumexp", flops=lambda ans, x, **k: 5 * x.size)
_logsumexp.defvjp(lambda g, ans, x, axis=None, keepdims=False, where=True:
                  _unreduce(g, x.shape, axis) * _softmax(x, axis=axis, where=where))


def logsumexp(x, axis=None, keepdims=False, where=None):
    """Numerically stable log Σ exp(x) along ``axis``; ``where`` masks entries out
    (a fully masked row gives −inf and zero gradient).

    Computed as m + log Σ exp(x − m) with m the (masked) maximum, so large
    entries do not overflow. VJP: x̄ = ḡ · softmax(x), the probabilities.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> round(float(tg.logsumexp(np.array([1000.0, 1000.0])).value) - 1000, 6)   # log 2, no overflow
    0.693147
    >>> tg.grad(lambda x: tg.logsumexp(x))(np.zeros(4))
    array([0.25, 0.25, 0.25, 0.25])
    """
    return _logsumexp(x, axis=axis, keepdims=keepdims, where=_mask_or_true(where, x, "logsumexp"))


_softmax = primitive(kernels.softmax, name="softmax", flops=lambda ans, x, **k: 5 * x.size)
# The VJP reuses the forward result p, and is a primitive of its own so that it
# runs in one array: ḡ's own when the sweep lets it (see tensor.overwritable).
_softmax.defvjp(lambda g, ans, x, axis=-1, where=True:
                _softmax_vjp(g, ans, axis=axis, where=where, overwrite=overwritable(g)))

_softmax_vjp = primitive(kernels.softmax_vjp, name="softmax_vjp",
                         flops=lambda ans, g, p, **k: 4 * p.size)


def _softmax_vjp_wrt_p(o, ans, g, p, axis=-1, where=True, overwrite=False):
    # x̄ = p ∘ (ḡ − s) with s = Σ ḡ∘p, so p̄ = ō ∘ (ḡ − s) − ḡ Σ ō∘p (masked ō, ḡ).
    g, o = _masked(g, where), _masked(o, where)
    return (o * (g - sum(g * p, axis=axis, keepdims=True))
            - g * sum(o * p, axis=axis, keepdims=True))


# x̄ is linear in ḡ with a symmetric matrix (diag p − p pᵀ), so its VJP in ḡ is itself.
_softmax_vjp.defvjp(lambda o, ans, g, p, axis=-1, where=True, overwrite=False:
                    _softmax_vjp(o, p, axis=axis, where=where),
                    _softmax_vjp_wrt_p)


def softmax(x, axis=-1, where=None):
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
    return _softmax(x, axis=axis, where=_mask_or_true(where, x, "softmax"))


_log_softmax = primitive(kernels.log_softmax, name="log_softmax",
                         flops=lambda ans, x, **k: 5 * x.size)
# p = exp(log p) reuses the forward result (0 at masked entries, where log p = −inf).
_log_softmax.defvjp(lambda g, ans, x, axis=-1, where=True:  # x̄ = ḡ − p Σ ḡ
                    _masked(_masked(g, where) - exp(ans)
                            * sum(_masked(g, where), axis=axis, keepdims=True), where))


def log_softmax(x, axis=-1, where=None):
    """Stable log-softmax along ``axis``; masked entries are −inf with zero gradient.

    log p = x − logsumexp(x). VJP: x̄ = ḡ − p Σ ḡ.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> np.exp(tg.log_softmax(np.log([1.0, 3.0])).value)
    array([0.25, 0.75])
    """
    return _log_softmax(x, axis=axis, where=_mask_or_true(where, x, "log_softmax"))


# ------------------------------------------------------------------ Tensor operators
def _reflected(fn):
    return lambda self, other: fn(other, self)


def _compare(fn):
    return lambda self, other: fn(self.value, value_of(other))


Tensor.__add__, Tensor.__radd__ = add, _reflected(add)
Tensor.__sub__, Tensor.__rsub__ = subtract, _reflected(subtract)
Tensor.__mul__, Tensor.__rmul__ = multiply, _reflected(multiply)
Tensor.__truediv__, Tensor.__rtruediv__ = divide, _reflected(divide)
Tensor.__pow__, Tensor.__rpow__ = power, _reflected(power)
Tensor.__matmul__, Tensor.__rmatmul__ = matmul, _reflected(matmul)
Tensor.__neg__ = lambda self: negative(self)
Tensor.__abs__ = lambda self: abs(self)
Tensor.__lt__, Tensor.__le__ = _compare(np.less), _compare(np.less_equal)
Tensor.__gt__, Tensor.__ge__ = _compare(np.greater), _compare(np.greater_equal)
Tensor.__eq__, Tensor.__ne__ = _compare(np.equal), _compare(np.not_equal)
Tensor.__hash__ = lambda self: id(self)
Tensor.__getitem__ = lambda self, index: _getitem(self, _plain_index(index))
Tensor.T = property(lambda self: transpose(self),
                    doc="The transpose (all axes reversed), recorded: ``transpose(self)``.")
Tensor.mT = property(lambda self: swapaxes(self, -1, -2),
                     doc="The last two axes swapped (a stack of matrices, each transposed).")


def _method(op, name=None):
    """``op`` as a Tensor method, documented as the op it calls."""
    def method(self, *args, **kwargs):
        return op(self, *args, **kwargs)
    method.__name__ = name or op.__name__
    method.__doc__ = f"``tg.{op.__name__}(self, ...)``: see :func:`tinygrad_nca.{op.__name__}`."
    return method


for _op in (exp, log, sqrt, tanh):          # primitives: no keyword arguments to forward
    setattr(Tensor, _op.__name__, _method(_op))
for _op in (sum, mean, max, min, swapaxes, logsumexp, softmax, log_softmax, astype):
    setattr(Tensor, _op.__name__, _op)


def _reshape_method(self, *shape):
    """``x.reshape(2, 3)`` or ``x.reshape((2, 3))``: see :func:`tinygrad_nca.reshape`."""
    return reshape(self, shape[0] if len(shape) == 1 else shape)


def _transpose_method(self, *axes):
    """``x.transpose()``, ``x.transpose(1, 0)`` or ``x.transpose((1, 0))``: see
    :func:`tinygrad_nca.transpose`."""
    return transpose(self, (axes[0] if len(axes) == 1 else axes) or None)


Tensor.reshape, Tensor.transpose = _reshape_method, _transpose_method


def _plain_index(index):
    """Turn Tensors inside an index into arrays (an index carries no gradient)."""
    if isinstance(index, tuple):
        return tuple(value_of(i) for i in index)
    return value_of(index)

