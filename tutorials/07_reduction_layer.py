# %% [markdown]
# # 7. The reduction layer Z = XA, with a loss of your own
#
# Many methods share one shape: map the data linearly to a few features, Z = XA with A of shape
# D × K, then score the mapped points with some loss L(Z) (or L(Z, y) with labels). PCA, LDA,
# NCA and the encoder half of an autoencoder all fit it. `tinygrad_nca.LinearReduction` is that
# shape as an estimator: you write L with engine operations, it minimises L(XA) over A with
# L-BFGS on the engine's gradient.
#
# The point of this tutorial is the cost of that gradient. Whatever L is, reverse mode reaches A
# through one matrix product, and the matmul rule of [tutorial 1](01_reverse_mode_from_scratch.md)
# gives
#
# $$ Z = XA \quad\Rightarrow\quad \bar A = X^\top \bar Z , $$
#
# 2·N·D·K flops — the same as computing Z. All the work of the loss happens in K dimensions; D
# appears once, linearly. We
#
# 1. write a loss of our own and fit it on the wine data;
# 2. check Ā = XᵀZ̄ with the engine's `vjp`;
# 3. read the cost in the graph and measure time against D;
# 4. see NCA itself as this layer plus a classifier loss.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
from _tutorial import save, setup
from sklearn.datasets import load_wine
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.preprocessing import StandardScaler

import tinygrad_nca as tg
from tinygrad_nca.exercises import nca_as_reduction_layer
from tinygrad_nca.models.reduction import LinearReduction, reduction_objective

SMALL, OUT = setup("07_reduction_layer")

# %% [markdown]
# ## 1. A loss of your own
#
# We want two features in which the three wine cultivars form tight, separate groups. With the
# class means μ_c of the mapped points, one loss that says so is
#
# $$ L(Z, y) = \frac1N \sum_i \lVert z_i - \mu_{y_i} \rVert^2
#    + \Big\lVert \tfrac1N Z_c^\top Z_c - I \Big\rVert_F^2 , $$
#
# where Z_c is Z with its mean removed. The first term pulls every point towards its class mean;
# on its own it would be minimised by A = 0, so the second term asks the features to keep unit
# variance and be uncorrelated (a soft version of the constraint under which LDA maximises class
# separation). It is written with engine operations only: the class means are a matrix product
# with the one-hot label matrix.


# %%
def tight_classes(Z, y):
    """Within-class scatter of Z, plus a penalty keeping cov(Z) near the identity."""
    classes = np.unique(y)
    onehot = (y[:, None] == classes[None, :]).astype(float)  # N × C
    means = (onehot / onehot.sum(axis=0)).T @ Z  # C × K: class means
    within = tg.mean(tg.sum((Z - onehot @ means) ** 2, axis=1))
    centred = Z - tg.mean(Z, axis=0, keepdims=True)
    covariance = centred.T @ centred / Z.shape[0]
    return within + tg.sum((covariance - np.eye(Z.shape[1])) ** 2)


X_wine, y_wine = load_wine(return_X_y=True)
X_wine = StandardScaler().fit_transform(X_wine)
reduction = LinearReduction(n_components=2, loss=tight_classes, random_state=0).fit(X_wine, y_wine)
Z_wine = reduction.transform(X_wine)
print(
    f"A: {reduction.components_.T.shape}, loss {reduction.loss_:.4f} after {reduction.n_iter_} iterations"
)
print("feature covariance of Z:\n", np.cov(Z_wine, rowvar=False, bias=True).round(3))

# %% [markdown]
# `check_grads` confirms the gradient the optimiser was fed (the engine's, through our loss and
# the reduction layer), and the embedding separates the cultivars about as well as LDA's:

# %%
tg.check_grads(
    lambda A: reduction_objective(A, X_wine, tight_classes, y_wine), reduction.components_.T.copy()
)
lda = LinearDiscriminantAnalysis(n_components=2).fit(X_wine, y_wine)
Z_lda = lda.transform(X_wine)


def nearest_mean_accuracy(Z, y):
    """Fraction of points closer to their own class mean than to any other."""
    means = np.stack([Z[y == c].mean(axis=0) for c in np.unique(y)])
    return np.mean(np.argmin(((Z[:, None] - means[None]) ** 2).sum(-1), axis=1) == y)


ours, theirs = nearest_mean_accuracy(Z_wine, y_wine), nearest_mean_accuracy(Z_lda, y_wine)
print(f"nearest-class-mean accuracy: our loss {ours:.3f}, LDA {theirs:.3f}")
assert ours > 0.95

fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
for ax, Z, title in [
    (axes[0], Z_wine, "LinearReduction with tight_classes"),
    (axes[1], Z_lda, "scikit-learn's LDA"),
]:
    for c, marker in zip(np.unique(y_wine), "osD", strict=False):
        ax.scatter(*Z[y_wine == c].T, marker=marker, s=18, label=f"cultivar {c}")
    ax.set(title=title, xlabel="feature 1", ylabel="feature 2")
axes[0].legend()
save(fig, OUT, "wine_embedding.png")

# %% [markdown]
# ## 2. Ā = XᵀZ̄, whatever the loss
#
# Split the computation at Z. `tg.vjp(loss, Z)` gives the loss's cotangent Z̄ (N × K) — the only
# thing the layer needs to know about the loss. Then Ā = XᵀZ̄ must equal the full gradient of
# L(XA) with respect to A:

