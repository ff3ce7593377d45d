"""Model files for the NCA estimator: a plain ``.npz``, never a pickle.

Layout (every entry an ordinary array, so ``np.load(..., allow_pickle=False)``
reads it):

- ``format``: the marker string ``"tinygrad_nca.NeighborhoodComponentsAnalysis"``;
- ``format_version``: an integer; a reader refuses versions newer than its own;
- ``params``: the constructor parameters that are plain values, as JSON
  (``callback`` and a ``RandomState`` instance are not plain values: they
  load as None);
- ``init``: present when the ``init`` parameter was an array;
- the fitted arrays: ``components_``, ``loss_curve_``, ``n_iter_``,
  ``n_features_in_``, ``feature_names_in_`` (if any) and the state of
  ``random_state_``.

The file is written to a temporary name in the target directory and moved into
place with :func:`os.replace` (:func:`tinygrad_nca._atomic.atomic_path`), so an
interrupted save never leaves a half-written model under the final name.
"""

from __future__ import annotations

import json
import os
import zipfile
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from .._atomic import atomic_path

__all__ = ["save_model", "load_model", "FORMAT", "FORMAT_VERSION"]

_Estimator = TypeVar("_Estimator", bound="NeighborhoodComponentsAnalysis")

if TYPE_CHECKING:
    from .estimator import NeighborhoodComponentsAnalysis

# An .npz is a zip archive: its first bytes are a zip local-file header.
_ZIP_MAGIC = b"PK\x03\x04"
_NPY_MAGIC = b"\x93NUMPY"
_SNIFF_BYTES = 4096


def _what_it_is(start):
    """A few words on what a file that is not a zip archive is, from its first bytes."""
    if not start:
        return "the file is empty"
    if start.startswith(_NPY_MAGIC):
        return "it is a single NumPy array (.npy)"
    try:
        text = start.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start < len(start) - 3:  # not just a character cut off at the end
            return "it is a binary file of another kind"
        text = start[: err.start].decode("utf-8")
    first_line = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    if any(mark in first_line for mark in (",", ";", "\t")):
        return "it is a text file that looks like CSV data"
    return "it is a text file"


FORMAT = "tinygrad_nca.NeighborhoodComponentsAnalysis"
FORMAT_VERSION = 1
_PLAIN_PARAMS = (
    "n_components",
    "warm_start",
    "max_iter",
    "tol",
    "verbose",
    "random_state",
    "objective",
    "dtype",
    "max_memory",
    "init",
    "solver",
    "batch_size",
    "learning_rate",
)


def save_model(estimator: Any, path: str | os.PathLike[str]) -> None:
    """Write a fitted estimator to ``path`` (an ``.npz`` file, written atomically)."""
    params = estimator.get_params(deep=False)
    plain = {}
    for name in _PLAIN_PARAMS:
        value = params.get(name)
        if name == "dtype":
            value = np.dtype(value).name
        elif name == "init" and isinstance(value, np.ndarray):
            value = None  # stored as its own array below
        elif name == "random_state" and not (value is None or isinstance(value, (int, np.integer))):
            value = None  # a RandomState instance is not a plain value
        plain[name] = value.item() if isinstance(value, np.generic) else value
    arrays = {
        "format": np.array(FORMAT),
        "format_version": np.array(FORMAT_VERSION),
        "params": np.array(json.dumps(plain)),
        "components_": estimator.components_,
        "loss_curve_": np.asarray(estimator.loss_curve_, dtype=np.float64),
        "n_iter_": np.array(estimator.n_iter_),
        "n_features_in_": np.array(estimator.n_features_in_),
    }
    if isinstance(params.get("init"), np.ndarray):
        arrays["init"] = np.asarray(params["init"], dtype=np.float64)
    if hasattr(estimator, "feature_names_in_"):
        arrays["feature_names_in_"] = np.asarray(estimator.feature_names_in_, dtype=str)
    state = estimator.random_state_.get_state()  # ('MT19937', keys, pos, has_gauss, gauss)
    arrays["random_state_keys"] = np.asarray(state[1])
    arrays["random_state_rest"] = np.array([state[2], state[3], state[4]], dtype=np.float64)

    # A temporary file in the same directory, renamed over ``path`` when complete.
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as file:
            np.savez(file, **arrays)


