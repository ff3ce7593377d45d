# %% [markdown]
# # 5. Linear autoencoders
#
# An autoencoder squeezes each data point through a small *code* and tries to rebuild the point
# from it. With linear maps and the squared error, it is the oldest example of a neural network
# whose optimum we know in closed form — principal component analysis (PCA) — and so a good place
# to check what gradient-based training actually finds. In this tutorial we
#
# 1. fix the sizes of the encoder and decoder matrices;
# 2. see why a code smaller than the data (K < D) cannot reach zero error, and what error it can
#    reach (the rank argument, checked against the singular values);
# 3. tie the two matrices together and watch the engine add up the two gradients of the shared
#    parameter, with no code for it;
# 4. compare the fitted weights U with PCA's principal directions V: same subspace, same error,
#    but U = VQ for a rotation Q — not V itself.

# %%
import matplotlib.pyplot as plt
import numpy as np
from _tutorial import draw_graph, save, setup
from scipy.linalg import subspace_angles
from sklearn.decomposition import PCA

import tinygrad_nca as tg
from tinygrad_nca.exercises import parameter_tying_exercise
from tinygrad_nca.models.autoencoder import (
    LinearAutoencoder,
    reconstruction_error,
    tied_reconstruction_error,
)

SMALL, OUT = setup("05_linear_autoencoders")

# Centred data in D = 6 dimensions whose directions have clearly different variances, rotated so
# that the principal directions are not the coordinate axes.
rng = np.random.default_rng(0)
N, D = (60, 6) if SMALL else (200, 6)
rotation = np.linalg.qr(rng.normal(size=(D, D)))[0]
X = rng.normal(size=(N, D)) * [3.0, 2.0, 1.5, 1.0, 0.5, 0.2] @ rotation
X -= X.mean(axis=0)

# %% [markdown]
# ## 1. Sizes
#
# A code of K numbers per point. The encoder W⁽¹⁾ maps D features to K, the decoder W⁽²⁾ maps K
# back to D; with the data as rows of X (N × D),
#
# | quantity | formula | shape |
# |---|---|---|
# | encoder | W⁽¹⁾ | K × D |
# | decoder | W⁽²⁾ | D × K |
# | codes | H = X W⁽¹⁾ᵀ | N × K |
# | reconstructions | F = H W⁽²⁾ᵀ | N × D |
# | error | E = Σₙ Σ_d (F − X)²ₙd | scalar |
#
# so 2KD parameters in all. `LinearAutoencoder` stores the encoder as `components_` (K × D, the
# same layout as PCA's `components_`) and the decoder as `decoder_` (D × K).

# %%
K = 2
untied = LinearAutoencoder(n_components=K, tied=False, random_state=0).fit(X)
H = untied.transform(X)
F = untied.inverse_transform(H)
print(f"W1 {untied.components_.shape}, W2 {untied.decoder_.shape}, H {H.shape}, F {F.shape}")
assert untied.components_.shape == (K, D) and untied.decoder_.shape == (D, K)
assert H.shape == (N, K) and F.shape == (N, D)

# %% [markdown]
# ## 2. Why K < D cannot reach zero error
#
# The reconstructions are F = X (W⁽²⁾W⁽¹⁾)ᵀ, and the D × D matrix W⁽²⁾W⁽¹⁾ is a product through a
# K-dimensional bottleneck, so **rank F ≤ K**. Our X has rank D = 6 (its singular values below are
# all positive), so F ≠ X whenever K < D: no choice of weights reconstructs every point.
#
# How close can a rank-K matrix get? The Eckart–Young theorem answers: with the singular values
# σ₁ ≥ … ≥ σ_D of X, the smallest possible squared error is the sum of the squares that are left
# out,
#
# $$ \min_{\operatorname{rank} F \le K} \lVert F - X \rVert^2 = \sum_{k > K} \sigma_k^2 , $$
#
# reached by projecting onto the top-K principal directions — PCA. We fit an untied autoencoder
# for every K and compare its error with that bound, computed independently from the SVD:

