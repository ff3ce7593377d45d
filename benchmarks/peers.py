"""Peer implementations of the NCA objective and its gradient, for benchmarking tinygrad_nca.

Every method computes the SAME quantity, the expected number of correctly classified points of
Goldberger et al. (NIPS 2004):

    f(A) = sum_i sum_{j in C_i} p_ij,    p_ij = exp(-|A x_i - A x_j|^2) / sum_{k != i} exp(-|A x_i - A x_k|^2),

with p_ii = 0 and C_i = {j != i : y_j = y_i}.  A has shape (d, D), X has shape (N, D).
Each method is a function (A, X, y) -> (f: float, df/dA: ndarray (d, D)); the value is +f (not the
negated loss an optimiser would minimise).  Every method subtracts the row maximum of the logits
before exponentiating, with the diagonal excluded (-inf), so the methods stay finite for any A.

Use:  from peers import PEERS, available_methods, make_data, time_call, peak_extra_memory
      (make_data returns (X, y, A); the methods take (A, X, y).)
CLI:  python peers.py --selftest            agreement check + timing table
      python peers.py --memory NAME N D d   peak extra RSS of one call (used by peak_extra_memory)
"""

import os

# One thread for every BLAS / OpenMP pool, unless the caller chose otherwise.  This only has an
# effect if it runs before numpy (or torch, jax) is first imported in the process.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)

import importlib
import json
import subprocess
import sys
import time
from collections import OrderedDict

import numpy as np

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "XLA_FLAGS")


# ----------------------------------------------------------------------------------------- data
def make_data(n, D, d, n_classes=10, seed=0, dtype=np.float64):
    """Synthetic Gaussian blobs: X (n, D) standardised per feature, y (n,) ints in [0, n_classes),
    and an initial A (d, D) with entries N(0, 1/(D d)).  A standardised x then has projected
    coordinates of variance ~1/d, so squared projected distances are O(1) (median ~2 at D=64,
    d=32): the softmax is neither one-hot nor uniform.  (A ~ N(0, 1/D) would give distances ~2d.)"""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 1.0, size=(n_classes, D))
    y = rng.integers(0, n_classes, size=n)
    X = centres[y] + rng.normal(0.0, 1.5, size=(n, D))
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    A = rng.normal(0.0, 1.0 / np.sqrt(D * d), size=(d, D))
    return X.astype(dtype), y, A.astype(dtype)


# Masks depend only on y, which is fixed during an optimisation; scikit-learn's estimator also
# builds its mask once per fit.  So each method builds its label-derived inputs once per y object.
_CACHE = {}


def _per_labels(tag, y, build):
    hit = _CACHE.get(tag)
    if hit is None or hit[0] is not y:  # holding y keeps its id from being reused
        hit = _CACHE[tag] = (y, build(y))
    return hit[1]


def _same_class(y):
    return _per_labels("numpy_mask", y, lambda y: y[:, None] == y[None, :])


# ------------------------------------------------------------------------------------- methods
def sklearn_loss_grad(A, X, y):
    """scikit-learn's own function, the one its estimator hands to L-BFGS-B:
    NeighborhoodComponentsAnalysis._loss_grad_lbfgs(self, transformation, X, same_class_mask,
    sign=1.0) -> (sign * f, sign * ravel(df/dA)).  fit() passes sign=-1.0; we pass +1.0."""
    est = _per_labels("sklearn_est", None, lambda _: _sklearn_estimator())  # one instance
    loss, grad = est._loss_grad_lbfgs(A.ravel(), X, _same_class(y), 1.0)
    return float(loss), grad.reshape(A.shape)


def _sklearn_estimator():
    from sklearn.neighbors import NeighborhoodComponentsAnalysis

    est = NeighborhoodComponentsAnalysis(verbose=0)
    est.n_iter_ = 1  # n_iter_ == 0 makes the function print a header (when verbose) and count
    return est


