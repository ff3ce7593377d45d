"""tinygrad_nca: a small reverse-mode autodiff engine on NumPy, and NCA built from it.

Importing the package imports NumPy only; the models that need SciPy or
scikit-learn are loaded on first use.
"""

from .blockwise import sum_of_blocks
from .errors import AnomalyError, GradientCheckError, ShapeError
from .gradcheck import check_grads
from .graph import cost_report, to_dot
from .jit import jit
from .nca import nca_loss
from .ops import (
    abs,
    add,
    append,
    arccos,
    arccosh,
    arcsin,
    arcsinh,
    arctan,
    arctan2,
    arctanh,
    argmax,
    argmin,
    argsort,
    array_split,
    astype,
    atleast_1d,
    atleast_2d,
    atleast_3d,
    average,
    broadcast_to,
    ceil,
    clip,
    column_stack,
    concatenate,
    cos,
    cosh,
    cross,
    cumprod,
    cumsum,
    deg2rad,
    diag,
    diagonal,
    diff,
    divide,
    dot,
    einsum,
    exp,
    exp2,
    expand_dims,
    expm1,
    flatten,
    flip,
    fliplr,
    flipud,
    floor,
    fmax,
    fmin,
    hsplit,
    hstack,
    hypot,
    inner,
    kron,
    log,
    log1p,
    log2,
    log10,
    log_softmax,
    logaddexp,
    logaddexp2,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    mod,
    moveaxis,
    multiply,
    nan_to_num,
    negative,
    outer,
    pad,
    power,
    prod,
    rad2deg,
    ravel,
    reciprocal,
    remainder,
    repeat,
    reshape,
    roll,
    rollaxis,
    rot90,
    round,
    sign,
    sin,
    sinc,
    sinh,
    softmax,
    softmax_mass,
    sort,
    split,
    sqrt,
    square,
    squeeze,
    stack,
    std,
    subtract,
    sum,
    swapaxes,
    take_along_axis,
    tan,
    tanh,
    tensordot,
    tile,
    trace,
    transpose,
    tril,
    triu,
    var,
    vsplit,
    vstack,
    where,
)
from .tensor import (
    ArrayLike,
    Primitive,
    Tensor,
    as_tensor,
    detect_anomaly,
    enable_grad,
    is_grad_enabled,
    no_grad,
    primitive,
    value_of,
)
from .transforms import checkpoint, grad, hvp, jacobian, jvp, stop_gradient, value_and_grad, vjp

__version__ = "0.1.0"  # the one place it is written: pyproject.toml reads it from here

# Everything above and the lazily served names below (`from tinygrad_nca import *`, and
# what linters and type checkers take as the package's public names).
# A long list of names stays packed (ruff format would put one per line).
# fmt: off
__all__ = [
    "AnomalyError", "GradientCheckError", "Primitive", "ShapeError", "Tensor", "ArrayLike",
    "abs", "add", "append", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2",
    "arctanh", "argmax", "argmin", "argsort", "array_split", "as_tensor", "astype",
    "atleast_1d", "atleast_2d", "atleast_3d", "average", "broadcast_to", "ceil", "check_grads",
    "checkpoint", "clip", "column_stack", "concatenate", "cos", "cosh", "cost_report", "cross",
    "cumprod", "cumsum", "deg2rad", "detect_anomaly", "diag", "diagonal", "diff", "divide",
    "dot", "einsum", "enable_grad", "exp", "exp2", "expand_dims", "expm1", "flatten", "flip",
    "fliplr", "flipud", "floor", "fmax", "fmin", "grad", "hsplit", "hstack", "hvp", "hypot",
    "inner", "is_grad_enabled", "jacobian", "jit", "jvp", "kron", "log", "log10", "log1p",
    "log2", "log_softmax", "logaddexp", "logaddexp2", "logsumexp", "matmul", "max", "maximum",
    "mean", "min", "minimum", "mod", "moveaxis", "multiply", "nan_to_num", "nca_loss",
    "negative", "no_grad", "outer", "pad", "power", "primitive", "prod", "rad2deg", "ravel",
    "reciprocal", "remainder", "repeat", "reshape", "roll", "rollaxis", "rot90", "round",
    "sign", "sin", "sinc", "sinh", "softmax", "softmax_mass", "sort", "split", "sqrt",
    "square", "squeeze", "stack", "std", "stop_gradient", "subtract", "sum", "sum_of_blocks",
    "swapaxes", "take_along_axis", "tan", "tanh", "tensordot", "tile", "to_dot", "trace",
    "transpose", "tril", "triu", "value_and_grad", "value_of", "var", "vjp", "vsplit",
    "vstack", "where",
    "NeighborhoodComponentsAnalysis", "NCA", "stratified_batches", "LinearAutoencoder",
    "LinearReduction", "load_dataset", "make_rings", "load_csv", "plot_embeddings",
    "__version__",
]
# fmt: on

# Names served lazily: module attribute -> (submodule, attribute). Their modules
# import SciPy / scikit-learn / matplotlib, which `import tinygrad_nca` must not.
_LAZY = {
    "NeighborhoodComponentsAnalysis": (".nca.estimator", "NeighborhoodComponentsAnalysis"),
    "NCA": (".nca.estimator", "NCA"),
    "stratified_batches": (".nca.estimator", "stratified_batches"),
    "LinearAutoencoder": (".models.autoencoder", "LinearAutoencoder"),
    "LinearReduction": (".models.reduction", "LinearReduction"),
    "load_dataset": (".datasets", "load_dataset"),
    "make_rings": (".datasets", "make_rings"),
    "load_csv": (".datasets", "load_csv"),
    "plot_embeddings": (".plotting", "plot_embeddings"),
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module_name, attribute = _LAZY[name]
        value = getattr(importlib.import_module(module_name, __name__), attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tinygrad_nca' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
