"""Tests of stochastic NCA: solver="adam" | "sgd" with stratified mini-batches.

The batch sampler is checked against the properties it promises (a partition,
classes in proportion, every point with a classmate), counted independently
with np.bincount; the fits are checked by the full-data objective (computed by
nca_loss, itself tested against the paper's formulas elsewhere) and by held-out
k-NN accuracy against full-batch L-BFGS.
"""

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.datasets import make_classification
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

import tinygrad_nca as tg
from tinygrad_nca import NCA
from tinygrad_nca.nca.estimator import _stalled, stratified_batches


def quiet_fit(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


@pytest.fixture(scope="module")
def blobs():
    """4 classes separated in 4 of 20 standardised features: raw k-NN is poor
    (~0.7 held out), a learned metric is good (~0.95)."""
    X, y = make_classification(
        n_samples=600,
        n_features=20,
        n_informative=4,
        n_redundant=0,
        n_classes=4,
        n_clusters_per_class=1,
        class_sep=1.5,
        random_state=0,
    )
    X = StandardScaler().fit_transform(X)
    return train_test_split(X, y, test_size=0.5, random_state=0, stratify=y)


def knn_accuracy(nca, X_train, X_test, y_train, y_test):
    knn = KNeighborsClassifier(n_neighbors=3).fit(nca.transform(X_train), y_train)
    return knn.score(nca.transform(X_test), y_test)


# ---------------------------------------------------------------- the batch sampler
def check_batches(y, batch_size, batches):
    """The sampler's promises, counted independently of its code."""
    y = np.asarray(y)
    n, classes = y.size, np.unique(y)
    n_batches = -(-n // batch_size)
    everything = np.concatenate(batches)
    # A partition: every index exactly once.
    assert np.array_equal(np.sort(everything), np.arange(n))
    assert len(batches) <= n_batches
    sizes = {c: np.sum(y == c) for c in classes}
    for batch in batches:
        counts = {c: np.sum(y[batch] == c) for c in classes}
        for c, count in counts.items():
            # Wherever a class appears it has a classmate (unless it has only one point).
            assert count == 0 or count >= 2 or sizes[c] == 1
            # A class large enough to give every batch 2 points is in every batch,
            # in proportion: ⌊n_c / n_batches⌋ or ⌈n_c / n_batches⌉ points.
            if sizes[c] >= 2 * n_batches:
                assert sizes[c] // n_batches <= count <= -(-sizes[c] // n_batches)


def test_stratified_batches_are_a_stratified_partition():
    rng = np.random.RandomState(0)
    y = rng.permutation(np.repeat(["a", "b", "c", "d", "e", "f"], [500, 300, 150, 7, 3, 1]))
    batches = stratified_batches(y, 100, random_state=0)
    assert len(batches) == 10
    check_batches(y, 100, batches)
    # Batch sizes stay near batch_size: each class adds at most one extra point.
    assert all(abs(len(b) - 96) <= 6 for b in batches)
    # The small classes are not all piled into the same batch.
    holding = [i for i, b in enumerate(batches) if np.isin(y[b], ["d", "e", "f"]).any()]
    assert len(holding) >= 3


@given(
    st.lists(st.integers(1, 40), min_size=1, max_size=6),
    st.integers(2, 50),
    st.integers(0, 2**31 - 1),
)
def test_stratified_batches_property(class_sizes, batch_size, seed):
    y = np.random.RandomState(seed).permutation(np.repeat(np.arange(len(class_sizes)), class_sizes))
    check_batches(y, batch_size, stratified_batches(y, batch_size, random_state=seed))


def test_stratified_batches_reproducible_and_random():
    y = np.repeat([0, 1, 2], [40, 30, 20])
    first = stratified_batches(y, 30, random_state=1)
    again = stratified_batches(y, 30, random_state=1)
    other = stratified_batches(y, 30, random_state=2)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=False))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=False))
    with pytest.raises(ValueError, match="batch_size must be at least 2"):
        stratified_batches(y, 1)


