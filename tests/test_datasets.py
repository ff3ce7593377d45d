"""Data sets: scikit-learn's bundled sets, the NCA paper's rings, and CSV files."""

import os
import warnings

import numpy as np
import pytest
from sklearn import datasets as sk_datasets
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from tinygrad_nca import datasets
from tinygrad_nca.datasets import (
    DATASETS,
    load_csv,
    load_dataset,
    make_rings,
    read_csv_columns,
    sniff_delimiter,
)


# ---------------------------------------------------------------------- bundled sets
@pytest.mark.parametrize(
    "name, loader, shape, n_classes",
    [
        ("digits", sk_datasets.load_digits, (1797, 64), 10),
        ("wine", sk_datasets.load_wine, (178, 13), 3),
        ("iris", sk_datasets.load_iris, (150, 4), 3),
        ("breast_cancer", sk_datasets.load_breast_cancer, (569, 30), 2),
    ],
)
def test_bundled_sets_are_scikit_learns(name, loader, shape, n_classes):
    X, y, info = load_dataset(name)
    reference = loader()
    assert X.shape == shape and X.dtype == np.float64
    np.testing.assert_array_equal(X, reference.data)
    np.testing.assert_array_equal(y, reference.target)
    assert len(np.unique(y)) == n_classes == len(info.target_names)
    assert info.name == name and len(info.feature_names) == shape[1]
    assert list(info.target_names) == [str(t) for t in reference.target_names]


def test_every_listed_dataset_loads():
    for name in DATASETS:
        X, y, info = load_dataset(name)
        assert X.shape[0] == y.shape[0] and np.isfinite(X).all()
        assert len(info.target_names) == len(np.unique(y))


def test_unknown_dataset_names_the_choices():
    with pytest.raises(ValueError, match="unknown dataset 'mnist'.*digits, wine, iris"):
        load_dataset("mnist")


def test_rings_options_only_for_rings():
    X, _, info = load_dataset("rings", n_samples=60, n_noise_dims=5)
    assert X.shape == (60, 7) and info.feature_names[2:] == tuple(f"noise_{i}" for i in range(5))
    with pytest.raises(TypeError, match="rings"):
        load_dataset("iris", n_noise_dims=3)


# ---------------------------------------------------------------------- rings
def test_rings_geometry():
    X, y = make_rings(120, n_rings=4, n_noise_dims=3, noise=0.0, noise_dims_std=2.0, seed=3)
    assert X.shape == (120, 5)
    assert np.bincount(y).tolist() == [30, 30, 30, 30]
    # Noise-free rings: the radius in the first two features is the class + 1.
    np.testing.assert_allclose(np.hypot(X[:, 0], X[:, 1]), y + 1.0)


def test_rings_noise_dimensions_have_the_asked_spread():
    X, _ = make_rings(6000, n_noise_dims=2, noise_dims_std=3.0, seed=0)
    np.testing.assert_allclose(X[:, 2:].std(axis=0), 3.0, rtol=0.05)
    np.testing.assert_allclose(X[:, 2:].mean(axis=0), 0.0, atol=0.15)
    # ... larger than the spread of the rings themselves, so PCA prefers them.
    assert X[:, 2:].var(axis=0).min() > X[:, :2].var(axis=0).max()


def test_rings_are_reproducible():
    a, ya = make_rings(50, seed=7)
    b, yb = make_rings(50, seed=7)
    c, _ = make_rings(50, seed=8)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ya, yb)
    assert not np.allclose(a, c)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_rings": 1}, "n_rings"),
        ({"n_samples": 5, "n_rings": 3}, "n_samples"),
        ({"n_noise_dims": -1}, "n_noise_dims"),
        ({"noise": -0.1}, "noise"),
        ({"noise_dims_std": float("nan")}, "noise_dims_std"),
        # wrong types: each used to pass, or fail inside NumPy without naming the parameter
        ({"noise": "a"}, "noise must be a finite number"),
        ({"noise": None}, "noise must be a finite number"),
        ({"noise_dims_std": True}, "noise_dims_std must be a finite number"),
        ({"n_noise_dims": True}, "n_noise_dims must be an integer"),
        ({"n_samples": 300.0}, "n_samples must be an integer"),
        ({"seed": "x"}, "seed must be an integer >= 0 or None"),
        ({"seed": -1}, "seed must be an integer >= 0 or None"),
        ({"seed": 1.5}, "seed must be an integer >= 0 or None"),
    ],
)
def test_rings_reject_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_rings(**kwargs)


