"""The command line: ``tinygrad-nca fit`` and ``tinygrad-nca transform``.

``fit`` is the main job: split the data (stratified), standardise it on the
training part, fit NCA with a live progress line, compare k-NN accuracy on the
held-out part for the raw features, PCA and NCA at the same dimension, and
write a picture of the embedding and the fitted model. ``transform`` applies a
saved model to a CSV file.

Bad input (a missing file, an unknown column, non-numeric features, a single
class, a damaged model file, an output location that cannot be written) ends
the program with one line on stderr, ``tinygrad-nca: error: ...``, and exit
status 1 (2 for a malformed command line); a traceback means a bug. Where the
output goes is checked first, before any data is read or any model fitted.

Everything the program reports goes to stdout (the data summary, the
accuracy table, the files written, or the projected CSV of ``transform``);
progress, notes and errors go to stderr, so that ``tinygrad-nca transform
model.npz data.csv > out.csv`` writes a clean file. :func:`main` is the
entry point; it can also be called from Python with a list of arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
import warnings
import zipfile
from collections.abc import Sequence
from typing import TextIO

import numpy as np

from . import __version__
from .datasets import DATASETS, load_csv, load_dataset, read_csv_columns, read_csv_header

__all__ = ["main", "build_parser", "write_csv_columns", "PROG", "DEFAULT_OUTPUT_DIR"]

PROG = "tinygrad-nca"
"""The program's name, as installed by ``pip`` (``[project.scripts]``) and shown in messages."""
DEFAULT_OUTPUT_DIR = "tinygrad_nca_output"
"""Where ``fit`` writes its plot and model unless ``--output-dir`` says otherwise."""
DEFAULT_N_COMPONENTS = 2
"""Dimension of the embedding by default: 2, so that it can be plotted as it is."""
# digits (1347 training points, 64 -> 2) converges in about 80 L-BFGS iterations.
DEFAULT_MAX_ITER = 100
"""L-BFGS iterations at most, by default."""
DEFAULT_TEST_SIZE = 0.25
"""Fraction of the data held out for the accuracy table, by default."""
DEFAULT_N_NEIGHBORS = 3
"""k of the k-NN classifier that scores each embedding, by default."""
# Measured on 2 shared cores, the default digits fit: 8.0 s with one BLAS thread, 25 s with
# OpenBLAS's default of two while other jobs ran (its threads spin waiting for a core).
DEFAULT_THREADS = 1
"""BLAS threads while fitting, by default (``--threads``)."""


class CommandError(Exception):
    """Bad input found by the command line itself; reported as one line.

    For problems only the command line can see: options that contradict each
    other, a data set too small to split, an output directory that cannot be
    created. :func:`main` turns it (like the ``ValueError`` and ``OSError``
    raised by the library on bad data) into ``tinygrad-nca: error: ...`` on
    stderr and exit status 1, without a traceback.

    Examples
    --------
    >>> import contextlib, sys
    >>> with contextlib.redirect_stderr(sys.stdout):     # show stderr here
    ...     status = main(["fit", "--dataset", "iris", "--csv", "data.csv"])
    tinygrad-nca: error: give either --dataset or --csv, not both
    >>> status
    1
    """


def _estimator_class():
    """The NCA estimator the command line fits (the one import point)."""
    from .nca.estimator import NeighborhoodComponentsAnalysis

    return NeighborhoodComponentsAnalysis


# ---------------------------------------------------------------------- argument parsing
class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # One line, like every other error of the program (argparse would print
        # the usage block first).
        self.exit(2, f"{PROG}: error: {message} (see '{self.prog} --help')\n")


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


_DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "space": " "}


def _delimiter(text):
    value = _DELIMITER_NAMES.get(text.lower(), text)
    if len(value) != 1:
        raise argparse.ArgumentTypeError(f"expected one character (or 'tab'), got {text!r}")
    return value


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {value}")
    return value


_FIT_EXAMPLES = f"""\
examples:
  {PROG} fit                                   digits, 64 -> 2 dimensions
  {PROG} fit --dataset rings --lda             where PCA and LDA fail and NCA succeeds
  {PROG} fit --dataset wine --objective log --max-iter 200
  {PROG} fit --csv measurements.csv --target species --n-components 3
  {PROG} fit --output-dir results --seed 1

The data are split into a stratified training part and a held-out test part
(--test-size); the features are standardised with the training part's mean and
standard deviation. The accuracy table compares k-NN on the held-out part for
the raw features, PCA and NCA at the same dimension. The model file maps raw
(unstandardised) features: the standardisation is folded into components_.
"""