# ---------------------------------------------------------------- fits
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_stochastic_fit_improves_objective_and_matches_lbfgs_accuracy(blobs, solver):
    X_train, X_test, y_train, y_test = blobs
    start = PCA(n_components=4, random_state=0).fit(X_train).components_
    lbfgs = quiet_fit(NCA(init=start), X_train, y_train)
    stochastic = quiet_fit(
        NCA(init=start, solver=solver, batch_size=100, random_state=0), X_train, y_train
    )
    before = float(tg.nca_loss(start, X_train, y_train).value)
    after = float(tg.nca_loss(stochastic.components_, X_train, y_train).value)
    assert after > before + 0.1 * len(y_train)  # measured: ~0.78 → ~0.98 per point
    accuracy = knn_accuracy(stochastic, X_train, X_test, y_train, y_test)
    assert accuracy >= knn_accuracy(lbfgs, X_train, X_test, y_train, y_test) - 0.03
    raw = KNeighborsClassifier(n_neighbors=3).fit(X_train, y_train).score(X_test, y_test)
    assert accuracy > raw + 0.15
    # The per-point mini-batch objective of the epochs, in [0, 1], going up.
    curve = stochastic.loss_curve_
    assert curve.shape == (stochastic.n_iter_ + 1,)
    assert np.all((curve >= 0) & (curve <= 1))
    assert curve[-1] > curve[0] + 0.1


def test_log_objective_and_float32(blobs):
    X_train, _, y_train, _ = blobs
    nca = quiet_fit(
        NCA(
            n_components=4,
            solver="adam",
            objective="log",
            dtype=np.float32,
            batch_size=100,
            max_iter=10,
            random_state=0,
        ),
        X_train,
        y_train,
    )
    assert nca.components_.dtype == np.float32
    assert np.all(nca.loss_curve_ <= 0) and nca.loss_curve_[-1] > nca.loss_curve_[0]


def test_reproducible_with_random_state(blobs):
    X_train, _, y_train, _ = blobs
    settings = dict(n_components=2, solver="adam", batch_size=64, max_iter=3)
    first = quiet_fit(NCA(random_state=5, **settings), X_train, y_train)
    again = quiet_fit(NCA(random_state=5, **settings), X_train, y_train)
    other = quiet_fit(NCA(random_state=6, **settings), X_train, y_train)
    np.testing.assert_array_equal(first.components_, again.components_)
    assert not np.allclose(first.components_, other.components_)


def test_batch_size_and_learning_rate_are_used(blobs):
    X_train, _, y_train, _ = blobs
    # 300 points in batches of 100: 3 Adam steps in one epoch. Adam's first step
    # moves every entry by lr exactly (m̂/√ŝ = ±1), so after 3 by at most 3·lr.
    start = np.eye(4, 20)
    for lr in (1e-3, 1e-2):
        nca = quiet_fit(
            NCA(
                init=start,
                solver="adam",
                batch_size=100,
                max_iter=1,
                learning_rate=lr,
                random_state=0,
            ),
            X_train,
            y_train,
        )
        assert np.abs(nca.components_ - start).max() <= 3 * lr + 1e-12
        assert np.abs(nca.components_ - start).max() >= 0.5 * lr
    # batch_size larger than the data: one full batch per epoch.
    big = quiet_fit(
        NCA(n_components=2, solver="sgd", batch_size=10_000, max_iter=2, random_state=0),
        X_train,
        y_train,
    )
    assert big.n_iter_ == 2


def test_callback_and_verbose_per_epoch(blobs, capsys):
    X_train, _, y_train, _ = blobs
    calls = []
    nca = quiet_fit(
        NCA(
            n_components=2,
            solver="adam",
            batch_size=100,
            max_iter=4,
            verbose=2,
            random_state=0,
            callback=lambda t, n: calls.append((t.copy(), n)),
        ),
        X_train,
        y_train,
    )
    assert [n for _, n in calls] == [1, 2, 3, 4] and nca.n_iter_ == 4
    np.testing.assert_array_equal(calls[-1][0].reshape(nca.components_.shape), nca.components_)
    out = capsys.readouterr().out
    assert "Epoch" in out and "Objective Value" in out and "Training took" in out
    epoch_rows = [
        line.split()[1:]
        for line in out.splitlines()
        if len(line.split()) == 4 and line.split()[1].isdigit()
    ]
    assert [int(row[0]) for row in epoch_rows] == [1, 2, 3, 4]
    np.testing.assert_allclose(
        [float(row[1]) for row in epoch_rows], nca.loss_curve_[1:], rtol=1e-5
    )
    assert "(step " in out  # verbose=2: rows within epochs


