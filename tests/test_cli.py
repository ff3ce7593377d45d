"""The command line, in-process through ``main`` and once as a real process."""

import csv
import io
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split

from tinygrad_nca import cli
from tinygrad_nca._atomic import atomic_path
from tinygrad_nca.cli import Progress, main
from tinygrad_nca.nca.estimator import NeighborhoodComponentsAnalysis

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The estimator's own output names (ClassNamePrefixFeaturesOutMixin): class name, lower case, + k.
NCA_COLUMNS = ["neighborhoodcomponentsanalysis0", "neighborhoodcomponentsanalysis1"]


def _write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


@pytest.fixture(scope="module")
def iris_csv(tmp_path_factory):
    """iris as a user's CSV file: text labels in the middle column."""
    iris = load_iris()
    names = ["sepal_length", "sepal_width", "species", "petal_length", "petal_width"]
    rows = [
        [*x[:2], iris.target_names[t], *x[2:]] for x, t in zip(iris.data, iris.target, strict=False)
    ]
    return _write_csv(tmp_path_factory.mktemp("data") / "iris.csv", names, rows)


@pytest.fixture(scope="module")
def fitted(iris_csv, tmp_path_factory):
    """One in-process `fit` on the CSV, recording what the estimator was fitted on."""
    recorded = {}

    class Recording(NeighborhoodComponentsAnalysis):
        def fit(self, X, y):
            super().fit(X, y)
            recorded.update(X=X.copy(), y=np.asarray(y).copy(), A=self.components_.copy())
            return self

    out_dir = tmp_path_factory.mktemp("out")
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cli, "_estimator_class", lambda: Recording)
        mp.setattr(sys, "stdout", stdout)
        mp.setattr(sys, "stderr", stderr)
        status = main(
            [
                "fit",
                "--csv",
                iris_csv,
                "--target",
                "species",
                "--max-iter",
                "15",
                "--seed",
                "3",
                "--output-dir",
                str(out_dir),
            ]
        )
    return dict(
        status=status,
        out=stdout.getvalue(),
        err=stderr.getvalue(),
        dir=out_dir,
        recorded=recorded,
        csv=iris_csv,
    )


# ---------------------------------------------------------------------- fit
def test_fit_reports_and_writes_plot_and_model(fitted):
    assert fitted["status"] == 0, fitted["err"]
    out = fitted["out"]
    assert "3-NN accuracy on the 38 held-out samples" in out
    rows = {
        line.split()[0]: line.split()[1:]
        for line in out.splitlines()
        if line.strip().split()[:1] in (["raw"], ["PCA"], ["NCA"])
    }
    assert rows["raw"][0] == "4" and rows["PCA"][0] == "2" and rows["NCA"][0] == "2"
    assert all(0.0 <= float(r[1]) <= 1.0 for r in rows.values())
    png = fitted["dir"] / "iris_embedding.png"
    model = fitted["dir"] / "iris_nca.npz"
    assert f"wrote {png}" in out and f"wrote {model}" in out
    assert png.read_bytes().startswith(PNG_SIGNATURE)
    assert sorted(os.listdir(fitted["dir"])) == ["iris_embedding.png", "iris_nca.npz"]
    # Progress went to stderr (not a terminal here: plain lines, no carriage returns).
    assert "NCA  iteration    1/15" in fitted["err"] and "\r" not in fitted["err"]
    assert re.search(r"^NCA: \d+ iterations in \d+\.\d s, final objective \d", out, re.M)


def test_fit_standardises_on_the_training_part_and_saves_a_raw_feature_model(fitted):
    # The split the help promises: stratified, --test-size 0.25, seeded by --seed.
    iris = load_iris()
    X = iris.data
    y = iris.target_names[iris.target]
    X_train, X_test, y_train, _ = train_test_split(X, y, test_size=0.25, stratify=y, random_state=3)
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    recorded = fitted["recorded"]
    np.testing.assert_allclose(recorded["X"], (X_train - mean) / std, rtol=1e-12, atol=1e-12)
    assert recorded["y"].tolist() == y_train.tolist()

    model = NeighborhoodComponentsAnalysis.load(fitted["dir"] / "iris_nca.npz")
    assert model.feature_names_in_.tolist() == [
        "sepal_length",
        "sepal_width",
        "petal_length",
        "petal_width",
    ]
    # On raw rows the saved model gives the standardised embedding moved by a
    # constant vector, so every distance (all that k-NN uses) is the same.
    Z_saved = X_test @ model.components_.T
    Z_fitted = ((X_test - mean) / std) @ recorded["A"].T
    shift = Z_saved - Z_fitted
    np.testing.assert_allclose(shift, np.broadcast_to(shift[0], shift.shape), atol=1e-9)


