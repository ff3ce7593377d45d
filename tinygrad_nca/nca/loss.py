"""The NCA objective, written with engine operations only.

Neighbourhood Components Analysis (Goldberger et al., 2004) learns a linear map
A (d × D). In the projected space z = Ax every point i picks a neighbour j ≠ i
with probability

    p_ij = exp(−‖z_i − z_j‖²) / Σ_{k≠i} exp(−‖z_i − z_k‖²),

and is classified correctly with probability p_i = Σ_{j ∈ C_i} p_ij, where C_i
are the other points of i's class. The objectives are

    f(A) = Σ_i p_i          ("expected": the expected number of points right)
    g(A) = Σ_i log p_i      ("log": a log-likelihood).

There is no derivative code here: the gradient comes from backpropagation
through these operations. Projecting first (Z = X Aᵀ, then everything in
d-space) keeps the forward pass at O(dDN + dN²), and the reverse sweep costs
about the same — not the O(dD²N²) of the paper's closed-form gradient with
its D × D outer products (see :mod:`tinygrad_nca.nca.reference`).

For the "expected" objective the points are sorted by class first, so that
the classmates of a point are one range of columns, and p_i is
:func:`~tinygrad_nca.softmax_mass` of that range: a softmax and a masked sum
fused into one primitive of the op table, whose VJP (written there, beside
softmax's) needs one pass over the N × N matrix instead of four. The sum is
the same function of A as the composition; the "log" objective and traced
labels use the composition itself.
"""

from __future__ import annotations

import functools
import numbers
from concurrent.futures import Executor
from typing import Literal

import numpy as np

from .. import ops as tg
from ..blockwise import check_executor, resolve_n_jobs, sum_of_blocks
from ..errors import ShapeError
from ..jit import is_traced
from ..tensor import ArrayLike, Tensor, as_tensor, primitive, value_of

__all__ = ["nca_loss", "encode_labels"]

OBJECTIVES = ("expected", "log")
DISTANCES = ("gram", "broadcast")
AUTO_BLOCK_PAIRS = 1 << 21  # pairs (i, j) per row block when block_size is None