# %%
sigma = np.linalg.svd(X, compute_uv=False)
print("singular values of X:", sigma.round(2))
print(f"{'K':>2} {'autoencoder E':>15} {'Σ_(k>K) σ_k²':>15}")
errors = []
for k in [1, 2, D] if SMALL else range(1, D + 1):
    model = LinearAutoencoder(n_components=k, tied=False, random_state=0).fit(X)
    bound = float(np.sum(sigma[k:] ** 2))
    errors.append(model.reconstruction_error_)
    print(f"{k:>2} {model.reconstruction_error_:>15.6f} {bound:>15.6f}")
    assert np.isclose(model.reconstruction_error_, bound, rtol=1e-6, atol=1e-8)
assert all(e > 1e-3 for e in errors[:-1]) and errors[-1] < 1e-8

# %% [markdown]
# Gradient descent finds the optimum here, for every K: the error surface of a linear autoencoder
# has no bad local minima (its other critical points are saddles), a classical result of Baldi
# and Hornik (1989).
#
# ## 3. Tied weights are gradient accumulation
#
# A common simplification uses one matrix U (D × K) for both maps: W⁽¹⁾ = Uᵀ and W⁽²⁾ = U. The
# error of the tied model is the untied error evaluated at (Uᵀ, U) — and that is exactly how the
# code writes it: `tied_reconstruction_error(U, X)` calls `reconstruction_error(U.T, U, X)`. No
# gradient is written for the tied case. In the graph, U (the input at the bottom) simply has two
# uses: on the left the encoder path, which transposes U twice (once to make W⁽¹⁾ = Uᵀ, once in
# H = XW⁽¹⁾ᵀ), on the right the decoder path (F = HW⁽²⁾ᵀ with W⁽²⁾ = U).

# %%
U = rng.normal(size=(D, K))
tied_loss = tied_reconstruction_error(tg.Tensor(U, requires_grad=True), X)
dot = tg.to_dot(tied_loss)
draw_graph(dot, OUT, "tied_graph.png")
uses_of_U = dot.count("n0 ->")  # n0 is the input U: count the arrows leaving it
print("arrows leaving U:", uses_of_U)
assert uses_of_U == 2

# %% [markdown]
# In the reverse sweep a value with two uses receives two cotangents, and they add up (the same
# rule that made broadcasting's VJP a sum in [tutorial 1](01_reverse_mode_from_scratch.md)). One
# arrives through the encoder slot, transposed back, the other through the decoder slot:
#
# $$ \bar U = \big(\bar W^{(1)}\big)^\top + \bar W^{(2)} \quad\text{at } (W^{(1)}, W^{(2)}) = (U^\top, U). $$
#
# We check it by computing the two untied gradients separately and adding them:

# %%
tying = parameter_tying_exercise(n=30, n_features=5, n_components=2, seed=0)
print("|Ū − (W̄1ᵀ + W̄2)|_max =", f"{tying['max_abs_difference']:.1e}", "  (rounding error)")
print(
    "|Ū − W̄2|_max          =",
    f"{tying['decoder_only_difference']:.2f}",
    "  (one use alone is not the gradient)",
)
assert tying["max_abs_difference"] < 1e-10 and tying["decoder_only_difference"] > 1e-2

# the same check here, with the engine directly
U_bar = tg.grad(tied_reconstruction_error)(U, X)
W1_bar, W2_bar = tg.grad(reconstruction_error, argnums=(0, 1))(U.T.copy(), U.copy(), X)
assert np.allclose(U_bar, W1_bar.T + W2_bar, rtol=1e-12)

# %% [markdown]
# ## 4. The fitted U against PCA's V
#
# Fit the tied autoencoder with K = 2 and PCA with two components. Three facts, each checked below:
#
# 1. **Same error.** Both reach Σ_{k>2} σ_k², the Eckart–Young bound.
# 2. **Same subspace.** The principal angles between span(U) and span(V) — the angles between the
#    two planes — are zero.
# 3. **Not the same basis.** E(UQ) = E(U) for every orthogonal K × K matrix Q, because
#    (UQ)(UQ)ᵀ = UQQᵀUᵀ = UUᵀ: the error sees only the projection UUᵀ, not the basis. So the fit
#    lands on *some* orthonormal basis of the subspace, U = VQ with Q = VᵀU orthogonal — in general
#    a rotation, not the identity, and not PCA's axes up to sign and order either.