def paper_eq5_loss_grad(A, X, y):
    """Goldberger et al. eq. 5, literally, with D x D outer products of x_ik = x_i - x_k:
        df/dA = 2 A sum_i ( p_i sum_k p_ik x_ik x_ik^T  -  sum_{j in C_i} p_ij x_ij x_ij^T ).
    Loops over i; each step is O(N D^2), so the whole is O(N^2 D^2).  A slow reference."""
    n, D = X.shape
    S = np.zeros((D, D))
    loss = 0.0
    for i in range(n):
        Xi = X[i] - X  # rows are x_ik
        Zi = Xi @ A.T
        logits = -np.einsum("kd,kd->k", Zi, Zi)
        logits[i] = -np.inf
        logits -= logits.max()
        p = np.exp(logits)
        p /= p.sum()
        same = y == y[i]  # includes k = i, harmless since p_ii = 0
        p_i = p[same].sum()
        loss += p_i
        all_k = (Xi * p[:, None]).T @ Xi
        Xc = Xi[same]
        in_class = (Xc * p[same][:, None]).T @ Xc
        S += p_i * all_k - in_class
    return float(loss), 2.0 * A @ S


def paper_eq5_dDN2_loss_grad(A, X, y):
    """Eq. 5 again, with the factor A taken inside the sum so no D x D matrix is ever formed:
        df/dA = 2 sum_i sum_k w_ik (A x_ik) x_ik^T,   w_ik = p_i p_ik - [k in C_i] p_ik.
    Per point i: x_ik (N x D), A x_ik (N x d) and one (d x N)(N x D) product, O(dDN); so
    O(dDN^2) in all -- the cheapest way to evaluate the closed form, still a factor D above the
    O(dN^2 + dDN) of differentiating the projected objective."""
    n = X.shape[0]
    G = np.zeros_like(A)
    loss = 0.0
    for i in range(n):
        Xi = X[i] - X  # rows are x_ik
        Zi = Xi @ A.T  # rows are A x_ik
        logits = -np.einsum("kd,kd->k", Zi, Zi)
        logits[i] = -np.inf
        logits -= logits.max()
        p = np.exp(logits)
        p /= p.sum()
        same = y == y[i]  # includes k = i, harmless since p_ii = 0
        p_i = p[same].sum()
        loss += p_i
        w = p_i * p - np.where(same, p, 0.0)
        G += (Zi * w[:, None]).T @ Xi
    return float(loss), 2.0 * G