def test_rings_accept_numpy_integers_and_no_seed():
    X, y = make_rings(
        np.int64(12),
        n_rings=np.int32(3),
        n_noise_dims=np.int64(1),
        noise=np.float32(0.0),
        seed=None,
    )
    assert X.shape == (12, 3) and np.bincount(y).tolist() == [4, 4, 4]


@pytest.mark.parametrize("name", [3, ["iris"], None])
def test_dataset_name_must_be_a_string(name):
    with pytest.raises(ValueError, match="dataset name must be a string.*iris"):
        load_dataset(name)


def test_load_dataset_checks_the_rings_seed():
    with pytest.raises(ValueError, match="seed must be an integer"):
        load_dataset("rings", seed="x")


def _held_out_accuracy(transformer, X_train, y_train, X_test, y_test):
    Z_train = transformer.fit(X_train, y_train).transform(X_train)
    knn = KNeighborsClassifier(n_neighbors=3).fit(Z_train, y_train)
    return knn.score(transformer.transform(X_test), y_test)


def test_rings_defeat_pca_and_lda_but_not_nca():
    # The paper's point, at d = 2. NCA's objective has local optima, so a single
    # split could be unlucky: compare means over a few fixed seeds.
    from tinygrad_nca import NeighborhoodComponentsAnalysis

    scores = {"PCA": [], "LDA": [], "NCA": []}
    for seed in range(5):
        X, y = make_rings(200, seed=seed)
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=0.25, stratify=y, random_state=seed
        )
        scaler = StandardScaler().fit(X_train)
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
        models = {
            "PCA": PCA(n_components=2),
            "LDA": LinearDiscriminantAnalysis(n_components=2),
            "NCA": NeighborhoodComponentsAnalysis(n_components=2, max_iter=100, random_state=seed),
        }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a ConvergenceWarning is not the point here
            for name, model in models.items():
                scores[name].append(_held_out_accuracy(model, X_train, y_train, X_test, y_test))
    mean = {name: float(np.mean(s)) for name, s in scores.items()}
    assert mean["NCA"] > 0.8, scores
    assert mean["PCA"] < 0.65 and mean["LDA"] < 0.65, scores
    assert mean["NCA"] - max(mean["PCA"], mean["LDA"]) > 0.25, scores


