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

The terms are independent, so they can also be computed at the same time: on a
pool of threads (``n_jobs``; NumPy releases the GIL inside its loops), or on
any :class:`concurrent.futures.Executor` (``executor``: processes, a Dask
cluster). Each task receives the inputs' arrays and one block, and sends back
the block's value and the cotangents of the inputs; the caller adds them up in
block order, so the result does not depend on how many workers there were.
"""

from __future__ import annotations

import contextlib
import numbers
import os
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Executor
from typing import Any

import numpy as np

from .tensor import (
    Op,
    Scope,
    Tensor,
    as_tensor,
    backprop,
    count_flops,
    current_recorder,
    detect_anomaly,
    enable_grad,
    is_detecting_anomalies,
    is_grad_enabled,
    make_node,
    no_grad,
    observed,
    primitive,
    silenced,
)

__all__ = ["sum_of_blocks"]


class _SumOfBlocks(Op):
    """The op behind :func:`sum_of_blocks`; it keeps ∂(Σ_b f_b)/∂inputs from the forward pass.

    The node's inputs are f's ``n_args`` arguments followed by the differentiable
    tensors f closed over; ``gradients`` holds one array per differentiable input.
    """

    def __init__(
        self, f: Callable[..., Any], blocks: list[Any], n_args: int, gradients: list[np.ndarray]
    ) -> None:
        self.f, self.blocks, self.n_args, self.gradients = f, blocks, n_args, gradients
        inner = getattr(f, "func", f)  # a functools.partial (nca_loss's) is named by its function
        name = getattr(inner, "__name__", type(f).__name__)
        self.name = f"sum_of_blocks({name}, {len(blocks)} blocks)"

    def backward(
        self, g: Tensor, node: Tensor, needed: set[int]
    ) -> Iterator[tuple[Tensor, Tensor]]:
        inputs = [a for a in node._args if isinstance(a, Tensor) and a.requires_grad]
        if not is_grad_enabled() and not observed():
            # A plain reverse sweep: the gradient is already known.
            for arg, gradient in zip(inputs, self.gradients, strict=False):
                if id(arg) in needed:
                    yield arg, g * gradient
            return
        # A recorded sweep (second derivatives), or one whose cost is being measured
        # (cost_report): differentiate each term again, on the node's own inputs.
        recording = is_grad_enabled()
        totals: list[Tensor | None] = [None] * len(inputs)
        for block in self.blocks:
            with silenced(), enable_grad():  # rebuilding the term is not the VJP's work
                term = as_tensor(self.f(*node._args[: self.n_args], block))
            for k, ct in enumerate(backprop(term, g, inputs, create_graph=recording)):
                previous = totals[k]
                totals[k] = ct if previous is None else previous + ct
        yield from (
            (arg, total)
            for arg, total in zip(inputs, totals, strict=False)
            if id(arg) in needed and total is not None
        )

    def forward_flops(self, node: Tensor) -> int:
        return sum(count_flops(self.f, *node._args[: self.n_args], block) for block in self.blocks)


def sum_of_blocks(
    f: Callable[..., Any],
    *args: Any,
    blocks: Iterable[Any],
    n_jobs: int | None = None,
    executor: Executor | None = None,
) -> Tensor:
    r"""Σ_b f(*args, b) over ``blocks``, differentiated block by block.

    For a sum f(x) = Σ_b f_b(x), the gradient is ∇f(x) = Σ_b ∇f_b(x): each
    term is evaluated and differentiated on its own, its graph dropped, and
    only the running sums of the values and of the gradients are kept.

    Parameters
    ----------
    f : callable
        ``f(*args, block)`` returns a scalar Tensor: the term of one block.
        ``block`` is whatever ``blocks`` holds (a slice of rows, say). To run
        on processes or a cluster ``f`` must pickle: a module-level function
        or a :func:`functools.partial` of one, not a lambda or nested function
        (Dask's cloudpickle also accepts those).
    *args : Tensor or array_like
        The inputs. ``f`` may also close over differentiable tensors: each block
        notes which ones it used, and they get their gradient too (not with an
        ``executor``: a task in another process holds copies, so pass such
        tensors as arguments there).
    blocks : iterable
        The blocks, e.g. ``[slice(0, 500), slice(500, 1000)]``.
    n_jobs : int, optional
        Threads computing blocks at the same time. None means 1 (the calling
        thread does everything); -1 means one per core, -2 all cores but one,
        and so on (joblib's convention: cores + 1 + n_jobs). Never more threads
        than blocks. Set the BLAS to one thread (``OMP_NUM_THREADS=1`` or
        ``threadpoolctl``) when using several, or they compete for the cores.
    executor : concurrent.futures.Executor, optional
        Run the blocks there instead: a ``ProcessPoolExecutor``, a Dask
        ``Client(...).get_executor()``, …. Each task is sent the arrays of
        ``args`` and one block, and returns that block's value and
        cotangents, so a remote worker needs only ``args`` (keep them small:
        pass the projected data, not the raw data). The executor is used, not
        shut down. Give ``n_jobs`` or ``executor``, not both.

    Returns
    -------
    Tensor
        The scalar sum. Its gradient with respect to ``args`` was accumulated
        while the sum was computed, so peak memory is that of one block's graph
        per worker, plus the cotangents of the blocks that have finished but
        wait for an earlier block (at most two per worker; 32 blocks for an
        executor that does not say how many workers it has, such as Dask's).

    Raises
    ------
    ValueError
        If ``blocks`` is empty, a term is not a scalar, or ``n_jobs`` is not a
        nonzero integer (or None), or both ``n_jobs`` and ``executor`` are given,
        or ``f`` run by an ``executor`` closes over a differentiable tensor.
    TypeError
        If ``executor`` is not a :class:`concurrent.futures.Executor`, or ``f``
        cannot be pickled for a ``ProcessPoolExecutor``.

    Notes
    -----
    The values and gradients of the blocks are added in block order, whatever
    order the workers finish in: with the same arrays every ``n_jobs`` gives a
    bit-identical result (floating-point addition is not associative, so
    adding in completion order would not). Where the tasks run in other
    processes the result may differ in the last bits if their BLAS differs.

    The engine's switches (``no_grad``, ``detect_anomaly``, listeners) are per
    thread: the tasks record and differentiate whatever the calling thread's
    ``no_grad`` says, and ``detect_anomaly`` is passed on to them. While
    listeners are counting ops (:func:`~tinygrad_nca.cost_report`), the blocks
    run in the calling thread so that every op is counted.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> x = np.arange(6.0)
    >>> halves = [slice(0, 3), slice(3, 6)]
    >>> tg.grad(lambda x: tg.sum_of_blocks(lambda x, b: tg.sum(x[b] ** 2), x, blocks=halves))(x)
    array([ 0.,  2.,  4.,  6.,  8., 10.])

    Two threads, the same bits:

    >>> def term(x, b):
    ...     return tg.sum(tg.exp(x[b]) * x[b])
    >>> blocks = [slice(i, i + 2) for i in range(0, 6, 2)]
    >>> one, two = (tg.grad(lambda x: tg.sum_of_blocks(term, x, blocks=blocks, n_jobs=n))(x)
    ...             for n in (1, 2))
    >>> bool(np.array_equal(one, two))
    True
    """
    blocks = list(blocks)
    if not blocks:
        raise ValueError("sum_of_blocks: no blocks given")
    workers = resolve_n_jobs(n_jobs)
    check_executor(executor, n_jobs)
    if executor is not None and current_recorder() is not None:
        raise ValueError(
            "sum_of_blocks: tg.jit cannot trace blocks run by an executor (their "
            "operations happen in other processes); leave executor=None under a jit"
        )
    if executor is not None:
        _check_picklable(f, executor)
    record = is_grad_enabled()
    positions = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
    # What a task receives: arrays, never tensors (a tensor would carry its graph
    # to another process), and which of them to rebuild as tensors / leaves.
    values = tuple(a.value if isinstance(a, Tensor) else a for a in args)
    tensors = tuple(i for i, a in enumerate(args) if isinstance(a, Tensor))
    wanted = tuple(positions) if record else ()
    fixed = (f, values, tensors, wanted, record, executor is None, is_detecting_anomalies())

    # gradients: ("arg", position) or ("captured", id of the tensor) -> summed array.
    # The sums are primitives, so that tg.jit records them as steps of its program.
    total = np.zeros((), np.float64)
    gradients: dict[tuple[str, int], np.ndarray] = {}
    captured: dict[int, Tensor] = {}
    with contextlib.closing(_results(fixed, blocks, workers, executor)) as results:
        for term, cts, outside in results:
            total = _running_sum(total, term).value  # in float64, whatever the dtype
            for t, _ in outside:
                captured.setdefault(id(t), t)
            keys = [("arg", i) for i in wanted] + [("captured", id(t)) for t, _ in outside]
            for key, ct in zip(keys, cts + [ct for _, ct in outside], strict=True):
                gradients[key] = ct if key not in gradients else _plus(gradients[key], ct).value
            del cts, outside  # this block's cotangents are freed here
    value = _to_dtype(total, _result_dtype(args)).value
    if not wanted and not captured:
        return Tensor(value)
    inputs = tuple(args) + tuple(captured.values())
    arrays = [gradients["arg", i] for i in wanted] + [
        gradients["captured", key] for key in captured
    ]
    return make_node(value, _SumOfBlocks(f, blocks, len(args), arrays), inputs)


def block_term(f, values, tensors, wanted, record, local, anomaly, block):
    """One block: ``(value, [cotangents of the wanted inputs], [(captured tensor, cotangent)])``.

    The task that :func:`sum_of_blocks` runs, in the calling thread, a worker
    thread or another process; module-level so that it pickles. ``values`` are
    the inputs (arrays); those at ``tensors`` become Tensors, leaves requiring
    a gradient at ``wanted``. With ``record`` the term is differentiated, also
    with respect to the differentiable tensors ``f`` closes over, which only a
    ``local`` task (same process) can hand back. ``anomaly`` runs the block under
    :func:`~tinygrad_nca.detect_anomaly` (the switch is per thread, so the
    caller's does not reach a worker).
    """
    scope = Scope()  # before the leaves: what is older than it came from outside
    args = list(values)
    for i in tensors:
        args[i] = Tensor(values[i], requires_grad=i in wanted)
    leaves = [args[i] for i in wanted]
    with detect_anomaly() if anomaly else contextlib.nullcontext():
        with enable_grad() if record else no_grad():
            term = as_tensor(f(*args, block))
        if term.size != 1:
            raise ValueError(f"sum_of_blocks: f must return a scalar, got shape {term.shape}")
        if not record:
            return term.value, [], []
        order, outside = scope.outside(term, leaves)
        if outside and not local:
            raise ValueError(
                "sum_of_blocks: f closes over a differentiable tensor (shape "
                f"{outside[0].shape}); a task run by an executor holds a copy of "
                "it, so pass it to sum_of_blocks as an argument instead"
            )
        if not leaves and not outside:
            return term.value, [], []
        cts = [
            ct.value
            for ct in backprop(term, np.ones_like(term.value), leaves + outside, order=order)
        ]
        return term.value, cts[: len(leaves)], list(zip(outside, cts[len(leaves) :], strict=True))


# The running sums of sum_of_blocks (on arrays: no graph, they are not differentiated).
# The value is summed in float64, as Python floats would be, whatever the terms' dtype.
_running_sum = primitive(
    lambda total, term: np.add(total, term, dtype=np.float64),
    name="running_sum",
    flops=lambda *a, **k: 1,
)
_plus = primitive(np.add, name="add")
_to_dtype = primitive(
    lambda x, dtype: np.asarray(x, dtype=dtype), name="asarray", flops=lambda *a, **k: 0
)


def resolve_n_jobs(n_jobs: int | None) -> int:
    """The number of workers ``n_jobs`` asks for (scikit-learn's / joblib's meaning).

    None → 1; k > 0 → k; k < 0 → cores + 1 + k (−1: every core), at least 1.

    >>> resolve_n_jobs(None), resolve_n_jobs(3)
    (1, 3)
    >>> resolve_n_jobs(-1) == available_cores()
    True
    """
    if n_jobs is None:
        return 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0:
        raise ValueError(
            f"n_jobs must be a nonzero integer or None (-1: every core), got {n_jobs!r}"
        )
    if n_jobs > 0:
        return int(n_jobs)
    return max(available_cores() + 1 + int(n_jobs), 1)


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def check_executor(executor: Any, n_jobs: int | None = None) -> None:
    """A clear error for an ``executor`` that is not a concurrent.futures.Executor,
    or that comes with ``n_jobs`` too (None passes)."""
    if executor is None:
        return
    import concurrent.futures  # stdlib, but only needed here

    if not isinstance(executor, concurrent.futures.Executor):
        raise TypeError(
            f"executor must be a concurrent.futures.Executor (a ThreadPoolExecutor, "
            f"ProcessPoolExecutor, or a Dask Client(...).get_executor()), got "
            f"{type(executor).__name__}"
        )
    if n_jobs is not None:
        raise ValueError(
            f"give n_jobs or executor, not both (got n_jobs={n_jobs!r} and an "
            f"executor, which decides the parallelism itself)"
        )


def _check_picklable(f, executor):
    import concurrent.futures

    if isinstance(executor, concurrent.futures.ProcessPoolExecutor):
        import pickle

        try:  # fail here with a message, not later inside the pool with pickle's
            pickle.dumps(f)
        except Exception as err:
            raise TypeError(
                f"sum_of_blocks: f cannot be sent to another process ({err}); "
                "pass a module-level function, or functools.partial of one, "
                "not a lambda or a nested function"
            ) from None


# Blocks submitted and not yet consumed, when the executor does not say how many
# workers it has (a Dask cluster's): enough to keep a small cluster busy, few
# enough that their cotangents, waiting for an earlier block, fit in memory.
_IN_FLIGHT = 32


# block_term's arguments but the last: (f, values, tensors, wanted, record, local, anomaly)
_Fixed = tuple[Any, Any, Any, Any, Any, Any, Any]


def _results(
    fixed: _Fixed, blocks: list[Any], workers: int, executor: Any
) -> Generator[Any, None, None]:
    """An iterator of ``block_term(*fixed, block)`` for every block, in block order."""
    if executor is None and (
        workers == 1 or len(blocks) == 1 or observed() or current_recorder() is not None
    ):  # (a jit sees this thread only)
        return (block_term(*fixed, block) for block in blocks)
    if executor is not None:
        known = getattr(executor, "_max_workers", None)  # the standard library's pools
        return _in_order(executor, fixed, blocks, 2 * known if known else _IN_FLIGHT)
    return _on_threads(fixed, blocks, min(workers, len(blocks)))


def _on_threads(fixed, blocks, workers):
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(workers, "sum_of_blocks") as pool:
        results = _in_order(pool, fixed, blocks, 2 * workers)
        try:
            yield from results
        finally:
            results.close()  # cancel what has not started before the pool shuts down


def _in_order(executor, fixed, blocks, window):
    """Submit the blocks, at most ``window`` ahead of the one being consumed, and
    yield their results in block order (not completion order: see sum_of_blocks)."""
    pending, remaining = [], iter(blocks)
    try:
        while True:
            for block in remaining:
                pending.append(executor.submit(block_term, *fixed, block))
                if len(pending) >= window:
                    break
            if not pending:
                return
            yield pending.pop(0).result()
    finally:
        for future in pending:
            future.cancel()


def _result_dtype(args):
    dtypes = [a.dtype for a in args if isinstance(a, Tensor) and a.dtype.kind == "f"]
    return np.result_type(*dtypes) if dtypes else np.float64
