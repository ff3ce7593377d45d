"""Function transforms: grad, value_and_grad, vjp, jacobian, hvp, checkpoint.

Each transform takes a function of arrays and returns a new function. The
arguments to be differentiated become fresh graph leaves; everything else is
passed through untouched. When an argument is already part of a recorded graph
(we are inside another ``grad``), the leaf is an identity node hanging off it
and the reverse sweep is itself recorded, so transforms nest: ``grad(grad(f))``.
"""
from __future__ import annotations

import functools
import operator

import numpy as np

from . import ops
from .tensor import (Tensor, _topological_order, as_tensor, backprop, enable_grad,
                     is_grad_enabled, no_grad, primitive, value_of)

__all__ = ["grad", "value_and_grad", "vjp", "jacobian", "hvp", "stop_gradient", "checkpoint"]

_identity = primitive(lambda x: x, name="identity", flops=lambda *a: 0)
_identity.defvjp(lambda g, ans, x: g)


def _is_traced(x) -> bool:
    return isinstance(x, Tensor) and x.requires_grad and is_grad_enabled()


def _leaf(x) -> Tensor:
    """A differentiable stand-in for argument ``x``."""
    if _is_traced(x):
        return _identity(x)           # stays connected to the outer graph
    value = value_of(x)
    if np.asarray(value).dtype.kind in "biu":
        raise TypeError(f"cannot differentiate with respect to an integer/bool array "
                        f"(dtype {np.asarray(value).dtype}); pass floats")
    return Tensor(value, requires_grad=True)


def _like(result: Tensor, template, traced: bool):
    """Return ``result`` as a Tensor if ``template`` was one or the result is part
    of a recorded graph (we are inside another transform), else as an ndarray."""
    return result if traced or isinstance(template, Tensor) else result.value


def _normalise_argnums(argnums, n_args):
    single = isinstance(argnums, int)
    nums = (argnums,) if single else tuple(argnums)
    for i in nums:
        if not -n_args <= i < n_args:
            raise ValueError(f"argnums={argnums} but the function was given {n_args} argument(s)")
    return single, tuple(i % n_args for i in nums)


def _trace(f, args, argnums):
    """Run ``f`` with the chosen arguments replaced by leaves; return (out, leaves, aux)."""
    args = list(args)
    leaves = [_leaf(args[i]) for i in argnums]
    for i, leaf in zip(argnums, leaves):
        args[i] = leaf
    with enable_grad():
        out = f(*args)
    return out, leaves


def value_and_grad(f, argnums=0, has_aux=False):
    """Return a function computing ``(f(*args), ∇f(*args))`` in one forward and one reverse sweep.

    ``f`` must return a scalar (or ``(scalar, aux)`` with ``has_aux=True``).
    With a tuple ``argnums`` the gradient is a tuple, one entry per argument.

    >>> import numpy as np, tinygrad_nca as tg
    >>> value, g = tg.value_and_grad(lambda x: (x ** 2).sum())(np.array([1.0, -3.0]))
    >>> float(value), g
    (10.0, array([ 2., -6.]))
    """
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        single, nums = _normalise_argnums(argnums, len(args))
        create_graph = any(_is_traced(a) for a in args)
        result, leaves = _trace(functools.partial(f, **kwargs), args, nums)
        out, aux = result if has_aux else (result, None)
        out = as_tensor(out)
        if out.size != 1:
            raise ValueError(f"grad needs a function returning a scalar, but {_name(f)} returned "
                             f"shape {out.shape}; use vjp or jacobian for non-scalar outputs")
        grads = backprop(out, np.ones_like(out.value), leaves, create_graph=create_graph)
        grads = tuple(_like(gr, args[i], create_graph) for gr, i in zip(grads, nums))
        value = out if create_graph else out.value
        grads = grads[0] if single else grads
        return ((value, aux), grads) if has_aux else (value, grads)
    return wrapper


def grad(f, argnums=0):
    """Return a function computing the gradient of scalar ``f`` with respect to ``argnums``.

    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda x: tg.sum(tg.exp(x)))(np.zeros(3))
    array([1., 1., 1.])
    """
    value_and_grad_f = value_and_grad(f, argnums)

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        return value_and_grad_f(*args, **kwargs)[1]
    return wrapper


def vjp(f, *primals):
    """Evaluate ``f(*primals)`` and return ``(out, vjp_fn)``.

    ``vjp_fn(ȳ)`` returns the tuple of cotangents ``(x̄₁, …)``, one per primal:
    x̄ᵢ = ȳᵀ ∂f/∂xᵢ. It can be called many times (the graph is kept).

    >>> import numpy as np, tinygrad_nca as tg
    >>> out, vjp_fn = tg.vjp(lambda a, b: a * b, np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    >>> vjp_fn(np.array([1.0, 10.0]))          # (ȳ ∘ b, ȳ ∘ a)
    (array([ 3., 40.]), array([ 1., 20.]))
    """
    create_graph = any(_is_traced(a) for a in primals)
    out, leaves = _trace(f, primals, tuple(range(len(primals))))
    out = as_tensor(out)

    def vjp_fn(cotangent):
        traced = create_graph or _is_traced(cotangent)
        cts = backprop(out, cotangent, leaves, create_graph=traced)
        return tuple(_like(ct, p, traced) for ct, p in zip(cts, primals))
    return (out if create_graph else out.value), vjp_fn


