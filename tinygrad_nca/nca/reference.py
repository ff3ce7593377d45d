"""The paper's closed-form NCA gradient, in plain NumPy: a slow, independent reference.

Goldberger et al. (2004) differentiate f(A) = Σ_i p_i by hand (their eq. 5):

    ∂f/∂A = 2A Σ_i ( p_i Σ_k p_ik x_ik x_ikᵀ − Σ_{j∈C_i} p_ij x_ij x_ijᵀ ),

with x_ij = x_i − x_j, and for g(A) = Σ_i log p_i (their eq. 7):

    ∂g/∂A = 2A Σ_i ( Σ_k p_ik x_ik x_ikᵀ − Σ_{j∈C_i} p_ij x_ij x_ijᵀ / p_i ).

Each term is a D × D outer product, so this costs O(N²D²) — the cost that
backpropagation through the projected form avoids. It shares no code with
:mod:`tinygrad_nca.nca.loss` (not even the engine), so the tests can use it
as an independent check; the benchmarks and the tutorial use it to show the
difference in cost.
"""

from __future__ import annotations

import numpy as np

__all__ = ["nca_loss_and_grad_reference"]


def nca_loss_and_grad_reference(
    A: np.ndarray, X: np.ndarray, y: np.ndarray, objective: str = "expected"
) -> tuple[float, np.ndarray]:
    """The NCA objective (to maximise) and its gradient by the paper's formula.

    Parameters
    ----------
    A : ndarray of shape (d, D)
    X : ndarray of shape (N, D)
    y : array_like of shape (N,)
    objective : {"expected", "log"}
        As in :func:`tinygrad_nca.nca_loss`; for "log", points with no other
        point of their class are left out of the sum.

    Returns
    -------
    value : float
    gradient : ndarray of shape (d, D)

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [3.0, 0.0], [3.0, 1.0]])
    >>> value, gradient = nca_loss_and_grad_reference(np.eye(2), X, [0, 0, 1, 1])
    >>> round(value, 4), gradient.shape
    (3.9982, (2, 2))
    """
    A, X = np.asarray(A, dtype=np.float64), np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    n = X.shape[0]
    value = 0.0
    inner = np.zeros((X.shape[1], X.shape[1]))  # the Σ_i ( … ) of the formula
    for i in range(n):
        x_ik = X[i] - X  # N × D, row k is x_i − x_k
        d_ik = np.sum((x_ik @ A.T) ** 2, axis=1)  # ‖A x_ik‖²
        others = np.arange(n) != i
        same = (y == y[i]) & others
        if not same.any():
            continue  # p_i = 0, and log p_i is left out
        logits = np.where(others, -d_ik, -np.inf)
        p_ik = np.exp(logits - logits.max())
        p_ik /= p_ik.sum()
        all_outer = np.einsum("k,ka,kb->ab", p_ik, x_ik, x_ik)  # Σ_k p_ik x_ik x_ikᵀ
        if objective == "expected":
            p_i = p_ik[same].sum()
            same_outer = np.einsum("k,ka,kb->ab", p_ik * same, x_ik, x_ik)
            value += p_i
            inner += p_i * all_outer - same_outer
        elif objective == "log":
            # p_ij / p_i is a softmax over the classmates alone: no division by
            # a p_i that may have underflowed to 0.
            same_logits = np.where(same, logits, -np.inf)
            q_ij = np.exp(same_logits - same_logits.max())
            value += np.log(q_ij.sum()) + same_logits.max() - _logsumexp(logits)
            q_ij /= q_ij.sum()
            same_outer = np.einsum("k,ka,kb->ab", q_ij, x_ik, x_ik)
            inner += all_outer - same_outer
        else:
            raise ValueError(f"objective must be 'expected' or 'log', got {objective!r}")
    return float(value), 2 * A @ inner


def _logsumexp(v):
    m = v.max()
    return m + np.log(np.sum(np.exp(v - m)))
