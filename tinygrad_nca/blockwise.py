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

from .tensor import (
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
    observed,
    silenced,
)

__all__ = ["sum_of_blocks"]


class _SumOfBlocks(Op):
    """The op behind :func:`sum_of_blocks`; it keeps ∂(Σ_b f_b)/∂inputs from the forward pass.

    The node's inputs are f's ``n_args`` arguments followed by the differentiable
    tensors f closed over; ``gradients`` holds one array per differentiable input.
    """

    def __init__(self, f, blocks, n_args, gradients):
        self.f, self.blocks, self.n_args, self.gradients = f, blocks, n_args, gradients
        self.name = f"sum_of_blocks({getattr(f, '__name__', 'f')}, {len(blocks)} blocks)"

    def backward(self, g, node, needed):
        inputs = [a for a in node._args if isinstance(a, Tensor) and a.requires_grad]
        if not is_grad_enabled() and not observed():
            # A plain reverse sweep: the gradient is already known.
            for arg, gradient in zip(inputs, self.gradients):
                if id(arg) in needed:
                    yield arg, g * gradient
            return
        # A recorded sweep (second derivatives), or one whose cost is being measured
        # (cost_report): differentiate each term again, on the node's own inputs.
        recording, totals = is_grad_enabled(), [None] * len(inputs)
        for block in self.blocks:
            with silenced(), enable_grad():    # rebuilding the term is not the VJP's work
                term = as_tensor(self.f(*node._args[:self.n_args], block))
            for k, ct in enumerate(backprop(term, g, inputs, create_graph=recording)):
                totals[k] = ct if totals[k] is None else totals[k] + ct
        yield from ((arg, total) for arg, total in zip(inputs, totals) if id(arg) in needed)

    def forward_flops(self, node) -> int:
        return sum(count_flops(self.f, *node._args[:self.n_args], block)
                            for block in self.blocks)


def sum_of_blocks(f, *args, blocks):
    """Σ_b f(*args, b) over ``blocks``, differentiated block by block.

    Parameters
    ----------
    f : callable
        ``f(*args, block)`` returns a scalar Tensor: the term of one block.
        ``block`` is whatever ``blocks`` holds (a slice of rows, say).
    *args : Tensor or array_like
        The inputs. ``f`` may also close over differentiable tensors: each block
        notes which ones it used, and they get their gradient too.
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
    if not is_grad_enabled():
        with no_grad():
            total = sum(float(as_tensor(f(*args, b)).value) for b in blocks)
        return Tensor(np.asarray(total, dtype=_result_dtype(args)))
    positions = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
    total, gradients, captured = 0.0, {}, {}     # gradients: id of input -> array
    for block in blocks:
        scope = Scope()
        block_args, leaves = list(args), []
        for i in positions:
            block_args[i] = Tensor(args[i].value, requires_grad=True)
            leaves.append(block_args[i])
        with enable_grad():
            term = as_tensor(f(*block_args, block))
        if term.size != 1:
            raise ValueError(f"sum_of_blocks: f must return a scalar, got shape {term.shape}")
        order, outside = scope.outside(term, leaves)     # outside: what f closed over
        for t in outside:
            captured.setdefault(id(t), t)
        targets = [args[i] for i in positions] + outside
        if targets:
            cts = backprop(term, np.ones_like(term.value), leaves + outside, order=order)
            for target, ct in zip(targets, cts):
                if id(target) in gradients:      # our own copies: later blocks add in place
                    gradients[id(target)] += ct.value
                else:
                    gradients[id(target)] = np.array(ct.value)
        total += float(term.value)
        del term, leaves, block_args, order      # this block's graph is freed here
    value = np.asarray(total, dtype=_result_dtype(args))
    inputs = tuple(args) + tuple(captured.values())
    if not positions and not captured:
        return Tensor(value)
    differentiable = [a for a in inputs if isinstance(a, Tensor) and a.requires_grad]
    arrays = [gradients[id(a)] for a in differentiable]
    return make_node(value, _SumOfBlocks(f, blocks, len(args), arrays), inputs)


def _result_dtype(args):
    dtypes = [a.dtype for a in args if isinstance(a, Tensor) and a.dtype.kind == "f"]
    return np.result_type(*dtypes) if dtypes else np.float64