def nca_loss(
    A: ArrayLike,
    X: ArrayLike,
    y: ArrayLike,
    objective: Literal["expected", "log"] = "expected",
    distance: Literal["gram", "broadcast"] = "gram",
    block_size: int | None = None,
    n_jobs: int | None = None,
    executor: Executor | None = None,
) -> Tensor:
    r"""The NCA objective f(A) = Σ_i p_i (or Σ_i log p_i), to be *maximised*.

    Parameters
    ----------
    A : array_like or Tensor of shape (d, D)
        The linear map; row k is the k-th projection direction.
    X : array_like or Tensor of shape (N, D)
        The data, one point per row.
    y : array_like of shape (N,)
        Class labels of any type (they are encoded to 0..C−1).
    objective : {"expected", "log"}
        "expected": f = Σ_i p_i, the expected number of points a stochastic
        nearest-neighbour rule classifies correctly (the paper's eq. 3).
        "log": g = Σ_i log p_i (the paper's eq. 6), computed stably as
        log Σ_{j∈C_i} exp(−d_ij) − log Σ_{j≠i} exp(−d_ij). A point with no
        other point of its class has p_i = 0: it adds 0 to "expected" and is
        left out of the "log" sum (log 0 = −inf would swamp every other term).
        Such points still serve as neighbours of the others.
    distance : {"gram", "broadcast"}
        How the squared distances d_ij = ‖z_i − z_j‖² are formed.
        "gram" (default) expands ‖z_i‖² + ‖z_j‖² − 2 z_iᵀz_j: one matrix
        product, O(N²) memory. "broadcast" subtracts z_i − z_j for every pair,
        the formula as written, O(N²d) memory: the teaching form.
    block_size : int, optional
        Evaluate the sum over i in blocks of this many points with
        :func:`~tinygrad_nca.sum_of_blocks`, which differentiates each block
        as soon as it is computed and frees its graph: peak memory
        O(block_size · N) instead of O(N²), and no forward pass is repeated.
        The value and gradient equal the full computation's (up to rounding).
        None (default): blocks of about 2 million pairs (``AUTO_BLOCK_PAIRS``,
        16 MB per block-sized float64 matrix), one block — the full N × N
        matrices — below about 1,450 points. Measured on one core, blocks of
        that size are as fast as the full matrices or faster (they stay in
        cache, and the allocator reuses their memory) at a small fraction of
        the memory. ``block_size >= N`` asks for the full matrices.
    n_jobs : int, optional
        Threads computing row blocks at the same time (see
        :func:`~tinygrad_nca.sum_of_blocks`): None means 1, -1 every core,
        -2 all but one. The blocks are the same whatever ``n_jobs`` is, and
        their sums are added in block order, so the value and gradient are
        bit-identical for every ``n_jobs``. With one block (fewer than about
        1,450 points and ``block_size=None``) there is nothing to share out.
        Set the BLAS to one thread per job (``OMP_NUM_THREADS=1``).
    executor : concurrent.futures.Executor, optional
        Compute the row blocks there instead: a ``ProcessPoolExecutor``, or
        a Dask cluster's ``distributed.Client(...).get_executor()``. Each task
        is sent the projected data Z (N × d, small) and one block's rows, and
        returns the block's value and the cotangent of Z; the gradient
        Ā = Z̄ᵀX is formed here, so X never travels. A remote block should be
        large enough to be worth sending Z for: pass a larger ``block_size``
        (a few hundred rows or more). Give ``n_jobs`` or ``executor``, not both.

    Returns
    -------
    Tensor
        A scalar, in the dtype of Z = X Aᵀ (float32 inputs stay float32).

    Notes
    -----
    Only differences of logits within a row matter to p_ij (softmax is
    invariant to a per-row shift), so the Gram form drops the row constant
    ‖z_i‖² and uses the logits 2 z_iᵀz_j − ‖z_j‖² = −d_ij + ‖z_i‖². This
    removes an N×N operation and, with it, the slightly negative distances that
    cancellation produces in ‖z_i‖² + ‖z_j‖² − 2 z_iᵀz_j — nothing to clip.
    The logits come from a single product of augmented matrices,
    [2Z_rows, −1] · [Z, ‖z‖²]ᵀ. The diagonal (j = i) is excluded by a mask,
    never by an infinite distance, so no inf − inf can arise.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [3.0, 0.0], [3.0, 1.0]])
    >>> y = np.array([0, 0, 1, 1])
    >>> A = np.eye(2)
    >>> round(float(tg.nca_loss(A, X, y).value), 4)   # each point's nearest is its classmate
    3.9982
    >>> value, gradient = tg.value_and_grad(tg.nca_loss)(A, X, y)
    >>> gradient.shape
    (2, 2)
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
    A, X = as_tensor(A), as_tensor(X)
    traced_labels = is_traced(y)
    if traced_labels:
        # Under tg.jit with the labels as an input of the program (mini-batches: one
        # program per batch shape), nothing may depend on their values outside the
        # engine's operations: every point is a row, and the class masks are primitives.
        codes = _check_traced_labels(A, X, y)
    else:
        codes = _check_shapes(A, X, y)
        # the smallest integer type for the codes: comparing uint8 to build the class mask
        # of a block is several times faster than comparing int64
        codes = codes.astype(np.min_scalar_type(int(codes.max(initial=0))))
    if block_size is not None and (
        isinstance(block_size, bool)
        or not isinstance(block_size, numbers.Integral)
        or block_size < 1
    ):
        raise ValueError(f"block_size must be a positive integer or None, got {block_size!r}")
    resolve_n_jobs(n_jobs)  # bad values fail here, not only with several blocks
    check_executor(executor, n_jobs)

    Z = tg.matmul(X, tg.transpose(A))  # project first: N × d
    n = Z.shape[0]
    # f and its gradient do not depend on the order of the points. Sorted by class, the
    # classmates of a point are one range of columns, and p_i is the softmax mass of that
    # range (tg.softmax_mass: no N × N masks, and its VJP one pass). The log objective keeps
    # the masked log-sum-exp form, which stays finite when p_i underflows.
    by_class = objective == "expected" and not traced_labels
    ranges = None
    if by_class:
        order = np.argsort(codes, kind="stable")
        if np.any(order != np.arange(n)):
            Z, codes = Z[order], codes[order]
        ranges = (np.searchsorted(codes, codes, "left"), np.searchsorted(codes, codes, "right"))
    # Points without a classmate contribute nothing to either objective (see
    # above), so they are never rows; they remain columns (neighbours).
    rows = np.arange(n) if traced_labels else np.flatnonzero(np.bincount(codes)[codes] >= 2)
    # The columns' half of the Gram-form logits, shared by every block.
    columns = None
    if distance == "gram":
        columns = tg.concatenate([Z, tg.reshape(tg.sum(Z * Z, axis=1), (n, 1))], axis=1)

    if block_size is None:  # "broadcast" holds B × N × d entries per block, not B × N
        per_pair = Z.shape[1] if distance == "broadcast" else 1
        block_size = max(1, AUTO_BLOCK_PAIRS // (n * per_pair))
    blocks = _row_blocks(rows, n, block_size)
    if not blocks:  # no point has a classmate: the objective is identically 0
        return tg.sum(Z, where=np.zeros(Z.shape, dtype=bool))
    if len(blocks) == 1:
        if by_class:
            return _block_mass(Z, columns, blocks[0], ranges, distance)
        return _block_objective(Z, columns, blocks[0], codes, objective, distance)
    # The loss is a sum over row blocks, so each block is differentiated as soon
    # as it is computed and its graph dropped: memory of one block, no second
    # forward pass (see sum_of_blocks). A partial of a module-level function,
    # not a closure, so that it pickles for processes and clusters.
    block_objective = (
        functools.partial(_block_mass, ranges=ranges, distance=distance)
        if by_class
        else functools.partial(
            _block_objective, codes=codes, objective=objective, distance=distance
        )
    )
    return sum_of_blocks(
        block_objective, Z, columns, blocks=blocks, n_jobs=n_jobs, executor=executor
    )


def _block_mass(Z, columns, index, ranges, distance):
    """Σ over the rows ``index`` of p_i, the points sorted by class: the classmates of
    point i are the columns ``ranges[0][i] ≤ j < ranges[1][i]`` (i itself left out)."""
    row_ids = np.arange(Z.shape[0])[index]
    logits = _logits(Z, columns, index, distance)  # −d_ij (+ row constant)
    start, stop = ranges[0][row_ids], ranges[1][row_ids]
    return tg.sum(tg.softmax_mass(logits, start, stop, exclude=row_ids))


def _block_objective(Z, columns, index, codes, objective, distance):
    """Σ over the rows ``index`` of p_i (or log p_i), against all N columns."""
    n = Z.shape[0]
    row_ids = np.arange(n)[index]
    diagonal = (np.arange(row_ids.size), row_ids)  # the entries (i, i)
    others = np.ones((row_ids.size, n), dtype=bool)
    others[diagonal] = False  # j ≠ i
    same = _same_class(codes, row_ids, objective == "log").value  # j ∈ C_i
    logits = _logits(Z, columns, index, distance)  # −d_ij (+ row constant)
    if objective == "expected":
        p = tg.softmax(logits, axis=1, where=others)
        return tg.sum(p, where=same)
    log_p = tg.logsumexp(logits, axis=1, where=same) - tg.logsumexp(logits, axis=1, where=others)
    return tg.sum(log_p)


@primitive(name="same_class")
def _same_class(codes, row_ids, log_objective):
    """The mask j ∈ C_i (same class, j ≠ i) of rows ``row_ids`` against every column.

    A row with no classmate is all False; for the "log" objective it becomes the
    mask j ≠ i instead, so that its log p_i = logsumexp − logsumexp of the same
    entries is exactly 0, as is its gradient (such rows are not rows at all unless
    the labels are traced by tg.jit, see nca_loss). A primitive on the codes, so
    that tg.jit records it when the labels are an input of its program.
    """
    same = codes[None, :] == codes[row_ids][:, None]
    diagonal = (np.arange(row_ids.size), row_ids)
    same[diagonal] = False
    if log_objective:
        lonely = ~same.any(axis=1)
        if lonely.any():
            same[lonely] = True
            same[np.flatnonzero(lonely), row_ids[lonely]] = False
    return same


def _logits(Z, columns, index, distance):
    """Row-wise −d_ij up to a per-row constant (block rows × all columns)."""
    whole = isinstance(index, slice) and index.indices(Z.shape[0]) == (0, Z.shape[0], 1)
    Zb = Z if whole else Z[index]  # one block of all rows: no gather needed
    if distance == "broadcast":
        diff = tg.expand_dims(Zb, 1) - tg.expand_dims(Z, 0)  # B × N × d
        return -tg.sum(diff * diff, axis=2)
    minus_ones = np.full((Zb.shape[0], 1), -1.0, dtype=Zb.dtype)
    rows = tg.concatenate([Zb * 2, minus_ones], axis=1)  # [2 z_i, −1]
    return tg.matmul(rows, tg.transpose(columns))  # 2 z_iᵀz_j − ‖z_j‖²


def _row_blocks(rows, n, block_size):
    """Split the row indices into blocks; contiguous runs become slices (cheap
    to index and to scatter back), anything else an index array."""
    if rows.size == 0:
        return []
    size = int(block_size)
    blocks = []
    for start in range(0, rows.size, size):
        chunk = rows[start : start + size]
        if chunk[-1] - chunk[0] + 1 == chunk.size:
            blocks.append(slice(int(chunk[0]), int(chunk[-1]) + 1))
        else:
            blocks.append(chunk)
    return blocks


def encode_labels(y: ArrayLike) -> np.ndarray:
    """Labels of any type as integer codes 0..C−1 (in sorted label order)."""
    y = np.asarray(value_of(y))
    if y.ndim != 1:
        raise ShapeError(f"nca_loss: y must be a 1-D array of labels, got shape {y.shape}")
    return np.unique(y, return_inverse=True)[1].ravel()


def _check_traced_labels(A, X, y):
    """The labels as they are (numbers: tg.jit traces them), after the shape checks."""
    labels = value_of(y)
    if labels.ndim != 1:
        raise ShapeError(f"nca_loss: y must be a 1-D array of labels, got shape {labels.shape}")
    _check_shapes(A, X, np.zeros(labels.shape[0], dtype=np.int8))
    return labels


def _check_shapes(A, X, y):
    if A.ndim != 2:
        raise ShapeError(f"nca_loss: A must be a 2-D (d, D) matrix, got shape {A.shape}")
    if X.ndim != 2:
        raise ShapeError(f"nca_loss: X must be a 2-D (N, D) matrix, got shape {X.shape}")
    if A.shape[1] != X.shape[1]:
        raise ShapeError(
            f"nca_loss: A has shape {A.shape} but X has shape {X.shape}: "
            f"A needs one column per feature of X ({X.shape[1]})"
        )
    codes = encode_labels(y)
    if codes.shape[0] != X.shape[0]:
        raise ShapeError(f"nca_loss: y has {codes.shape[0]} labels but X has {X.shape[0]} rows")
    return codes
