"""tinygrad_nca: a small reverse-mode autodiff engine on NumPy, and NCA built from it.

Importing the package imports NumPy only; the models that need SciPy or
scikit-learn are loaded on first use.
"""
from .errors import AnomalyError, GradientCheckError, ShapeError
from .tensor import (Primitive, Tensor, as_tensor, detect_anomaly, enable_grad, is_grad_enabled,
                     no_grad, primitive, value_of)
from .ops import (abs, add, append, arccos, arccosh, arcsin, arcsinh, arctan, arctan2, arctanh,
                  argmax, argmin, argsort, array_split, astype, atleast_1d, atleast_2d,
                  atleast_3d, average, broadcast_to, ceil, clip, column_stack, concatenate, cos,
                  cosh, cross, cumprod, cumsum, deg2rad, diag, diagonal, diff, divide, dot,
                  einsum, exp, exp2, expand_dims, expm1, flatten, flip, fliplr, flipud, floor,
                  fmax, fmin, hsplit, hstack, hypot, inner, kron, log, log10, log1p, log2,
                  log_softmax, logaddexp, logaddexp2, logsumexp, matmul, max, maximum, mean, min,
                  minimum, mod, moveaxis, multiply, nan_to_num, negative, outer, pad, power, prod,
                  rad2deg, ravel, reciprocal, remainder, repeat, reshape, roll, rollaxis, rot90,
                  round, sign, sin, sinc, sinh, softmax, sort, split, sqrt, square, squeeze,
                  stack, std, subtract, sum, swapaxes, take_along_axis, tan, tanh, tensordot,
                  tile, trace, transpose, tril, triu, var, vsplit, vstack, where)
from .transforms import checkpoint, grad, hvp, jacobian, jvp, stop_gradient, value_and_grad, vjp
from .jit import jit
from .gradcheck import check_grads
from .graph import cost_report, to_dot
from .blockwise import sum_of_blocks
from .nca import nca_loss

__version__ = "0.1.0"   # the one place it is written: pyproject.toml reads it from here

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