_TRANSFORM_EXAMPLES = f"""\
examples:
  {PROG} transform {DEFAULT_OUTPUT_DIR}/measurements_nca.npz new.csv --output new_nca.csv
  {PROG} transform model.npz data.tsv --delimiter tab | head

DATA.csv needs a header row; its delimiter (comma, semicolon or tab) is
guessed from the first lines unless --delimiter gives it, and the output uses
the same one. If the model knows its feature names (models written by
'{PROG} fit' do), those columns are projected and every other column (a
label, say) is copied through unchanged; otherwise every column is a feature.
The projected columns are named as the estimator's get_feature_names_out()
names them: neighborhoodcomponentsanalysis0, neighborhoodcomponentsanalysis1,
... A missing folder in --output is created, as fit creates --output-dir.
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``tinygrad-nca`` (subcommands ``fit`` and ``transform``).

    ``tinygrad-nca --help`` and ``tinygrad-nca COMMAND --help`` print what it
    knows; ``tinygrad-nca --version`` the version. Numbers are checked while
    parsing (``--n-components 0`` is refused with a one-line message and exit
    status 2), before any data is loaded.

    Returns
    -------
    argparse.ArgumentParser

    Examples
    --------
    >>> args = build_parser().parse_args(["fit", "--dataset", "wine", "--n-components", "3"])
    >>> args.command, args.dataset, args.n_components, args.max_iter, args.test_size
    ('fit', 'wine', 3, 100, 0.25)
    >>> build_parser().parse_args(["transform", "m.npz", "d.tsv", "--delimiter", "tab"]).delimiter
    '\\t'
    """
    parser = _Parser(
        prog=PROG,
        description="Neighbourhood Components Analysis (Goldberger et al. 2004) on a "
        "from-scratch autodiff engine: learn a linear map under which "
        "nearest neighbours share a class.",
        epilog=f"Run '{PROG} fit' for the main job: NCA on the digits data, an accuracy "
        f"table and a picture. '{PROG} COMMAND --help' shows the options.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    # Not required: with no command main() prints the whole help (not argparse's
    # one-line complaint) and returns 2.
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    fit = commands.add_parser(
        "fit",
        help="fit NCA, compare k-NN accuracy with PCA, write the plot and the model",
        description="Fit NCA on a data set, show its k-NN accuracy on a held-out part beside\n"
        "the raw features and PCA, and write a 2-D embedding plot (NCA beside PCA)\n"
        "and the fitted model.",
        epilog=_FIT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = fit.add_argument_group("data (default: the digits data set)")
    source.add_argument(
        "--dataset",
        choices=DATASETS,
        default=None,
        help="a bundled data set (scikit-learn's copies) or the paper's "
        "synthetic rings; default: digits",
    )
    source.add_argument(
        "--csv", metavar="PATH", help="your own data: a CSV file with a header row (needs --target)"
    )
    source.add_argument(
        "--target", metavar="COLUMN", help="the CSV column holding the class labels"
    )
    source.add_argument(
        "--delimiter",
        type=_delimiter,
        metavar="CHAR",
        help="the CSV file's field separator, one character or 'tab' "
        "(default: guessed among comma, semicolon and tab)",
    )
    model = fit.add_argument_group("model")
    model.add_argument(
        "--n-components",
        type=_positive_int,
        default=DEFAULT_N_COMPONENTS,
        metavar="D",
        help="dimension of the embedding (default: %(default)s, "
        "so that it can be plotted as it is)",
    )
    model.add_argument(
        "--max-iter",
        type=_positive_int,
        default=DEFAULT_MAX_ITER,
        metavar="N",
        help="L-BFGS iterations at most (default: %(default)s)",
    )
    model.add_argument(
        "--objective",
        choices=("expected", "log"),
        default="expected",
        help="maximise the expected number of correctly classified points "
        "('expected', the paper's f) or their log-probability ('log', "
        "the paper's g) (default: %(default)s)",
    )
    model.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the split, the initialisation and the rings (default: %(default)s)",
    )
    model.add_argument(
        "--threads",
        type=_positive_int,
        default=DEFAULT_THREADS,
        metavar="N",
        help="BLAS threads while fitting (default: %(default)s: NCA's matrix "
        "products are thin and its elementwise work runs on one core "
        "anyway, so more threads gain little, and on a busy machine "
        "they wait for each other)",
    )
    evaluation = fit.add_argument_group("evaluation and output")
    evaluation.add_argument(
        "--test-size",
        type=_fraction,
        default=DEFAULT_TEST_SIZE,
        metavar="FRACTION",
        help="held-out fraction of the data (default: %(default)s)",
    )
    evaluation.add_argument(
        "--n-neighbors",
        type=_positive_int,
        default=DEFAULT_N_NEIGHBORS,
        metavar="K",
        help="k of the k-NN classifier (default: %(default)s)",
    )
    evaluation.add_argument(
        "--output-dir",
        default=DEFAULT_OUTPUT_DIR,
        metavar="DIR",
        help="where the plot and the model go; created if missing, "
        "checked before anything else (default: ./%(default)s)",
    )
    evaluation.add_argument(
        "--lda", action="store_true", help="also compare with LDA (table row and plot panel)"
    )
    evaluation.add_argument(
        "--quiet", action="store_true", help="no progress display while fitting"
    )

    transform = commands.add_parser(
        "transform",
        help="project a CSV file with a saved model",
        description=f"Project the rows of a CSV file with a model written by '{PROG} fit'\n"
        "(or by NeighborhoodComponentsAnalysis.save).",
        epilog=_TRANSFORM_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    transform.add_argument("model", metavar="MODEL.npz", help="the model file")
    transform.add_argument("data", metavar="DATA.csv", help="the data to project")
    transform.add_argument(
        "--output",
        metavar="OUT.csv",
        help="where to write the projected data; a missing folder is "
        "created, and the location is checked before anything else "
        "(default: stdout)",
    )
    transform.add_argument(
        "--delimiter",
        type=_delimiter,
        metavar="CHAR",
        help="DATA.csv's field separator, one character or 'tab'; the "
        "output uses it too (default: guessed among comma, semicolon "
        "and tab)",
    )
    return parser


# ---------------------------------------------------------------------- progress
class Progress:
    """The estimator's ``callback``: a live progress line on stderr.

    On a terminal one line is rewritten in place and cleared at the end (the
    summary that follows says how the fit ended); elsewhere (a log file, a
    pipe) a plain line is printed now and then. The callback only receives the
    transformation, so the objective is evaluated here, at most once per
    refresh (that keeps the cost to a few per cent of the fit).

    Parameters
    ----------
    stream : file-like
        Where the line goes (``sys.stderr``); ``stream.isatty()`` decides
        between a live line (refreshed every second) and plain lines (every
        5 seconds).
    max_iter : int
        Shown as the iteration count's denominator.
    objective_at : callable
        ``objective_at(transformation)`` returns the objective as a float.

    Examples
    --------
    A stream that is not a terminal gets a plain line for the first
    iteration, then at most one every 5 seconds:

    >>> import io
    >>> import numpy as np
    >>> stream = io.StringIO()
    >>> progress = Progress(stream, max_iter=100, objective_at=lambda A: float(np.sum(A ** 2)))
    >>> progress(np.array([1.0, 2.0]), 1)
    >>> progress(np.array([1.0, 1.0]), 2)            # too soon after the first: not shown
    >>> print(stream.getvalue(), end="")
    NCA  iteration    1/100   objective            5   ... s
    """

    def __init__(self, stream, max_iter, objective_at):
        self.stream = stream
        self.max_iter = max_iter
        self.objective_at = objective_at
        self.live = stream.isatty()
        self.interval = 1.0 if self.live else 5.0  # seconds between refreshes
        self.started = self.shown = time.perf_counter()
        self.open_line = False

    def __call__(self, transformation, n_iter):
        """Show iteration ``n_iter`` if the last line is old enough (always the first).

        Called by the estimator after every iteration with the current
        transformation. Returns None, so it never asks the fit to stop.
        """
        if n_iter > 1 and time.perf_counter() - self.shown < self.interval:
            return
        line = (
            f"NCA  iteration {n_iter:>4}/{self.max_iter}   objective "
            f"{self.objective_at(transformation):12.6g}   "
            f"{time.perf_counter() - self.started:6.1f} s"
        )
        if self.live:
            self.stream.write("\r" + line + "\x1b[K")  # rewrite the line in place
            self.open_line = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self.shown = time.perf_counter()

    def clear(self):
        """Remove the live line (the fit is over).

        On a terminal the line is erased (carriage return, then the ANSI code
        ``ESC [K``, erase to the end of the line); elsewhere nothing was left
        open and nothing is written.

        Examples
        --------
        >>> import io
        >>> import numpy as np
        >>> class Terminal(io.StringIO):
        ...     def isatty(self):
        ...         return True
        >>> terminal = Terminal()
        >>> progress = Progress(terminal, max_iter=10, objective_at=lambda A: 0.5)
        >>> progress(np.zeros(2), 1)
        >>> progress.clear()
        >>> terminal.getvalue()
        '\\rNCA  iteration    1/10   objective          0.5 ... s\\x1b[K\\r\\x1b[K'
        """
        self._end("\r\x1b[K")

    def close(self):
        """Keep the live line and end it (the fit was interrupted or failed).

        The last progress line stays on screen, so that the error message
        that follows can be read beside the iteration where it happened.

        Examples
        --------
        >>> import io
        >>> import numpy as np
        >>> class Terminal(io.StringIO):
        ...     def isatty(self):
        ...         return True
        >>> terminal = Terminal()
        >>> progress = Progress(terminal, max_iter=10, objective_at=lambda A: 0.5)
        >>> progress(np.zeros(2), 1)
        >>> progress.close()
        >>> terminal.getvalue().endswith("\\x1b[K\\n")
        True
        """
        self._end("\n")

    def _end(self, text):
        if self.open_line:
            self.stream.write(text)
            self.stream.flush()
            self.open_line = False


def _objective_function(X, y, n_components, objective):
    """transformation (flat) -> the NCA objective on (X, y), without a gradient."""
    from . import no_grad
    from .nca.loss import nca_loss

    n = len(X)
    # Rows of the N × N matrices at a time, about 4M entries per block.
    block_size = None if n * n <= 1 << 22 else max(1, (1 << 22) // n)

    def objective_at(transformation):
        A = np.reshape(transformation, (n_components, X.shape[1]))
        with no_grad():
            return float(nca_loss(A, X, y, objective=objective, block_size=block_size).value)

    return objective_at


# ---------------------------------------------------------------------- output locations
def _missing_folders(directory):
    """The folders ``os.makedirs(directory)`` would create, outermost first."""
    missing = []
    path = os.path.abspath(directory)
    while not os.path.lexists(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return missing[::-1]


def _prepare_output_folder(directory, what):
    """Create ``directory`` if needed and check that a file can be written in it.

    Called before any work, so that a fit of minutes does not end in "cannot
    write". Returns the folders it created (outermost first), for
    :func:`_remove_folders` if the command then fails before writing anything.
    ``what`` names the user's option in messages (``--output-dir 'results'``).
    """
    created = _missing_folders(directory)
    try:
        os.makedirs(directory, exist_ok=True)
    except FileExistsError:
        raise CommandError(f"cannot use {what}: it is a file, not a folder") from None
    except OSError as err:
        raise CommandError(f"cannot create {what}: {_reason(err)}") from None
    try:
        # A real file, as the command will write: os.access does not see
        # read-only file systems or ACLs, and says yes to root for everything.
        with tempfile.TemporaryFile(dir=directory, prefix=f".{PROG}-check-"):
            pass
    except OSError as err:
        _remove_folders(created)
        raise CommandError(f"cannot write in {what}: {_reason(err)}") from None
    return created


def _remove_folders(created):
    """Remove folders made by :func:`_prepare_output_folder`, if still empty."""
    for folder in reversed(created):
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def _reason(err):
    """An OSError's reason without the (possibly temporary) file name: 'permission denied'."""
    reason = err.strerror or str(err)
    return reason[:1].lower() + reason[1:]


# ---------------------------------------------------------------------- fit
def _load_data(args):
    if args.csv is not None or args.target is not None:
        if args.dataset is not None:
            raise CommandError("give either --dataset or --csv, not both")
        if args.csv is None:
            raise CommandError("--target names a column of a CSV file: give the file with --csv")
        if args.target is None:
            raise CommandError("--csv needs --target COLUMN, the column holding the class labels")
        return load_csv(args.csv, args.target, delimiter=args.delimiter)
    if args.delimiter is not None:
        raise CommandError("--delimiter is for a CSV file given with --csv")
    return load_dataset(args.dataset or "digits", seed=args.seed)


def _split(X, y, test_size, seed):
    """Stratified train/test split, with the checks that make its errors readable."""
    from sklearn.model_selection import train_test_split

    classes, counts = np.unique(y, return_counts=True)
    if counts.min() < 2:
        rare = ", ".join(
            repr(c.item() if hasattr(c, "item") else c) for c in classes[counts < 2][:5]
        )
        raise CommandError(
            f"class(es) {rare} have a single sample; a stratified train/test "
            "split needs at least 2 samples per class"
        )
    n_test = int(np.ceil(test_size * len(y)))
    if n_test < len(classes) or len(y) - n_test < len(classes):
        raise CommandError(
            f"{len(y)} samples are too few to hold out {test_size:g} of them "
            f"with every one of the {len(classes)} classes on both sides; "
            "change --test-size or use more data"
        )
    return train_test_split(X, y, test_size=test_size, stratify=y, random_state=seed)


def _knn_accuracy(Z_train, y_train, Z_test, y_test, k):
    from sklearn.neighbors import KNeighborsClassifier

    knn = KNeighborsClassifier(n_neighbors=min(k, len(y_train)))
    return float(knn.fit(Z_train, y_train).score(Z_test, y_test))


def _view_2d(Z_train, Z_test):
    """The test embedding as 2-D points: itself, or its two principal axes if d > 2."""
    if Z_test.shape[1] == 2:
        return Z_test
    from sklearn.decomposition import PCA

    return PCA(n_components=2).fit(Z_train).transform(Z_test)


def _fit_nca(args, X_train, y_train, out):
    """Fit NCA with the progress display; turn warnings into one-line notes."""
    from sklearn.exceptions import ConvergenceWarning

    d = args.n_components
    progress = None
    if not args.quiet:
        progress = Progress(
            sys.stderr, args.max_iter, _objective_function(X_train, y_train, d, args.objective)
        )
    nca = _estimator_class()(
        n_components=d,
        max_iter=args.max_iter,
        objective=args.objective,
        random_state=args.seed,
        callback=progress,
    )
    from threadpoolctl import threadpool_limits

    started = time.perf_counter()
    try:
        with (
            warnings.catch_warnings(record=True) as caught,
            threadpool_limits(limits=args.threads, user_api="blas"),
        ):
            warnings.simplefilter("always")
            nca.fit(X_train, y_train)
    except BaseException:
        if progress is not None:
            progress.close()
        raise
    seconds = time.perf_counter() - started
    if progress is not None:
        progress.clear()
    for warning in caught:
        if issubclass(warning.category, ConvergenceWarning) and nca.n_iter_ >= args.max_iter:
            _note(
                f"the optimiser stopped at --max-iter {args.max_iter} before its convergence "
                "test passed; the model is usable, a larger --max-iter refines it"
            )
        else:
            _note(" ".join(str(warning.message).split()))
    print(
        f"NCA: {nca.n_iter_} iterations in {seconds:.1f} s, final objective "
        f"{nca.loss_curve_[-1]:.6g} ('{args.objective}')",
        file=out,
    )
    return nca


def _baselines(args, X_train, y_train):
    """The linear maps NCA is compared with, fitted on the same training part."""
    from sklearn.decomposition import PCA

    d = args.n_components
    baselines = {"PCA": PCA(n_components=d, random_state=args.seed).fit(X_train)}
    if args.lda:
        from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

        most = min(len(np.unique(y_train)) - 1, X_train.shape[1])
        if d <= most:
            baselines["LDA"] = LinearDiscriminantAnalysis(n_components=d).fit(X_train, y_train)
        else:
            _note(
                f"no LDA: it gives at most {most} dimensions here (classes - 1), "
                f"not --n-components {d}"
            )
    return baselines


def _fit(args, out):
    created = _prepare_output_folder(args.output_dir, f"--output-dir {args.output_dir!r}")
    try:
        return _fit_into(args, out)
    except BaseException:
        _remove_folders(created)  # only if nothing was written in them
        raise


def _fit_into(args, out):
    X, y, info = _load_data(args)  # bad input fails before the heavy imports
    from sklearn.preprocessing import StandardScaler

    from .plotting import plot_embeddings

    n_samples, n_features = X.shape
    d = args.n_components
    if d > n_features:
        raise CommandError(
            f"--n-components {d} is more than the {n_features} features of {info.name}"
        )
    X_train, X_test, y_train, y_test = _split(X, y, args.test_size, args.seed)
    if d > len(y_train):
        raise CommandError(f"--n-components {d} is more than the {len(y_train)} training samples")
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    print(
        f"{info.name}: {n_samples} samples, {n_features} features, "
        f"{len(info.target_names)} classes; {len(y_train)} for training, {len(y_test)} "
        f"held out (stratified, seed {args.seed}); standardised",
        file=out,
    )
    print(
        f"fitting NCA: {n_features} -> {d} dimensions, objective '{args.objective}', "
        f"at most {args.max_iter} iterations",
        file=out,
        flush=True,
    )

    nca = _fit_nca(args, X_train, y_train, out)
    maps = {"NCA": nca, **_baselines(args, X_train, y_train)}
    embeddings = {name: (m.transform(X_train), m.transform(X_test)) for name, m in maps.items()}
    k = args.n_neighbors
    accuracy = {
        name: _knn_accuracy(Z_train, y_train, Z_test, y_test, k)
        for name, (Z_train, Z_test) in embeddings.items()
    }

    print(f"\n{k}-NN accuracy on the {len(y_test)} held-out samples", file=out)
    print(f"  {'features':<10}{'dims':>6}{'accuracy':>10}", file=out)
    rows = [("raw", n_features, _knn_accuracy(X_train, y_train, X_test, y_test, k))]
    rows += [(name, d, accuracy[name]) for name in ("PCA", "LDA", "NCA") if name in accuracy]
    for name, dims, value in rows:
        print(f"  {name:<10}{dims:>6}{value:>10.3f}", file=out)
    print(file=out)

    if d >= 2:
        views = {name: _view_2d(*pair) for name, pair in embeddings.items()}
        shown = "" if d == 2 else f" (the two principal axes of each {d}-D embedding)"
        figure_path = os.path.join(args.output_dir, f"{info.name}_embedding.png")
        with _writing(figure_path):
            plot_embeddings(
                views,
                y_test,
                accuracies=accuracy,
                n_neighbors=k,
                class_names=info.target_names,
                legend_title=info.target,
                path=figure_path,
                title=f"{info.name}: {len(y_test)} held-out samples, "
                f"{n_features} features \u2192 {d} dimensions{shown}",
            )
        print(f"wrote {figure_path}  ({', '.join(views)}: held-out samples)", file=out)
    else:
        print("no plot: the embedding is 1-D (use --n-components 2 for a picture)", file=out)

    model_path = os.path.join(args.output_dir, f"{info.name}_nca.npz")
    with _writing(model_path):
        _raw_feature_model(nca, scaler, info.feature_names).save(model_path)
    print(
        f"wrote {model_path}  (the fitted model; apply it with "
        f"'{PROG} transform {model_path} DATA.csv')",
        file=out,
    )
    return 0


def _raw_feature_model(nca, scaler, feature_names):
    """The fitted NCA as a model of the raw, unstandardised feature columns.

    A·((x − μ)/σ) = (A/σ)·x − A·μ/σ, and a constant shift changes no distance,
    so folding 1/σ into the components gives a plain NCA model of the original
    columns (its embedding is the standardised one, moved by a constant).
    """
    nca.components_ = nca.components_ / scaler.scale_
    nca.feature_names_in_ = np.asarray(feature_names, dtype=object)
    nca.callback = None
    return nca


@contextlib.contextmanager
def _writing(path):
    """Report a failed write under the user's file name, not the temporary one written first."""
    try:
        yield
    except OSError as err:
        raise CommandError(f"cannot write {path}: {_reason(err)}") from None


# ---------------------------------------------------------------------- transform
def _short_list(names, limit=6):
    shown = ", ".join(repr(str(n)) for n in names[:limit])
    return shown if len(names) <= limit else f"{shown}, ... ({len(names)} in all)"


def _transform(args, out):
    created = []
    if args.output is not None:
        if os.path.isdir(args.output):
            raise CommandError(f"--output {args.output!r} is a folder; give a file name")
        folder = os.path.dirname(args.output) or os.curdir
        created = _prepare_output_folder(folder, f"the folder of --output {args.output!r}")
    try:
        return _transform_into(args, out)
    except BaseException:
        _remove_folders(created)
        raise


def _load_model(args):
    """The model, or an error that says so if MODEL.npz and DATA.csv look swapped."""
    try:
        return _estimator_class().load(args.model)
    except ValueError as err:
        data_is_zip = os.path.isfile(args.data) and zipfile.is_zipfile(args.data)
        if data_is_zip:
            raise CommandError(
                f"{err}; {args.data!r} looks like the model: the model file "
                f"comes first ('{PROG} transform MODEL.npz DATA.csv')"
            ) from None
        raise


def _transform_into(args, out):
    model = _load_model(args)
    header, delimiter = read_csv_header(args.data, delimiter=args.delimiter)
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        names = [str(n) for n in names]
        missing = [n for n in names if n not in header]
        if missing:
            raise CommandError(
                f"{args.data} lacks the model's feature column(s) "
                f"{_short_list(missing)}; the model was fitted on "
                f"{_short_list(names)}"
            )
    else:
        if len(header) != model.n_features_in_:
            raise CommandError(
                f"the model expects {model.n_features_in_} features, but "
                f"{args.data} has {len(header)} columns (the model stores no "
                "column names, so every column must be a feature)"
            )
        names = header
    kept = [name for name in header if name not in set(names)]
    projected = [str(name) for name in model.get_feature_names_out()]
    clashes = [name for name in kept if name in projected]
    if clashes:
        raise CommandError(
            f"{args.data} has column(s) {_short_list(clashes)}, the name(s) of "
            "the projected columns; rename them"
        )
    table = read_csv_columns(args.data, names, delimiter=delimiter)
    with warnings.catch_warnings():
        # The model knows its column names but X is a plain array (already
        # put in the model's column order by read_csv_columns).
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        Z = model.transform(table.X)

    def write(stream):
        columns = [table.text[name] for name in kept]
        columns += [list(map(repr, z)) for z in Z.T.tolist()]  # repr: shortest exact text
        write_csv_columns(stream, kept + projected, columns, delimiter)

    if args.output is None:
        write(out)
        return 0
    from ._atomic import atomic_path

    with _writing(args.output), atomic_path(args.output) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as stream:
            write(stream)
    print(f"wrote {args.output}  ({table.n_rows} rows, {Z.shape[1]} NCA columns)", file=sys.stderr)
    return 0


def write_csv_columns(
    stream: TextIO, header: Sequence[str], columns: Sequence[Sequence[str]], delimiter: str = ","
) -> None:
    """Write text columns as CSV, a block of rows at a time; as ``csv.writer`` would.

    Quoting is the :mod:`csv` module's minimal one: a cell holding the
    delimiter, a double quote or a line break is quoted, its quotes doubled.
    Built column by column and joined a block at a time, because one
    ``writerow`` per row costs more than reading the file did.

    Parameters
    ----------
    stream : text file
        Opened with ``newline=""`` (lines end in ``"\\n"``).
    header : list of str
    columns : list of lists of str
        ``columns[j]`` holds the cells of ``header[j]``; all of one length.
    delimiter : str, default ","

    Examples
    --------
    >>> import io
    >>> stream = io.StringIO()
    >>> write_csv_columns(stream, ["id", "x"], [["a", 'b "c", d'], ["1.5", "-2.0"]])
    >>> print(stream.getvalue(), end="")
    id,x
    a,1.5
    "b ""c"", d",-2.0
    """
    specials = (delimiter, '"', "\n", "\r")

    def quoted(cell):
        return '"' + cell.replace('"', '""') + '"' if any(c in cell for c in specials) else cell

    def minimal(cells):
        # One scan of the joined column decides whether any cell needs quotes.
        joined = "".join(cells)
        return [quoted(cell) for cell in cells] if any(c in joined for c in specials) else cells

    stream.write(delimiter.join(minimal(list(header))) + "\n")
    columns = [minimal(column) for column in columns]
    n_rows = len(columns[0]) if columns else 0
    block = 1 << 16
    for start in range(0, n_rows, block):
        rows = zip(*(column[start : start + block] for column in columns), strict=False)
        stream.write("\n".join(map(delimiter.join, rows)) + "\n")


# ---------------------------------------------------------------------- entry point
def _note(message):
    print(f"{PROG}: note: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``tinygrad-nca`` with ``argv`` (default: ``sys.argv[1:]``); return the exit status.

    The installed ``tinygrad-nca`` script and ``python -m tinygrad_nca`` call
    it with the command line's words.

    ``tinygrad-nca fit`` loads a data set (``--dataset NAME``, one of
    :data:`~tinygrad_nca.datasets.DATASETS`, or ``--csv PATH --target
    COLUMN``), splits it into stratified training and held-out parts,
    standardises both with the training part's mean and standard deviation,
    fits NCA, prints the k-NN accuracy on the held-out part for the raw
    features, PCA and NCA at the same dimension, and writes a plot (if the
    embedding has at least 2 dimensions) and the model file. ``tinygrad-nca
    transform MODEL.npz DATA.csv`` projects the rows of a CSV file with a
    saved model and writes them as CSV (to stdout, or ``--output``).

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program name.

    Returns
    -------
    int
        0 on success (and for ``--help``, ``--version``), 1 for bad input
        (one line ``tinygrad-nca: error: ...`` on stderr), 2 for a malformed
        command line or no command at all (the whole help then goes to
        stderr, as argparse sends its usage message there with status 2), 130
        if interrupted with Ctrl-C, 141 if the reader of stdout went away
        (``... | head``).

    Examples
    --------
    Fit on iris, 4 → 1 dimensions (1-D: no plot, so no matplotlib), quietly:

    >>> import os, tempfile
    >>> out = tempfile.mkdtemp()
    >>> main(["fit", "--dataset", "iris", "--n-components", "1", "--max-iter", "20",
    ...       "--quiet", "--output-dir", out])
    iris: 150 samples, 4 features, 3 classes; 112 for training, 38 held out (stratified, seed 0); standardised
    fitting NCA: 4 -> 1 dimensions, objective 'expected', at most 20 iterations
    NCA: ... iterations in ... s, final objective ... ('expected')
    <BLANKLINE>
    3-NN accuracy on the 38 held-out samples
      features    dims  accuracy
      raw            4     0.974
      PCA            1     0.868
      NCA            1     ...
    <BLANKLINE>
    no plot: the embedding is 1-D (use --n-components 2 for a picture)
    wrote .../iris_nca.npz  (the fitted model; apply it with 'tinygrad-nca transform .../iris_nca.npz DATA.csv')
    0

    Project new rows with the saved model. Columns the model was not fitted
    on (``id`` here) are copied through:

    >>> data = os.path.join(out, "new.csv")
    >>> with open(data, "w") as f:
    ...     _ = f.write("id,sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\\n"
    ...                 "a,5.1,3.5,1.4,0.2\\n"
    ...                 "b,6.7,3.0,5.2,2.3\\n")
    >>> main(["transform", os.path.join(out, "iris_nca.npz"), data])
    id,neighborhoodcomponentsanalysis0
    a,...
    b,...
    0

    Bad input ends with one line on stderr and status 1:

    >>> import contextlib, sys
    >>> with contextlib.redirect_stderr(sys.stdout):     # show stderr here
    ...     status = main(["fit", "--csv", "no_such_file.csv", "--target", "label"])
    tinygrad-nca: error: no_such_file.csv: no such file
    >>> status
    1
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version, or a malformed command line
        return stop.code if isinstance(stop.code, int) else 2
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        if args.command == "fit":
            return _fit(args, sys.stdout)
        return _transform(args, sys.stdout)
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader stopped early (`... | head`): not an error. Point stdout at
        # /dev/null so that Python's final flush does not fail again.
        with contextlib.suppress(OSError, ValueError, AttributeError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (CommandError, ValueError, OSError) as err:
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
