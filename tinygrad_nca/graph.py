"""Seeing the expression graph: Graphviz text and a cost table.

``to_dot(y)`` draws the graph behind a tensor; ``cost_report(f, *args)`` runs
``f`` forward and backward and counts the floating-point operations of every
node, to show the cheap-gradient principle at work: the reverse sweep costs a
small constant times the forward pass, however many parameters there are.

Flop counts are estimates, not measurements of time: each primitive declares
one (``Primitive.flops``: a matmul costs 2·n·k·m, a reduction its input size,
an elementwise op its output size, a reshape nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .tensor import ArrayLike, Scope, Tensor, backprop, listening, topological_order, value_of

__all__ = ["to_dot", "cost_report", "CostReport", "NodeCost"]


def _describe(node: Tensor) -> str:
    """``input``/``constant`` for a leaf; else the op and the keyword arguments
    that say which one it is (``sum axis=1``, ``softmax where=mask(3, 3)``)."""
    if node._op is None:
        return "input" if node.requires_grad else "constant"
    words = [node._op.name]
    for key, value in node._kwargs.items():
        if value is None or value is False or (key == "where" and value is True):
            continue  # the defaults say nothing
        shown = f"mask{value.shape}" if isinstance(value, np.ndarray) else repr(value)
        words.append(f"{key}={shown}")
    return " ".join(words)


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def to_dot(y: Tensor) -> str:
    """The expression graph behind ``y`` as Graphviz DOT text.

    One node per tensor, labelled with its op (``input`` for a leaf that
    requires a gradient, ``constant`` for one that does not), shape and dtype;
    an edge from each input to the op that consumed it, labelled with the
    argument position when the op has several. Render the text with Graphviz
    (``dot -Tsvg``) or any online viewer; producing it needs nothing but NumPy.

    Parameters
    ----------
    y : Tensor
        The output whose history is drawn: every tensor it was computed from.

    Returns
    -------
    str
        The DOT text. Edges point from inputs to outputs, and ``rankdir=BT``
        draws them bottom to top: inputs at the bottom, the output at the top.

    Raises
    ------
    TypeError
        If ``y`` is not a Tensor (an ndarray has no graph behind it).

    Examples
    --------
    x · x for x = (1, 2): the input is used twice by ``multiply``, once as
    each argument, so two edges labelled 0 and 1 leave it.

    >>> import tinygrad_nca as tg
    >>> x = tg.Tensor([1.0, 2.0], requires_grad=True)
    >>> print(tg.to_dot(tg.sum(x * x)))
    digraph {
      rankdir=BT;
      node [shape=box, fontname="monospace"];
      n0 [label="input\\n(2,) float64"];
      n1 [label="multiply\\n(2,) float64"];
      n2 [label="sum\\n() float64"];
      n0 -> n1 [label="0"];
      n0 -> n1 [label="1"];
      n1 -> n2;
    }
    """
    if not isinstance(y, Tensor):
        raise TypeError(f"to_dot needs a Tensor, got {type(y).__name__}")
    nodes = topological_order(y, constants=True)
    names = {id(node): f"n{i}" for i, node in enumerate(nodes)}
    lines = ["digraph {", "  rankdir=BT;", '  node [shape=box, fontname="monospace"];']
    for node in nodes:
        style = ", style=dashed" if node._op is None and not node.requires_grad else ""
        label = _quote(_describe(node)) + "\\n" + _quote(f"{node.shape} {node.dtype}")
        lines.append(f'  {names[id(node)]} [label="{label}"{style}];')
    for node in nodes:
        inputs = [(i, a) for i, a in enumerate(node._args) if isinstance(a, Tensor)]
        for i, arg in inputs:
            edge_label = f' [label="{i}"]' if len(inputs) > 1 else ""
            lines.append(f"  {names[id(arg)]} -> {names[id(node)]}{edge_label};")
    lines.append("}")
    return "\n".join(lines)


@dataclass
class NodeCost:
    """One row of a :class:`CostReport`: one node of the graph and what it costs.

    A node is one tensor of the expression graph: an input, or the output of
    one op. Its forward cost is what computing it took; its VJP cost is what
    sending the gradient back through it took, that is, the work of
    turning the cotangent of its output into cotangents of its inputs
    (including the additions where a tensor fans out to several ops).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> report = tg.cost_report(lambda x: tg.sum(tg.exp(x)), np.zeros(4))
    >>> row = report.nodes[1]
    >>> row.op, row.shape, row.forward_flops, row.vjp_flops
    ('exp', (4,), 4, 4)
    """

    op: str
    """What the node is: ``input``, or the op's name and the keyword arguments
    that tell it apart (``sum axis=1``)."""
    shape: tuple
    """Shape of the node's value."""
    dtype: np.dtype
    """Dtype of the node's value."""
    forward_flops: int
    """Estimated floating-point operations to compute the node (0 for an input)."""
    vjp_flops: int
    """Floating-point operations counted while its VJP ran in the reverse sweep."""