def numpy_handtuned_loss_grad(A, X, y):
    """Hand-tuned NumPy: everything in projected space, one N x N buffer reused in place.

    With Z = X A^T, d_ij = |z_i - z_j|^2 and W_ij = p_ij ([j in C_i] - p_i):
        df/dd_ij = -W_ij,  so  df/dZ = 2 (W + W^T - diag(colsum W)) Z   (rowsum W = 0),
        df/dA = (df/dZ)^T X.                                    Cost O(d N^2 + d D N).
    Tricks (each saves a pass over N x N):
      * logits_ij = -d_ij + |z_i|^2 = 2 z_i.z_j - |z_j|^2: the row constant |z_i|^2 cancels in the
        softmax, and the rest is one matmul [2Z, 1] @ [Z, -|z|^2]^T;
      * rows are sorted by class (f and df/dA do not depend on the order of the points), so the
        same-class mask is a set of diagonal blocks and W is formed by scaling row blocks in place;
      * the softmax normalisation 1/s_i is folded into that scaling; W^T Z and colsum W come from
        one matmul [Z, 1]^T W.
    """
    order = np.argsort(y, kind="stable")
    ys, Xs = y[order], X[order]
    n = len(ys)
    cuts = np.flatnonzero(ys[1:] != ys[:-1]) + 1
    blocks = list(zip(np.r_[0, cuts], np.r_[cuts, n], strict=False))

    Z = Xs @ A.T
    sq = np.einsum("nd,nd->n", Z, Z)
    ones = np.ones((n, 1))
    L = np.hstack([2.0 * Z, ones]) @ np.hstack([Z, -sq[:, None]]).T  # logits, then E, then W
    np.fill_diagonal(L, -np.inf)
    L -= L.max(axis=1, keepdims=True)
    np.exp(L, out=L)  # E_ij = exp(logit_ij - max_i); p_ij = E_ij / s_i
    s = L.sum(axis=1)
    p = np.empty(n)
    for a, b in blocks:
        p[a:b] = L[a:b, a:b].sum(axis=1) / s[a:b]
    for a, b in blocks:  # W_ij = E_ij / s_i * ([j in C_i] - p_i)
        off = (-p[a:b] / s[a:b])[:, None]
        L[a:b, :a] *= off
        L[a:b, a:b] *= ((1.0 - p[a:b]) / s[a:b])[:, None]
        L[a:b, b:] *= off
    # Work with (df/dZ)^T = Z^T W^T + Z^T W - Z^T diag(colsum W): OpenBLAS is faster on a wide
    # right operand, and Z^T W and colsum W come out of one matmul [Z, 1]^T W.
    ZtW = np.vstack([Z.T, ones.T]) @ L
    dZt = Z.T @ L.T
    dZt += ZtW[:-1]
    dZt -= ZtW[-1] * Z.T
    return float(p.sum()), 2.0 * (dZt @ Xs)


def autograd_loss_grad(A, X, y):
    """HIPS autograd (reverse mode over numpy), written as a user would: Gram-form distances,
    -inf diagonal, explicit max-subtracted softmax, masked sum."""
    import autograd.numpy as anp
    from autograd import value_and_grad

    same = _same_class(y)
    eye = _per_labels("eye", y, lambda y: np.eye(len(y), dtype=bool))

    def f(A):
        Z = anp.dot(X, A.T)
        sq = anp.sum(Z * Z, axis=1)
        dist = sq[:, None] + sq[None, :] - 2.0 * anp.dot(Z, Z.T)
        logits = anp.where(eye, -anp.inf, -dist)
        logits = logits - anp.max(logits, axis=1, keepdims=True)
        E = anp.exp(logits)
        P = E / anp.sum(E, axis=1, keepdims=True)
        return anp.sum(P * same)

    loss, grad = value_and_grad(f)(A)
    return float(loss), np.asarray(grad)


def torch_loss_grad(A, X, y):
    """PyTorch eager, CPU, float64.  torch.softmax subtracts the row max internally."""
    import torch

    Xt = _per_labels("torch_X", X, torch.from_numpy)  # zero-copy view of X
    same = _per_labels("torch_mask", y, lambda y: torch.from_numpy(_same_class(y)))
    At = torch.tensor(A, requires_grad=True)
    Z = Xt @ At.T
    sq = (Z * Z).sum(dim=1)
    dist = sq[:, None] + sq[None, :] - 2.0 * (Z @ Z.T)
    logits = (-dist).fill_diagonal_(float("-inf"))
    P = torch.softmax(logits, dim=1)
    loss = (P * same).sum()
    loss.backward()
    return float(loss.item()), At.grad.numpy()


def _jax_value_and_grad():
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)

    def f(A, X, y):
        Z = X @ A.T
        sq = jnp.sum(Z * Z, axis=1)
        dist = sq[:, None] + sq[None, :] - 2.0 * (Z @ Z.T)
        logits = jnp.where(jnp.eye(X.shape[0], dtype=bool), -jnp.inf, -dist)
        P = jax.nn.softmax(logits, axis=1)  # subtracts the (stop-gradient) row max
        return jnp.sum(jnp.where(y[:, None] == y[None, :], P, 0.0))

    return jax.jit(jax.value_and_grad(f))


