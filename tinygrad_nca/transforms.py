"""Function transforms: grad, value_and_grad, vjp, jvp, jacobian, hvp, checkpoint.

Each transform takes a function of arrays and returns a new function. The
arguments to be differentiated become fresh graph leaves; everything else is
passed through untouched.

**How transforms nest.** Every tensor carries a serial number, and a transform
notes the number when it starts (a :class:`~tinygrad_nca.tensor.Scope`). After
running the function it walks the graph back from the output to its own
leaves. If that walk meets a differentiable tensor numbered *before* the start,
the function used something from outside: a variable it closes over, or an
argument that an outer transform is differentiating. The derivative computed
here then depends on that outside value, so the transform records its reverse
sweep (its VJPs are tensor operations, so the sweep is a graph like any other)
and returns tensors that stay connected to the outer graph. Otherwise nothing
outside can be affected, and the sweep runs plainly on arrays. Each sweep stops
at its own leaves and visits only nodes that lead to them, so the sweeps of
different levels never mix: there is no "perturbation confusion", where an
inner derivative mistakes an outer variable for its own. (HIPS autograd tags
each box with a trace level and JAX gives every transform a level of its own;
serial numbers answer the same question — is this value mine or an outer
one? — without a level stack.)

**Forward mode** is built from reverse mode: ``u ↦ vjp(u) = uᵀJ`` is linear in
``u``, and the VJP of that linear map, taken with cotangent ``v``, is ``J v``.
So ``jvp`` records one reverse sweep and sweeps back through it. This needs no
second table of derivative rules (every VJP in the table is already
differentiable), so forward mode can never disagree with reverse mode, at the
price of about three sweeps instead of one.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal, TypeAlias

import numpy as np

from . import ops
from .tensor import (
    ArrayLike,
    Op,
    Scope,
    Tensor,
    as_tensor,
    backprop,
    count_flops,
    enable_grad,
    is_grad_enabled,
    make_node,
    no_grad,
    topological_order,
    value_of,
)

__all__ = [
    "grad",
    "value_and_grad",
    "vjp",
    "jvp",
    "jacobian",
    "hvp",
    "stop_gradient",
    "checkpoint",
    "Argnums",
]

# Which positional arguments to differentiate: one (the result is one array) or several
# (the result is a tuple, one entry per argument).
Argnums: TypeAlias = int | Sequence[int]
# The transforms return Callable[..., Any]: what the returned function gives back (an ndarray
# or a Tensor, one or a tuple) depends on the types of the arguments it is called with and on
# argnums, and its arguments are not f's (a Tensor stands in for an ndarray argument inside f,
# and jvp/hvp take one more, the direction v).


def _is_traced(x: Any) -> bool:
    return isinstance(x, Tensor) and x.requires_grad and is_grad_enabled()


def _like(result: Tensor, template: Any, recorded: bool) -> Tensor | np.ndarray:
    """``result`` as a Tensor if ``template`` was one or the result is part of a
    recorded graph (an outer transform will differentiate it), else as an ndarray."""
    return result if recorded or isinstance(template, Tensor) else result.value


def _normalise_argnums(argnums: Argnums, n_args: int) -> tuple[bool, tuple[int, ...]]:
    single = isinstance(argnums, int)
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for i in nums:
        if not -n_args <= i < n_args:
            raise ValueError(f"argnums={argnums} but the function was given {n_args} argument(s)")
    return single, tuple(i % n_args for i in nums)


class _Traced:
    """One run of ``f`` with the arguments ``argnums`` replaced by leaves of a new scope.

    ``out`` is f's result (a Tensor), ``order`` its graph down to the leaves, and
    ``record`` whether derivatives must be recorded (f used a differentiable value
    from outside: see the module docstring).
    """

    def __init__(self, f: Callable[..., Any], args: Sequence[Any], argnums: Sequence[int]) -> None:
        self.scope = Scope()
        args = list(args)
        self.leaves = [self.scope.leaf(args[i]) for i in argnums]
        for i, leaf in zip(argnums, self.leaves, strict=True):
            args[i] = leaf
        with enable_grad():
            self.result = f(*args)

    def finish(self, out: ArrayLike) -> None:
        self.out = as_tensor(out)
        self.order, outside = self.scope.outside(self.out, self.leaves)
        self.record = bool(outside)

    def cotangents(self, g: ArrayLike, record: bool = False) -> list[Tensor]:
        """The cotangents of the leaves for the output cotangent ``g``."""
        return backprop(
            self.out, g, self.leaves, create_graph=self.record or record, order=self.order
        )


def value_and_grad(
    f: Callable[..., Any], argnums: Argnums = 0, has_aux: bool = False
) -> Callable[..., tuple[Any, Any]]:
    """Return a function computing ``(f(*args), ∇f(*args))`` in one forward and one reverse sweep.

    ``f`` must return a scalar (or ``(scalar, aux)`` with ``has_aux=True``).
    With a tuple ``argnums`` the gradient is a tuple, one entry per argument.

    >>> import numpy as np, tinygrad_nca as tg
    >>> value, g = tg.value_and_grad(lambda x: (x ** 2).sum())(np.array([1.0, -3.0]))
    >>> float(value), g
    (10.0, array([ 2., -6.]))
    """

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        single, nums = _normalise_argnums(argnums, len(args))
        run = _Traced(functools.partial(f, **kwargs), args, nums)
        out, aux = run.result if has_aux else (run.result, None)
        run.finish(out)
        if run.out.size != 1:
            raise ValueError(
                f"grad needs a function returning a scalar, but {_name(f)} returned "
                f"shape {run.out.shape}; use vjp or jacobian for non-scalar outputs"
            )
        cotangents = run.cotangents(np.ones_like(run.out.value))
        grads = tuple(
            _like(gr, args[i], run.record) for gr, i in zip(cotangents, nums, strict=True)
        )
        value = run.out if run.record else run.out.value
        result = grads[0] if single else grads
        return ((value, aux), result) if has_aux else (value, result)

    return wrapper


def grad(f: Callable[..., Any], argnums: Argnums = 0) -> Callable[..., Any]:
    """Return a function computing the gradient of scalar ``f`` with respect to ``argnums``.

    Gradients nest: ``grad(grad(f))`` is the second derivative, and an inner
    ``grad`` may use the outer function's variables.

    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda x: tg.sum(tg.exp(x)))(np.zeros(3))
    array([1., 1., 1.])
    >>> float(tg.grad(lambda x: x * tg.grad(lambda y: x * y)(2.0))(1.0))    # d/dx x·x
    2.0
    """
    value_and_grad_f = value_and_grad(f, argnums)

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        return value_and_grad_f(*args, **kwargs)[1]

    return wrapper


def _vjp(f: Callable[..., Any], primals: Sequence[Any]) -> _Traced:
    run = _Traced(f, primals, tuple(range(len(primals))))
    run.finish(run.result)
    return run


def vjp(
    f: Callable[..., Any], *primals: ArrayLike
) -> tuple[Tensor | np.ndarray, Callable[[ArrayLike], tuple[Tensor | np.ndarray, ...]]]:
    """Evaluate ``f(*primals)`` and return ``(out, vjp_fn)``.

    ``vjp_fn(ȳ)`` returns the tuple of cotangents ``(x̄₁, …)``, one per primal:
    x̄ᵢ = ȳᵀ ∂f/∂xᵢ. It can be called many times (the graph is kept).

    >>> import numpy as np, tinygrad_nca as tg
    >>> out, vjp_fn = tg.vjp(lambda a, b: a * b, np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    >>> vjp_fn(np.array([1.0, 10.0]))          # (ȳ ∘ b, ȳ ∘ a)
    (array([ 3., 40.]), array([ 1., 20.]))
    """
    run = _vjp(f, primals)

    def vjp_fn(cotangent: ArrayLike) -> tuple[Tensor | np.ndarray, ...]:
        traced = _is_traced(cotangent)
        cts = run.cotangents(cotangent, record=traced)
        return tuple(_like(ct, p, run.record or traced) for ct, p in zip(cts, primals, strict=True))

    return (run.out if run.record else run.out.value), vjp_fn


class _Linearized:
    """The map v ↦ J v of ``f`` at ``primals``, made from a recorded reverse sweep.

    The sweep x̄(u) = uᵀJ is recorded for a cotangent leaf u; sweeping back
    through it with x̄'s cotangent v gives ū = J v.
    """

    def __init__(self, f: Callable[..., Any], primals: Sequence[Any]) -> None:
        self.run = run = _vjp(f, primals)
        self.u = Tensor(np.zeros_like(run.out.value), requires_grad=True)
        self.xbars = backprop(run.out, self.u, run.leaves, create_graph=True, order=run.order)
        self.primals = primals

    def apply(self, tangents: Sequence[ArrayLike], record: bool = False) -> Tensor:
        """J v for ``tangents`` v (one per primal), as a Tensor."""
        pairs = [(xb, as_tensor(v)) for xb, v in zip(self.xbars, tangents, strict=True)]
        if len(pairs) == 1:
            y, g = pairs[0]
            if g.shape != y.shape:
                raise ValueError(
                    f"jvp: tangent of shape {g.shape} for an argument of shape {y.shape}"
                )
        else:
            with enable_grad():
                y = functools.reduce(operator.add, [ops.sum(xb * v) for xb, v in pairs])
            g = Tensor(np.ones_like(y.value))
        order = topological_order(y, frozenset({id(self.u)}), before=self.run.scope.start)
        (tangent,) = backprop(y, g, [self.u], create_graph=self.run.record or record, order=order)
        return tangent


def jvp(f: Callable[..., Any], argnums: Argnums = 0) -> Callable[..., Any]:
    """Return ``jvp_fn(*args, v)``: the Jacobian-vector product J v of ``f`` at ``args``.

    Forward mode: a tangent ``v`` of the inputs goes in, the tangent of the output
    comes out (its shape is f's output shape). ``v`` is the last positional
    argument; with a tuple ``argnums`` it is a tuple of tangents, one per
    argument, and the result is Σ_k J_k v_k.

    Built from reverse mode (see the module docstring): about three sweeps, and
    it agrees with reverse mode by construction. It nests with every other
    transform, so ``jvp(grad(f))`` is a Hessian-vector product.

    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.jvp(lambda x: x ** 3)(np.array([1.0, 2.0]), np.array([1.0, 0.5]))   # 3x² v
    array([3., 6.])
    """
    several = isinstance(argnums, (tuple, list))
    shown = argnums if isinstance(argnums, int) else tuple(argnums)

    @functools.wraps(f)
    def jvp_fn(*args_and_v: Any) -> Any:
        *args, v = args_and_v
        _, nums = _normalise_argnums(argnums, len(args))
        tangents = tuple(v) if several else (v,)
        if len(tangents) != len(nums):
            raise ValueError(
                f"jvp: with argnums={shown}, v must be a tuple of "
                f"{len(nums)} tangents, one per argument"
            )
        lin = _Linearized(lambda *xs: f(*_replace(args, nums, xs)), [args[i] for i in nums])
        traced = any(_is_traced(t) for t in tangents)
        tangent = lin.apply(tangents, record=traced)
        return _like(tangent, args[nums[0]], lin.run.record or traced)

    return jvp_fn


def jacobian(
    f: Callable[..., Any], argnums: Argnums = 0, mode: Literal["reverse", "forward"] = "reverse"
) -> Callable[..., Any]:
    """Return a function computing the Jacobian ∂f/∂x, of shape ``out.shape + x.shape``.

    ``mode="reverse"`` builds it row by row: one VJP per output element.
    ``mode="forward"`` builds it column by column: one JVP per input element.
    So reverse mode is the cheaper when the output has fewer elements than the
    input (a gradient is the extreme case: one row), forward mode when the input
    has fewer (a curve x ↦ f(x) ∈ ℝⁿ: one column). Our JVP costs about three
    sweeps to a VJP's one, so forward mode pays off once the output has more
    than about three times as many elements as the input. Both agree to rounding.

    The Jacobian is differentiable: inside another transform its entries stay
    connected to the outer graph, so ``jacobian(jacobian(f))`` is the tensor of
    second derivatives.

    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.jacobian(lambda x: x ** 2)(np.array([1.0, 3.0]))
    array([[2., 0.],
           [0., 6.]])
    >>> tg.jacobian(lambda x: x ** 2, mode="forward")(np.array([1.0, 3.0]))
    array([[2., 0.],
           [0., 6.]])
    """
    if mode not in ("reverse", "forward"):
        raise ValueError(f"jacobian: mode must be 'reverse' or 'forward', got {mode!r}")

    @functools.wraps(f)
    def wrapper(*args: Any) -> Any:
        single, nums = _normalise_argnums(argnums, len(args))
        g = lambda *xs: f(*_replace(args, nums, xs))
        primals = [args[i] for i in nums]
        pieces, recorded = (_reverse_jacobian if mode == "reverse" else _forward_jacobian)(
            g, primals
        )
        jacs = tuple(_like(j, args[i], recorded) for j, i in zip(pieces, nums, strict=True))
        return jacs[0] if single else jacs

    return wrapper


def _reverse_jacobian(f: Callable[..., Any], primals: Sequence[Any]) -> tuple[list[Tensor], bool]:
    run = _vjp(f, primals)
    out_shape, dtype = run.out.shape, run.out.dtype
    rows: list[list[Tensor]] = [[] for _ in primals]
    for k in range(int(np.prod(out_shape))):
        basis = np.zeros(out_shape, dtype=dtype)
        basis.flat[k] = 1
        for row, ct in zip(rows, run.cotangents(basis), strict=True):
            row.append(ct)
    return [
        _assemble(row, out_shape, np.shape(value_of(x)), run.record, axis=0)
        for row, x in zip(rows, primals, strict=True)
    ], run.record


def _forward_jacobian(f: Callable[..., Any], primals: Sequence[Any]) -> tuple[list[Tensor], bool]:
    lin = _Linearized(f, primals)
    out_shape = lin.run.out.shape
    jacs = []
    for k, x in enumerate(primals):
        x_shape, x_dtype = np.shape(value_of(x)), lin.xbars[k].dtype
        columns = []
        for j in range(int(np.prod(x_shape))):
            tangents = [
                np.zeros(np.shape(value_of(p)), dtype=xb.dtype)
                for p, xb in zip(primals, lin.xbars, strict=True)
            ]
            tangents[k].flat[j] = 1
            columns.append(lin.apply(tangents))
        jacs.append(_assemble(columns, x_shape, out_shape, lin.run.record, axis=-1, dtype=x_dtype))
    return jacs, lin.run.record


def _assemble(
    pieces: list[Tensor],
    stacked_shape: tuple[int, ...],
    piece_shape: tuple[int, ...],
    recorded: bool,
    axis: int,
    dtype: Any = None,
) -> Tensor:
    """Stack the rows (axis=0) or columns (axis=-1) of a Jacobian into shape
    out.shape + x.shape, as a recorded tensor operation when it is differentiable."""
    if axis == 0:
        final = tuple(stacked_shape) + tuple(piece_shape)
    else:
        final = tuple(piece_shape) + tuple(stacked_shape)
    if not pieces:
        return Tensor(np.zeros(final, dtype=dtype or np.float64))
    if recorded:
        with enable_grad():
            flat = ops.stack([ops.reshape(p, (-1,)) for p in pieces], axis=axis)
            return ops.reshape(flat, final)
    flat_values = np.stack([p.value.reshape(-1) for p in pieces], axis=axis)
    return Tensor(flat_values.reshape(final))


def _replace(args: Sequence[Any], nums: Sequence[int], values: Sequence[Any]) -> list[Any]:
    args = list(args)
    for i, v in zip(nums, values, strict=True):
        args[i] = v
    return args


def hvp(f: Callable[..., Any], argnums: Argnums = 0) -> Callable[..., Any]:
    """Return ``hvp_fn(*args, v)``: the Hessian-vector product ∇²f(args) · v.

    Computed by differentiating the gradient (reverse over reverse): the
    gradient of x ↦ ⟨∇f(x), v⟩. ``v`` is the last positional argument. With a
    tuple ``argnums``, x is the tuple of those arguments, ``v`` a tuple of the
    same length (one direction per argument), and the result a tuple: the
    blocks (H v)_k = Σ_m ∂²f/∂x_k∂x_m · v_m. ``jvp(grad(f))(x, v)`` computes the
    same product forward over reverse.

    >>> import numpy as np, tinygrad_nca as tg
    >>> f = lambda x: tg.sum(x ** 3)                 # Hessian diag(6x)
    >>> tg.hvp(f)(np.array([1.0, 2.0]), np.array([1.0, 1.0]))
    array([ 6., 12.])
    >>> g = lambda x, y: tg.sum(x * y)               # Hessian [[0, I], [I, 0]]
    >>> tg.hvp(g, argnums=(0, 1))(np.ones(2), np.ones(2), (np.array([1.0, 2.0]), np.zeros(2)))
    (array([0., 0.]), array([1., 2.]))
    """
    several = isinstance(argnums, (tuple, list))
    listed = () if isinstance(argnums, int) else tuple(argnums)

    def hvp_fn(*args_and_v: Any) -> Any:
        *args, v = args_and_v
        if several and (not isinstance(v, (tuple, list)) or len(v) != len(listed)):
            raise ValueError(
                f"hvp: with argnums={listed}, v must be a tuple of "
                f"{len(listed)} directions, one per argument"
            )
        gradient = grad(f, argnums)

        def along_v(*a: Any) -> Tensor:  # ⟨∇f(a), v⟩, whose gradient is H v
            g = gradient(*a)
            if not several:
                return ops.sum(as_tensor(g) * v)
            terms = [ops.sum(as_tensor(g_k) * v_k) for g_k, v_k in zip(g, v, strict=True)]
            return functools.reduce(operator.add, terms)

        return grad(along_v, argnums)(*args)

    return hvp_fn


def stop_gradient(x: ArrayLike) -> Tensor:
    """The value of ``x`` as a constant: no gradient flows through it.

    >>> import numpy as np, tinygrad_nca as tg
    >>> tg.grad(lambda x: tg.sum(x * tg.stop_gradient(x)))(np.array([3.0]))   # d(x·c)/dx = c
    array([3.])
    """
    return make_node(value_of(x), None, ())


class _Checkpoint(Op):
    """The op behind one call of a :func:`checkpoint` function: its VJP runs ``f``
    again to rebuild the graph. The node's inputs are f's ``n_args`` arguments
    followed by the differentiable tensors f closed over."""

    def __init__(self, f: Callable[..., Any], n_args: int) -> None:
        self.f, self.n_args = f, n_args
        self.name = f"checkpoint({_name(f)})"

    def backward(
        self, g: Tensor, node: Tensor, needed: set[int]
    ) -> Iterator[tuple[Tensor, Tensor]]:
        recording = is_grad_enabled()  # True when the outer sweep is recorded
        args, captured = node._args[: self.n_args], list(node._args[self.n_args :])
        positions = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
        scope = Scope()
        leaves = [scope.leaf(args[i]) for i in positions]
        with enable_grad():
            out = as_tensor(self.f(*_replace(args, positions, leaves), **node._kwargs))
        inputs = leaves + captured
        order = topological_order(out, frozenset(id(t) for t in inputs), before=scope.start)
        cts = backprop(out, g, inputs, create_graph=recording, order=order)
        for arg, ct in zip([args[i] for i in positions] + captured, cts, strict=True):
            if id(arg) in needed:
                yield arg, ct

    def forward_flops(self, node: Tensor) -> int:
        return count_flops(self.f, *node._args[: self.n_args], **node._kwargs)


def checkpoint(f: Callable[..., Any]) -> Callable[..., Tensor]:
    """Return ``f`` evaluated without storing its intermediates.

    The forward pass keeps only ``f``'s inputs and output; the reverse sweep
    runs ``f`` again to rebuild its graph, then backpropagates through it. Memory
    of the intermediates is traded for one more forward pass of ``f``. ``f`` may
    close over differentiable tensors: the forward pass notes which ones its
    operations touch, and they get their gradient too.

    >>> import numpy as np, tinygrad_nca as tg
    >>> block = tg.checkpoint(lambda x: tg.exp(x) * x)
    >>> x = np.array([0.0, 1.0])
    >>> np.allclose(tg.grad(lambda x: tg.sum(block(x)))(x), (1 + x) * np.exp(x))
    True
    """

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Tensor:
        scope = Scope()
        with scope.watch(), no_grad():
            value = as_tensor(f(*args, **kwargs)).value
        explicit = {id(a) for a in args}
        captured = tuple(t for t in scope.captured.values() if id(t) not in explicit)
        if is_grad_enabled() and (captured or any(_is_traced(a) for a in args)):
            return make_node(value, _Checkpoint(f, len(args)), tuple(args) + captured, kwargs)
        return make_node(value, None, ())

    return wrapper


def _name(f: Any) -> str:
    return getattr(f, "__name__", type(f).__name__)
