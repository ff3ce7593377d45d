# %% [markdown]
# # 6. Non-linear autoencoders on the semicircle
#
# [Tutorial 5](05_linear_autoencoders.md) showed that a linear autoencoder can do no better than
# PCA: its reconstructions lie in a K-dimensional *linear* subspace. Data often lie near a curved
# low-dimensional set instead. The simplest example is a semicircle,
#
# $$ x_1 \sim U[-1, 1], \qquad x_2 = \sqrt{1 - x_1^2}, $$
#
# a one-dimensional curve in the plane: one number (x₁, or the angle) describes each point
# exactly. Can an autoencoder with a code of K = 1 number reconstruct it? Which half — encoder or
# decoder — must be non-linear? We fit three autoencoders, all from engine operations and all
# trained with L-BFGS on engine gradients:
#
# | model | encoder (x → h) | decoder (h → x̂) |
# |---|---|---|
# | linear | h = xw + b | x̂ = h d + c |
# | linear encoder, MLP decoder | h = xw + b | x̂ = tanh(h W₁ + b₁) W₂ + b₂ |
# | MLP encoder, linear decoder | h = tanh(x V₁ + c₁) V₂ + c₂ | x̂ = h d + c |
#
# and measure the mean squared reconstruction error E = (1/N) Σₙ ‖x̂ₙ − xₙ‖².

# %%
import matplotlib.pyplot as plt
import numpy as np
from _tutorial import save, setup

from tinygrad_nca.exercises import semicircle, semicircle_autoencoders

SMALL, OUT = setup("06_nonlinear_autoencoders")

# %% [markdown]
# ## 1. The argument before the experiment
#
# **A linear decoder puts every reconstruction on a line.** Whatever the encoder computes, h is
# one number and x̂ = h d + c runs along the line through c in direction d. The best any line can
# do is to project each point orthogonally onto the best-fitting line — PCA's first axis — which
# leaves the variance along the second principal axis: E ≥ λ₂, the smaller eigenvalue of the
# covariance of x. A non-linear encoder cannot help: it can only choose *where on the line* a
# point goes, and the orthogonal projection is already the best place.
#
# **A non-linear decoder can bend the line.** The encoder only has to produce a number that tells
# the points apart — x₁ itself does, since x₂ = √(1 − x₁²) is a function of x₁ — and a linear
# encoder can produce x₁. The decoder then has to compute the curve h ↦ (h, √(1 − h²)), which a
# small tanh network approximates well.
#
# So the prediction is: linear ≈ λ₂; MLP encoder + linear decoder ≈ λ₂ too; linear encoder + MLP
# decoder ≪ λ₂.

# %%
n = 30 if SMALL else 80
result = semicircle_autoencoders(n=n, hidden=8, seed=0, max_iter=80 if SMALL else 400)
X = result["X"]
lam = np.linalg.eigvalsh(np.cov(X, rowvar=False, bias=True))
print(f"covariance eigenvalues λ1 = {lam[1]:.4f}, λ2 = {lam[0]:.4f}: the best line leaves λ2")
names = {
    "linear": "linear",
    "linear_encoder_mlp_decoder": "linear encoder, MLP decoder",
    "mlp_encoder_linear_decoder": "MLP encoder, linear decoder",
}
print(f"{'model':<30} {'E':>10} {'E / λ2':>8}")
for key, name in names.items():
    print(f"{name:<30} {result[key]:>10.6f} {result[key] / result['pca_error']:>8.4f}")

# %% [markdown]
# The numbers bear the argument out. The two models with a linear decoder stop at λ₂ (to the
# optimiser's tolerance; they cannot go below it), the linear-encoder/MLP-decoder model goes far
# below:

# %%
pca = result["pca_error"]
assert np.isclose(pca, lam[0])
assert np.isclose(result["linear"], pca, rtol=1e-4)
assert result["mlp_encoder_linear_decoder"] > pca * (1 - 1e-4)  # no line beats PCA's
assert result["linear_encoder_mlp_decoder"] < 0.1 * pca  # the bent line does

# %% [markdown]
# ## 2. What the reconstructions look like
#
# Each panel shows the data (grey) and the reconstructions x̂ (coloured by x₁, joined to their
# points by a thin line). Both linear-decoder models squash the arc onto PCA's first axis, a
# nearly horizontal line through the mean; the MLP decoder traces the arc.

# %%
fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), layout="constrained", sharey=True)
order = np.argsort(X[:, 0])
for ax, (key, name) in zip(axes, names.items(), strict=False):
    Xhat = result["reconstructions"][key]
    ax.plot(X[order, 0], X[order, 1], color="lightgrey", lw=6, zorder=0, label="data")
    for x, xh in zip(X, Xhat, strict=False):
        ax.plot([x[0], xh[0]], [x[1], xh[1]], color="grey", lw=0.5)
    ax.scatter(Xhat[:, 0], Xhat[:, 1], c=X[:, 0], cmap="viridis", s=14, label="reconstruction")
    ax.set(
        title=f"{name}\nE = {result[key]:.2e}",
        xlabel="x₁",
        aspect="equal",
        xlim=(-1.15, 1.15),
        ylim=(-0.15, 1.15),
    )
axes[0].set_ylabel("x₂")
axes[0].legend(loc="lower center")
save(fig, OUT, "semicircle_reconstructions.png")

# %% [markdown]
# ## 3. The same data, another curve, the same conclusion
#
# The argument never used the semicircle's shape — only that the data fill a curve and that a
# linear decoder produces a line. Draw a fresh sample and measure the gap again: a line leaves λ₂,
# whatever the encoder; a curve-shaped decoder does not.

# %%
fresh = semicircle(n=n, seed=1)
print(
    "a fresh semicircle sample: λ2 =",
    f"{np.linalg.eigvalsh(np.cov(fresh, rowvar=False, bias=True))[0]:.4f}",
)
again = semicircle_autoencoders(n=n, hidden=8, seed=1, max_iter=80 if SMALL else 400)
assert again["linear_encoder_mlp_decoder"] < 0.1 * again["pca_error"]
assert again["mlp_encoder_linear_decoder"] > again["pca_error"] * (1 - 1e-4)
print("seed 1:", {names[k]: f"{again[k]:.2e}" for k in names})

# %% [markdown]
# ## Summary
#
# - The decoder decides the *shape* of the set of possible reconstructions. A linear decoder
#   gives a line (a K-dimensional plane in general), and no encoder, however non-linear, can
#   push the error below PCA's.
# - The encoder only has to produce *coordinates* on the curve. Here a linear function (x₁) is a
#   good coordinate, so a linear encoder suffices once the decoder is non-linear.
# - Nothing in these models needed a gradient written by hand: the tanh networks, the squared
#   error and the parameters in tuples are engine operations, and `tinygrad_nca.optim.minimize`
#   feeds their `value_and_grad` to SciPy's L-BFGS.
