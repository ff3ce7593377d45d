"""The methods benchmarked by run.py: tinygrad_nca's, and the peers of peers.py.

Every method is a :class:`Method` whose ``fn(A, X, y)`` returns ``(f, df/dA)`` for the same
objective f(A) = sum_i sum_{j in C_i} p_ij (see peers.py); a forward-only method returns
``(f, None)``. tinygrad_nca's methods are written the way a user would call the library:
``tg.value_and_grad(tg.nca_loss)(A, X, y)``.

Importing this module imports peers.py, which pins the BLAS thread count (run.py sets it first).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import peers


@dataclass(frozen=True)
class Method:
    name: str  # key used on the command line and in the CSV
    label: str  # column title in the tables
    fn: Callable  # fn(A, X, y) -> (f, df/dA or None)
    dtype: type = np.float64  # the dtype A and X are given in
    forward_only: bool = False
    ours: bool = False
    block_size: int | None = None
    cost_model: str | None = None  # "dDN2": slow enough to be projected, not run, at large sizes
    forward: str | None = None  # our forward pass that the ratio "/ our forward" uses


def _ours(block_size, forward_only=False):
    """tinygrad_nca as a user calls it; ``block_size`` None: nca_loss's automatic row blocks,
    "full": the whole N × N matrices at once (one block of N rows), an int: blocks of that."""
    import tinygrad_nca as tg

    def rows(X):
        return len(X) if block_size == "full" else block_size

    if forward_only:

        def forward(A, X, y):
            return float(tg.nca_loss(A, X, y, block_size=rows(X)).value), None

        return forward
    value_and_grad = tg.value_and_grad(tg.nca_loss)

    def loss_and_grad(A, X, y):
        value, gradient = value_and_grad(A, X, y, block_size=rows(X))
        return float(value), gradient

    return loss_and_grad


def _ours_jit(block_size):
    """tinygrad_nca's loss and gradient through tg.jit: traced on the first call (the warm-up),
    then every call replays the recorded NumPy calls (the labels are static)."""
    import tinygrad_nca as tg

    def rows(X):
        return len(X) if block_size == "full" else block_size

    step = tg.jit(
        tg.value_and_grad(lambda A, X, y, rows: tg.nca_loss(A, X, y, block_size=rows)),
        static_argnums=2,
    )

    def loss_and_grad(A, X, y):
        value, gradient = step(A, X, y, rows(X))
        return float(value), gradient

    return loss_and_grad


def all_methods(block_size=None):
    """Every method run.py knows, in table order. tinygrad_nca's default methods use
    ``block_size`` (None: nca_loss's automatic blocks); the "_full" ones the N × N matrices."""
    f32 = np.float32
    blocks = "auto blocks" if block_size is None else f"B={block_size}"
    ours = [
        Method(
            "tg",
            f"tinygrad_nca ({blocks})",
            _ours(block_size),
            ours=True,
            block_size=block_size,
            forward="tg_forward",
        ),
        Method(
            "tg_full",
            "tinygrad_nca full matrix",
            _ours("full"),
            ours=True,
            forward="tg_forward_full",
        ),
        Method(
            "tg_jit",
            f"tinygrad_nca tg.jit ({blocks})",
            _ours_jit(block_size),
            ours=True,
            block_size=block_size,
            forward="tg_forward",
        ),
        Method(
            "tg_jit_full",
            "tinygrad_nca tg.jit full matrix",
            _ours_jit("full"),
            ours=True,
            forward="tg_forward_full",
        ),
        Method(
            "tg_f32",
            f"tinygrad_nca f32 ({blocks})",
            _ours(block_size),
            dtype=f32,
            ours=True,
            block_size=block_size,
            forward="tg_forward_f32",
        ),
        Method(
            "tg_f32_full",
            "tinygrad_nca f32 full matrix",
            _ours("full"),
            dtype=f32,
            ours=True,
            forward="tg_forward_f32_full",
        ),
        Method(
            "tg_forward",
            f"forward only ({blocks})",
            _ours(block_size, True),
            forward_only=True,
            ours=True,
            forward="tg_forward",
        ),
        Method(
            "tg_forward_full",
            "forward only, full matrix",
            _ours("full", True),
            forward_only=True,
            ours=True,
            forward="tg_forward_full",
        ),
        Method(
            "tg_forward_f32",
            f"forward only f32 ({blocks})",
            _ours(block_size, True),
            dtype=f32,
            forward_only=True,
            ours=True,
            forward="tg_forward_f32",
        ),
        Method(
            "tg_forward_f32_full",
            "forward only f32, full matrix",
            _ours("full", True),
            dtype=f32,
            forward_only=True,
            ours=True,
            forward="tg_forward_f32_full",
        ),
    ]
    theirs = [
        Method("sklearn", "scikit-learn", peers.sklearn_loss_grad),
        Method("handtuned", "hand-tuned NumPy", peers.numpy_handtuned_loss_grad),
        Method("jax", "JAX jit", peers.jax_loss_grad),
        Method("autograd", "HIPS autograd", peers.autograd_loss_grad),
        Method("torch", "PyTorch eager", peers.torch_loss_grad),
        Method("eq5", "paper eq. 5", peers.paper_eq5_dDN2_loss_grad, cost_model="dDN2"),
    ]
    return OrderedDict((m.name, m) for m in ours + theirs)


# The peers.py name of each peer (its import requirement and its memory child live there).
PEER_NAMES = {
    "sklearn": "sklearn",
    "handtuned": "numpy_handtuned",
    "jax": "jax",
    "autograd": "autograd",
    "torch": "torch",
    "eq5": "paper_eq5_dDN2",
}


def available(methods):
    """(usable methods, {name: why not}) — a peer whose package does not import is left out."""
    usable, skipped = OrderedDict(), {}
    for name, m in methods.items():  # import only the peers asked for (JAX, torch are slow)
        why = None if m.ours else peers._why_unavailable(PEER_NAMES[name])
        if why is None:
            usable[name] = m
        else:
            skipped[name] = why
    return usable, skipped


def inputs(A, X, dtype):
    """A and X in ``dtype`` (the float64 originals when it is float64)."""
    if dtype == np.float64:
        return A, X
    return A.astype(dtype), X.astype(dtype)