def load_model(cls: type[_Estimator], path: str | os.PathLike[str]) -> _Estimator:
    """Read a model written by :func:`save_model`; a foreign or damaged file is a ValueError."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no model file at {path!r}")
    # Look at the first bytes before NumPy does: np.load reads a text file as
    # a pickle and answers with advice about allow_pickle, which is not the
    # problem (a CSV file given where the model belongs is).
    with open(path, "rb") as file:
        start = file.read(_SNIFF_BYTES)
    if not start.startswith(_ZIP_MAGIC):
        raise ValueError(
            f"{path!r} is not a tinygrad_nca model file (an .npz archive written "
            f"by NeighborhoodComponentsAnalysis.save or 'tinygrad-nca fit'): "
            f"{_what_it_is(start)}"
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            contents = {key: data[key] for key in data.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile):
        raise ValueError(
            f"{path!r} is not a tinygrad_nca model file: it starts like a zip "
            "archive but cannot be read as an .npz of plain arrays (damaged, "
            "or a zip of something else)"
        ) from None
    if (
        not isinstance(contents, dict)
        or contents.get("format") is None
        or str(contents["format"]) != FORMAT
    ):
        raise ValueError(
            f"{path!r} is not a tinygrad_nca model file: it has no 'format' entry saying {FORMAT!r}"
        )
    version = int(contents.get("format_version", -1))
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path!r} was written in model format version {version} by a newer "
            f"tinygrad_nca; this version reads format {FORMAT_VERSION} and older. "
            "Upgrade tinygrad_nca to load it."
        )
    if version < 1:
        raise ValueError(f"{path!r} has an invalid format_version ({version})")
    missing = [
        key
        for key in (
            "params",
            "components_",
            "loss_curve_",
            "n_iter_",
            "n_features_in_",
            "random_state_keys",
            "random_state_rest",
        )
        if key not in contents
    ]
    if missing:
        raise ValueError(f"{path!r} is a damaged model file: missing {', '.join(missing)}")
    try:
        params = json.loads(str(contents["params"]))
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{path!r} is a damaged model file: its parameters are not valid JSON ({err})"
        ) from None
    unknown = set(params) - set(_PLAIN_PARAMS)
    if unknown:
        raise ValueError(f"{path!r} has unknown parameters {sorted(unknown)}")
    if "init" in contents:
        params["init"] = contents["init"]
    if params.get("dtype") in ("float32", "float64"):
        params["dtype"] = np.dtype(params["dtype"]).type  # back to np.float32 / np.float64
    estimator = cls(**params)
    try:
        estimator._validate_params()
    except ValueError as err:
        raise ValueError(f"{path!r} holds invalid parameters: {err}") from None

    components = contents["components_"]
    n_features = int(contents["n_features_in_"])
    if (
        components.ndim != 2
        or components.shape[1] != n_features
        or components.dtype.kind != "f"
        or not np.all(np.isfinite(components))
    ):
        raise ValueError(
            f"{path!r} is a damaged model file: components_ has shape "
            f"{components.shape} and dtype {components.dtype}, expected a finite "
            f"float (n_components, {n_features}) matrix"
        )
    estimator.components_ = components
    estimator.n_features_in_ = n_features
    estimator.n_iter_ = int(contents["n_iter_"])
    estimator.loss_curve_ = contents["loss_curve_"]
    if "feature_names_in_" in contents:
        names = contents["feature_names_in_"].astype(object)
        if names.shape != (n_features,):
            raise ValueError(
                f"{path!r} is a damaged model file: {names.shape[0]} feature "
                f"names for {n_features} features"
            )
        estimator.feature_names_in_ = names
    rest = contents["random_state_rest"]
    estimator.random_state_ = np.random.RandomState()
    try:
        estimator.random_state_.set_state(
            ("MT19937", contents["random_state_keys"], int(rest[0]), int(rest[1]), float(rest[2]))
        )
    except (ValueError, TypeError, IndexError) as err:
        raise ValueError(f"{path!r} is a damaged model file: bad random state ({err})") from None
    return estimator
