# %% [markdown]
# # 2. The NCA gradient at the cost of the function
#
# Neighbourhood Components Analysis (Goldberger, Roweis, Hinton and Salakhutdinov, 2004) learns a
# linear map A (d × D) under which a *stochastic* nearest-neighbour classifier does well. In the
# projected space z = Ax, point i picks a neighbour j ≠ i with probability
#
# $$ p_{ij} = \frac{\exp(-\lVert Ax_i - Ax_j\rVert^2)}{\sum_{k \ne i} \exp(-\lVert Ax_i - Ax_k\rVert^2)},
#    \qquad p_{ii} = 0, $$
#
# it is classified correctly with probability pᵢ = Σ_{j ∈ Cᵢ} pᵢⱼ (Cᵢ: the other points of its
# class), and NCA maximises the expected number of points classified correctly, f(A) = Σᵢ pᵢ.
#
# The paper differentiates f by hand (its equation 5). Writing xᵢⱼ = xᵢ − xⱼ,
#
# $$ \frac{\partial f}{\partial A} = 2A \sum_i \Big( p_i \sum_k p_{ik}\, x_{ik} x_{ik}^\top
#    - \sum_{j \in C_i} p_{ij}\, x_{ij} x_{ij}^\top \Big). $$
#
# Every term is a D × D outer product, one per *pair* of points: evaluated as written, the
# gradient costs O(N²D²), far more than the function itself. This project computes the gradient
# differently: it writes f with engine operations — project first (Z = XAᵀ), then distances,
# softmax and a masked sum in the small d-dimensional space — and lets backpropagation produce the
# gradient. The reverse sweep costs a small constant times the forward pass, so the gradient costs
# O(dDN + dN²), like f. In this tutorial we
#
# 1. check that both give the same gradient;
# 2. read the cost of every node of the NCA graph with `cost_report`;
# 3. see why the *order* of operations in f matters (project first, or subtract first);
# 4. measure time against N and D, on a log-log plot.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
from _tutorial import save, setup

import tinygrad_nca as tg
from tinygrad_nca.nca.reference import nca_loss_and_grad_reference

SMALL, OUT = setup("02_nca_gradient_cost")
rng = np.random.default_rng(0)


def problem(N, D, d=4, classes=5):
    """Random data, labels and a small random map A."""
    X = rng.normal(size=(N, D))
    y = rng.integers(0, classes, size=N)
    A = rng.normal(size=(d, D)) / np.sqrt(D)
    return A, X, y


# %% [markdown]
# ## 1. Same gradient, two routes
#
# `tg.nca_loss(A, X, y)` builds f from engine operations; `value_and_grad` runs it forward and
# backward. `nca_loss_and_grad_reference` is the paper's formula in plain NumPy, sharing no code
# with the engine. They agree to rounding error:

# %%
A, X, y = problem(N=60, D=8)
value, gradient = tg.value_and_grad(tg.nca_loss)(A, X, y)
ref_value, ref_gradient = nca_loss_and_grad_reference(A, X, y)
relative = np.abs(gradient - ref_gradient).max() / np.abs(ref_gradient).max()
print(f"f(A): engine {float(value):.12f}, paper {ref_value:.12f}")
print(f"largest gradient difference, relative: {relative:.1e}")
assert np.isclose(value, ref_value, rtol=1e-12) and relative < 1e-10

# %% [markdown]
# ## 2. The cost of every node
#
# `tg.cost_report(f, A)` runs f forward and backward and lists every node of the graph with its
# forward flops (from each primitive's estimate: a matrix product of n × k by k × m costs 2nkm) and
# the flops its VJP *actually executed* during the reverse sweep. Here N = 60, D = 10, d = 3:

# %%
N, D, d = 60, 10, 3
A, X, y = problem(N, D, d)
report = tg.cost_report(lambda A: tg.nca_loss(A, X, y), A)
print(report)
assert 1 <= report.ratio <= 3

