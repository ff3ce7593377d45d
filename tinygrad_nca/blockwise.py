"""Sums of many terms in bounded memory: ``sum_of_blocks``.

A loss that is a sum of terms, f(x) = Σ_b f_b(x), has gradient Σ_b ∇f_b(x). So
each term can be evaluated *and differentiated* on its own, and its graph
dropped before the next term is built: memory is that of one term, not of the
whole sum. That is how the NCA loss handles N = 20,000 points: one block of rows
of the N × N probability matrix at a time.

Compared with :func:`~tinygrad_nca.checkpoint`, which stores the inputs and runs
the forward pass again during the reverse sweep, the gradient here is
accumulated *during* the forward pass, so nothing is recomputed. The price: the
gradient is computed even if nobody asks for it, and a second derivative (a
recorded reverse sweep) falls back to recomputing each term.
"""
from __future__ import annotations

import numpy as np

from .tensor import Tensor, as_tensor, backprop, enable_grad, is_grad_enabled, no_grad

__all__ = ["sum_of_blocks"]


def _differentiable(args):
    return [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]


def _fresh_leaves(args, positions):
    args = list(args)
    leaves = []
    for i in positions:
        leaves.append(Tensor(args[i].value, requires_grad=True))
        args[i] = leaves[-1]
    return args, leaves


class _SumOfBlocks:
    """The op behind :func:`sum_of_blocks`; it keeps ∂(Σ_b f_b)/∂args from the forward pass."""

    def __init__(self, f, blocks, gradients):
        self.f, self.blocks, self.gradients = f, blocks, gradients
        self.name = f"sum_of_blocks({getattr(f, '__name__', 'f')}, {len(blocks)} blocks)"

    def backward(self, g, node):
        positions = _differentiable(node._args)
        if not is_grad_enabled():        # a plain reverse sweep: reuse the stored gradient
            for i, gradient in zip(positions, self.gradients):
                yield node._args[i], g * gradient
            return
        # A recorded sweep (second derivatives): rebuild each term's graph on the inputs.
        totals = [None] * len(positions)
        for block in self.blocks:
            term = as_tensor(self.f(*node._args, block))
            for k, ct in enumerate(backprop(term, g, [node._args[i] for i in positions],
                                            create_graph=True)):
                totals[k] = ct if totals[k] is None else totals[k] + ct
        yield from ((node._args[i], total) for i, total in zip(positions, totals))


def sum_of_blocks(f, *args, blocks):
    """Σ_b f(*args, b) over ``blocks``, differentiated block by block.

    Parameters
    ----------
    f : callable
        ``f(*args, block)`` returns a scalar Tensor: the term of one block.
        ``block`` is whatever ``blocks`` holds (a slice of rows, say).
    *args : Tensor or array_like
        The inputs. Every tensor that needs a gradient must be one of them (a
        tensor that ``f`` closes over would get no gradient).
    blocks : iterable
        The blocks, e.g. ``[slice(0, 500), slice(500, 1000)]``.

    Returns
    -------
    Tensor
        The scalar sum. Its gradient with respect to ``args`` was accumulated
        while the sum was computed, so peak memory is that of one block's graph.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> x = np.arange(6.0)
    >>> halves = [slice(0, 3), slice(3, 6)]
    >>> tg.grad(lambda x: tg.sum_of_blocks(lambda x, b: tg.sum(x[b] ** 2), x, blocks=halves))(x)
    array([ 0.,  2.,  4.,  6.,  8., 10.])
    """
    blocks = list(blocks)
    if not blocks:
        raise ValueError("sum_of_blocks: no blocks given")
    positions = _differentiable(args)
    if not (positions and is_grad_enabled()):
        with no_grad():
            total = sum(float(as_tensor(f(*args, b)).value) for b in blocks)
        return Tensor(np.asarray(total, dtype=_result_dtype(args)))
    total, gradients = 0.0, None
    for block in blocks:
        block_args, leaves = _fresh_leaves(args, positions)
        with enable_grad():
            term = as_tensor(f(*block_args, block))
        if term.size != 1:
            raise ValueError(f"sum_of_blocks: f must return a scalar, got shape {term.shape}")
        cts = [ct.value for ct in backprop(term, np.ones_like(term.value), leaves)]
        if gradients is None:       # our own copies: later blocks are added in place
            gradients = [np.array(ct) for ct in cts]
        else:
            for gradient, ct in zip(gradients, cts):
                gradient += ct
        total += float(term.value)
        del term, leaves, block_args      # this block's graph is freed here
    value = np.asarray(total, dtype=gradients[0].dtype)
    return Tensor._from_op(value, _SumOfBlocks(f, blocks, gradients), args, {})


def _result_dtype(args):
    dtypes = [a.dtype for a in args if isinstance(a, Tensor) and a.dtype.kind == "f"]
    return np.result_type(*dtypes) if dtypes else np.float64