@dataclass
class CostReport:
    """Flop counts of every node of a graph, forward and reverse.

    Returned by :func:`cost_report`; ``print(report)`` shows it as a table.
    The number to look at is :attr:`ratio`: reverse mode computes the gradient
    of a scalar with respect to *all* its inputs for a small constant times
    the cost of the function, whatever the number of inputs, because each
    op's VJP costs within a small factor of the op itself. Finite differences
    would need one extra evaluation of the function per input instead.

    Examples
    --------
    f(A) = Σ (XA)² for X of shape (5, 3) and A of shape (3, 2): the matmul
    costs 2·5·3·2 = 60 flops forward and its VJP Ā = Xᵀ Z̄ another 60.

    >>> import numpy as np, tinygrad_nca as tg
    >>> X = np.ones((5, 3))
    >>> report = tg.cost_report(lambda A: tg.sum((X @ A) ** 2), np.ones((3, 2)))
    >>> [row.op for row in report.nodes]
    ['input', 'matmul', 'power', 'sum']
    >>> report.forward_flops, report.backward_flops, round(report.ratio, 3)
    (80, 90, 1.125)
    """

    nodes: list
    """One :class:`NodeCost` per node, inputs first (the order of the forward pass).
    Only nodes the reverse sweep visits are listed: constants are left out."""
    forward_flops: int
    """Total of the forward sweep: the sum of the rows' ``forward_flops``."""
    backward_flops: int
    """Total of the reverse sweep: the sum of the rows' ``vjp_flops``."""

    @property
    def ratio(self) -> float:
        """``backward_flops / forward_flops``: the price of the gradient, in units
        of the function's own cost (NaN if the forward pass costs nothing).

        Examples
        --------
        >>> CostReport(nodes=[], forward_flops=40, backward_flops=100).ratio
        2.5
        """
        return self.backward_flops / self.forward_flops if self.forward_flops else float("nan")

    def __str__(self) -> str:
        header = ("#", "op", "shape", "dtype", "forward flops", "VJP flops")
        rows = [
            (str(i), n.op, str(n.shape), str(n.dtype), f"{n.forward_flops:,}", f"{n.vjp_flops:,}")
            for i, n in enumerate(self.nodes)
        ]
        rows.append(("", "total", "", "", f"{self.forward_flops:,}", f"{self.backward_flops:,}"))
        widths = [max(len(r[c]) for r in [header] + rows) for c in range(len(header))]
        right = {0, 4, 5}  # numbers are right-aligned

        def line(row):
            return "  ".join(
                cell.rjust(w) if c in right else cell.ljust(w)
                for c, (cell, w) in enumerate(zip(row, widths, strict=False))
            ).rstrip()

        rule = "-" * len(line(header))
        body = [line(header), rule] + [line(r) for r in rows[:-1]] + [rule, line(rows[-1])]
        body.append(f"backward / forward = {self.ratio:.2f}")
        return "\n".join(body)


def _forward_flops(node: Tensor) -> int:
    """The forward cost of one node, as its op estimates it (0 for an input)."""
    return 0 if node._op is None else node._op.forward_flops(node)


def cost_report(
    f: Callable[..., Any], *args: ArrayLike, argnums: int | Sequence[int] | None = None
) -> CostReport:
    """Count the flops of every node of ``f(*args)``, forward and backward.

    The forward cost of a node is its primitive's estimate. The VJP cost is
    *measured*: the reverse sweep (from a cotangent of ones) runs with a
    listener that is told of every primitive executed, and the ops executed
    while a node's VJP runs (including the additions that accumulate fan-out)
    are charged to that node.

    Parameters
    ----------
    f : callable
        Built from tinygrad_nca operations.
    *args : array_like
        Float arguments become inputs that require a gradient; others pass through.
    argnums : sequence of int, optional
        Which arguments to differentiate (default: every float argument).

    Returns
    -------
    CostReport
        One row per node the reverse sweep visits; ``print`` it for a table.

    Raises
    ------
    ValueError
        If the output of ``f`` does not depend on any differentiated argument.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> X = np.ones((5, 3))
    >>> report = tg.cost_report(lambda A: tg.sum((X @ A) ** 2), np.ones((3, 2)))
    >>> print(report)
    #  op      shape   dtype    forward flops  VJP flops
    ----------------------------------------------------
    0  input   (3, 2)  float64              0          0
    1  matmul  (5, 2)  float64             60         60
    2  power   (5, 2)  float64             10         30
    3  sum     ()      float64             10          0
    ----------------------------------------------------
       total                               80         90
    backward / forward = 1.12
    >>> report.forward_flops, report.backward_flops
    (80, 90)
    """
    inputs: list[Any] = list(args)
    if argnums is None:
        nums = [i for i, a in enumerate(inputs) if np.asarray(value_of(a)).dtype.kind == "f"]
    else:
        nums = [argnums] if isinstance(argnums, int) else list(argnums)
    scope = Scope()
    leaves = [scope.leaf(inputs[i]) for i in nums]
    for i, leaf in zip(nums, leaves, strict=True):
        inputs[i] = leaf
    out = f(*inputs)
    if not isinstance(out, Tensor) or out._op is None:
        raise ValueError("cost_report: f's output does not depend on any differentiated argument")
    nodes = [n for n in topological_order(out) if n.requires_grad]  # what the reverse sweep visits
    vjp_flops = {id(node): 0 for node in nodes}
    current: list[int | None] = [None]

    def enter_node(node):
        # A checkpoint's VJP runs a sweep of its own: its inner nodes are not
        # ours, and their cost stays charged to the checkpoint node.
        if id(node) in vjp_flops:
            current[0] = id(node)

    def count(name, flops):
        if current[0] is not None:
            vjp_flops[current[0]] += int(flops)

    with listening(on_op=count, on_node=enter_node):
        backprop(out, np.ones_like(out.value), leaves)
    rows = [
        NodeCost(_describe(n), n.shape, n.dtype, _forward_flops(n), vjp_flops[id(n)]) for n in nodes
    ]
    return CostReport(rows, sum(r.forward_flops for r in rows), sum(r.vjp_flops for r in rows))