# %% [markdown]
# Read the table from the top:
#
# - the first `matmul`, of shape (60, 3), is the projection Z = XAᵀ: 2·N·D·d flops, the only node
#   that touches D. Its VJP (Ā = Z̄ᵀX — the rule B̄ = C̄ᵀA of
#   [tutorial 1](01_reverse_mode_from_scratch.md)) costs the same.
# - the `matmul` of shape (60, 60) forms every logit −‖zᵢ − zⱼ‖² (up to a per-row constant) as one
#   N × N matrix product in d-space: 2·N²·(d + 1) flops; its VJP is two such products, one for each
#   operand.
# - the softmax and the masked sum are O(N²), and so are their VJPs — the softmax VJP reuses the
#   probabilities p it computed, as exp reuses its output.
#
# In total the forward pass costs O(dDN + dN²) and the backward pass a small multiple of it.
# We can check the D part exactly: growing D adds 2·N·d flops per feature to the projection, and
# the same to its VJP, and nothing anywhere else.


# %%
def flops(N, D, d, fn=None):
    A, X, y = problem(N, D, d)
    loss = fn or tg.nca_loss
    r = tg.cost_report(lambda A: loss(A, X, y), A)
    return r.forward_flops, r.backward_flops


f_small, b_small = flops(60, 10, 3)
f_large, b_large = flops(60, 30, 3)
print(
    f"D 10 -> 30: forward +{f_large - f_small:,} flops, backward +{b_large - b_small:,}; "
    f"2·N·d·ΔD = {2 * 60 * 3 * 20:,}"
)
assert f_large - f_small == b_large - b_small == 2 * 60 * 3 * 20

# %% [markdown]
# ## 3. Why projecting first matters
#
# Backpropagation gives the gradient at the cost of *the function as you wrote it*. The same f can
# be written by subtracting first, in D-space, and projecting every difference afterwards:
#
# $$ d_{ij} = \lVert A(x_i - x_j) \rVert^2 , $$
#
# which is the paper's formula: N² differences of D numbers, each multiplied by A, O(dDN²) —
# and its backward pass, built from the same operations, costs the same. Both forms give the same
# number; only the cost differs.


# %%
def nca_loss_subtract_first(A, X, y):
    """f(A) with the distances formed in D-space: X_ij = x_i − x_j first, then A X_ij."""
    N = X.shape[0]
    differences = X[:, None, :] - X[None, :, :]  # N × N × D, a constant
    projected = differences @ tg.transpose(A)  # N × N × d: 2·N²·D·d flops
    logits = -tg.sum(projected * projected, axis=2)
    others = ~np.eye(N, dtype=bool)
    same = (y[:, None] == y[None, :]) & others
    return tg.sum(tg.softmax(logits, axis=1, where=others), where=same)


A, X, y = problem(40, 12)
assert np.isclose(nca_loss_subtract_first(A, X, y).value, tg.nca_loss(A, X, y).value, rtol=1e-12)

print(
    f"{'N':>5} {'D':>5}  {'project first':>15} {'subtract first':>15}   (forward + backward flops)"
)
for N, D in [(50, 16), (100, 16), (100, 64), (200, 64)]:
    projected_first = sum(flops(N, D, 4))
    subtracted_first = sum(flops(N, D, 4, nca_loss_subtract_first))
    print(f"{N:>5} {D:>5}  {projected_first:>15,} {subtracted_first:>15,}")
    assert subtracted_first > 4 * projected_first

# %% [markdown]
# ## 4. Time against N and against D
#
# Flop counts are a model; time is what we pay. We time the loss alone, the loss with its gradient,
# the subtract-first form and the paper's formula, growing N (with D fixed) and then D (with N
# fixed), and fit the slope of each line on a log-log plot: slope 2 means time ∝ N², slope 1 time
# ∝ D. (The paper's formula is a loop in NumPy with D × D outer products, so it is only run on
# the smaller sizes.)


