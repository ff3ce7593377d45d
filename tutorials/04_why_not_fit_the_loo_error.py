# %% [markdown]
# # 4. Why not fit the leave-one-out error directly?
#
# NCA wants a linear map A under which nearest-neighbour classification works. The quantity we
# actually care about is the **leave-one-out (LOO) error** of the 1-nearest-neighbour rule in the
# space z = Ax: classify every point by its nearest *other* point and count the mistakes. Why does
# NCA optimise a softmax-weighted surrogate instead of that error itself?
#
# Because the LOO error is **piecewise constant** in A. A small change of A moves the points a
# little, but unless it changes *which* point is nearest to some point, not a single
# classification changes, and the error stays exactly where it was. Its derivative is zero almost
# everywhere (and undefined on the jumps): gradient-based optimisation gets no signal at all.
#
# In this tutorial we compute the error with the engine, watch its gradient come out as exactly
# zero (and finite differences agree), walk along a path of maps to see the steps, and compare
# with NCA's smooth objective, whose gradient points the right way — towards the map that drops a
# noise feature and reaches zero error.

# %%
import matplotlib.pyplot as plt
import numpy as np
from _tutorial import save, setup

import tinygrad_nca as tg
from tinygrad_nca.exercises import knn_loo_exercise, loo_1nn_error, two_feature_data

SMALL, OUT = setup("04_why_not_fit_the_loo_error")

# %% [markdown]
# ## 1. The data: one informative feature, one loud irrelevant one
#
# Two classes of 40 points. Feature 1 is the class label plus a little noise (0.1): it separates
# the classes perfectly. Feature 0 is pure noise with standard deviation 10, a hundred times
# larger. Euclidean distance is dominated by the noise feature, so the nearest neighbour of a
# point is often of the other class.

# %%
X, y = two_feature_data(n=40, noise=10.0, seed=0)
print("feature standard deviations:", X.std(axis=0).round(2))

# %% [markdown]
# ## 2. The LOO error as a function of A, with the engine
#
# `loo_1nn_error(A, X, y)` is written with engine operations, the way the definition reads. With
# dᵢⱼ = ‖A(xᵢ − xⱼ)‖², the distance to the nearest classmate m⁺ᵢ and to the nearest point of
# another class m⁻ᵢ, point i is misclassified when m⁺ᵢ > m⁻ᵢ:
#
# $$ \operatorname{err}(A) = \frac1N \sum_i H(m^+_i - m^-_i), \qquad
#    H(t) = \begin{cases} 1 & t > 0 \\ 0 & t < 0 \end{cases} $$
#
# Every step of this is differentiable almost everywhere — distances, minima, differences —
# except that the last one, the Heaviside step H, has derivative H′(t) = 0 wherever it exists.
# The chain rule multiplies every path from A to the error by that zero.

# %%
identity = np.eye(2)
dropped = np.array([[0.0, 0.0], [0.0, 1.0]])  # forget feature 0, keep feature 1
error, gradient = tg.value_and_grad(loo_1nn_error)(identity, X, y)
print(f"LOO error with A = I (Euclidean):       {float(error):.3f}")
print(f"LOO error with A = [[0, 0], [0, 1]]:    {float(loo_1nn_error(dropped, X, y)):.3f}")
print("engine gradient of the error at A = I:\n", gradient)
assert float(error) > 0.2 and float(loo_1nn_error(dropped, X, y)) == 0.0
assert np.all(gradient == 0)

# %% [markdown]
# Is the zero an artefact of how the engine handles the step? Finite differences answer
# independently: nudging any entry of A by ±10⁻⁶, or ±10⁻³, leaves the error unchanged. Yet the
# distances do move: the gradient of the *margins* Σᵢ (m⁺ᵢ − m⁻ᵢ) — the same computation without
# the final step — is far from zero. The information is there until H throws it away.

# %%
result = knn_loo_exercise(n=40, noise=10.0, seed=0, n_path=101 if SMALL else 401)
print(
    "finite-difference gradient of the error (step 1e-6):\n", result["finite_difference_gradient"]
)
for step in (1e-6, 1e-3):
    for index in np.ndindex(2, 2):
        nudge = np.zeros((2, 2))
        nudge[index] = step
        assert float(loo_1nn_error(identity + nudge, X, y)) == float(error)
print("gradient of the summed margins:\n", result["margin_gradient"].round(2))
assert np.all(result["finite_difference_gradient"] == 0)
assert np.abs(result["margin_gradient"]).max() > 1