def test_fit_on_a_bundled_dataset_with_lda(tmp_path, capsys):
    status = main(
        [
            "fit",
            "--dataset",
            "wine",
            "--max-iter",
            "5",
            "--lda",
            "--quiet",
            "--output-dir",
            str(tmp_path),
        ]
    )
    out, err = capsys.readouterr()
    assert status == 0, err
    assert [
        line.split()[0]
        for line in out.splitlines()
        if line.startswith("  ") and line.split()[0] in ("raw", "PCA", "LDA", "NCA")
    ] == ["raw", "PCA", "LDA", "NCA"]
    assert "NCA, PCA, LDA: held-out samples" in out
    assert "iteration" not in err  # --quiet
    assert "stopped at --max-iter 5" in err  # ConvergenceWarning, one line
    assert len(err.splitlines()) == 1


def test_three_components_plot_their_principal_axes(tmp_path, capsys):
    status = main(
        [
            "fit",
            "--dataset",
            "iris",
            "--n-components",
            "3",
            "--max-iter",
            "5",
            "--quiet",
            "--output-dir",
            str(tmp_path),
        ]
    )
    out, _ = capsys.readouterr()
    assert status == 0
    assert "principal axes of each 3-D embedding" not in out  # the title is in the PNG
    assert (tmp_path / "iris_embedding.png").read_bytes().startswith(PNG_SIGNATURE)
    assert NeighborhoodComponentsAnalysis.load(tmp_path / "iris_nca.npz").components_.shape == (
        3,
        4,
    )


def test_lda_beyond_its_dimension_is_a_note_not_an_error(tmp_path, capsys):
    status = main(
        [
            "fit",
            "--dataset",
            "breast_cancer",
            "--lda",
            "--max-iter",
            "1",
            "--quiet",
            "--output-dir",
            str(tmp_path),
        ]
    )
    _, err = capsys.readouterr()
    assert status == 0
    assert "no LDA: it gives at most 1 dimensions" in err


def test_one_component_writes_no_plot(tmp_path, capsys):
    status = main(
        [
            "fit",
            "--dataset",
            "iris",
            "--n-components",
            "1",
            "--max-iter",
            "3",
            "--quiet",
            "--output-dir",
            str(tmp_path),
        ]
    )
    out, _ = capsys.readouterr()
    assert status == 0 and "no plot" in out
    assert os.listdir(tmp_path) == ["iris_nca.npz"]


