"""Stochastic NCA at a size full-batch NCA cannot reach, and its accuracy where both can.

(a) Fit NeighborhoodComponentsAnalysis(solver="adam") to N = 100,000 points in
    D = 784 dimensions (d = 32) with the progress table on, then report the fit
    time and the held-out k-NN accuracy (3 neighbours, in the learned space).
    Full-batch NCA at this N would need N×N = 10¹⁰-entry matrices (80 GB in
    float64) per evaluation; one Adam step needs a batch_size² one.
(b) On disjoint subsets that full-batch L-BFGS can fit (5,000 points of the
    same data each; one by default, three for benchmarks/README.md), compare the held-out k-NN accuracy of Adam with L-BFGS's
    (target: within 1 point) from the same start, L-BFGS run well past
    scikit-learn's stopping rule; both also scored by the training objective
    they reach and along the way, with a one-batch Adam as a control (the
    protocol: see compare_on_subsets).

The data are synthetic (no download) and, like images, lie near a
low-dimensional subspace: scikit-learn's make_classification in 40 dimensions
(10 classes, each a mixture of 2 Gaussian clusters, separated in 20 of the 40
directions; the other 20 class-blind and 3 times larger, so principal
components alone do poorly), mapped to 784 dimensions by a random matrix, plus
Gaussian noise; standardised with the training set's statistics. The test set is 10,000
further points from the same distribution.

Run:   OMP_NUM_THREADS=2 python benchmarks/stochastic_nca.py      (~25 minutes on 2 cores)
       OMP_NUM_THREADS=2 python benchmarks/stochastic_nca.py --skip-large --n-subsets 3
                                   (b) as in benchmarks/README.md, ~45 minutes
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

from tinygrad_nca import NeighborhoodComponentsAnalysis, nca_loss


def make_data(
    n_train,
    n_test,
    n_features,
    seed,
    latent=40,
    informative=20,
    clusters=2,
    class_sep=1.5,
    nuisance=3.0,
    noise=1.0,
):
    """Standardised synthetic 10-class data: (X_train, y_train, X_test, y_test).

    Like images, the points lie near a low-dimensional subspace: a
    ``latent``-dimensional make_classification sample whose classes differ in
    ``informative`` directions, the other latent directions class-blind and
    ``nuisance`` times larger (so the top principal components are not the
    useful ones and a learned metric has work to do), mapped into
    ``n_features`` dimensions by a random matrix, plus isotropic Gaussian
    noise of standard deviation ``noise``.
    """
    Z, y = make_classification(
        n_samples=n_train + n_test,
        n_features=latent,
        n_informative=informative,
        n_redundant=0,
        n_classes=10,
        n_clusters_per_class=clusters,
        class_sep=class_sep,
        flip_y=0.0,
        shuffle=False,
        random_state=seed,
    )
    rng = np.random.RandomState(seed)
    order = rng.permutation(len(y))  # shuffle=False sorts the points by class
    Z, y = Z[order], y[order]
    Z[:, informative:] *= nuisance  # unshuffled: the informative columns first
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
    parser.add_argument(
        "--n-subset",
        type=int,
        default=5_000,
        help="training points per subset in the Adam vs L-BFGS comparison (b)",
    )
    parser.add_argument(
        "--n-subsets",
        type=int,
        default=1,
        help="disjoint subsets in (b) (the README's table: 3; ~10 minutes each)",
    )
    parser.add_argument("--n-test", type=int, default=10_000, help="held-out points")
    parser.add_argument("--features", type=int, default=784)
    parser.add_argument("--components", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=8, help="max_iter of (a)")
    parser.add_argument("--subset-epochs", type=int, default=300, help="max_iter of Adam in (b)")
    parser.add_argument("--lbfgs-iter", type=int, default=200, help="max_iter of L-BFGS in (b)")
    parser.add_argument(
        "--subset-batch-size",
        type=int,
        default=None,
        help="batch_size of Adam in (b) (default: --batch-size)",
    )
    parser.add_argument(
        "--control-epochs",
        type=int,
        default=200,
        help="max_iter of the one-batch Adam control in (b) (0: none)",
    )
    parser.add_argument(
        "--record-every",
        type=int,
        default=20,
        help="score the path of each fit in (b) every this many iterations",
    )
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--latent", type=int, default=40, help="dimension the data lie near")
    parser.add_argument(
        "--informative", type=int, default=20, help="latent directions that separate the classes"
    )
    parser.add_argument("--noise", type=float, default=1.0, help="noise standard deviation")
    parser.add_argument(
        "--nuisance", type=float, default=3.0, help="scale of the class-blind latent directions"
    )
    parser.add_argument("--clusters", type=int, default=2, help="Gaussian clusters per class")
    parser.add_argument("--class-sep", type=float, default=1.5)
    parser.add_argument("--skip-large", action="store_true", help="run (b) only")
    parser.add_argument("--skip-subset", action="store_true", help="run (a) only")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes: n=20000, D=196, 3 epochs; (b) on 2 × 1000 points",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.features, args.epochs = 20_000, 196, 3
        args.n_subset, args.n_subsets, args.n_test = 1_000, 2, 4_000
        args.lbfgs_iter, args.subset_epochs, args.control_epochs = 60, 60, 60
        args.record_every, args.subset_batch_size = 10, 250

    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    print(
        f"# stochastic NCA benchmark — {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, OMP_NUM_THREADS={threads}, dtype {args.dtype}"
    )
    started = time.perf_counter()
    X_train, y_train, X_test, y_test = make_data(
        args.n,
        args.n_test,
        args.features,
        args.seed,
        args.latent,
        args.informative,
        args.clusters,
        args.class_sep,
        args.nuisance,
        args.noise,
    )
    print(
        f"# data: {args.n} training × {args.features} features, {args.n_test} held out, "
        f"10 classes (make_classification, seed {args.seed}); "
        f"made in {time.perf_counter() - started:.1f}s"
    )
    common = dict(n_components=args.components, dtype=args.dtype, random_state=args.seed)
    rows = []

    if not args.skip_large:
        print(
            f"\n## (a) Adam on all {args.n} points, batch_size={args.batch_size}, "
            f"max_iter={args.epochs} epochs"
        )
        adam = NeighborhoodComponentsAnalysis(
            solver="adam", batch_size=args.batch_size, max_iter=args.epochs, verbose=1, **common
        )
        seconds = fit_timed(adam, X_train, y_train)
        accuracy = knn_accuracy(adam.transform, X_train, y_train, X_test, y_test)
        rows.append((f"(a) adam, N={args.n}", seconds, adam.n_iter_, [np.nan], [accuracy]))
        print(
            f"fit: {seconds:.1f}s for {adam.n_iter_} epochs; held-out 3-NN accuracy "
            f"(all {args.n} training points as reference) {accuracy:.4f}"
        )

    if not args.skip_subset:
        rows += compare_on_subsets(args, common, X_train, y_train, X_test, y_test)
    print_table(rows)
    print(f"total {time.perf_counter() - started:.1f}s")


class Path:
    """A callback that keeps the transformation every ``every`` iterations (and,
    with ``every=1``, after each one), to score the path after the fit."""

    def __init__(self, shape, every):
        self.shape, self.every, self.kept = shape, every, {}

    def __call__(self, flat, n_iter):
        if n_iter % self.every == 0:
            self.kept[n_iter] = flat.reshape(self.shape).copy()


def sklearn_stop(objectives, tol=1e-5):
    """The iteration at which L-BFGS-B with scikit-learn's default tol would have
    stopped (SciPy's relative-decrease test, ftol = tol), from the objective
    after each iteration (objectives[0]: at the start); None if it never would."""
    for n in range(1, len(objectives)):
        new, old = objectives[n], objectives[n - 1]
        if new - old <= tol * max(abs(new), abs(old), 1.0):
            return n
    return None


def compare_on_subsets(args, common, X_train, y_train, X_test, y_test):
    """(b): Adam against full-batch L-BFGS on disjoint subsets; returns summary rows.

    The protocol (chosen before the numbers, from what can make them differ):
    - the same objective (expected correct points) and the same start for every
      solver: the subset's PCA (what init="auto" picks here), one array;
    - L-BFGS run far beyond scikit-learn's stopping rule: tol=0 (stop only when
      a line search fails) and at most --lbfgs-iter iterations; where
      scikit-learn's default tol=1e-5 would have stopped is read off its path;
    - Adam with the settings of (a) (batch_size, default learning rate and tol),
      at most --subset-epochs epochs;
    - a control on the first subset: Adam with one batch of the whole subset,
      i.e. the same update rule on L-BFGS's (full-batch) objective;
    - each fit scored by the full-batch training objective per point (the one
      L-BFGS maximises) and the held-out 3-NN accuracy (the subset as
      reference points), also along the way; mean and spread over subsets.
    """
    n_subset, k = args.n_subset, args.n_subsets
    batch_size = args.subset_batch_size or args.batch_size
    if n_subset * k > len(y_train):
        raise SystemExit(f"--n-subsets {k} × --n-subset {n_subset} > --n {len(y_train)}")
    print(
        f"\n## (b) Adam vs full-batch L-BFGS on {k} disjoint subsets of {n_subset} points "
        f"(same PCA start; L-BFGS tol=0, max_iter={args.lbfgs_iter}; Adam "
        f"batch_size={batch_size}, max_iter={args.subset_epochs} epochs)"
    )
    table = {}
    for s in range(k):
        X_sub = X_train[s * n_subset : (s + 1) * n_subset]
        y_sub = y_train[s * n_subset : (s + 1) * n_subset]
        start = PCA(n_components=args.components, random_state=args.seed).fit(X_sub).components_
        runs = [
            ("lbfgs", dict(max_iter=args.lbfgs_iter, tol=0.0), 1),
            (
                "adam",
                dict(solver="adam", batch_size=batch_size, max_iter=args.subset_epochs),
                args.record_every,
            ),
        ]
        if s == 0 and args.control_epochs:
            runs.append(
                (
                    "adam, one batch of all",
                    dict(solver="adam", batch_size=n_subset, max_iter=args.control_epochs),
                    args.record_every,
                )
            )

        def score(A):
            objective = float(nca_loss(A, X_sub, y_sub).value) / n_subset
            return objective, knn_accuracy(lambda X: X @ A.T, X_sub, y_sub, X_test, y_test)

        at_start = score(start)
        print(
            f"\n### subset {s + 1}: training points {s * n_subset}–{(s + 1) * n_subset - 1}; "
            f"PCA start: objective {at_start[0]:.4f}/point, held-out 3-NN {at_start[1]:.4f}"
        )
        table.setdefault("PCA start", []).append((np.nan, 0, *at_start))
        for name, params, every in runs:
            path = Path(start.shape, every)
            params = {**common, **params, "init": start, "callback": path}
            estimator = NeighborhoodComponentsAnalysis(**params)
            seconds = fit_timed(estimator, X_sub, y_sub)
            final = score(estimator.components_)
            table.setdefault(name, []).append((seconds, estimator.n_iter_, *final))
            if name == "lbfgs":
                stop = sklearn_stop(estimator.loss_curve_)
                if stop is not None and stop in path.kept:
                    table.setdefault("lbfgs, scikit-learn's stop (tol=1e-5)", []).append(
                        (np.nan, stop, *score(path.kept[stop]))
                    )
            shown = sorted(n for n in path.kept if n % args.record_every == 0)
            along = "  ".join(
                f"{n}: {o:.3f}/{a:.3f}" for n, (o, a) in ((n, score(path.kept[n])) for n in shown)
            )
            print(
                f"{name}: {seconds:.1f}s, {estimator.n_iter_} iterations/epochs, objective "
                f"{final[0]:.4f}/point, held-out 3-NN {final[1]:.4f}\n"
                f"  along the way (iteration: objective/point / held-out 3-NN): {along}"
            )
    rows = []
    for name, results in table.items():
        seconds, n_iter, objective, accuracy = (
            np.array(r, dtype=float) for r in zip(*results, strict=False)
        )
        rows.append(
            (
                f"(b) {name}, N={n_subset} ×{k}",
                np.mean(seconds),
                np.mean(n_iter),
                objective,
                accuracy,
            )
        )
    return rows


def print_table(rows):
    def spread(values):
        values = np.asarray(values, dtype=float)
        if np.all(np.isnan(values)):
            return "—"
        if values.size == 1:
            return f"{values[0]:.4f}"
        return f"{values.mean():.4f} ± {values.std(ddof=1):.4f}"

    print(
        "\n| run | fit seconds | iterations / epochs | training objective / point "
        "| held-out 3-NN accuracy | per subset |"
    )
    print("|---|---:|---:|---:|---:|---|")
    for name, seconds, n_iter, objective, accuracy in rows:
        shown = "—" if np.isnan(seconds) else f"{seconds:.1f}"
        each = " ".join(f"{a:.4f}" for a in accuracy) if len(accuracy) > 1 else ""
        print(
            f"| {name} | {shown} | {n_iter:.0f} | {spread(objective)} | {spread(accuracy)} "
            f"| {each} |"
        )
    by_name = {name.rsplit(", N=", 1)[0]: accuracy for name, _, _, _, accuracy in rows}
    for lbfgs in ["(b) lbfgs", "(b) lbfgs, scikit-learn's stop (tol=1e-5)"]:
        if lbfgs in by_name and len(by_name[lbfgs]) == len(by_name["(b) adam"]):
            gaps = 100 * (np.asarray(by_name["(b) adam"]) - np.asarray(by_name[lbfgs]))
            within = np.all(np.abs(gaps) <= 1)
            print(
                f"Adam − {lbfgs[4:]}, per subset: {' '.join(f'{g:+.2f}' for g in gaps)} "
                f"accuracy points (mean {gaps.mean():+.2f}); within 1 point on every subset: "
                f"{'yes' if within else 'no'}; Adam at least 1 point below it on any: "
                f"{'yes' if np.any(gaps < -1) else 'no'}"
            )


if __name__ == "__main__":
    main()