# ---------------------------------------------------------------------- CSV files
def _write(tmp_path, text, name="data.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def test_csv_text_labels(tmp_path):
    path = _write(tmp_path, "a, b ,kind,c\n1,2,cat,3\n\n4.5, -6e1 ,dog,7\n")
    X, y, info = load_csv(path, "kind")
    np.testing.assert_array_equal(X, [[1, 2, 3], [4.5, -60, 7]])
    assert y.tolist() == ["cat", "dog"]
    assert info.feature_names == ("a", "b", "c") and info.target_names == ("cat", "dog")
    assert info.name == "data" and info.target == "kind"


def test_csv_integer_labels_and_byte_order_mark(tmp_path):
    path = _write(tmp_path, "\ufeffx,label\n0.5,1\n1.5,0\n2.5,1.0\n", encoding="utf-8")
    X, y, _ = load_csv(path, "label")
    assert y.dtype.kind == "i" and y.tolist() == [1, 0, 1]
    np.testing.assert_array_equal(X[:, 0], [0.5, 1.5, 2.5])


@pytest.mark.parametrize(
    "text, target, error, message",
    [
        ("", "y", ValueError, "empty"),
        ("a,y\n", "y", ValueError, "no data rows"),
        ("a,b,y\n1,2,0\n3,4,1\n", "label", ValueError, "no column 'label'.*'a', 'b', 'y'"),
        (
            "a,colour,shape,y\n1,red,2,0\n2,blue,x,1\n",
            "y",
            ValueError,
            "non-numeric feature column.*'colour'.*'red'.*'shape'.*'x'",
        ),
        ("a,b,y\n1,nan,0\n2,3,1\n", "y", ValueError, "NaN in column 'b' on line 2"),
        ("a,b,y\n1,2,0\n2,inf,1\n", "y", ValueError, "infinite value in column 'b' on line 3"),
        ("a,b,y\n1,,0\n2,3,1\n", "y", ValueError, "missing value in column 'b' on line 2"),
        ("a,y\n1,0\n2,\n", "y", ValueError, "missing label .* line 3"),
        ("a,y\n1,same\n2,same\n", "y", ValueError, "one class only"),
        ("a,y\n1,0\n2,1,5\n", "y", ValueError, "line 3 has 3 fields, the header has 2"),
        ("a,y\n1,0\n2,1.5\n", "y", ValueError, "holds '1.5' on line 3.*continuous"),
        ("a,a,y\n1,2,0\n3,4,1\n", "y", ValueError, "duplicate column names: 'a'"),
        ("y\n0\n1\n", "y", ValueError, "no feature columns"),
        ("a,,y\n1,2,0\n3,4,1\n", "y", ValueError, "column 2 of the header has no name"),
    ],
)
def test_csv_errors_name_the_problem(tmp_path, text, target, error, message):
    path = _write(tmp_path, text)
    with pytest.raises(error, match=message):
        load_csv(path, target)


def test_csv_missing_file_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_csv(os.path.join(tmp_path, "absent.csv"), "y")
    with pytest.raises(OSError, match="directory"):
        load_csv(str(tmp_path), "y")


def test_csv_not_text(tmp_path):
    path = tmp_path / "binary.csv"
    path.write_bytes(b"a,y\n\xff\xfe\x00,1\n")
    with pytest.raises(ValueError, match="not a UTF-8 text file"):
        load_csv(str(path), "y")


@pytest.mark.parametrize(
    "path, target, delimiter, error, message",
    [
        (0, "kind", ",", TypeError, "path must be a file name.*int 0"),  # open(0) reads stdin
        (None, "kind", ",", TypeError, "path must be a file name"),
        ("PATH", 1, ",", ValueError, r"target must be the name of a column \(a str\), got 1"),
        ("PATH", None, ",", ValueError, "target must be the name of a column"),
        ("PATH", "kind", "", ValueError, "delimiter must be a single character"),
        ("PATH", "kind", ";;", ValueError, "delimiter must be a single character"),
    ],
)
def test_load_csv_argument_types(tmp_path, path, target, delimiter, error, message):
    csv_path = tmp_path / "t.csv"
    csv_path.write_text("a,kind\n1,x\n2,y\n")
    with pytest.raises(error, match=message):
        load_csv(csv_path if path == "PATH" else path, target, delimiter=delimiter)


# ---------------------------------------------------------------------- delimiters
@pytest.mark.parametrize(
    "text, delimiter",
    [
        ("a,b,y\n1,2,0\n3,4,1\n", ","),
        ("a;b;y\n1;2;0\n3;4;1\n", ";"),
        ("a\tb\ty\n1\t2\t0\n3\t4\t1\n", "\t"),
        ("a;b\n1,5;2,0\n3,25;4,0\n", ";"),  # decimal commas in a ";" file
        ("name\tscore\nSmith, J\t3.5\nLee, K\t4.0\n", "\t"),  # commas inside tab-separated text
        ('name,score\n"Smith; J",3.5\n"Lee; K",4.0\n', ","),  # a quoted ";" is not a delimiter
        ("a,b;c\n1,2;3\n4,5;6\n", ","),  # both fit with 2 fields: "," first
        ("a;b,c;d\n1;2,3;4\n", ";"),  # both fit: ";" gives more fields
        ("value\n1\n2\n", ","),  # one column: nothing to guess from
    ],
)
def test_sniff_delimiter(tmp_path, text, delimiter):
    assert sniff_delimiter(_write(tmp_path, text)) == delimiter


def test_sniff_delimiter_reads_only_the_start_of_a_long_file(tmp_path):
    # 100,000 rows: the guess comes from the first lines (the last one cut off is dropped).
    path = _write(tmp_path, "a;b\n" + "1.25;2.5\n" * 100_000)
    assert sniff_delimiter(path) == ";"


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_load_csv_with_other_delimiters(tmp_path, delimiter):
    rows = [["1.5", "2", "cat"], ["3", "-4e1", "dog"]]
    text = "\n".join(delimiter.join(r) for r in [["a", "b", "kind"]] + rows) + "\n"
    path = _write(tmp_path, text)
    X, y, info = load_csv(path, "kind", delimiter=delimiter)
    np.testing.assert_array_equal(X, [[1.5, 2.0], [3.0, -40.0]])
    assert y.tolist() == ["cat", "dog"] and info.feature_names == ("a", "b")
    if delimiter != "|":  # "|" is not guessed: it must be given
        X_guessed, _, _ = load_csv(path, "kind")
        np.testing.assert_array_equal(X_guessed, X)


def test_a_wrong_delimiter_is_named_in_the_error(tmp_path):
    path = _write(tmp_path, "a;b;y\n1;2;0\n3;4;1\n")
    with pytest.raises(ValueError, match="no column 'y'; the columns are: 'a;b;y'"):
        load_csv(path, "y", delimiter=",")


# ---------------------------------------------------------------------- the two readers agree
# Files the fast reader (NumPy's loadtxt) and the careful one (csv, cell by cell) must read alike.
_TRICKY_FILES = {
    "plain": "a,b,label\n1,2,x\n3,4,y\n",
    "spaces": "a , b ,label\n 1 , 2.5 , x \n3,  -4e-3,y\n",
    "blank lines": "a,b,label\n\n1,2,x\n\n\n3,4,y\n\n",
    "crlf": "a,b,label\r\n1,2,x\r\n3,4,y\r\n",
    "byte-order mark": "\ufeffa,b,label\n1,2,x\n3,4,y\n",
    "no final newline": "a,b,label\n1,2,x\n3,4,y",
    "quoted": '"a","b","label"\n"1","2","x, the first"\n3,4,"y ""quoted"""\n',
    "python spelling": "a,b,label\n1_000,2,x\n3,4,y\n",
    "only numbers": "a,b,label\n1,2,0\n3,4,1\n",
    "whitespace line": "a,b,label\n1,2,x\n   \n3,4,y\n",
    "empty-cells line": "a,b,label\n1,2,x\n,,\n3,4,y\n",
    "quoted header break": '"a\nA",b,label\n1,2,x\n3,4,y\n',
}


@pytest.mark.parametrize("name", sorted(_TRICKY_FILES))
def test_fast_and_careful_readers_agree(tmp_path, name):
    path = _write(tmp_path, _TRICKY_FILES[name])
    header, rows, _ = datasets.read_csv_table(path)
    expected_X = np.array([[float(r[header.index(c)]) for c in header[:2]] for r in rows])
    expected_labels = [r[2] for r in rows]
    table = read_csv_columns(path, header[:2])
    np.testing.assert_array_equal(table.X, expected_X)
    assert table.text == {header[2]: expected_labels}
    assert table.header == tuple(header)
    assert table.line_numbers() == datasets.read_csv_table(path)[2]


def test_a_clean_file_is_read_by_numpy_not_cell_by_cell(tmp_path, monkeypatch):
    path = _write(tmp_path, "a,b,label\n" + "1.5,-2,x\n" * 1000)

    def careful_reader(*args, **kwargs):
        raise AssertionError("the cell-by-cell reader was used")

    monkeypatch.setattr(datasets, "read_csv_table", careful_reader)
    table = read_csv_columns(path, ["b", "a"])
    assert table.X.shape == (1000, 2) and table.X[0].tolist() == [-2.0, 1.5]
    X, y, _ = load_csv(_write(tmp_path, "a,label\n" + "1,x\n2,y\n" * 500, "two.csv"), "label")
    assert X.shape == (1000, 1) and y[:2].tolist() == ["x", "y"]


def test_errors_from_a_large_file_still_name_the_line(tmp_path):
    rows = ["1.5,-2,x"] * 5000
    rows[3210] = "1.5,oops,x"
    path = _write(tmp_path, "a,b,label\n" + "\n".join(rows) + "\n")
    with pytest.raises(
        ValueError, match=r"non-numeric feature column\(s\) 'b' \(e.g. 'oops' on line 3212\)"
    ):
        load_csv(path, "label")