# ---------------------------------------------------------------------- transform
def test_transform_is_x_times_components_and_keeps_other_columns(fitted, tmp_path, capsys):
    model_path = str(fitted["dir"] / "iris_nca.npz")
    output = tmp_path / "projected.csv"
    assert main(["transform", model_path, fitted["csv"], "--output", str(output)]) == 0
    assert f"wrote {output}" in capsys.readouterr().err
    with open(output, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["species", *NCA_COLUMNS]
    iris = load_iris()
    assert [r[0] for r in rows[1:]] == list(iris.target_names[iris.target])
    model = NeighborhoodComponentsAnalysis.load(model_path)
    expected = iris.data @ model.components_.T
    np.testing.assert_allclose(
        np.array([r[1:] for r in rows[1:]], dtype=float), expected, rtol=1e-12, atol=1e-12
    )
    assert sorted(os.listdir(tmp_path)) == ["projected.csv"]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_transform_to_stdout_with_a_model_without_feature_names(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((30, 3)), np.repeat([0, 1], 15)
    model = NeighborhoodComponentsAnalysis(n_components=2, max_iter=3).fit(X, y)
    model.save(tmp_path / "plain.npz")
    data = _write_csv(tmp_path / "x.csv", ["u", "v", "w"], X)
    assert main(["transform", str(tmp_path / "plain.npz"), data]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ",".join(NCA_COLUMNS) == ",".join(model.get_feature_names_out())
    np.testing.assert_allclose(
        np.array([line.split(",") for line in lines[1:]], dtype=float),
        X @ model.components_.T,
        rtol=1e-12,
        atol=1e-12,
    )


# ---------------------------------------------------------------------- bad input
def _fails_with_one_line(capsys, argv, *fragments, status=1):
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == status, (code, err)
    assert len(err.splitlines()) == 1, err
    assert err.startswith("tinygrad-nca: error: ") and "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err
    return err


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, fitted):
    d = tmp_path_factory.mktemp("bad")
    files = {
        "text_feature": _write_csv(
            d / "text.csv", ["a", "colour", "y"], [[1, "red", 0], [2, "blue", 1]] * 4
        ),
        "one_class": _write_csv(d / "one.csv", ["a", "y"], [[i, "x"] for i in range(8)]),
        "nan": _write_csv(d / "nan.csv", ["a", "b", "y"], [[1, "nan", 0], [2, 3, 1]] * 4),
        "singleton": _write_csv(
            d / "single.csv", ["a", "b", "y"], [[1, 1, 0], [2, 2, 0], [3, 3, 1]]
        ),
        "few_features": _write_csv(d / "few.csv", ["sepal_length", "y"], [[1, 0]]),
        "model_junk": str(d / "junk.npz"),
        "model_foreign": str(d / "foreign.npz"),
        "empty": str(d / "empty.csv"),
    }
    with open(files["model_junk"], "wb") as f:
        f.write(os.urandom(256))
    np.savez(files["model_foreign"], weights=np.ones(3))
    open(files["empty"], "w").close()
    files["model"] = str(fitted["dir"] / "iris_nca.npz")
    files["iris"] = fitted["csv"]
    return files


@pytest.mark.parametrize(
    "argv, fragments",
    [
        (["fit", "--csv", "{missing}", "--target", "y"], ["no such file"]),
        (["fit", "--csv", "{iris}", "--target", "label"], ["no column 'label'", "'species'"]),
        (["fit", "--csv", "{text_feature}", "--target", "y"], ["non-numeric", "'colour'"]),
        (["fit", "--csv", "{one_class}", "--target", "y"], ["one class only"]),
        (["fit", "--csv", "{nan}", "--target", "y"], ["NaN in column 'b'"]),
        (["fit", "--csv", "{empty}", "--target", "y"], ["empty"]),
        (["fit", "--csv", "{singleton}", "--target", "y"], ["single sample"]),
        (["fit", "--csv", "{iris}"], ["--target"]),
        (["fit", "--target", "y"], ["--csv"]),
        (["fit", "--dataset", "iris", "--csv", "{iris}", "--target", "species"], ["not both"]),
        (["fit", "--dataset", "iris", "--n-components", "5"], ["more than the 4 features"]),
        (["fit", "--dataset", "iris", "--test-size", "0.01"], ["too few"]),
        (["transform", "{missing}", "{iris}"], ["no model file"]),
        (["transform", "{model_junk}", "{iris}"], ["not a tinygrad_nca model file"]),
        (["transform", "{model_foreign}", "{iris}"], ["not a tinygrad_nca model file"]),
        (["transform", "{model}", "{missing}"], ["no such file"]),
        (
            ["transform", "{model}", "{few_features}"],
            ["lacks the model's feature column(s)", "'petal_length'"],
        ),
        (["transform", "{model}", "{nan}"], ["lacks"]),
    ],
)
def test_bad_input_is_one_line_and_status_1(capsys, bad_files, tmp_path, argv, fragments):
    names = dict(bad_files, missing=str(tmp_path / "absent.csv"))
    argv = [a.format(**names) for a in argv] + (
        ["--output-dir", str(tmp_path)] if argv[0] == "fit" else []
    )
    _fails_with_one_line(capsys, argv, *fragments)
    assert not any(name.endswith(".npz") for name in os.listdir(tmp_path))


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["fit", "--dataset", "mnist"], "invalid choice: 'mnist'"),
        (["fit", "--n-components", "0"], "expected a number >= 1"),
        (["fit", "--max-iter", "many"], "expected a whole number"),
        (["fit", "--test-size", "1.5"], "between 0 and 1"),
        (["fit", "--colour"], "unrecognized arguments: --colour"),
        (["transform", "model.npz"], "required: DATA.csv"),
    ],
)
def test_malformed_command_line_is_one_line_and_status_2(capsys, argv, fragment):
    _fails_with_one_line(capsys, argv, fragment, status=2)