# %%
A0 = np.random.default_rng(1).normal(size=(X_wine.shape[1], 2))
Z0 = X_wine @ A0
_, loss_vjp = tg.vjp(lambda Z: tight_classes(Z, y_wine), Z0)
(Z_bar,) = loss_vjp(np.array(1.0))
A_bar = tg.grad(lambda A: reduction_objective(A, X_wine, tight_classes, y_wine))(A0)
print("Z̄:", Z_bar.shape, " Ā:", A_bar.shape)
print("max |Ā − XᵀZ̄| =", np.abs(A_bar - X_wine.T @ Z_bar).max())
assert np.allclose(A_bar, X_wine.T @ Z_bar, rtol=1e-12, atol=1e-12)

# %% [markdown]
# ## 3. The cost is linear in D
#
# `cost_report` shows where the flops go. Only the first matrix product, Z = XA, has D in its
# shape; its VJP Ā = XᵀZ̄ costs the same 2·N·D·K. Doubling D adds exactly 2·N·K flops per new
# feature to each sweep, and nothing anywhere else:


# %%
def report(N, D, K=2, seed=0):
    rng = np.random.default_rng(seed)
    X, y = rng.normal(size=(N, D)), rng.integers(0, 3, size=N)
    return tg.cost_report(
        lambda A: reduction_objective(A, X, tight_classes, y), rng.normal(size=(D, K))
    )


print(report(50, 20))
small, large = report(50, 20), report(50, 40)
print(
    f"D 20 -> 40: forward +{large.forward_flops - small.forward_flops:,}, backward "
    f"+{large.backward_flops - small.backward_flops:,}; 2·N·K·ΔD = {2 * 50 * 2 * 20:,}"
)
assert large.forward_flops - small.forward_flops == 2 * 50 * 2 * 20
assert large.backward_flops - small.backward_flops == 2 * 50 * 2 * 20

# %% [markdown]
# Time agrees. With N = 500 points and K = 2, we time one loss + gradient for D from 16 to 8192.
# For small D the fixed cost of the loss (in K dimensions) dominates and the line is flat; once
# the two N × D × K products take over it rises with slope about 1 — linear in D. (Measured times
# are not flop counts: expect a step where X stops fitting in the processor's cache, and some
# noise on a shared machine.)


# %%
def best_time(fn, repeats=5):
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


N = 200 if SMALL else 500
dims = [16, 64, 256] if SMALL else [16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192]
rng = np.random.default_rng(0)
y_random = rng.integers(0, 3, size=N)
seconds = []
for D in dims:
    X = rng.normal(size=(N, D))
    A = rng.normal(size=(D, 2)) / np.sqrt(D)
    step = tg.value_and_grad(lambda A: reduction_objective(A, X, tight_classes, y_random))
    seconds.append(best_time(lambda: step(A), 2 if SMALL else 5))
seconds = np.array(seconds)
slope = np.polyfit(np.log(dims[-3:]), np.log(seconds[-3:]), 1)[0]
print(f"slope of log(time) against log(D) over the largest three D: {slope:.2f}")

fig, ax = plt.subplots(figsize=(6, 4.2), layout="constrained")
ax.loglog(dims, seconds, "o-", label=f"loss + gradient (slope {slope:.2f} at the end)")
ax.loglog(dims, seconds[-1] * np.array(dims) / dims[-1], "--", color="grey", label="∝ D")
ax.set(
    xlabel="D (number of input features)",
    ylabel="seconds",
    title=f"Z = XA + tight_classes loss, N = {N}, K = 2",
)
ax.legend()
save(fig, OUT, "time_vs_D.png")

# %% [markdown]
# ## 4. NCA is this layer plus a classifier loss
#
# NCA's objective depends on A only through the projected points: with Z = XA (the transpose of
# the convention in [tutorial 2](02_nca_gradient_cost.md), where z = Ax), its classifier loss is
# minus the expected number of points a stochastic nearest-neighbour rule in Z-space gets right,
#
# $$ L(Z, y) = -\sum_i \sum_{j \ne i,\; y_j = y_i} \operatorname{softmax}_{j \ne i}\big(-\lVert z_i - z_j\rVert^2\big). $$
#
# So NCA is `LinearReduction(loss=nca_classifier_loss)`. The exercise function compares the
# reduction layer's value and gradient with `nca_loss` and with the paper's closed-form gradient:

# %%
check = nca_as_reduction_layer(seed=0)
print(f"value: reduction layer {check['value']:.10f}, −nca_loss {-check['nca_value']:.10f}")
print(f"largest difference from the paper's gradient: {check['max_gradient_difference']:.1e}")
assert check["value_difference"] < 1e-10 and check["max_gradient_difference"] < 1e-10

# %% [markdown]
# ## Summary
#
# - A linear reduction layer composed with any loss written in engine operations trains with no
#   derivative code: `LinearReduction(n_components, loss)`.
# - Its gradient is Ā = XᵀZ̄: the loss only has to supply Z̄, computed in K dimensions.
# - The cost in D is one pair of N × D × K products, forward and backward: linear in D. This is
#   the same reason NCA should *project first* — NCA is this layer with a classifier loss.
