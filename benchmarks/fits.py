"""Whole NCA fits beside scikit-learn's: time and accuracy on the bundled data sets.

    OMP_NUM_THREADS=1 python benchmarks/fits.py [--repeats 5] [--datasets iris,wine,...]

For each data set (standardised) and each output size d (2, and D: a full-rank metric), both
estimators are fitted with their default settings on the whole data, timed in alternation
(median of ``--repeats`` fits each), and scored by 5-fold stratified cross-validation of
standardise → NCA → 1-NN. Prints a Markdown table with the ratio of fit times
(tinygrad_nca / scikit-learn) and both accuracies; issue 12's target is a ratio ≤ 1.0 with the
same accuracy.

Our estimator replays its objective with tg.jit, and fits share their programs: the first fit
on data of given shapes and labels traces the program (two traces, a probe and a check
replay), later fits on the same data replay it. The table gives both, each the median of the
repeats: a fit that traces (the shared programs dropped before it: what a cross-validation
pays for every fold, whose labels differ) and a fit that replays.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

DATASETS = ("iris", "wine", "breast_cancer", "digits")


def load(name):
    from sklearn import datasets
    from sklearn.preprocessing import StandardScaler

    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def estimators(d):
    from sklearn.neighbors import NeighborhoodComponentsAnalysis as SklearnNCA

    from tinygrad_nca import NeighborhoodComponentsAnalysis as OurNCA

    return {
        "tinygrad_nca": lambda: OurNCA(n_components=d, random_state=0),
        "scikit-learn": lambda: SklearnNCA(n_components=d, random_state=0),
    }


def forget_programs():
    """Drop the programs our estimator's fits share, so that the next fit traces."""
    from tinygrad_nca.nca.estimator import _replayed_nca

    _replayed_nca.cache_clear()


def fit_seconds(make, X, y):
    model = make()
    started = time.perf_counter()
    model.fit(X, y)
    return time.perf_counter() - started


def accuracy(make, X, y):
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = make_pipeline(StandardScaler(), make(), KNeighborsClassifier(1))
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    return float(np.mean(cross_val_score(pipe, X, y, cv=folds)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # ConvergenceWarnings of both, at max_iter=50
    print(
        "| data | N × D | d | tinygrad_nca fit, tracing | tinygrad_nca fit, replaying | "
        "scikit-learn fit | ratio (tracing) | ratio (replaying) | 1-NN accuracy (ours / "
        "scikit-learn, 5-fold) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.datasets.split(","):
        X, y = load(name)
        for d in (2, X.shape[1]):
            makers = estimators(d)
            for make in makers.values():  # warm-up: imports, first trace of the jit
                make().fit(X[:50], y[:50]) if len(set(y[:50])) > 1 else None
            times = {"tracing": [], **{label: [] for label in makers}}
            for _ in range(args.repeats):
                forget_programs()
                times["tracing"].append(fit_seconds(makers["tinygrad_nca"], X, y))
                for label, make in makers.items():
                    times[label].append(fit_seconds(make, X, y))
            first = float(np.median(times["tracing"]))
            ours, theirs = (float(np.median(times[label])) for label in makers)
            acc = [accuracy(make, X, y) for make in makers.values()]
            print(
                f"| {name} | {X.shape[0]} × {X.shape[1]} | {d} | {first * 1e3:.0f} ms | "
                f"{ours * 1e3:.0f} ms | {theirs * 1e3:.0f} ms | {first / theirs:.2f} | "
                f"{ours / theirs:.2f} | {acc[0]:.4f} / {acc[1]:.4f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
