"""Stochastic NCA at a size full-batch NCA cannot reach, and its accuracy where both can.

(a) Fit NeighborhoodComponentsAnalysis(solver="adam") to N = 100,000 points in
    D = 784 dimensions (d = 32) with the progress table on, then report the fit
    time and the held-out k-NN accuracy (3 neighbours, in the learned space).
    Full-batch NCA at this N would need N×N = 10¹⁰-entry matrices (80 GB in
    float64) per evaluation; one Adam step needs a batch_size² one.
(b) On a subset that full-batch L-BFGS can fit (2,000 points of the same data),
    compare the held-out k-NN accuracy of Adam with L-BFGS's (target: within
    1 point), and of the starting transformation.

The data are synthetic (no download) and, like images, lie near a
low-dimensional subspace: scikit-learn's make_classification in 40 dimensions
(10 classes, each a mixture of 2 Gaussian clusters, separated in 20 of the 40
directions; the other 20 class-blind and 3 times larger, so principal
components alone do poorly), mapped to 784 dimensions by a random matrix, plus
Gaussian noise; standardised with the training set's statistics. The test set is 10,000
further points from the same distribution.

Run:   OMP_NUM_THREADS=2 python benchmarks/stochastic_nca.py
       python benchmarks/stochastic_nca.py --quick        (small sizes, ~1 minute)
       python benchmarks/stochastic_nca.py --n 20000 --epochs 5
"""
from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import numpy as np
from sklearn.datasets import make_classification
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from tinygrad_nca import NeighborhoodComponentsAnalysis


def make_data(n_train, n_test, n_features, seed, latent=40, informative=20, clusters=2,
              class_sep=1.5, nuisance=3.0, noise=1.0):
    """Standardised synthetic 10-class data: (X_train, y_train, X_test, y_test).

    Like images, the points lie near a low-dimensional subspace: a
    ``latent``-dimensional make_classification sample whose classes differ in
    ``informative`` directions, the other latent directions class-blind and
    ``nuisance`` times larger (so the top principal components are not the
    useful ones and a learned metric has work to do), mapped into
    ``n_features`` dimensions by a random matrix, plus isotropic Gaussian
    noise of standard deviation ``noise``.
    """
    Z, y = make_classification(n_samples=n_train + n_test, n_features=latent,
                               n_informative=informative, n_redundant=0, n_classes=10,
                               n_clusters_per_class=clusters, class_sep=class_sep, flip_y=0.0,
                               shuffle=False, random_state=seed)
    rng = np.random.RandomState(seed)
    order = rng.permutation(len(y))             # shuffle=False sorts the points by class
    Z, y = Z[order], y[order]
    Z[:, informative:] *= nuisance              # unshuffled: the informative columns first
    mixing = rng.standard_normal((latent, n_features)) / np.sqrt(latent)
    X = Z @ mixing
    X += noise * rng.standard_normal(X.shape)
    X_train, y_train, X_test, y_test = X[:n_train], y[:n_train], X[n_train:], y[n_train:]
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), y_train, scaler.transform(X_test), y_test


def knn_accuracy(transform, X_train, y_train, X_test, y_test, n_reference=None, seed=0):
    """Held-out 3-NN accuracy in the space ``transform`` maps to (reference
    points: all of X_train, or a random n_reference of them)."""
    if n_reference is not None and n_reference < len(y_train):
        keep = np.random.RandomState(seed).choice(len(y_train), n_reference, replace=False)
        X_train, y_train = X_train[keep], y_train[keep]
    knn = KNeighborsClassifier(n_neighbors=3).fit(transform(X_train), y_train)
    return float(knn.score(transform(X_test), y_test))