def _jax_inputs(A, X, y):
    import jax.numpy as jnp

    vg = _per_labels("jax_fn", None, lambda _: _jax_value_and_grad())
    Xj = _per_labels("jax_X", X, jnp.asarray)  # X and y stay on the device, as in a fit
    yj = _per_labels("jax_y", y, jnp.asarray)
    return vg, jnp.asarray(A), Xj, yj


def jax_loss_grad(A, X, y):
    """JAX: jax.jit(jax.value_and_grad(f)), float64.  The first call at a new shape compiles
    (see jax_compile_seconds); time_call's warm-up absorbs it."""
    vg, Aj, Xj, yj = _jax_inputs(A, X, y)
    loss, grad = vg(Aj, Xj, yj)
    return float(loss), np.asarray(grad)


def jax_compile_seconds(A, X, y):
    """Seconds to trace + compile the JAX function ahead of time for these shapes (no run)."""
    vg, *args = _jax_inputs(A, X, y)
    t = time.perf_counter()
    vg.lower(*args).compile()
    return time.perf_counter() - t


PEERS = OrderedDict(
    [
        ("sklearn", sklearn_loss_grad),
        ("numpy_handtuned", numpy_handtuned_loss_grad),
        ("jax", jax_loss_grad),
        ("autograd", autograd_loss_grad),
        ("torch", torch_loss_grad),
        ("paper_eq5", paper_eq5_loss_grad),
        ("paper_eq5_dDN2", paper_eq5_dDN2_loss_grad),
    ]
)
_REQUIRES = {"sklearn": "sklearn", "jax": "jax", "autograd": "autograd", "torch": "torch"}


def _why_unavailable(name):
    """None if the peer `name` can run here, else the reason (its package failed to import)."""
    try:
        if name in _REQUIRES:
            importlib.import_module(_REQUIRES[name])
        return None
    except Exception as e:  # ImportError, or a broken install
        return f"{type(e).__name__}: {e}"


def available_methods():
    """OrderedDict name -> fn of the peers whose packages import here (in PEERS order)."""
    return OrderedDict((k, fn) for k, fn in PEERS.items() if _why_unavailable(k) is None)


def unavailable_methods():
    """dict name -> reason, for the peers that cannot run here."""
    return {k: why for k in PEERS if (why := _why_unavailable(k)) is not None}


# ---------------------------------------------------------------------------------- measuring
def time_call(fn, *args, repeats=5, warmup=1):
    """Wall-clock seconds (time.perf_counter) of `repeats` calls of fn(*args), after `warmup`
    untimed calls."""
    for _ in range(warmup):
        fn(*args)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t)
    return times


