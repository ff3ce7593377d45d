# %% [markdown]
# # 3. NCA in practice
#
# [Tutorial 2](02_nca_gradient_cost.md) built the NCA objective and its cheap gradient. Here we use
# the estimator, `tinygrad_nca.NeighborhoodComponentsAnalysis` (alias `tg.NCA`), a drop-in
# replacement for scikit-learn's class of the same name: same parameters, same fitted attributes
# (`components_`, `n_iter_`, …), same `fit`/`transform`, so it works inside scikit-learn's
# pipelines and grid searches. We
#
# 1. embed the wine and digits data in two dimensions with NCA, beside PCA and LDA;
# 2. build the concentric-rings data of the NCA paper (its Figure 2), where PCA and LDA see
#    nothing and NCA finds the structure;
# 3. tabulate k-nearest-neighbour accuracy on held-out data;
# 4. use the estimator in a scikit-learn `Pipeline`, against scikit-learn's own NCA.
#
# Throughout, "accuracy" is the accuracy of a 3-nearest-neighbour classifier on a held-out 30 % of
# the data, after the features were standardised on the training part and the map (PCA, LDA or
# NCA) was fitted on the training part only.

# %%
import warnings

import numpy as np
from _tutorial import save, setup
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neighbors import NeighborhoodComponentsAnalysis as SklearnNCA
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import tinygrad_nca as tg

SMALL, OUT = setup("03_nca_in_practice")
# NCA stops at max_iter; the embeddings are good well before full convergence.
warnings.simplefilter("ignore", ConvergenceWarning)
MAX_ITER = 10 if SMALL else 50


def split(X, y, seed=0, limit=None):
    """Standardised train/test split (the scaler sees the training part only)."""
    if limit is not None and len(y) > limit:  # small mode: a stratified subsample
        X, _, y, _ = train_test_split(X, y, train_size=limit, random_state=seed, stratify=y)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=seed, stratify=y
    )
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def embeddings(X_train, X_test, y_train, n_components=2, seed=0):
    """Fit PCA, LDA and NCA on the training part; return {name: (Z_train, Z_test)}."""
    n_lda = min(n_components, len(np.unique(y_train)) - 1)
    models = {
        "NCA": tg.NCA(n_components=n_components, max_iter=MAX_ITER, random_state=seed),
        "PCA": PCA(n_components=n_components, random_state=seed),
        "LDA": LinearDiscriminantAnalysis(n_components=n_lda),
    }
    return {
        name: (m.fit(X_train, y_train).transform(X_train), m.transform(X_test))
        for name, m in models.items()
    }


def knn_accuracy(Z_train, Z_test, y_train, y_test, k=3):
    return KNeighborsClassifier(n_neighbors=k).fit(Z_train, y_train).score(Z_test, y_test)


# %% [markdown]
# ## 1. Wine and digits in two dimensions
#
# PCA keeps the directions of largest variance, whatever the labels; LDA the directions that
# separate the class *means* best relative to the within-class spread (at most C − 1 of them);
# NCA the map under which each point's *neighbours* are of its class. On the wine data (13
# chemical measurements, 3 cultivars) all three do well; on the digits (8 × 8 images, 10 classes)
# two dimensions are few, and the two supervised maps beat PCA by far.

# %%
results = {}
for name in ["wine", "digits"]:
    X, y, info = tg.load_dataset(name)
    X_train, X_test, y_train, y_test = split(X, y, limit=300 if SMALL else None)
    Z = embeddings(X_train, X_test, y_train)
    accuracy = {m: knn_accuracy(*Z[m], y_train, y_test) for m in Z}
    results[name] = accuracy
    print(f"{name}: " + ", ".join(f"{m} {a:.3f}" for m, a in accuracy.items()))
    fig = tg.plot_embeddings(
        {m: np.vstack(Z[m]) for m in Z},
        np.concatenate([y_train, y_test]),
        accuracies=accuracy,
        n_neighbors=3,
        class_names=info.target_names,
        legend_title=info.target,
        title=f"{name}: 2-D embeddings",
    )
    save(fig, OUT, f"{name}_embeddings.png")
assert results["wine"]["NCA"] > 0.85
assert results["digits"]["NCA"] > results["digits"]["PCA"] + 0.1

# %% [markdown]
# ## 2. Concentric rings: where only NCA finds the structure
#
# The NCA paper's synthetic example: three classes on concentric circles in two dimensions,
# with further dimensions of pure noise whose variance is larger than the rings'. Every class has
# the same mean (the centre), so **LDA**, which looks at class means, finds no useful direction.
# The largest variance is in the noise, so **PCA** keeps the noise. But in the plane of the first
# two features, each point's nearest neighbours lie on its own ring — exactly what **NCA**
# optimises.

# %%
X, y, info = tg.load_dataset("rings", n_samples=240 if SMALL else 300, n_noise_dims=3)
X_train, X_test, y_train, y_test = split(X, y)
Z = embeddings(X_train, X_test, y_train)
rings = {m: knn_accuracy(*Z[m], y_train, y_test) for m in Z}
results["rings"] = rings
print("rings: " + ", ".join(f"{m} {a:.3f}" for m, a in rings.items()))
fig = tg.plot_embeddings(
    {m: np.vstack(Z[m]) for m in Z},
    np.concatenate([y_train, y_test]),
    accuracies=rings,
    n_neighbors=3,
    class_names=info.target_names,
    legend_title=info.target,
    title="concentric rings + 3 noise dimensions",
)
save(fig, OUT, "rings_embeddings.png")
assert rings["NCA"] > 0.85 and rings["NCA"] > max(rings["PCA"], rings["LDA"]) + 0.25