# %% [markdown]
# ## 3. Steps and flat pieces
#
# Walk from the Euclidean metric to the map that drops the noise feature, A(t) = diag(1 − t, 1) for
# t from 0 to 1, and record the error (blue): flat pieces separated by jumps, each jump one point
# changing its nearest neighbour. Beside it, NCA's objective along the same path, as an "expected
# error" 1 − f(A)/N (orange), with f(A) = Σᵢ pᵢ the expected number of points classified correctly
# by the *stochastic* neighbour rule: it is smooth, and it falls as the noise weight shrinks. (It
# does not reach 0: at this scale the soft rule still gives other-class points some weight — NCA
# would rather also *grow* the informative feature, as the next figure shows.)

# %%
t, path_error = result["path_t"], result["path_error"]
path_nca = np.array([1 - float(tg.nca_loss(np.diag([1 - s, 1.0]), X, y).value) / len(y) for s in t])
levels = np.unique(path_error)
print(f"{len(levels)} distinct error values along {len(t)} points of the path: {levels.round(3)}")
assert len(levels) < len(t) / 4  # piecewise constant: few values, many points
assert path_error[-1] == 0

# %% [markdown]
# The same picture over a whole family of maps, A = diag(a, b) with a and b between 0 and 1: the
# LOO error is a patchwork of flat regions, NCA's expected error a smooth surface (white contours)
# whose descent direction (arrows: the direction an optimiser would move) points up and to the
# left: shrink the weight a of the noise feature, grow the weight b of the informative one.

# %%
grid = np.linspace(0.02, 1.0, 12 if SMALL else 40)
loo_map = np.array([[float(loo_1nn_error(np.diag([a, b]), X, y)) for a in grid] for b in grid])
nca_map = np.array(
    [[1 - float(tg.nca_loss(np.diag([a, b]), X, y).value) / len(y) for a in grid] for b in grid]
)

fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), layout="constrained")
axes[0].scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", edgecolor="k", s=30)
axes[0].set(
    xlabel="feature 0 (noise, std 10)",
    ylabel="feature 1 (class + noise 0.1)",
    title="The data: two classes",
)
axes[1].plot(t, path_error, label="1-NN leave-one-out error", drawstyle="steps-mid")
axes[1].plot(t, path_nca, label="NCA: 1 − f(A)/N (expected error)")
axes[1].set(
    xlabel="t, with A(t) = diag(1 − t, 1)",
    ylabel="error",
    title="Along a path: steps against a smooth curve",
)
axes[1].legend(loc="lower left")
im = axes[2].pcolormesh(grid, grid, loo_map, cmap="viridis", shading="nearest")
axes[2].contour(grid, grid, nca_map, levels=8, colors="white", linewidths=0.8)
coarse = slice(None, None, max(1, len(grid) // 8))
arrows = np.array(
    [
        [
            -tg.grad(lambda A: -tg.nca_loss(A, X, y) / len(y))(np.diag([a, b])).diagonal()
            for a in grid[coarse]
        ]
        for b in grid[coarse]
    ]
)
axes[2].quiver(grid[coarse], grid[coarse], arrows[..., 0], arrows[..., 1], color="white")
axes[2].set(
    xlabel="a (weight of feature 0)",
    ylabel="b (weight of feature 1)",
    title="LOO error (colour), NCA (contours, arrows)",
)
fig.colorbar(im, ax=axes[2], label="LOO error")
save(fig, OUT, "loo_error_vs_nca.png")

# %% [markdown]
# ## 4. What NCA's gradient says
#
# At A = I the LOO error's gradient is zero; NCA's is not, and it points the right way. Maximising
# f, the gradient ∂f/∂A has a negative entry for the noise feature's weight A₀₀ (shrink it) and a
# positive one for the informative A₁₁ (grow it) — towards [[0, 0], [0, 1]], where the LOO error
# is zero.

# %%
nca_gradient = tg.grad(tg.nca_loss)(identity, X, y)
print("∂f/∂A at A = I:\n", nca_gradient.round(3))
assert nca_gradient[0, 0] < 0 < nca_gradient[1, 1]

# %% [markdown]
# ## Summary
#
# - The quantity we want, the k-NN leave-one-out error, is a step function of A: its gradient is
#   zero wherever it exists, and both the engine and finite differences say so.
# - The information about *how far* each point is from changing class is in the margins, and a
#   smooth objective must keep it. NCA replaces "the nearest neighbour" by a softmax over
#   neighbours, turning the count of mistakes into an expected count with a useful gradient.
# - That gradient leads from the Euclidean metric to the map that drops the irrelevant feature,
#   the map with zero error.