def status_kb(field):
    """A field of /proc/self/status in kB (VmRSS: resident now, VmHWM: the peak)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _measure_memory_here(name, n, D, d):
    """Child side of peak_extra_memory: prints one JSON line."""
    import gc
    import resource

    fn = PEERS[name]
    X, y, A = make_data(50, D, d, seed=1)
    fn(A, X, y)  # imports, caches, first-call overheads at a tiny size
    X, y, A = make_data(n, D, d)
    if name == "jax":  # compile at the real shape first, and run that executable
        vg, *args = _jax_inputs(A, X, y)
        compiled = vg.lower(*args).compile()
        fn = lambda A, X, y: tuple(map(np.asarray, compiled(*_jax_inputs(A, X, y)[1:])))
    gc.collect()
    try:  # "5" resets VmHWM to the current RSS (Linux >= 4.0)
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        how, base = "VmHWM", status_kb("VmRSS")
    except OSError:
        how, base = "ru_maxrss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fn(A, X, y)
    peak = (
        status_kb("VmHWM") if how == "VmHWM" else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    )
    extra = max(peak - base, 0) * 1024
    print(
        json.dumps(
            {
                "method": name,
                "n": n,
                "D": D,
                "d": d,
                "bytes": extra,
                "nxn_matrices": extra / (8.0 * n * n),
                "how": how,
            }
        )
    )


def peak_extra_memory(method_name, n, D, d, env=None):
    """Peak RSS increase of ONE loss+gradient call of `method_name` on make_data(n, D, d), run in
    a fresh subprocess, over the RSS just before the call (after imports, data creation and a
    warm-up at a tiny size; JAX is compiled ahead of time at the real shape).  Returns a dict with
    'bytes' and 'nxn_matrices' (units of one N x N float64 matrix, 8 N^2 bytes).  `env` adds
    variables for the child (e.g. glibc MALLOC_* tuning)."""
    child_env = dict(os.environ, **(env or {}))
    out = subprocess.run(
        [
            sys.executable,
            os.path.abspath(__file__),
            "--memory",
            method_name,
            str(n),
            str(D),
            str(d),
        ],
        env=child_env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------- selftest
def _rel(a, b):
    return float(np.max(np.abs(np.asarray(a) - b)) / max(np.max(np.abs(b)), 1e-300))


def selftest(tol=1e-8):
    print("threads: " + ", ".join(f"{v}={os.environ.get(v)}" for v in THREAD_VARS))
    methods = available_methods()
    for name, why in unavailable_methods().items():
        print(f"skipped {name}: {why}")
    X, y, A = make_data(300, 20, 5)
    ref_name = "paper_eq5"
    ref_loss, ref_grad = methods[ref_name](A, X, y)
    print(
        f"\nagreement at N=300 D=20 d=5 vs {ref_name} (f = {ref_loss:.12g}, |grad|max = "
        f"{np.abs(ref_grad).max():.3g}):"
    )
    ok = True
    for name, fn in methods.items():
        loss, grad = fn(A, X, y)
        assert grad.shape == A.shape, (name, grad.shape)
        el, eg = abs(loss - ref_loss) / abs(ref_loss), _rel(grad, ref_grad)
        good = el < tol and eg < tol
        ok &= good
        print(
            f"  {name:16s} loss rel err {el:.1e}   grad rel err {eg:.1e}   {'ok' if good else 'FAIL'}"
        )

    big = 300.0 * A  # squared distances ~1e5: exp would underflow to 0/0 without the max shift
    finite = [k for k, fn in methods.items() if all(np.isfinite(v).all() for v in fn(big, X, y))]
    ok &= len(finite) == len(methods)
    print(f"  stability at 300*A: finite in {len(finite)}/{len(methods)} methods")

    n, D, d = 1000, 64, 32
    X, y, A = make_data(n, D, d)
    print(f"\ntimes at N={n} D={D} d={d}, one loss+gradient, median of 5 after 1 warm-up:")
    if "jax" in methods:
        print(
            f"  jax ahead-of-time compile: {jax_compile_seconds(A, X, y) * 1e3:.0f} ms (not in the table)"
        )
    rows = {}
    for name, fn in methods.items():
        reps = 1 if name.startswith("paper_eq5") else 5
        rows[name] = np.array(time_call(fn, A, X, y, repeats=reps, warmup=0 if reps == 1 else 1))
    base = np.median(rows["sklearn"]) if "sklearn" in rows else None
    print(f"  {'method':16s} {'median':>10s} {'min':>10s} {'max':>10s} {'/sklearn':>9s}")
    for name, t in rows.items():
        ratio = f"{np.median(t) / base:9.2f}" if base else ""
        print(
            f"  {name:16s} {np.median(t) * 1e3:8.1f}ms {t.min() * 1e3:8.1f}ms {t.max() * 1e3:8.1f}ms {ratio}"
        )
    print("\nselftest " + ("passed" if ok else "FAILED"))
    return ok


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "--selftest":
        sys.exit(0 if selftest() else 1)
    elif len(sys.argv) == 6 and sys.argv[1] == "--memory":
        _measure_memory_here(sys.argv[2], *map(int, sys.argv[3:]))
    else:
        print(__doc__)
        sys.exit(2)
