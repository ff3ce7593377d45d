"""Stochastic against full-batch NCA where both converge: scikit-learn's digits.

benchmarks/stochastic_nca.py compares Adam with full-batch L-BFGS on 5,000-point
subsets of 784-dimensional data, where L-BFGS stalls on the nearly hard softmax of
its PCA start and the two end far apart. This is the complementary check, on real
data small enough for L-BFGS to run to its own convergence test: scikit-learn's
bundled digits (1,797 images, D = 64, 10 classes), d = 32, standardised with the
training part's statistics, on 5 stratified 70/30 splits. Protocol (fixed before
the numbers): one starting matrix per split for both solvers (``init="auto"``: the
PCA of the training part); L-BFGS with scikit-learn's defaults but max_iter=500;
Adam with about 5 mini-batches per epoch (batch_size = n_train // 5, as (b) of
stochastic_nca.py: 5,000 points in batches of 1,000), default learning rate and
tol, max_iter=300 epochs. Scored by held-out 3-NN accuracy and the full-batch
training objective per point (Σ_i p_i / N, what L-BFGS maximises).

Run:   OMP_NUM_THREADS=1 python benchmarks/stochastic_digits.py        (≈ 1–2 minutes)
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from tinygrad_nca import NeighborhoodComponentsAnalysis, nca_loss


def split(seed, test_size):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, stratify=y, random_state=seed
    )
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), y_train, scaler.transform(X_test), y_test


def fit_and_score(estimator, X_train, y_train, X_test, y_test):
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X_train, y_train)
    seconds = time.perf_counter() - started
    knn = KNeighborsClassifier(n_neighbors=3).fit(estimator.transform(X_train), y_train)
    accuracy = knn.score(estimator.transform(X_test), y_test)
    objective = float(nca_loss(estimator.components_, X_train, y_train).value) / len(y_train)
    return dict(
        seconds=seconds, n_iter=estimator.n_iter_, objective=objective, accuracy=100 * accuracy
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--components", type=int, default=32)
    parser.add_argument("--test-size", type=float, default=0.3)
    parser.add_argument("--lbfgs-iter", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--batches-per-epoch", type=int, default=5)
    args = parser.parse_args(argv)
    print(
        f"# digits: Adam vs full-batch L-BFGS — {platform.machine()}, {os.cpu_count()} CPUs, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}"
    )
    results = {"lbfgs": [], "adam": []}
    for seed in range(args.splits):
        X_train, y_train, X_test, y_test = split(seed, args.test_size)
        batch_size = len(y_train) // args.batches_per_epoch
        estimators = {
            "lbfgs": NeighborhoodComponentsAnalysis(
                n_components=args.components, max_iter=args.lbfgs_iter, random_state=seed
            ),
            "adam": NeighborhoodComponentsAnalysis(
                n_components=args.components,
                solver="adam",
                batch_size=batch_size,
                max_iter=args.epochs,
                random_state=seed,
            ),
        }
        for name, estimator in estimators.items():
            scores = fit_and_score(estimator, X_train, y_train, X_test, y_test)
            results[name].append(scores)
            print(
                f"split {seed} {name:5s}: {scores['seconds']:5.1f} s, {scores['n_iter']:3d} "
                f"iterations/epochs, objective/point {scores['objective']:.4f}, held-out 3-NN "
                f"{scores['accuracy']:.2f}%",
                flush=True,
            )

    print(
        f"\n{args.splits} stratified {1 - args.test_size:.0%}/{args.test_size:.0%} splits, "
        f"d = {args.components}; mean ± sd over the splits\n"
    )
    print(
        "| solver | fit seconds | iterations / epochs | training objective / point "
        "| held-out 3-NN accuracy |"
    )
    print("|---|---:|---:|---:|---:|")
    for name, label in (
        ("lbfgs", "L-BFGS (full batch)"),
        ("adam", f"Adam, {args.batches_per_epoch} batches per epoch"),
    ):
        column = {k: np.array([r[k] for r in results[name]]) for k in results[name][0]}
        print(
            f"| {label} | {column['seconds'].mean():.1f} | {column['n_iter'].mean():.0f} | "
            f"{column['objective'].mean():.4f} ± {column['objective'].std(ddof=1):.4f} | "
            f"{column['accuracy'].mean():.2f} ± {column['accuracy'].std(ddof=1):.2f}% |"
        )
    gaps = [
        a["accuracy"] - b["accuracy"]
        for a, b in zip(results["adam"], results["lbfgs"], strict=False)
    ]
    print(
        f"\nAdam − L-BFGS per split: {', '.join(f'{g:+.2f}' for g in gaps)} points "
        f"(mean {np.mean(gaps):+.2f}); within 1 point on {sum(abs(g) <= 1 for g in gaps)} of "
        f"{len(gaps)} splits, mean {'within' if abs(np.mean(gaps)) <= 1 else 'NOT within'} 1 point"
    )


if __name__ == "__main__":
    main()