# %%
tied = LinearAutoencoder(n_components=2, tied=True, random_state=0).fit(X)
pca = PCA(n_components=2).fit(X)
U_fit, V = tied.decoder_, pca.components_.T
pca_error = float(np.sum((pca.inverse_transform(pca.transform(X)) - X) ** 2))
angles = subspace_angles(U_fit, V)
Q = V.T @ U_fit
print(f"reconstruction error: autoencoder {tied.reconstruction_error_:.8f}, PCA {pca_error:.8f}")
print("principal angles (radians):", angles)
print("Q = VᵀU =\n", Q.round(4))
print(f"rotation angle of Q: {np.degrees(np.arctan2(Q[1, 0], Q[0, 0])):.1f}°")
assert np.isclose(tied.reconstruction_error_, pca_error, rtol=1e-6)
assert np.max(angles) < 1e-6
assert np.allclose(Q.T @ Q, np.eye(2), atol=1e-6)  # orthogonal
assert np.allclose(U_fit, V @ Q, atol=1e-6)  # U = VQ
assert np.min(np.max(np.abs(Q), axis=1)) < 0.99  # not a signed permutation

# %% [markdown]
# The codes show the rotation. PCA's scores XV put the direction of largest variance on the first
# axis; the autoencoder's codes XU = XVQ are the same cloud of points, rotated by Q. Both planes
# hold the same information — the reconstruction is identical — but only PCA orders its axes by
# variance. The right panel shows the training: E/N per L-BFGS iteration, down to PCA's error.

# %%
codes_pca, codes_ae = X @ V, X @ U_fit
assert np.allclose(codes_ae, codes_pca @ Q, atol=1e-6)
colour = codes_pca[:, 0]  # colour every point by its first PCA score

fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), layout="constrained")
limit = np.abs(codes_pca).max() * 1.1
for ax, codes, title in [
    (axes[0], codes_pca, "PCA scores XV"),
    (axes[1], codes_ae, "tied autoencoder codes XU = XVQ"),
]:
    ax.scatter(codes[:, 0], codes[:, 1], c=colour, cmap="viridis", s=14)
    ax.set(
        xlim=(-limit, limit),
        ylim=(-limit, limit),
        aspect="equal",
        title=title,
        xlabel="code 1",
        ylabel="code 2",
    )
for column in Q.T:  # where PCA's axes went: the columns of Q
    axes[1].annotate(
        "",
        xy=column * limit * 0.8,
        xytext=(0, 0),
        arrowprops=dict(arrowstyle="->", color="crimson", lw=2),
    )
axes[1].text(
    0.02, 0.02, "red: PCA's axes, rotated by Q", transform=axes[1].transAxes, color="crimson"
)
axes[2].semilogy(np.array(tied.loss_curve_) - pca_error / N + 1e-12)
axes[2].set(
    xlabel="L-BFGS iteration", ylabel="E/N − PCA's E/N", title="Training reaches PCA's error"
)
save(fig, OUT, "autoencoder_vs_pca.png")

# %% [markdown]
# ## Summary
#
# - Encoder K × D, decoder D × K; the reconstruction has rank ≤ K, so with K < D the error is at
#   least Σ_{k>K} σ_k², and gradient training reaches exactly that.
# - Tying is not a new model to differentiate: it is the same function with one parameter used
#   twice, and the reverse sweep adds the two cotangents, Ū = W̄⁽¹⁾ᵀ + W̄⁽²⁾.
# - The tied autoencoder finds PCA's subspace and PCA's error, but its basis is PCA's rotated by
#   an arbitrary orthogonal Q: the loss cannot tell bases of the same subspace apart.