def jacobian(f, argnums=0):
    """Return a function computing the Jacobian ∂f/∂x, of shape ``out.shape + x.shape``.

    Built row by row from VJPs (one reverse sweep per output element).

    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.jacobian(lambda x: x ** 2)(np.array([1.0, 3.0]))
    array([[2., 0.],
           [0., 6.]])
    """
    @functools.wraps(f)
    def wrapper(*args):
        single, nums = _normalise_argnums(argnums, len(args))
        out, vjp_fn = vjp(lambda *xs: f(*_replace(args, nums, xs)), *[args[i] for i in nums])
        out_shape = np.shape(value_of(out))
        rows = [[] for _ in nums]
        for k in range(int(np.prod(out_shape))):
            basis = np.zeros(out_shape, dtype=value_of(out).dtype)
            basis.flat[k] = 1
            for row, ct in zip(rows, vjp_fn(basis)):
                row.append(value_of(ct))
        jacs = tuple(np.stack(row).reshape(out_shape + np.shape(value_of(args[i])))
                     for row, i in zip(rows, nums))
        return jacs[0] if single else jacs
    return wrapper


def _replace(args, nums, values):
    args = list(args)
    for i, v in zip(nums, values):
        args[i] = v
    return args


def hvp(f, argnums=0):
    """Return ``hvp_fn(*args, v)``: the Hessian-vector product ∇²f(args) · v.

    Computed by differentiating the gradient (reverse over reverse): the
    gradient of x ↦ ⟨∇f(x), v⟩. ``v`` is the last positional argument. With a
    tuple ``argnums``, x is the tuple of those arguments, ``v`` a tuple of the
    same length (one direction per argument), and the result a tuple: the
    blocks (H v)_k = Σ_m ∂²f/∂x_k∂x_m · v_m.

    >>> import numpy as np, tinygrad_nca as tg
    >>> f = lambda x: tg.sum(x ** 3)                 # Hessian diag(6x)
    >>> tg.hvp(f)(np.array([1.0, 2.0]), np.array([1.0, 1.0]))
    array([ 6., 12.])
    >>> g = lambda x, y: tg.sum(x * y)               # Hessian [[0, I], [I, 0]]
    >>> tg.hvp(g, argnums=(0, 1))(np.ones(2), np.ones(2), (np.array([1.0, 2.0]), np.zeros(2)))
    (array([0., 0.]), array([1., 2.]))
    """
    several = isinstance(argnums, (tuple, list))

    def hvp_fn(*args_and_v):
        *args, v = args_and_v
        if several and (not isinstance(v, (tuple, list)) or len(v) != len(argnums)):
            raise ValueError(f"hvp: with argnums={tuple(argnums)}, v must be a tuple of "
                             f"{len(argnums)} directions, one per argument")
        gradient = grad(f, argnums)

        def along_v(*a):            # ⟨∇f(a), v⟩, whose gradient is H v
            g = gradient(*a)
            if not several:
                return ops.sum(as_tensor(g) * v)
            terms = [ops.sum(as_tensor(g_k) * v_k) for g_k, v_k in zip(g, v)]
            return functools.reduce(operator.add, terms)
        return grad(along_v, argnums)(*args)
    return hvp_fn


def stop_gradient(x) -> Tensor:
    """The value of ``x`` as a constant: no gradient flows through it.

    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda x: tg.sum(x * tg.stop_gradient(x)))(np.array([3.0]))   # d(x·c)/dx = c
    array([3.])
    """
    return Tensor._from_op(value_of(x), None, (), {})


class _Checkpoint:
    """The op behind :func:`checkpoint`: its VJP re-runs ``f`` to rebuild the graph."""

    def __init__(self, f):
        self.f = f
        self.name = f"checkpoint({_name(f)})"

    def backward(self, g, node):
        recording = is_grad_enabled()      # True when the outer sweep is recorded
        positions = [i for i, a in enumerate(node._args)
                     if isinstance(a, Tensor) and a.requires_grad]
        with enable_grad():
            leaves = [_identity(node._args[i]) if recording
                      else Tensor(node._args[i].value, requires_grad=True) for i in positions]
            out = as_tensor(self.f(*_replace(node._args, positions, leaves), **node._kwargs))
        self._refuse_captured_tensors(out, leaves)
        cts = backprop(out, g, leaves, create_graph=recording)
        yield from ((node._args[i], ct) for i, ct in zip(positions, cts))

    def _refuse_captured_tensors(self, out, leaves):
        # A differentiable tensor that f closes over would silently get no gradient.
        ids = {id(leaf) for leaf in leaves}
        for t in _topological_order(out, frozenset(ids)):
            if t._op is None and t.requires_grad and id(t) not in ids:
                raise ValueError(f"{self.name}: f uses a tensor of shape {t.shape} that requires "
                                 "grad but was not passed as an argument; pass every "
                                 "differentiable input as an argument of the checkpointed function")


def checkpoint(f):
    """Return ``f`` evaluated without storing its intermediates.

    The forward pass keeps only ``f``'s inputs and output; the reverse sweep
    runs ``f`` again to rebuild its graph, then backpropagates through it. Memory
    of the intermediates is traded for one more forward pass of ``f``. Every
    tensor that needs a gradient must be passed to ``f`` as an argument.

    >>> import numpy as np, tinygrad_nca as tg
    >>> block = tg.checkpoint(lambda x: tg.exp(x) * x)
    >>> x = np.array([0.0, 1.0])
    >>> np.allclose(tg.grad(lambda x: tg.sum(block(x)))(x), (1 + x) * np.exp(x))
    True
    """
    op = _Checkpoint(f)

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        with no_grad():
            value = as_tensor(f(*args, **kwargs)).value
        if is_grad_enabled() and any(isinstance(a, Tensor) and a.requires_grad for a in args):
            return Tensor._from_op(value, op, args, kwargs)
        return Tensor._from_op(value, None, (), {})
    return wrapper


def _name(f):
    return getattr(f, "__name__", type(f).__name__)