# %% [markdown]
# What did NCA learn? Its map A has one column per input feature. The weights on the two ring
# features are large, the weights on the three noise features small: NCA has learnt to ignore the
# noise.

# %%
nca_rings = tg.NCA(n_components=2, max_iter=MAX_ITER, random_state=0).fit(X_train, y_train)
weight = np.linalg.norm(nca_rings.components_, axis=0)
print(
    "column norms of A:",
    {f: round(float(w), 2) for f, w in zip(info.feature_names, weight, strict=False)},
)
assert weight[:2].min() > 2 * weight[2:].max()

# %% [markdown]
# ## 3. k-NN accuracy, with and without a learnt metric
#
# The table adds iris and the plain Euclidean k-NN on all standardised features ("raw"). NCA with
# as many components as features (a full learnt metric) is shown too: the learnt metric matches
# or beats the Euclidean one, and a two-dimensional NCA map keeps most of the accuracy.

# %%
table = {}
for name in ["iris", "wine", "rings", "digits"]:
    if name == "rings":
        X, y, _ = tg.load_dataset("rings", n_samples=240 if SMALL else 300, n_noise_dims=3)
    else:
        X, y, _ = tg.load_dataset(name)
    X_train, X_test, y_train, y_test = split(X, y, limit=300 if SMALL else None)
    if name not in results:  # wine, digits and rings were embedded above
        results[name] = {
            m: knn_accuracy(*z, y_train, y_test)
            for m, z in embeddings(X_train, X_test, y_train).items()
        }
    row = {"raw": knn_accuracy(X_train, X_test, y_train, y_test), **results[name]}
    full = tg.NCA(max_iter=MAX_ITER, random_state=0).fit(X_train, y_train)
    row["NCA (all)"] = knn_accuracy(
        full.transform(X_train), full.transform(X_test), y_train, y_test
    )
    table[name] = row

columns = ["raw", "PCA", "LDA", "NCA", "NCA (all)"]
print(f"{'data':<8}" + "".join(f"{c:>11}" for c in columns) + "   (3-NN accuracy, held-out 30 %)")
for name, row in table.items():
    print(f"{name:<8}" + "".join(f"{row[c]:>11.3f}" for c in columns))
assert all(row["NCA (all)"] >= row["raw"] - 0.05 for row in table.values())
assert table["rings"]["NCA (all)"] > table["rings"]["raw"] + 0.1

# %% [markdown]
# (One split per data set: differences of a point or two are within the noise of the split.)
#
# ## 4. In a scikit-learn pipeline
#
# Because the estimator follows scikit-learn's conventions, it composes: scale, learn the metric,
# classify — and cross-validate the whole chain, so that the scaler and NCA never see the fold
# they are scored on. Swapping in scikit-learn's own NCA, with the same settings, gives the same
# accuracy.

# %%
X, y, _ = tg.load_dataset("wine")
ours = make_pipeline(
    StandardScaler(),
    tg.NCA(n_components=2, max_iter=MAX_ITER, random_state=0),
    KNeighborsClassifier(n_neighbors=3),
)
theirs = make_pipeline(
    StandardScaler(),
    SklearnNCA(n_components=2, max_iter=MAX_ITER, random_state=0),
    KNeighborsClassifier(n_neighbors=3),
)
folds = 3 if SMALL else 5
ours_scores = cross_val_score(ours, X, y, cv=folds)
theirs_scores = cross_val_score(theirs, X, y, cv=folds)
print(
    f"{folds}-fold accuracy: tinygrad_nca {ours_scores.mean():.3f} ± {ours_scores.std():.3f}, "
    f"scikit-learn {theirs_scores.mean():.3f} ± {theirs_scores.std():.3f}"
)
assert abs(ours_scores.mean() - theirs_scores.mean()) < 0.05

# %% [markdown]
# And a grid search over the number of components, through the pipeline's parameter names:

# %%
grid = {"neighborhoodcomponentsanalysis__n_components": [1, 2] if SMALL else [1, 2, 3]}
search = GridSearchCV(ours, grid, cv=3)
search.fit(X, y)
for n, score in zip(
    search.cv_results_["param_neighborhoodcomponentsanalysis__n_components"],
    search.cv_results_["mean_test_score"],
    strict=False,
):
    print(f"n_components = {n}: mean accuracy {score:.3f}")
print("best:", search.best_params_)

# %% [markdown]
# ## Summary
#
# - NCA learns a linear map for nearest-neighbour classification: on data where the class
#   structure is local (the rings), it finds what variance-based (PCA) and mean-based (LDA)
#   methods cannot.
# - `tg.NCA` is a drop-in for scikit-learn's estimator — pipelines, cross-validation and grid
#   search work unchanged — with its gradient from backpropagation instead of a hand-derived
#   formula.
# - On the command line, `tinygrad-nca fit --dataset rings` does the rings experiment in one
#   command, table and picture included.
