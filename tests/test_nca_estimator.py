"""Tests of the NCA estimator: scikit-learn's API and checks, results equal to
scikit-learn's NCA, the extras (objective, dtype, max_memory, loss_curve_,
verbose) and model files."""

import os
import tracemalloc
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score, train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neighbors import NeighborhoodComponentsAnalysis as SklearnNCA
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

import tinygrad_nca as tg
from tinygrad_nca import NCA, NeighborhoodComponentsAnalysis
from tinygrad_nca.nca.estimator import memory_estimate, parse_bytes


def standardised(load):
    X, y = load(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def iris():
    return standardised(load_iris)


def quiet_fit(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


# ---------------------------------------------------------------- scikit-learn's own checks
def expected_failed_checks(estimator):
    if np.dtype(estimator.dtype) == np.float32:
        # The check compares transform(X)[perm] with transform(X[perm]) to
        # rtol=1e-7, about float32's machine epsilon: BLAS rounds a row of a
        # float32 product differently depending on where it falls in the
        # blocking, so the last bit can differ. Not a fault of the estimator.
        return {
            "check_methods_sample_order_invariance": "float32 matrix products agree to rounding (~1e-7), the check's tolerance"
        }
    return {}


@parametrize_with_checks(
    [
        NeighborhoodComponentsAnalysis(),
        NeighborhoodComponentsAnalysis(objective="log", dtype=np.float32),
    ],
    expected_failed_checks=expected_failed_checks,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# ---------------------------------------------------------------- same results as scikit-learn
@pytest.mark.parametrize("load", [load_iris, load_wine])
@pytest.mark.parametrize(
    "settings",
    [
        dict(n_components=2),  # "auto" → lda
        dict(n_components=3, max_iter=8),  # "auto" → pca (iris), lda (wine)
        dict(),  # "auto" → identity
        dict(n_components=2, init="random", random_state=0, max_iter=10),
    ],
)
def test_same_components_as_sklearn(load, settings):
    X, y = standardised(load)
    ours = quiet_fit(NCA(**settings), X, y)
    theirs = quiet_fit(SklearnNCA(**settings), X, y)
    # Same objective, same start, same L-BFGS-B and stopping rule: the same
    # iterates, up to rounding in the gradient (measured: 1e-9 or better).
    assert (
        np.abs(ours.components_ - theirs.components_).max()
        <= 1e-6 * np.abs(theirs.components_).max()
    )
    assert ours.n_iter_ == theirs.n_iter_ - 1  # scikit-learn counts one extra
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.4, random_state=0, stratify=y
    )
    scores = []
    for nca in (NCA(**settings), SklearnNCA(**settings)):
        model = make_pipeline(nca, KNeighborsClassifier(n_neighbors=3))
        scores.append(quiet_fit(model, X_train, y_train).score(X_test, y_test))
    assert abs(scores[0] - scores[1]) <= 1 / len(y_test) + 1e-12


def test_nca_beats_or_matches_euclidean_knn_on_wine():
    X, y = standardised(load_wine)
    knn = KNeighborsClassifier(n_neighbors=1)
    nca = cross_val_score(make_pipeline(NCA(n_components=2), knn), X, y, cv=3).mean()
    euclidean = cross_val_score(knn, X, y, cv=3).mean()
    assert nca >= euclidean - 0.02


# ---------------------------------------------------------------- scikit-learn API behaviour
def test_callback_contract(iris):
    X, y = iris
    calls = []
    nca = quiet_fit(NCA(n_components=2, callback=lambda t, n: calls.append((t.copy(), n))), X, y)
    assert [n for _, n in calls] == list(range(1, nca.n_iter_ + 1))
    assert all(t.shape == (2 * X.shape[1],) for t, _ in calls)
    np.testing.assert_array_equal(calls[-1][0].reshape(nca.components_.shape), nca.components_)


@pytest.mark.parametrize("solver", ["lbfgs", "adam", "sgd"])
def test_a_callback_raising_stop_iteration_ends_the_fit_quietly(iris, solver):
    X, y = iris
    seen = []

    def stop_at_three(transformation, n_iter):
        seen.append(transformation.copy())
        if n_iter == 3:
            raise StopIteration

    nca = NCA(n_components=2, solver=solver, max_iter=50, batch_size=50, callback=stop_at_three)
    if solver == "lbfgs":
        nca.set_params(batch_size=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # a deliberate stop: no warning
        nca.fit(X, y)
    assert nca.n_iter_ == 3 and len(seen) == 3
    np.testing.assert_array_equal(seen[-1].reshape(nca.components_.shape), nca.components_)
    # the next fit without a stop warns again when it runs out of iterations
    with pytest.warns(ConvergenceWarning):
        NCA(
            n_components=2, solver=solver, max_iter=2, batch_size=None if solver == "lbfgs" else 50
        ).fit(X, y)


def test_convergence_warning_when_max_iter_is_reached(iris):
    X, y = iris
    with pytest.warns(ConvergenceWarning, match="did not converge.*increase max_iter"):
        nca = NCA(max_iter=2).fit(X, y)
    assert nca.n_iter_ == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        NCA(n_components=2, max_iter=200).fit(X, y)


def test_loss_curve_and_verbose_table(iris, capsys):
    X, y = iris
    nca = quiet_fit(NCA(n_components=2, max_iter=5, verbose=1), X, y)
    out = capsys.readouterr().out
    assert "Iteration" in out and "Objective Value" in out and "Training took" in out
    rows = [line.split() for line in out.splitlines() if line.split()[1:2] == ["1"]]
    assert rows, out
    assert nca.loss_curve_.shape == (nca.n_iter_ + 1,)
    assert np.all(np.diff(nca.loss_curve_) >= -1e-9)  # the objective never goes down
    # The curve holds the objective itself: check its last entry independently.
    final = float(tg.nca_loss(nca.components_, X, y).value)
    assert nca.loss_curve_[-1] == pytest.approx(final, rel=1e-10)
    assert float(rows[0][2]) == pytest.approx(nca.loss_curve_[1], rel=1e-5)


def test_log_objective(iris):
    X, y = iris
    nca = quiet_fit(NCA(n_components=2, objective="log", max_iter=20), X, y)
    assert np.all(nca.loss_curve_ <= 0)  # Σ log p_i ≤ 0
    assert nca.loss_curve_[-1] == pytest.approx(
        float(tg.nca_loss(nca.components_, X, y, objective="log").value), rel=1e-10
    )
    assert nca.loss_curve_[-1] > nca.loss_curve_[0]


def test_transform_is_a_projection(iris):
    X, y = iris
    nca = quiet_fit(NCA(n_components=2, max_iter=5), X, y)
    np.testing.assert_allclose(nca.transform(X), X @ nca.components_.T)
    assert nca.components_.shape == (2, 4) and nca.n_features_in_ == 4
    assert list(nca.get_feature_names_out()) == [
        "neighborhoodcomponentsanalysis0",
        "neighborhoodcomponentsanalysis1",
    ]


def test_pipeline_grid_search_and_clone(iris):
    X, y = iris
    pipeline = make_pipeline(NCA(max_iter=5), KNeighborsClassifier())
    search = GridSearchCV(pipeline, {"neighborhoodcomponentsanalysis__n_components": [1, 2]}, cv=2)
    quiet_fit(search, X, y)
    assert search.best_params_["neighborhoodcomponentsanalysis__n_components"] in (1, 2)
    copy = clone(NCA(n_components=2, objective="log", dtype=np.float32, max_memory="1GB"))
    assert copy.get_params()["objective"] == "log" and copy.get_params()["max_memory"] == "1GB"


def test_pandas_feature_names_and_set_output():
    data = load_iris(as_frame=True)
    X, y = data.data, data.target
    nca = quiet_fit(NCA(n_components=2, max_iter=5), X, y).set_output(transform="pandas")
    assert list(nca.feature_names_in_) == list(X.columns)
    out = nca.transform(X)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == list(nca.get_feature_names_out())
    np.testing.assert_allclose(out.to_numpy(), X.to_numpy() @ nca.components_.T)


def test_warm_start_continues(iris):
    X, y = iris
    nca = quiet_fit(NCA(n_components=2, max_iter=3, warm_start=True), X, y)
    first = nca.components_.copy()
    quiet_fit(nca, X, y)
    assert nca.loss_curve_[0] == pytest.approx(float(tg.nca_loss(first, X, y).value), rel=1e-12)


def test_init_array_and_identity(iris):
    X, y = iris
    start = np.random.default_rng(0).standard_normal((2, 4))
    calls = []
    quiet_fit(NCA(init=start, max_iter=1, callback=lambda t, n: calls.append(n)), X, y)
    nca = NCA(init=start, max_iter=1)
    quiet_fit(nca, X, y)
    assert nca.loss_curve_[0] == pytest.approx(float(tg.nca_loss(start, X, y).value))
    identity = quiet_fit(NCA(init="identity", max_iter=1), X, y)
    assert identity.loss_curve_[0] == pytest.approx(float(tg.nca_loss(np.eye(4), X, y).value))


# ---------------------------------------------------------------- bad parameters and data
@pytest.mark.parametrize(
    "make_data, estimator, error, match",
    [
        (
            lambda X, y: (np.where(np.eye(150, 4, dtype=bool), np.nan, X), y),
            NCA(),
            ValueError,
            "NaN",
        ),
        (
            lambda X, y: (np.where(np.eye(150, 4, dtype=bool), np.inf, X), y),
            NCA(),
            ValueError,
            "infinity",
        ),
        (
            lambda X, y: (X, np.zeros(len(y))),
            NCA(init="lda"),
            ValueError,
            "init='lda' needs samples of at least 2 classes.*single class",
        ),
        (lambda X, y: (X[:1], y[:1]), NCA(), ValueError, "1 sample"),
        (lambda X, y: (X, y + 0.5), NCA(), ValueError, "Unknown label type"),
        (
            lambda X, y: (X, y),
            NCA(n_components=5),
            ValueError,
            r"`n_components` \(5\) cannot be greater than the given data dimensionality \(4\)",
        ),
        (
            lambda X, y: (X, y),
            NCA(init=np.ones((2, 3))),
            ValueError,
            r"input dimensionality \(3\) of the given linear transformation `init` must match",
        ),
        (lambda X, y: (X, y), NCA(init=np.ones((5, 4))), ValueError, "cannot be greater than its"),
        (
            lambda X, y: (X, y),
            NCA(n_components=1, init=np.ones((2, 4))),
            ValueError,
            "does not match the output dimensionality",
        ),
        (lambda X, y: (X, y), NCA(objective="hinge"), InvalidParameterError, "'objective'"),
        (lambda X, y: (X, y), NCA(max_iter=0), InvalidParameterError, "'max_iter'"),
        (lambda X, y: (X, y), NCA(dtype=np.int32), InvalidParameterError, "'dtype'"),
        (lambda X, y: (X, y), NCA(max_memory="lots"), ValueError, "not a memory size"),
        (
            lambda X, y: (X, y),
            NCA(max_memory=1000),
            ValueError,
            "too small for 150 samples.*even one row at a time",
        ),
    ],
)
def test_bad_input_gets_a_clear_error(iris, make_data, estimator, error, match):
    X, y = make_data(*iris)
    with pytest.raises(error, match=match):
        estimator.fit(X, y)


# ---------------------------------------------------------------- a single class
@pytest.mark.parametrize(
    "settings",
    [
        dict(n_components=2),  # "auto" → pca (lda needs 2 classes)
        dict(),  # "auto" → identity
        dict(n_components=3, init="pca", random_state=0),
        dict(n_components=2, init="random", random_state=0),
    ],
)
def test_a_single_class_keeps_the_initial_transformation_as_sklearn_does(iris, settings):
    # A cross-validation fold can hold one class. scikit-learn's NCA then
    # succeeds quietly with its initial transformation (the objective is
    # constant: p_i = 1 for every point).
    X, y = iris
    X, y = X[y == 1], y[y == 1]
    calls = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning of any kind
        ours = NCA(callback=lambda t, n: calls.append(n), **settings).fit(X, y)
        theirs = SklearnNCA(**settings).fit(X, y)
    np.testing.assert_allclose(ours.components_, theirs.components_, rtol=1e-12, atol=1e-12)
    assert ours.n_iter_ == theirs.n_iter_ - 1 == 0  # scikit-learn counts one extra
    assert calls == []
    assert ours.loss_curve_.tolist() == [float(len(y))]  # Σ p_i with every p_i = 1
    assert ours.transform(X).shape == (len(y), ours.components_.shape[0])


@pytest.mark.parametrize(
    "objective, solver, start",
    [
        ("expected", "lbfgs", lambda X, y: float(len(y))),
        ("log", "lbfgs", lambda X, y: 0.0),
        ("expected", "adam", lambda X, y: 1.0),  # the stochastic solvers: per point
        ("log", "sgd", lambda X, y: 0.0),
    ],
)
def test_a_single_class_with_every_objective_and_solver(iris, objective, solver, start):
    X, y = iris
    X, y = X[y == 2], np.full(int(np.sum(y == 2)), "virginica")
    init = np.random.default_rng(0).standard_normal((2, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nca = NCA(init=init, objective=objective, solver=solver).fit(X, y)
    np.testing.assert_array_equal(nca.components_, init)
    assert nca.n_iter_ == 0
    # The constant objective, as the loss computes it at that transformation.
    per_point = len(y) if solver != "lbfgs" else 1
    assert float(
        tg.nca_loss(init, X, np.zeros(len(y), dtype=int), objective=objective).value
    ) / per_point == pytest.approx(start(X, y), abs=1e-12)
    assert nca.loss_curve_.tolist() == pytest.approx([start(X, y)], abs=1e-12)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_cross_validation_with_a_one_class_fold():
    # Unshuffled folds of class-sorted data: the first split trains on the last
    # 30 points, all of class 1, and tests on 10 of class 0 and 20 of class 1.
    X, y = standardised(load_iris)
    X, y = X[y < 2][40:], y[y < 2][40:]
    pipeline = make_pipeline(NCA(n_components=2, max_iter=5), KNeighborsClassifier(1))
    scores = cross_val_score(pipeline, X, y, cv=KFold(2), error_score="raise")
    assert scores[0] == pytest.approx(20 / 30)  # a one-class model predicts class 1


# ---------------------------------------------------------------- the Mahalanobis matrix
def test_mahalanobis_matrix_gives_the_learned_squared_distances(iris):
    from scipy.spatial.distance import mahalanobis

    X, y = iris
    nca = quiet_fit(NCA(n_components=2, max_iter=10), X, y)
    M = nca.get_mahalanobis_matrix()
    assert M.shape == (4, 4)
    np.testing.assert_allclose(M, M.T, rtol=0, atol=1e-12)
    assert np.linalg.matrix_rank(M) == 2
    # ‖L(x − y)‖², from the projected points, against (x − y)ᵀ M (x − y) as SciPy computes it.
    Z = nca.transform(X)
    for i, j in [(0, 1), (0, 149), (17, 88), (60, 120)]:
        projected = float(np.sum((Z[i] - Z[j]) ** 2))
        assert mahalanobis(X[i], X[j], M) ** 2 == pytest.approx(projected, rel=1e-10)


def test_mahalanobis_matrix_before_fit_is_an_error():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        NCA().get_mahalanobis_matrix()


def test_warm_start_with_other_features_is_an_error(iris):
    X, y = iris
    nca = quiet_fit(NCA(n_components=2, warm_start=True, max_iter=2), X, y)
    with pytest.raises(ValueError, match=r"new inputs dimensionality \(3\) does not match"):
        nca.fit(X[:, :3], y)


def test_transform_before_fit_and_with_wrong_features(iris):
    X, y = iris
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        NCA().transform(X)
    nca = quiet_fit(NCA(max_iter=2), X, y)
    with pytest.raises(ValueError, match="4 features"):
        nca.transform(X[:, :3])


# ---------------------------------------------------------------- float32 and memory budget
def test_float32_end_to_end(iris):
    X, y = iris
    nca32 = quiet_fit(NCA(n_components=2, dtype=np.float32, max_iter=20), X, y)
    nca64 = quiet_fit(NCA(n_components=2, max_iter=20), X, y)
    assert nca32.components_.dtype == np.float32
    assert nca32.transform(X).dtype == np.float32
    assert nca32.transform(X.astype(np.float32)).dtype == np.float32
    knn = KNeighborsClassifier(n_neighbors=3)
    score32 = knn.fit(nca32.transform(X), y).score(nca32.transform(X), y)
    score64 = knn.fit(nca64.transform(X), y).score(nca64.transform(X), y)
    assert abs(score32 - score64) <= 0.02


def test_max_memory_uses_blocks_with_the_same_result(iris):
    X, y = iris
    full = quiet_fit(NCA(n_components=2, max_iter=10), X, y)
    budget = memory_estimate(150, 2, 8, 20)  # room for blocks of about 20 rows
    assert full._block_size(150, 2, 8) is None
    blocked = NCA(n_components=2, max_iter=10, max_memory=budget)
    assert 15 <= blocked._block_size(150, 2, 8) <= 20
    quiet_fit(blocked, X, y)
    np.testing.assert_allclose(blocked.components_, full.components_, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("objective", ["expected", "log"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n, d, block", [(400, 8, None), (400, 8, 50), (150, 3, 1), (200, 30, 7)])
def test_memory_estimate_bounds_the_measured_peak(objective, dtype, n, d, block):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 40)).astype(dtype)
    y = rng.integers(0, 5, n)
    A = rng.standard_normal((d, 40)).astype(dtype)
    tracemalloc.start()
    try:
        tg.value_and_grad(tg.nca_loss)(A, X, y, objective=objective, block_size=block)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= memory_estimate(n, d, np.dtype(dtype).itemsize, block or n)


def test_parse_bytes():
    assert parse_bytes("2GB") == 2e9
    assert parse_bytes(" 512 MiB ") == 512 * 2**20
    assert parse_bytes(1e6) == 1e6
    for bad in ("2 parsecs", "GB", "-1GB", ""):
        with pytest.raises(ValueError):
            parse_bytes(bad)


# ---------------------------------------------------------------- model files
def test_save_and_load_round_trip(tmp_path):
    data = load_iris(as_frame=True)
    nca = quiet_fit(
        NCA(
            n_components=2,
            objective="log",
            max_iter=5,
            random_state=3,
            dtype=np.float32,
            max_memory="1GB",
        ),
        data.data,
        data.target,
    )
    path = tmp_path / "model.npz"
    nca.save(path)
    loaded = NCA.load(path)
    assert loaded.get_params() == {**nca.get_params(), "callback": None}
    np.testing.assert_array_equal(loaded.components_, nca.components_)
    assert loaded.components_.dtype == np.float32
    np.testing.assert_array_equal(loaded.loss_curve_, nca.loss_curve_)
    assert loaded.n_iter_ == nca.n_iter_ and loaded.n_features_in_ == 4
    assert list(loaded.feature_names_in_) == list(data.data.columns)
    np.testing.assert_array_equal(loaded.transform(data.data), nca.transform(data.data))
    assert loaded.random_state_.randint(1 << 30) == nca.random_state_.randint(1 << 30)
    assert os.listdir(tmp_path) == ["model.npz"]  # no temporary file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask  # ordinary permissions


def test_save_with_an_init_array_and_overwrite(tmp_path, iris):
    X, y = iris
    nca = quiet_fit(NCA(init=np.eye(2, 4), max_iter=2), X, y)
    path = tmp_path / "m.npz"
    path.write_text("old")
    nca.save(path)
    np.testing.assert_array_equal(NCA.load(path).init, np.eye(2, 4))


def _valid_arrays(tmp_path, iris):
    nca = quiet_fit(NCA(n_components=2, max_iter=2), *iris)
    nca.save(tmp_path / "good.npz")
    with np.load(tmp_path / "good.npz") as data:
        return {key: data[key] for key in data.files}


@pytest.mark.parametrize(
    "corrupt, match",
    [
        (lambda arrays: {"weights": np.ones(3)}, "not a tinygrad_nca model file"),
        (lambda arrays: {**arrays, "format_version": np.array(99)}, "newer"),
        (lambda arrays: {k: v for k, v in arrays.items() if k != "components_"}, "missing"),
        (lambda arrays: {**arrays, "components_": np.ones((2, 3))}, "components_ has shape"),
        (lambda arrays: {**arrays, "params": np.array("{not json")}, "not valid JSON"),
        (
            lambda arrays: {**arrays, "params": np.array('{"objective": "hinge"}')},
            "invalid parameters",
        ),
        (
            lambda arrays: {**arrays, "params": np.array(np.array([{"a": 1}], dtype=object))},
            "not a tinygrad_nca model file",
        ),
    ],
)
def test_load_rejects_foreign_or_damaged_files(tmp_path, iris, corrupt, match):
    arrays = corrupt(_valid_arrays(tmp_path, iris))
    path = tmp_path / "bad.npz"
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    with pytest.raises(ValueError, match=match):
        NCA.load(path)


@pytest.mark.parametrize(
    "content, kind",
    [
        (b"this is not a model\n", "it is a text file"),
        (b"a,b,species\n1.0,2.0,setosa\n", "text file that looks like CSV data"),
        ("\ufeffa;b\n1;2\n".encode(), "text file that looks like CSV data"),
        (b"", "the file is empty"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "binary file of another kind"),
        (b"PK\x03\x04" + b"\x00" * 60, "cannot be read as an .npz"),  # a damaged zip
        ("npy", "a single NumPy array (.npy)"),
        ("pickled npz", "cannot be read as an .npz of plain arrays"),
    ],
)
def test_load_rejects_other_files_in_its_own_words(tmp_path, content, kind):
    path = tmp_path / "model.npz"
    if content == "npy":
        with open(path, "wb") as f:
            np.save(f, np.ones(3))
    elif content == "pickled npz":
        with open(path, "wb") as f:
            np.savez(f, format=np.array([{"a": 1}], dtype=object))
    else:
        path.write_bytes(content)
    with pytest.raises(ValueError) as raised:
        NCA.load(path)
    message = str(raised.value)
    assert message.startswith(f"{str(path)!r} is not a tinygrad_nca model file")
    assert kind in message
    assert "pickle" not in message  # NumPy's advice (allow_pickle) is not the problem


def test_load_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model file at"):
        NCA.load(tmp_path / "missing.npz")


def test_save_before_fit_is_an_error(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        NCA().save(tmp_path / "m.npz")
