"""The speed devices behind the table of derivative rules (ops.py).

Every function here computes, with NumPy, exactly what its plain definition
says; each is faster than that definition for a reason measured on this
project's workloads, stated next to it. ops.py calls them as the forward
rules of its primitives. Nothing here records a graph or knows about
derivatives: the derivative of each operation is written in ops.py.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = [
    "ROW_BUFFER",
    "LARGE",
    "row_buffer",
    "plain_row_loops",
    "matmul",
    "kept_shape",
    "LETTERS",
    "masked_sum",
    "sum_of_product",
    "spread",
    "FLUSH_BELOW",
    "flush_tiny",
    "shifted",
    "logsumexp",
    "softmax",
    "log_softmax",
    "softmax_vjp",
    "dot_along",
    "column_runs",
    "range_layout",
    "in_range",
    "softmax_mass",
    "softmax_mass_vjp",
]


def kept_shape(shape, axis):
    """The shape a reduction over ``axis`` has with ``keepdims=True``.

    >>> kept_shape((2, 3, 4), (0, -1))
    (1, 3, 1)
    """
    if axis is None:
        return (1,) * len(shape)
    axes = {a % len(shape) for a in (axis if isinstance(axis, tuple) else (axis,))}
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


# ------------------------------------------------------------------ ufunc buffer size
# NumPy hands a ufunc whose operand is broadcast along short rows (x − m, m of shape (B, 1),
# or a broadcast node's view) to its buffered iterator when a row is shorter than about half
# its buffer of 8192 elements: 2–3× slower per element than a plain loop (measured: 1.3 against
# 0.45 ns per element for rows of 1000–4096; rows of 5000 or more are not affected). A buffer
# of a quarter of a row or less (ROW_BUFFER at most, 128 at least) gives rows of every length
# the plain loop: x − m then x·m, in ns per element with NumPy's 8192 / 1024 / a quarter row,
# 1.01 / 1.03 / 0.81 for rows of 250, 1.02 / 0.98 / 0.65 for 500, 1.01 / 0.63 / 0.62 for
# 1000 (benchmarks/ufunc_buffer.py). Set only around large operations (a few microseconds
# each time), never for the user's whole process.
ROW_BUFFER = 1024
LARGE = 1 << 15


def row_buffer(x):
    """The ufunc buffer size for a large array with rows of x.shape[-1] elements.

    >>> row_buffer(np.zeros((2, 500))), row_buffer(np.zeros((2, 8000)))
    (128, 1024)
    """
    quarter = max(1, x.shape[-1] // 4) if x.ndim else 1
    return int(min(ROW_BUFFER, max(128, 1 << (quarter.bit_length() - 1))))


def plain_row_loops(fun):
    """``fun`` run with NumPy's ufunc buffer at ``ROW_BUFFER`` when an operand is large.

    >>> import numpy as np
    >>> plain_row_loops(lambda x: np.getbufsize())(np.zeros((2, 1 << 15))) == ROW_BUFFER
    True
    """

    def run(x, *args, **kwargs):
        large = x if getattr(x, "size", 0) >= LARGE else args[0] if args else None
        if getattr(large, "size", 0) < LARGE:
            return fun(x, *args, **kwargs)
        previous = np.setbufsize(row_buffer(large))
        try:
            return fun(x, *args, **kwargs)
        finally:
            np.setbufsize(previous)

    run.__name__, run.__doc__ = getattr(fun, "__name__", "ufunc"), fun.__doc__
    # run.__wrapped__ = fun: what it computes (tg.jit passes a ufunc's out= through it); set
    # by update_wrapper, told to copy nothing else (run keeps the name and doc set above)
    functools.update_wrapper(run, fun, assigned=(), updated=())
    return run


# ------------------------------------------------------------------ matrix product
def matmul(a, b):
    """``np.matmul(a, b)``, with tall, narrow float64 products done transposed.

    OpenBLAS's dgemm is 1.2–2× faster with the long dimension on the right, so a
    tall, narrow float64 product (N × N times N × d, as in a VJP) is computed as
    (bᵀaᵀ)ᵀ: the same product, as a transposed view. (sgemm: no gain, measured.)

    >>> import numpy as np
    >>> matmul(np.eye(2), np.ones((2, 1)))
    array([[1.],
           [1.]])
    """
    if (
        a.ndim == 2
        and b.ndim == 2
        and a.dtype == b.dtype == np.float64
        and a.shape[0] >= 4 * b.shape[1]
        and a.size >= 1 << 16
    ):
        return np.matmul(b.T, a.T).T
    return np.matmul(a, b)


# ------------------------------------------------------------------ masked sums
LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def masked_sum(x, axis=None, keepdims=False, where=True):
    """``np.sum(x, axis, keepdims=keepdims, where=where)``, a masked sum by einsum.

    Σ x·mask in one einsum: NumPy's where= reductions are several times slower.
    x·0 = 0 unless x is inf or NaN there; then take the exact masked sum.

    >>> import numpy as np
    >>> float(masked_sum(np.arange(4.0), where=np.array([True, False, True, False])))
    2.0
    """
    if where is not True and 0 < x.ndim <= len(LETTERS):
        total = sum_of_product(x, np.broadcast_to(where, x.shape), axis, keepdims)
        if np.all(np.isfinite(total)):
            return total
    return np.sum(x, axis=axis, keepdims=keepdims, where=where)


def sum_of_product(x, mask, axis, keepdims):
    """Σ x∘mask along ``axis`` by ``np.einsum``, with no x∘mask temporary.

    >>> import numpy as np
    >>> sum_of_product(np.ones((2, 3)), np.eye(2, 3), 1, False)
    array([1., 1.])
    """
    subscripts = LETTERS[: x.ndim]
    reduced = (
        set(range(x.ndim))
        if axis is None
        else {a % x.ndim for a in (axis if isinstance(axis, tuple) else (axis,))}
    )
    kept = "".join(c for i, c in enumerate(subscripts) if i not in reduced)
    total = np.einsum(f"{subscripts},{subscripts}->{kept}", x, mask)
    return np.reshape(total, kept_shape(x.shape, axis)) if keepdims else total


def spread(g, shape, where):
    """g broadcast to ``shape`` and 0 outside the mask: the VJP of a masked sum, made
    as the mask cast to g's dtype (times g unless g is 1), faster than np.where.

    >>> import numpy as np
    >>> spread(np.array([2.0]), (3,), np.array([True, False, True]))
    array([2., 0., 2.])
    """
    if not np.all(np.isfinite(g)):  # inf·0 would be NaN: outside the mask stays 0
        return np.where(where, np.broadcast_to(g, shape), 0.0).astype(g.dtype, copy=False)
    out = np.broadcast_to(where, shape).astype(g.dtype)
    if not np.all(g == 1):
        out *= g
    return out


# ------------------------------------------------------------------ softmax family
# All three take an optional boolean ``where`` mask: masked entries take no part,
# get probability exactly 0 and cotangent exactly 0, even when a whole row is
# masked out. Shifting by the (masked) row maximum keeps exp from overflowing.
# Masked entries are set to −inf *before* the maximum and exp, so exp makes them
# exactly 0 and no ``where=`` reduction is needed (NumPy's masked reductions are
# several times slower than plain ones); each op allocates one array of x's size.
def shifted(x, axis, where, flush=True):
    """(x − m, m): m the maximum along ``axis`` over the unmasked entries (0 for an
    empty or all −inf row), x − m in a fresh array with −inf at masked entries (and,
    with ``flush``, at entries too small to matter, see flush_tiny).

    >>> import numpy as np
    >>> shifted(np.array([1.0, 3.0]), -1, True)
    (array([-2.,  0.]), array([3.]))
    """
    if where is True:
        t = None
        m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    else:
        t = np.where(where, x, -np.inf).astype(x.dtype, copy=False)
        m = np.max(t, axis=axis, keepdims=True, initial=-np.inf)
    m = np.where(np.isfinite(m), m, 0.0).astype(x.dtype, copy=False)
    if t is None:
        t = np.asarray(np.subtract(x, m))  # (an array even for a 0-d x: written into below)
    else:
        t -= m
    if flush:
        flush_tiny(t, x, m, axis)
    return t, m


# exp of a very negative number is a subnormal float, and arithmetic on subnormals
# is 10–100× slower on x86 (a matrix product full of them: ~100×, measured), which
# a fitted NCA embedding produces in quantity. A term below 2^20 × the smallest
# normal number (1e-32 in float32, 2e-302 in float64) changes a sum of exponentials
# that holds exp(0) = 1 far less than rounding does, so its exponent is set to −inf
# (exp gives exactly 0). One cheap read of x first tells whether any row needs it.
FLUSH_BELOW = {
    np.dtype(t): float(np.log(np.finfo(t).tiny)) + 20 * float(np.log(2.0))
    for t in (np.float32, np.float64)
}


def flush_tiny(t, x, m, axis):
    """Set to −inf, in place, the entries of t = x − m below ``FLUSH_BELOW``.

    >>> import numpy as np
    >>> t = np.array([0.0, -800.0])
    >>> flush_tiny(t, t, np.zeros(1), -1); t
    array([  0., -inf])
    """
    floor = FLUSH_BELOW.get(t.dtype)
    if floor is None or t.size == 0:
        return
    if np.all(np.min(x, axis=axis, keepdims=True) - m >= floor):
        return
    np.putmask(t, t < floor, -np.inf)


@plain_row_loops
def logsumexp(x, axis=None, keepdims=False, where=True):
    """log Σ exp(x) along ``axis`` over the entries where ``where`` holds (−inf if none).

    >>> import numpy as np
    >>> float(logsumexp(np.zeros(4)))   # log 4
    1.3862943611198906
    """
    e, m = shifted(x, axis, where)
    with np.errstate(over="ignore"):
        s = np.sum(np.exp(e, out=e), axis=axis, keepdims=True)
    with np.errstate(divide="ignore"):
        out = np.log(s) + m
    return out if keepdims else np.squeeze(out, axis=axis)


@plain_row_loops
def softmax(x, axis=-1, where=True):
    """exp(x) / Σ exp(x) along ``axis``, over the entries where ``where`` holds.

    >>> import numpy as np
    >>> softmax(np.zeros(2))
    array([0.5, 0.5])
    """
    e, _ = shifted(x, axis, where)
    with np.errstate(over="ignore"):
        np.exp(e, out=e)
    s = np.sum(e, axis=axis, keepdims=True)
    e *= 1.0 / np.where(s > 0, s, 1.0)  # one division per row, not per entry
    return e


@plain_row_loops
def log_softmax(x, axis=-1, where=True):
    """x − logsumexp(x) along ``axis``; masked entries are −inf (log of probability 0).

    >>> import numpy as np
    >>> np.exp(log_softmax(np.zeros(2)))
    array([0.5, 0.5])
    """
    t, _ = shifted(x, axis, where, flush=False)  # log p itself is the output
    with np.errstate(over="ignore"):
        s = np.sum(np.exp(t), axis=axis, keepdims=True)
    t -= np.log(np.where(s > 0, s, 1.0))  # a fully masked row stays −inf, not NaN
    return t


# The softmax VJP runs in one array: ḡ's own when the reverse sweep lets it
# (see tensor.overwritable), so an N × N softmax VJP needs no new N × N array.
@plain_row_loops
def softmax_vjp(g, p, axis=-1, where=True, overwrite=False):
    """x̄ = p ∘ (ḡ − Σ ḡ∘p) along ``axis``, the VJP of p = softmax(x), written into
    ḡ's buffer if ``overwrite``.

    p is exactly 0 at masked entries, so a finite ḡ needs no masking: x̄ is 0
    there. Masked outputs are constants, so a NaN or inf ḡ there (log of a masked
    0 downstream) must not count: it makes Σ ḡ∘p non-finite, and only then is ḡ
    masked first.

    >>> import numpy as np
    >>> softmax_vjp(np.array([1.0, 0.0]), np.array([0.5, 0.5]))
    array([ 0.25, -0.25])
    """
    s = dot_along(g, p, axis)
    masked = where is not True and not np.all(np.isfinite(s))
    if masked:
        g, overwrite = np.where(where, g, 0.0).astype(p.dtype, copy=False), True
        s = dot_along(g, p, axis)
    into = g if overwrite and g.shape == p.shape and g.dtype == p.dtype else None
    out = np.subtract(g, s, out=into)
    out *= p
    if masked and not np.all(np.isfinite(s)):
        out = np.where(where, out, 0.0)  # an inf in a row: (0 − s)·0 would be NaN
    return out


def dot_along(a, b, axis):
    """Σ a∘b along ``axis`` (keepdims), without an a∘b temporary for one axis.

    >>> import numpy as np
    >>> dot_along(np.ones((2, 3)), np.ones((2, 3)), 1)
    array([[3.],
           [3.]])
    """
    if not isinstance(axis, int):
        return np.sum(a * b, axis=axis, keepdims=True)
    if axis % a.ndim != a.ndim - 1:
        a, b = np.moveaxis(a, axis, -1), np.moveaxis(b, axis, -1)
    return np.expand_dims(np.einsum("...i,...i->...", a, b), axis)


# ------------------------------------------------------------------ the mass of a range
# p_i = Σ_{start_i ≤ j < stop_i} softmax(x_i)_j, the probability a softmax row puts on a range
# of columns (NCA with the points sorted by class: the classmates of a point are one range).
# Fused for the reason PyTorch fuses log_softmax with the NLL loss: composed of softmax and a
# masked sum, the loss and its gradient take about 12 passes over the B × N matrix (the mask
# is read twice, the cotangent spread, Σ ḡ∘p recomputed); here they take 5, as many as a
# gradient derived by hand: max, subtract, exp, row sum (forward), one scaling (VJP), since
# x̄_ij = ḡ_i p_ij ([start_i ≤ j < stop_i] − p_i) needs no Σ ḡ∘p: it is ḡ_i p_i.
# Consecutive rows with the same range share one slice (a few runs when sorted by class).
RUNS_FOR_SLICES = 64  # more runs than this: a boolean mask of the ranges is faster
SLICES_FROM = 1 << 14  # and below this many entries: fewer, larger NumPy calls win


def column_runs(start, stop):
    """The runs of consecutive rows with the same column range: (first row, end row,
    start, stop) for each.

    >>> column_runs(np.array([0, 0, 2]), np.array([2, 2, 3]))
    [(0, 2, 0, 2), (2, 3, 2, 3)]
    """
    if start.size == 0:
        return []
    cuts = np.flatnonzero((start[1:] != start[:-1]) | (stop[1:] != stop[:-1])) + 1
    firsts = np.concatenate([[0], cuts]).tolist()
    ends = np.concatenate([cuts, [start.size]]).tolist()
    return [(a, b, int(start[a]), int(stop[a])) for a, b in zip(firsts, ends, strict=True)]


def range_layout(start, stop, n):
    """How the kernels below find the ranges start_i ≤ j < stop_i of a (rows, n) matrix:
    a list of runs (see column_runs) to take as slices, or, for a small matrix or many
    runs, the boolean mask of the ranges.

    >>> range_layout(np.array([0, 0]), np.array([1, 1]), 2)
    array([[ True, False],
           [ True, False]])
    """
    runs = column_runs(start, stop)
    if len(runs) <= RUNS_FOR_SLICES and start.size * n >= SLICES_FROM:
        return runs
    return in_range(start, stop, n)


def in_range(start, stop, n):
    """The boolean mask start_i ≤ j < stop_i of a (rows, n) matrix.

    >>> in_range(np.array([1]), np.array([3]), 4)
    array([[False,  True,  True, False]])
    """
    columns = np.arange(n)
    return (columns >= start[:, None]) & (columns < stop[:, None])


@plain_row_loops
def softmax_mass(x, start, stop, exclude=None, overwrite=False, layout=None):
    """(p, (e, s)): p_i = Σ_{start_i ≤ j < stop_i} softmax(x_i)_j for every row of the
    matrix x, where column ``exclude[i]`` of row i (if given) takes no part, and what
    the VJP reuses: e = exp(x − row max) (0 at the excluded entries) and s = Σ_j e_ij.
    Written into x's buffer if ``overwrite``; ``layout``: ``range_layout(start, stop,
    n)`` if the caller has it.

    >>> p, _ = softmax_mass(np.zeros((2, 3)), np.array([0, 1]), np.array([1, 3]))
    >>> p
    array([0.33333333, 0.66666667])
    """
    fresh = not (overwrite and x.flags.c_contiguous and x.flags.writeable)
    e = np.array(x, dtype=np.result_type(x.dtype, np.float16)) if fresh else x
    step = 1 + e.shape[0] // 16  # the rows sampled for the subnormal flush (below)
    lowest = np.min(e[::step], axis=1, initial=np.inf, keepdims=True)
    if exclude is not None:
        e[np.arange(e.shape[0]), exclude] = -np.inf
    m = np.max(e, axis=1, keepdims=True, initial=-np.inf)
    m[~np.isfinite(m)] = 0.0  # an empty or all −inf row: exp gives 0s, not NaN
    e -= m
    _flush_sampled(e, lowest - m[::step])
    with np.errstate(over="ignore"):
        np.exp(e, out=e)
    s = np.sum(e, axis=1)
    layout = range_layout(start, stop, e.shape[1]) if layout is None else layout
    if isinstance(layout, np.ndarray):
        inside = np.sum(e * layout, axis=1)
    else:
        inside = np.zeros_like(s)
        for a, b, lo, hi in layout:  # (the ufunc's own method: np.sum's Python costs µs)
            np.add.reduce(e[a:b, lo:hi], axis=1, out=inside[a:b])
    return inside / np.where(s > 0, s, 1.0), (e, s)


def _flush_sampled(t, sampled_lows):
    """The subnormal flush of flush_tiny on t = x − max, decided on a sample of rows (the
    lowest entry of each sampled row, minus its max): a fitted NCA embedding has tiny terms
    in most rows or none, and a row missed costs speed only. (A left-out entry that was the
    lowest asks for a flush that was not needed: a pass, no harm.)"""
    floor = FLUSH_BELOW.get(t.dtype)
    if floor is not None and np.any(sampled_lows < floor):
        np.putmask(t, t < floor, -np.inf)


@plain_row_loops
def softmax_mass_vjp(g, p, e, s, start, stop, overwrite=False, layout=None):
    """x̄ = ḡ_i p_ij ([start_i ≤ j < stop_i] − p_i), the VJP of :func:`softmax_mass`
    from what its forward pass saved (p_ij = e_ij / s_i), written into e's buffer if
    ``overwrite``.

    >>> p, (e, s) = softmax_mass(np.zeros((1, 2)), np.array([0]), np.array([1]))
    >>> softmax_mass_vjp(np.ones(1), p, e, s, np.array([0]), np.array([1]))
    array([[ 0.25, -0.25]])
    """
    c = g / np.where(s > 0, s, 1.0)  # ḡ_i / s_i: p_ij ḡ_i = e_ij c_i
    outside, inside = (-c * p)[:, None], (c * (1 - p))[:, None]
    out = e if overwrite else np.empty_like(e)
    layout = range_layout(start, stop, e.shape[1]) if layout is None else layout
    if isinstance(layout, np.ndarray):
        return np.multiply(e, np.where(layout, inside, outside), out=out)
    for a, b, lo, hi in layout:  # each row block in three column slices
        np.multiply(e[a:b, :lo], outside[a:b], out=out[a:b, :lo])
        np.multiply(e[a:b, lo:hi], inside[a:b], out=out[a:b, lo:hi])
        np.multiply(e[a:b, hi:], outside[a:b], out=out[a:b, hi:])
    return out