def test_tol_stops_after_two_windows_without_progress(blobs):
    X_train, _, y_train, _ = blobs
    # No objective per point can rise by tol=10 per epoch: the fit stops as
    # soon as two windows of 10 epochs can be compared.
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        nca = NCA(
            n_components=2, solver="adam", batch_size=100, tol=10.0, max_iter=50, random_state=0
        ).fit(X_train, y_train)
    assert nca.n_iter_ == 20
    with pytest.warns(ConvergenceWarning, match="reached max_iter=3 epochs"):
        NCA(n_components=2, solver="adam", batch_size=100, max_iter=3, random_state=0).fit(
            X_train, y_train
        )


def first_stop_of_best_so_far_rule(values, tol, patience=10):
    """The epoch at which scikit-learn's MLP rule (no epoch beat the best so
    far by more than tol for ``patience`` epochs) stops, counted here."""
    best, stale = -np.inf, 0
    for epoch, value in enumerate(values, start=1):
        best, stale = (value, 0) if value > best + tol else (max(best, value), stale + 1)
        if stale >= patience:
            return epoch
    return None


def test_stop_rule_is_not_fooled_by_noisy_epochs():
    # Epoch means as measured on 784-dimensional data with few mini-batches per
    # epoch: a steady rise of 0.001 per epoch under noise of 0.006.
    rng = np.random.RandomState(0)
    rising = 0.5 + 0.001 * np.arange(300) + 0.006 * rng.standard_normal(300)
    assert first_stop_of_best_so_far_rule(rising, tol=1e-5) is not None  # the MLP rule stops
    assert not any(_stalled(list(rising[:k]), tol=1e-5) for k in range(1, 301))
    # Converged (flat under the same noise): stops soon after 20 epochs.
    flat = 0.8 + 0.006 * rng.standard_normal(300)
    stops = [k for k in range(1, 301) if _stalled(list(flat[:k]), tol=1e-5)]
    assert stops and 20 <= stops[0] <= 40
    # Falling (a diverging step size): stops at once.
    assert _stalled(list(0.8 - 0.01 * np.arange(20)), tol=1e-5)


def test_max_memory_bounds_one_mini_batch(blobs):
    X_train, _, y_train, _ = blobs
    # 300 × 300 matrices need ~6.5 MB; one batch of ~50 needs ~0.2 MB.
    with pytest.raises(ValueError, match="too small"):
        NCA(n_components=2, max_memory=20_000).fit(X_train, y_train)
    nca = quiet_fit(
        NCA(
            n_components=2,
            solver="adam",
            batch_size=50,
            max_iter=2,
            max_memory="1MB",
            random_state=0,
        ),
        X_train,
        y_train,
    )
    assert nca.n_iter_ == 2


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(solver="newton"), "'solver' parameter"),
        (dict(solver="adam", batch_size=1), "'batch_size' parameter"),
        (dict(solver="adam", batch_size=2.5), "'batch_size' parameter"),
        (dict(solver="sgd", learning_rate=0.0), "'learning_rate' parameter"),
        (dict(solver="sgd", learning_rate=-1.0), "'learning_rate' parameter"),
        (dict(solver="adam", learning_rate="fast"), "'learning_rate' parameter"),
    ],
)
def test_invalid_parameters(blobs, params, message):
    X_train, _, y_train, _ = blobs
    with pytest.raises(InvalidParameterError, match=message):
        NCA(**params).fit(X_train, y_train)


def test_save_and_load_keep_the_solver(blobs, tmp_path):
    X_train, _, y_train, _ = blobs
    nca = quiet_fit(
        NCA(
            n_components=2,
            solver="sgd",
            batch_size=64,
            learning_rate=0.05,
            max_iter=2,
            random_state=0,
        ),
        X_train,
        y_train,
    )
    nca.save(tmp_path / "model.npz")
    loaded = NCA.load(tmp_path / "model.npz")
    assert loaded.get_params() == {**nca.get_params(), "callback": None}
    np.testing.assert_array_equal(loaded.transform(X_train), nca.transform(X_train))


# ---------------------------------------------------------------- scikit-learn's checks
@parametrize_with_checks([NCA(solver="adam"), NCA(solver="sgd", batch_size=16)])
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)