# %%
def seconds(fn):
    """The best of a few runs (the least disturbed by the rest of the machine); fast calls are
    repeated more often, slow ones (over 0.2 s) are run twice."""
    best, spent, runs = np.inf, 0.0, 0
    while runs < (1 if SMALL else 2) or (not SMALL and spent < 0.2 and runs < 7):
        start = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - start
        best, spent, runs = min(best, elapsed), spent + elapsed, runs + 1
    return best


def timings(sizes, vary, fixed, d=4):
    """Seconds of each method at each size; NaN where a method is too slow to run."""
    limits = {
        "paper's formula": 400 if vary == "N" else 64,
        "subtract first": 400 if vary == "N" else 256,
    }
    methods = {
        "loss only (forward)": lambda A, X, y: tg.nca_loss(A, X, y),
        "loss + gradient (backprop)": lambda A, X, y: tg.value_and_grad(tg.nca_loss)(A, X, y),
        "subtract first + gradient": lambda A, X, y: tg.value_and_grad(nca_loss_subtract_first)(
            A, X, y
        ),
        "paper's formula": nca_loss_and_grad_reference,
    }
    table = {name: [] for name in methods}
    for size in sizes:
        N, D = (size, fixed) if vary == "N" else (fixed, size)
        A, X, y = problem(N, D, d)
        for name, fn in methods.items():
            limit = limits.get(name.split(" +")[0], np.inf)
            table[name].append(seconds(lambda: fn(A, X, y)) if size <= limit else np.nan)
    return {name: np.array(t) for name, t in table.items()}


N_sizes = [50, 100, 200] if SMALL else [100, 200, 400, 800, 1600]
D_sizes = [8, 16, 32] if SMALL else [16, 32, 64, 128, 256, 512, 1024, 2048]
N_fixed_D, D_fixed_N = (16, 100) if SMALL else (32, 200)
by_N = timings(N_sizes, "N", N_fixed_D)
by_D = timings(D_sizes, "D", D_fixed_N)


def slope(sizes, times, last=3):
    """Least-squares slope of log(time) against log(size), over the largest sizes measured."""
    ok = np.isfinite(times)
    x, t = np.log(np.array(sizes)[ok][-last:]), np.log(times[ok][-last:])
    return np.polyfit(x, t, 1)[0] if len(x) >= 2 else np.nan


fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
for ax, sizes, table, vary, fixed in [
    (axes[0], N_sizes, by_N, "N", f"D = {N_fixed_D}"),
    (axes[1], D_sizes, by_D, "D", f"N = {D_fixed_N}"),
]:
    for name, times in table.items():
        ax.loglog(sizes, times, "o-", label=f"{name} (slope {slope(sizes, times):.1f})")
    ax.set(xlabel=f"{vary} ({fixed}, d = 4)", ylabel="seconds", title=f"Time against {vary}")
    ax.legend(fontsize=8)
save(fig, OUT, "time_vs_N_and_D.png")

for vary, sizes, table in [("N", N_sizes, by_N), ("D", D_sizes, by_D)]:
    print(
        f"slopes against {vary}: "
        + ", ".join(f"{name} {slope(sizes, t):.2f}" for name, t in table.items())
    )
ratio = by_N["loss + gradient (backprop)"][-1] / by_N["loss only (forward)"][-1]
print(f"at N = {N_sizes[-1]}: loss + gradient takes {ratio:.1f} × the loss alone")

# %% [markdown]
# What the plot shows (on the full-size run; timings on a busy machine wobble):
#
# - **against N**, the backprop gradient follows the loss itself, a constant factor above it, and
#   both grow as N² once the N × N matrices dominate (slope ≈ 2).
# - **against D**, the backprop gradient grows at most linearly (slope ≤ 1; flat while the
#   N × N work in d-space dominates, since D enters only through Z = XAᵀ).
# - the paper's formula and the subtract-first form grow as N² *and* with D (D² for the outer
#   products), so they fall further behind with every feature.
#
# The lesson is general: reverse mode makes a gradient cost a small constant times the function —
# *the function as written*. Write the function the cheap way (here: project first, work in
# d-space) and the gradient is cheap too, with no derivative derived by hand.