def fit_timed(estimator, X, y):
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X, y)
    return time.perf_counter() - started


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="training points for (a)")
    parser.add_argument("--n-subset", type=int, default=2_000,
                        help="training points for the Adam vs L-BFGS comparison (b)")
    parser.add_argument("--n-test", type=int, default=10_000, help="held-out points")
    parser.add_argument("--features", type=int, default=784)
    parser.add_argument("--components", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=8, help="max_iter of (a)")
    parser.add_argument("--subset-epochs", type=int, default=300, help="max_iter of Adam in (b)")
    parser.add_argument("--lbfgs-iter", type=int, default=200, help="max_iter of L-BFGS in (b)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--latent", type=int, default=40, help="dimension the data lie near")
    parser.add_argument("--informative", type=int, default=20,
                        help="latent directions that separate the classes")
    parser.add_argument("--noise", type=float, default=1.0, help="noise standard deviation")
    parser.add_argument("--nuisance", type=float, default=3.0,
                        help="scale of the class-blind latent directions")
    parser.add_argument("--clusters", type=int, default=2, help="Gaussian clusters per class")
    parser.add_argument("--class-sep", type=float, default=1.5)
    parser.add_argument("--skip-large", action="store_true", help="run (b) only")
    parser.add_argument("--skip-subset", action="store_true", help="run (a) only")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes: n=20000, D=196, 3 epochs; subset 2000")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.features, args.epochs = 20_000, 196, 3
        args.n_subset, args.n_test, args.lbfgs_iter, args.subset_epochs = 2_000, 4_000, 50, 60

    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    print(f"# stochastic NCA benchmark — {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, OMP_NUM_THREADS={threads}, dtype {args.dtype}")
    started = time.perf_counter()
    X_train, y_train, X_test, y_test = make_data(
        args.n, args.n_test, args.features, args.seed, args.latent, args.informative,
        args.clusters, args.class_sep, args.nuisance, args.noise)
    print(f"# data: {args.n} training × {args.features} features, {args.n_test} held out, "
          f"10 classes (make_classification, seed {args.seed}); "
          f"made in {time.perf_counter() - started:.1f}s")
    common = dict(n_components=args.components, dtype=args.dtype, random_state=args.seed)
    rows = []

    if not args.skip_large:
        print(f"\n## (a) Adam on all {args.n} points, batch_size={args.batch_size}, "
              f"max_iter={args.epochs} epochs")
        adam = NeighborhoodComponentsAnalysis(solver="adam", batch_size=args.batch_size,
                                              max_iter=args.epochs, verbose=1, **common)
        seconds = fit_timed(adam, X_train, y_train)
        accuracy = knn_accuracy(adam.transform, X_train, y_train, X_test, y_test)
        rows.append((f"(a) adam, N={args.n}", seconds, adam.n_iter_, accuracy))
        print(f"fit: {seconds:.1f}s for {adam.n_iter_} epochs; held-out 3-NN accuracy "
              f"(all {args.n} training points as reference) {accuracy:.4f}")

    n_subset = 0 if args.skip_subset else min(args.n_subset, args.n)
    if n_subset:
        rows += compare_on_subset(args, common, X_train[:n_subset], y_train[:n_subset],
                                  X_test, y_test)
    print_table(rows)
    print(f"total {time.perf_counter() - started:.1f}s")


def compare_on_subset(args, common, X_sub, y_sub, X_test, y_test):
    """(b): full-batch L-BFGS vs Adam (and their PCA start) on a subset; table rows."""
    rows, n_subset = [], len(y_sub)
    print(f"\n## (b) the first {n_subset} training points: Adam vs full-batch L-BFGS")
    for name, estimator in [
            ("lbfgs", NeighborhoodComponentsAnalysis(max_iter=args.lbfgs_iter, **common)),
            ("adam", NeighborhoodComponentsAnalysis(solver="adam", batch_size=args.batch_size,
                                                    max_iter=args.subset_epochs, **common))]:
        seconds = fit_timed(estimator, X_sub, y_sub)
        accuracy = knn_accuracy(estimator.transform, X_sub, y_sub, X_test, y_test)
        rows.append((f"(b) {name}, N={n_subset}", seconds, estimator.n_iter_, accuracy))
        print(f"{name}: {seconds:.1f}s, {estimator.n_iter_} iterations/epochs, held-out "
              f"3-NN accuracy {accuracy:.4f}")
    # For scale: the starting point both fits share ("auto" chooses PCA here).
    pca = PCA(n_components=args.components, random_state=args.seed).fit(X_sub)
    accuracy = knn_accuracy(pca.transform, X_sub, y_sub, X_test, y_test)
    rows.append((f"(b) PCA start, N={n_subset}", float("nan"), 0, accuracy))
    return rows


def print_table(rows):
    print("\n| run | fit seconds | iterations / epochs | held-out 3-NN accuracy |")
    print("|---|---:|---:|---:|")
    for name, seconds, n_iter, accuracy in rows:
        shown = "—" if np.isnan(seconds) else f"{seconds:.1f}"
        print(f"| {name} | {shown} | {n_iter} | {accuracy:.4f} |")
    by_name = {name.split(",")[0]: accuracy for name, _, _, accuracy in rows}
    if "(b) lbfgs" in by_name:
        gap = 100 * (by_name["(b) lbfgs"] - by_name["(b) adam"])
        print(f"\nL-BFGS − Adam on the subset: {gap:+.2f} accuracy points "
              f"({'within' if gap <= 1 else 'NOT within'} 1 point of L-BFGS or better)")


if __name__ == "__main__":
    main()