def test_output_dir_that_is_a_file(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    _fails_with_one_line(
        capsys,
        ["fit", "--dataset", "iris", "--max-iter", "2", "--quiet", "--output-dir", str(blocker)],
        str(blocker),
    )


def test_help_is_useful(capsys):
    assert main(["fit", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps to the terminal
    for fragment in (
        "--dataset",
        "rings",
        "--csv",
        "--target",
        "--n-components D",
        "default: 2, so that it can be plotted",
        "--output-dir",
        "tinygrad_nca_output",
        "examples:",
        "tinygrad-nca fit --csv",
    ):
        assert fragment in text, fragment
    assert main(["--help"]) == 0
    assert "fit" in capsys.readouterr().out
    assert main(["transform", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "get_feature_names_out() names them: neighborhoodcomponentsanalysis0," in text
    assert "--delimiter CHAR" in text


# ---------------------------------------------------------------------- progress display
class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_rewrites_one_line_on_a_terminal():
    stream = _Terminal()
    progress = Progress(stream, max_iter=50, objective_at=lambda flat: float(np.sum(flat)))
    progress(np.array([1.0, 2.0]), 1)
    progress(np.array([5.0, 5.0]), 2)  # within the refresh interval: not shown
    text = stream.getvalue()
    assert text.startswith("\rNCA  iteration    1/50   objective            3 ")
    assert text.endswith(" s\x1b[K") and "\n" not in text
    progress.clear()  # the fit ended: the line goes away
    assert stream.getvalue() == text + "\r\x1b[K"
    progress.clear()
    assert stream.getvalue() == text + "\r\x1b[K"


def test_progress_keeps_its_line_when_the_fit_fails():
    stream, plain = _Terminal(), io.StringIO()
    for s in (stream, plain):
        progress = Progress(s, max_iter=9, objective_at=lambda flat: 0.5)
        progress(np.zeros(2), 1)
        progress.close()
    assert stream.getvalue().endswith("objective          0.5      0.0 s\x1b[K\n")
    assert plain.getvalue().startswith("NCA  iteration    1/9   objective          0.5")
    assert plain.getvalue().count("\n") == 1 and "\r" not in plain.getvalue()


def test_progress_objective_is_the_nca_objective():
    # Checked against the paper's formula written out in NumPy.
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((12, 3)), np.array([0, 1, 2] * 4)
    A = rng.standard_normal((2, 3))
    Z = X @ A.T
    logits = -((Z[:, None, :] - Z[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(logits, -np.inf)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    same = y[:, None] == y[None, :]
    expected = (p * same).sum()
    log = np.log((p * same).sum(axis=1)).sum()
    np.testing.assert_allclose(
        cli._objective_function(X, y, 2, "expected")(A.ravel()), expected, rtol=1e-12
    )
    np.testing.assert_allclose(cli._objective_function(X, y, 2, "log")(A.ravel()), log, rtol=1e-12)


# ---------------------------------------------------------------------- atomic writes
def test_atomic_path_leaves_the_old_file_when_the_writer_fails(tmp_path):
    target = tmp_path / "model.npz"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            assert tmp.endswith(".npz") and os.path.dirname(tmp) == str(tmp_path)
            with open(tmp, "w") as f:
                f.write("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["model.npz"]


def test_atomic_path_gives_ordinary_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "out.csv") as tmp:
            open(tmp, "w").close()
    finally:
        os.umask(umask)
    assert (os.stat(tmp_path / "out.csv").st_mode & 0o777) == 0o644


# ---------------------------------------------------------------------- real processes
def test_python_dash_m_runs_the_main_job(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tinygrad_nca",
            "fit",
            "--dataset",
            "rings",
            "--max-iter",
            "5",
            "--output-dir",
            str(tmp_path / "out"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "NCA" in done.stdout and "iteration" in done.stderr
    assert sorted(os.listdir(tmp_path / "out")) == ["rings_embedding.png", "rings_nca.npz"]

    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "tinygrad_nca",
            "fit",
            "--csv",
            str(tmp_path / "absent.csv"),
            "--target",
            "y",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1
    assert bad.stderr.startswith("tinygrad-nca: error: ") and len(bad.stderr.splitlines()) == 1


def test_interrupt_is_one_line_and_writes_no_model(tmp_path, capsys, monkeypatch):
    def interrupted(*args):
        def objective_at(transformation):
            raise KeyboardInterrupt

        return objective_at

    monkeypatch.setattr(cli, "_objective_function", interrupted)
    status = main(["fit", "--dataset", "iris", "--output-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == 130
    assert err.strip() == "tinygrad-nca: interrupted" and "Traceback" not in err
    assert os.listdir(tmp_path) == []


def test_a_reader_that_stops_early_is_not_an_error(fitted, capsys, monkeypatch):
    class ClosedPipe(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    status = main(["transform", str(fitted["dir"] / "iris_nca.npz"), fitted["csv"]])
    assert status == 141
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("threads", [1, 2])
def test_fit_runs_with_the_blas_threads_asked_for(tmp_path, capsys, monkeypatch, threads):
    from threadpoolctl import threadpool_info

    seen = []

    class Recording(NeighborhoodComponentsAnalysis):
        def fit(self, X, y):
            seen.append(
                {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}
            )
            return super().fit(X, y)

    monkeypatch.setattr(cli, "_estimator_class", lambda: Recording)
    status = main(
        [
            "fit",
            "--dataset",
            "iris",
            "--n-components",
            "1",
            "--max-iter",
            "3",
            "--quiet",
            "--threads",
            str(threads),
            "--output-dir",
            str(tmp_path),
        ]
    )
    assert status == 0
    assert seen == [{threads}]


# ---------------------------------------------------------------------- version and bare command
def test_version(capsys):
    import tinygrad_nca

    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"tinygrad-nca {tinygrad_nca.__version__}\n"


def test_no_command_prints_the_whole_help_and_status_2(capsys):
    assert main([]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("usage: tinygrad-nca [-h] [--version] COMMAND ...")
    for fragment in ("fit", "transform", "--version", "'tinygrad-nca COMMAND --help'"):
        assert fragment in " ".join(err.split()), fragment


# ---------------------------------------------------------------------- output locations
def test_fit_checks_its_output_dir_before_reading_any_data(capsys, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    # The CSV does not exist either: the output location is reported, so it was checked first.
    err = _fails_with_one_line(
        capsys,
        [
            "fit",
            "--csv",
            str(tmp_path / "absent.csv"),
            "--target",
            "y",
            "--output-dir",
            str(blocker),
        ],
    )
    assert (
        err == f"tinygrad-nca: error: cannot use --output-dir {str(blocker)!r}: it is a "
        "file, not a folder\n"
    )
    err = _fails_with_one_line(
        capsys,
        [
            "fit",
            "--csv",
            str(tmp_path / "absent.csv"),
            "--target",
            "y",
            "--output-dir",
            str(blocker / "sub"),
        ],
    )
    assert f"cannot create --output-dir {str(blocker / 'sub')!r}: not a directory" in err


def test_an_unwritable_output_dir_is_named(capsys, tmp_path, monkeypatch):
    # (Tests run as root here, so a chmod-ed folder would still be writable: the
    # refusal is simulated where the check writes its probe file.)
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", os.path.join(kwargs["dir"], ".tmp123"))

    monkeypatch.setattr(cli.tempfile, "TemporaryFile", refuse)
    out_dir = tmp_path / "new" / "results"
    err = _fails_with_one_line(capsys, ["fit", "--dataset", "iris", "--output-dir", str(out_dir)])
    assert (
        err == f"tinygrad-nca: error: cannot write in --output-dir {str(out_dir)!r}: "
        "permission denied\n"
    )
    assert os.listdir(tmp_path) == []  # the folders it made for the check are gone


def test_a_failed_fit_leaves_no_empty_output_dir(capsys, tmp_path):
    out_dir = tmp_path / "new" / "results"
    _fails_with_one_line(
        capsys,
        [
            "fit",
            "--csv",
            str(tmp_path / "absent.csv"),
            "--target",
            "y",
            "--output-dir",
            str(out_dir),
        ],
        "no such file",
    )
    assert os.listdir(tmp_path) == []


def test_a_failed_model_write_names_the_model_file_not_a_temporary_one(
    capsys, tmp_path, monkeypatch
):
    from tinygrad_nca.nca import io as model_io

    def disk_full(file, **arrays):
        raise OSError(28, "No space left on device", getattr(file, "name", None))

    monkeypatch.setattr(model_io.np, "savez", disk_full)
    status = main(
        [
            "fit",
            "--dataset",
            "iris",
            "--n-components",
            "1",
            "--max-iter",
            "2",
            "--quiet",
            "--output-dir",
            str(tmp_path),
        ]
    )
    err = capsys.readouterr().err
    assert status == 1 and "Traceback" not in err
    assert (
        err.splitlines()[-1] == f"tinygrad-nca: error: cannot write "
        f"{tmp_path / 'iris_nca.npz'}: no space left on device"
    )
    assert os.listdir(tmp_path) == []  # and the temporary file is gone


def test_transform_checks_its_output_before_loading_the_model(capsys, tmp_path, bad_files):
    folder = tmp_path / "existing"
    folder.mkdir()
    err = _fails_with_one_line(
        capsys,
        ["transform", str(tmp_path / "absent.npz"), bad_files["iris"], "--output", str(folder)],
    )
    assert err == f"tinygrad-nca: error: --output {str(folder)!r} is a folder; give a file name\n"
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    err = _fails_with_one_line(
        capsys,
        [
            "transform",
            str(tmp_path / "absent.npz"),
            bad_files["iris"],
            "--output",
            str(blocker / "out.csv"),
        ],
    )
    assert f"the folder of --output {str(blocker / 'out.csv')!r}: it is a file" in err


def test_transform_creates_a_missing_output_folder_as_fit_does(capsys, tmp_path, fitted):
    output = tmp_path / "new" / "deeper" / "projected.csv"
    assert (
        main(
            [
                "transform",
                str(fitted["dir"] / "iris_nca.npz"),
                fitted["csv"],
                "--output",
                str(output),
            ]
        )
        == 0
    )
    assert output.read_text().startswith("species," + ",".join(NCA_COLUMNS) + "\n")
    capsys.readouterr()
    # A failure removes the folders it made (and only those).
    again = tmp_path / "other" / "projected.csv"
    _fails_with_one_line(
        capsys,
        ["transform", str(tmp_path / "absent.npz"), fitted["csv"], "--output", str(again)],
        "no model file",
    )
    assert sorted(os.listdir(tmp_path)) == ["new"]


# ---------------------------------------------------------------------- a file that is not a model
def test_a_csv_given_as_the_model_is_refused_in_the_projects_words(capsys, bad_files):
    err = _fails_with_one_line(capsys, ["transform", bad_files["iris"], bad_files["iris"]])
    assert f"{bad_files['iris']!r} is not a tinygrad_nca model file" in err
    assert "looks like CSV data" in err and "pickle" not in err


def test_swapped_model_and_data_are_pointed_out(capsys, bad_files):
    err = _fails_with_one_line(capsys, ["transform", bad_files["iris"], bad_files["model"]])
    assert "the model file comes first ('tinygrad-nca transform MODEL.npz DATA.csv')" in err


# ---------------------------------------------------------------------- delimiters
def _iris_with(tmp_path, fitted, delimiter, name):
    with open(fitted["csv"], newline="") as f:
        rows = list(csv.reader(f))
    path = tmp_path / name
    with open(path, "w", newline="") as f:
        csv.writer(f, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return str(path), rows


@pytest.mark.parametrize(
    "delimiter, name, option",
    [
        (";", "iris.csv", []),  # guessed
        ("\t", "iris.tsv", []),  # guessed
        ("\t", "iris.tsv", ["--delimiter", "tab"]),  # given
        ("|", "iris.txt", ["--delimiter", "|"]),  # given (never guessed)
    ],
)
def test_transform_reads_and_writes_the_files_delimiter(
    capsys, tmp_path, fitted, delimiter, name, option
):
    path, rows = _iris_with(tmp_path, fitted, delimiter, name)
    model_path = str(fitted["dir"] / "iris_nca.npz")
    assert main(["transform", model_path, path, *option]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == delimiter.join(["species", *NCA_COLUMNS])
    model = NeighborhoodComponentsAnalysis.load(model_path)
    X = np.array([[float(r[i]) for i in (0, 1, 3, 4)] for r in rows[1:]])
    got = np.array([line.split(delimiter)[1:] for line in lines[1:]], dtype=float)
    np.testing.assert_allclose(got, X @ model.components_.T, rtol=1e-12, atol=1e-12)


def test_fit_reads_a_semicolon_file(capsys, tmp_path, fitted):
    path, _ = _iris_with(tmp_path, fitted, ";", "iris_semicolons.csv")
    status = main(
        [
            "fit",
            "--csv",
            path,
            "--target",
            "species",
            "--n-components",
            "1",
            "--max-iter",
            "2",
            "--quiet",
            "--output-dir",
            str(tmp_path / "out"),
        ]
    )
    assert status == 0
    assert capsys.readouterr().out.startswith("iris_semicolons: 150 samples, 4 features, 3 classes")


@pytest.mark.parametrize(
    "argv, message, status",
    [
        (["transform", "m.npz", "d.csv", "--delimiter", ";;"], "expected one character", 2),
        (["fit", "--dataset", "iris", "--delimiter", ";"], "--delimiter is for a CSV file", 1),
    ],
)
def test_bad_delimiter_options(capsys, tmp_path, argv, message, status):
    _fails_with_one_line(
        capsys,
        argv + (["--output-dir", str(tmp_path)] if argv[0] == "fit" else []),
        message,
        status=status,
    )


def test_a_data_column_named_like_an_output_column_is_an_error(capsys, tmp_path, fitted):
    path, rows = _iris_with(tmp_path, fitted, ",", "clash.csv")
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(
            [row + [NCA_COLUMNS[1] if i == 0 else "x"] for i, row in enumerate(rows)]
        )
    _fails_with_one_line(
        capsys,
        ["transform", str(fitted["dir"] / "iris_nca.npz"), path],
        f"has column(s) '{NCA_COLUMNS[1]}', the name(s) of the projected columns",
    )


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_csv_writing_matches_the_csv_module(delimiter):
    header = ["id", "note, with comma", "x"]
    texts = ["plain", 'say "hi"', "a,b", "a;b", "tab\there", "line\nbreak", "", " spaced "]
    ids = [str(i) for i in range(len(texts))]
    numbers = [repr(v) for v in np.linspace(-1.5, 2.5, len(texts)).tolist()]
    ours = io.StringIO()
    cli.write_csv_columns(ours, header, [ids, texts, numbers], delimiter)
    theirs = io.StringIO()
    writer = csv.writer(theirs, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(zip(ids, texts, numbers, strict=False))
    assert ours.getvalue() == theirs.getvalue()
    # A carriage return is quoted too (csv.writer leaves it bare with lineterminator="\n",
    # and its own reader then splits the row there): every cell reads back as written.
    texts.append("cr\rhere")
    ids.append("8")
    numbers.append("0.5")
    ours = io.StringIO()
    cli.write_csv_columns(ours, header, [ids, texts, numbers], delimiter)
    assert list(csv.reader(io.StringIO(ours.getvalue(), newline=""), delimiter=delimiter)) == [
        header,
        *map(list, zip(ids, texts, numbers, strict=False)),
    ]


def test_csv_writing_in_blocks(monkeypatch):
    column = [str(i) for i in range(150_000)]  # more than one block of rows
    stream = io.StringIO()
    cli.write_csv_columns(stream, ["k"], [column])
    assert stream.getvalue() == "k\n" + "\n".join(column) + "\n"
