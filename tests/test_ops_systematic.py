"""Every differentiable function of the engine, from one table, through the same checks.

Each row names a function, writes it once for any NumPy-like namespace (``lambda ns, x:
ns.sin(x)`` runs as tinygrad_nca or as NumPy, and in tests/test_ops_peers.py as JAX or
autograd), says where its inputs live (positive for log, |x| < 1 for arcsin, away from
kinks and jumps) and which shapes to try. Every row, at every shape, in float64 and float32:

* the forward values equal NumPy's exactly (same dtype, same bits), or, for the functions
  NumPy lacks (softmax, …), a NumPy reference formula to rounding;
* the gradient matches central finite differences to second order (check_grads, order=2).

Adding a function means adding a row; a public differentiable function without a row
fails ``test_every_differentiable_function_has_a_row``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pytest

import tinygrad_nca as tg

# ---------------------------------------------------------------- input domains
# Each draws a float64 array of a shape from a Generator; the table casts it to the dtype.


def real(rng, shape):
    return rng.uniform(-2.0, 2.0, shape)


def positive(rng, shape):
    return rng.uniform(0.5, 3.0, shape)


def unit(rng, shape):  # inside (−1, 1), away from the ends
    return rng.uniform(-0.8, 0.8, shape)


def above_one(rng, shape):
    return rng.uniform(1.3, 3.0, shape)


def nonzero(rng, shape):  # away from the kink at 0
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.3, 2.0, shape)


def off_integers(rng, shape):  # away from the jumps of floor, ceil, round (and half-way points)
    return rng.integers(-3, 3, shape) + rng.uniform(0.1, 0.4, shape) * rng.choice([1, 3], shape)


def grid_a(rng, shape):  # grid_a and grid_b never come within 0.2: no ties
    return rng.integers(-4, 4, shape) * 0.5 + 0.05


def grid_b(rng, shape):
    return rng.integers(-4, 4, shape) * 0.5 + 0.3


def low(rng, shape):  # lower bounds for clip: below 1, 0.1 from grid_b's values
    return rng.integers(-4, 1, shape) * 0.5 + 0.2


def high(rng, shape):  # upper bounds for clip: above 0, 0.1 from grid_b's values
    return rng.integers(0, 4, shape) * 0.5 + 0.4


def distinct(rng, shape):  # pairwise at least 0.2 apart: sort, max, min have no ties
    n = int(np.prod(shape))
    return (rng.permutation(n) * 0.2 + rng.uniform(-1, 1)).reshape(shape)


def with_zero(rng, shape):  # one exact zero (two for larger arrays): prod's special case
    x = rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    flat = x.reshape(-1)
    flat[: 1 if flat.size < 6 else 2] = 0.0
    return x


# ---------------------------------------------------------------- the table
UNARY = [(), (3,), (2, 3), (0,)]
NONEMPTY = [(), (3,), (2, 3)]
VECTORS = [(3,), (2, 3)]
MATRICES = [(3, 3), (2, 3, 3)]
BINARY = [
    ((), ()),
    ((3,), (3,)),
    ((2, 3), (2, 3)),
    ((2, 1), (1, 3)),
    ((3,), (2, 3)),
    ((2, 3), ()),
    ((0,), (0,)),
]


@dataclass
class Row:
    name: str  # the public function the row checks
    fn: object  # fn(ns, *xs): the same code for tinygrad_nca and NumPy
    domains: tuple  # one input domain per argument
    shapes: list  # shapes (one tuple per argument for several arguments)
    reference: object = None  # fn(*xs) in NumPy, when NumPy has no such function
    exact: bool = True  # forward values bit-equal to the reference
    peers: bool = True  # comparable with JAX/autograd by the same fn(ns, …)
    order: int = 2
    id: str = field(default="")


def unary(name, domain=real, shapes=UNARY, **kw):
    return Row(name, lambda ns, x: getattr(ns, name)(x), (domain,), shapes, **kw)


def binary(name, dx=real, dy=real, shapes=BINARY, **kw):
    return Row(name, lambda ns, x, y: getattr(ns, name)(x, y), (dx, dy), shapes, **kw)


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _softmax_mass(x, start, stop, exclude):
    """Σ_{start_i ≤ j < stop_i} of softmax(x_i) over j ≠ exclude_i, by explicit loops."""
    out = np.zeros(x.shape[0], dtype=x.dtype)
    for i, row in enumerate(x):
        keep = [j for j in range(row.size) if exclude is None or j != exclude[i]]
        if keep:
            p = _softmax(row[keep])
            out[i] = sum(p[k] for k, j in enumerate(keep) if start[i] <= j < stop[i])
    return out


def _logsumexp(x, axis=None, b=1.0):
    m = np.max(x, axis=axis, keepdims=True)
    return np.log(np.sum(b * np.exp(x - m), axis=axis)) + np.squeeze(m, axis=axis)


ROWS = [
    # -- arithmetic
    binary("add"),
    binary("subtract"),
    binary("multiply"),
    binary("divide", dy=positive),
    binary("power", dx=positive, dy=real),
    Row("power", lambda ns, x: x**3, (real,), UNARY, id="power-int"),
    Row("power", lambda ns, x: x**0.5, (positive,), UNARY, id="power-half"),
    unary("negative"),
    binary("maximum", grid_a, grid_b),
    binary("minimum", grid_a, grid_b),
    binary("fmax", grid_a, grid_b),
    binary("fmin", grid_a, grid_b),
    Row(
        "mod",
        lambda ns, x, y: ns.mod(x * y, y),
        (off_integers, positive),
        BINARY[:-1],
        exact=False,
        id="mod",
    ),
    Row(
        "remainder",
        lambda ns, x, y: ns.remainder(x * y, y),
        (off_integers, positive),
        [((3,), (3,))],
        exact=False,
    ),
    Row(
        "mod",
        lambda ns, x, y: (x * y) % y,
        (off_integers, positive),
        [((2, 3), (3,))],
        exact=False,
        peers=False,
        id="%",
    ),
    unary("square"),
    unary("reciprocal", nonzero),
    # -- elementwise functions
    unary("exp"),
    unary("exp2"),
    unary("expm1"),
    unary("log", positive),
    unary("log1p", positive),
    unary("log2", positive),
    unary("log10", positive),
    binary("logaddexp"),
    binary("logaddexp2"),
    unary("sqrt", positive),
    unary("abs", nonzero),
    unary("sin"),
    unary("cos"),
    unary("tan", unit),
    unary("arcsin", unit),
    unary("arccos", unit),
    unary("arctan"),
    binary("arctan2", real, positive),
    binary("hypot", nonzero, real),
    unary("sinh"),
    unary("cosh"),
    unary("tanh"),
    unary("arcsinh"),
    unary("arccosh", above_one),
    unary("arctanh", unit),
    unary("sinc", nonzero),
    unary("deg2rad"),
    unary("rad2deg"),
    unary("sign", nonzero),
    unary("floor", off_integers),
    unary("ceil", off_integers),
    unary("round", off_integers),
    Row("clip", lambda ns, x: ns.clip(x, -1.0, 1.0), (grid_b,), UNARY),
    Row("clip", lambda ns, x, lo: ns.clip(x, lo, 1.0), (grid_b, low), BINARY[:5], id="clip-lo"),
    Row("clip", lambda ns, x, hi: ns.clip(x, -1.0, hi), (grid_b, high), BINARY[:5], id="clip-hi"),
    unary("nan_to_num", peers=False),
    Row("where", lambda ns, x, y: ns.where(x > 0, x, y), (real, real), BINARY),
    Row(
        "astype",
        lambda ns, x: ns.astype(x * 2, np.float32) if ns is not np else (x * 2).astype(np.float32),
        (real,),
        NONEMPTY,
        peers=False,
    ),
    # -- reductions and scans
    Row("sum", lambda ns, x: ns.sum(x), (real,), UNARY),
    Row("sum", lambda ns, x: ns.sum(x, axis=0, keepdims=True), (real,), VECTORS, id="sum-axis"),
    Row("mean", lambda ns, x: ns.mean(x, axis=-1), (real,), VECTORS),
    Row("max", lambda ns, x: ns.max(x, axis=-1), (distinct,), VECTORS),
    Row("min", lambda ns, x: ns.min(x), (distinct,), NONEMPTY),
    Row("prod", lambda ns, x: ns.prod(x, axis=-1), (real,), VECTORS),
    Row("prod", lambda ns, x: ns.prod(x), (with_zero,), [(3,), (2, 3)], id="prod-zeros"),
    Row("prod", lambda ns, x: ns.prod(x, axis=0), (with_zero,), [(4, 2)], id="prod-zeros-axis"),
    Row("var", lambda ns, x: ns.var(x, axis=-1), (real,), VECTORS),
    Row("var", lambda ns, x: ns.var(x, ddof=1), (real,), [(4,), (2, 3)], id="var-ddof"),
    Row("std", lambda ns, x: ns.std(x, axis=0), (real,), VECTORS),
    Row(
        "average",
        lambda ns, x, w: ns.average(x, axis=-1, weights=w),
        (real, positive),
        [((3,), (3,)), ((2, 3), (3,))],
    ),
    Row("cumsum", lambda ns, x: ns.cumsum(x, axis=-1), (real,), VECTORS + [(0,)]),
    Row("cumsum", lambda ns, x: ns.cumsum(x), (real,), [(2, 3)], id="cumsum-flat"),
    Row("cumprod", lambda ns, x: ns.cumprod(x, axis=-1), (real,), VECTORS),
    Row(
        "cumprod",
        lambda ns, x: ns.cumprod(x, axis=0),
        (with_zero,),
        [(3,), (3, 2)],
        id="cumprod-zeros",
    ),
    Row("diff", lambda ns, x: ns.diff(x), (real,), VECTORS),
    Row("diff", lambda ns, x: ns.diff(x, n=2, axis=0), (real,), [(4, 2)], id="diff-2"),
    Row(
        "logsumexp",
        lambda ns, x: ns.logsumexp(x, axis=-1),
        (real,),
        VECTORS,
        reference=lambda x: _logsumexp(x, axis=-1),
        exact=False,
        peers=False,
    ),
    Row(
        "logsumexp",
        lambda ns, x, b: ns.logsumexp(x, b=b),
        (real, positive),
        [((3,), (3,)), ((2, 3), (3,))],
        reference=lambda x, b: _logsumexp(x, b=b),
        exact=False,
        peers=False,
        id="logsumexp-b",
    ),
    Row(
        "softmax",
        lambda ns, x: ns.softmax(x, axis=-1),
        (real,),
        VECTORS,
        reference=_softmax,
        exact=False,
        peers=False,
    ),
    Row(
        "log_softmax",
        lambda ns, x: ns.log_softmax(x, axis=0),
        (real,),
        VECTORS,
        reference=lambda x: np.log(_softmax(x, axis=0)),
        exact=False,
        peers=False,
    ),
    Row(
        "softmax_mass",
        lambda ns, x: ns.softmax_mass(x, start=[0, 1, 0], stop=[2, 4, 0], exclude=[0, 2, 3]),
        (real,),
        [(3, 4)],
        reference=lambda x: _softmax_mass(x, [0, 1, 0], [2, 4, 0], [0, 2, 3]),
        exact=False,
        peers=False,
    ),
    Row(
        "softmax_mass",
        lambda ns, x: ns.softmax_mass(x, start=[1, 1], stop=[3, 3]),
        (real,),
        [(2, 3), (2, 5)],
        reference=lambda x: _softmax_mass(x, [1, 1], [3, 3], None),
        exact=False,
        peers=False,
        id="softmax_mass-shared-range",
    ),
    Row("sort", lambda ns, x: ns.sort(x), (distinct,), VECTORS),
    Row("sort", lambda ns, x: ns.sort(x, axis=0), (distinct,), [(3, 2)], id="sort-axis"),
    # -- linear algebra
    Row(
        "matmul",
        lambda ns, a, b: ns.matmul(a, b),
        (real, real),
        [((2, 3), (3, 4)), ((3,), (3,)), ((3,), (3, 2)), ((2, 2, 3), (3, 2))],
    ),
    Row(
        "einsum",
        lambda ns, a, b: ns.einsum("ij,jk->ik", a, b),
        (real, real),
        [((2, 3), (3, 4))],
        id="einsum-matmul",
    ),
    Row("einsum", lambda ns, a: ns.einsum("ii", a), (real,), [(3, 3)], id="einsum-trace"),
    Row("einsum", lambda ns, a: ns.einsum("ii->i", a), (real,), [(3, 3)], id="einsum-diag"),
    Row("einsum", lambda ns, a: ns.einsum("ij->", a), (real,), [(2, 3)], id="einsum-sum"),
    Row(
        "einsum",
        lambda ns, a, b: ns.einsum("...j,j", a, b),
        (real, real),
        [((2, 2, 3), (3,)), ((3,), (3,))],
        id="einsum-ellipsis",
    ),
    Row(
        "einsum",
        lambda ns, a, b: ns.einsum("bij,bjk->bik", a, b),
        (real, real),
        [((2, 2, 3), (2, 3, 2))],
        id="einsum-batched",
    ),
    Row(
        "einsum",
        lambda ns, a, b, c: ns.einsum("ij,jk,k", a, b, c),
        (real, real, real),
        [((2, 3), (3, 4), (4,))],
        id="einsum-three",
    ),
    Row(
        "einsum",
        lambda ns, a, b: ns.einsum("ij,ij->ij", a, b),
        (real, real),
        [((2, 3), (2, 3))],
        id="einsum-product",
    ),
    Row("tensordot", lambda ns, a, b: ns.tensordot(a, b), (real, real), [((2, 3, 2), (3, 2, 2))]),
    Row(
        "tensordot",
        lambda ns, a, b: ns.tensordot(a, b, axes=([0], [1])),
        (real, real),
        [((3, 2), (2, 3))],
        id="tensordot-axes",
    ),
    Row(
        "dot",
        lambda ns, a, b: ns.dot(a, b),
        (real, real),
        [((), (3,)), ((3,), (3,)), ((2, 3), (3, 2)), ((2, 2, 3), (3,)), ((2, 3), (2, 3, 2))],
    ),
    Row(
        "inner",
        lambda ns, a, b: ns.inner(a, b),
        (real, real),
        [((3,), (3,)), ((2, 3), (4, 3)), ((), (2,))],
    ),
    Row("outer", lambda ns, a, b: ns.outer(a, b), (real, real), [((3,), (2,)), ((2, 2), (3,))]),
    Row("trace", lambda ns, a: ns.trace(a), (real,), [(3, 3), (2, 3)]),
    Row(
        "trace",
        lambda ns, a: ns.trace(a, offset=1, axis1=1, axis2=2),
        (real,),
        [(2, 3, 3)],
        id="trace-axes",
    ),
    Row("diag", lambda ns, a: ns.diag(a), (real,), [(3,), (3, 3)]),
    Row("diag", lambda ns, a: ns.diag(a, k=-1), (real,), [(3,), (3, 4)], id="diag-k"),
    Row("diagonal", lambda ns, a: ns.diagonal(a, 1, 0, 2), (real,), [(3, 2, 4)]),
    Row("tril", lambda ns, a: ns.tril(a), (real,), [(3, 3), (2, 3, 4)]),
    Row("triu", lambda ns, a: ns.triu(a, 1), (real,), [(3, 3), (2, 3, 4)]),
    Row(
        "kron",
        lambda ns, a, b: ns.kron(a, b),
        (real, real),
        [((2,), (3,)), ((2, 2), (2, 3)), ((2,), (2, 2))],
    ),
    Row("cross", lambda ns, a, b: ns.cross(a, b), (real, real), [((3,), (3,)), ((2, 3), (3,))]),
    Row(
        "cross",
        lambda ns, a, b: ns.cross(a, b, axis=0),
        (real, real),
        [((3, 2), (3, 2))],
        id="cross-axis",
    ),
    # -- shapes and joining
    Row("broadcast_to", lambda ns, x: ns.broadcast_to(x, (2, 3)), (real,), [(), (3,), (2, 1)]),
    Row("reshape", lambda ns, x: ns.reshape(x, (-1, 2)), (real,), [(2, 3), (4,)]),
    Row("ravel", lambda ns, x: ns.ravel(x), (real,), [(), (2, 3)]),
    Row(
        "flatten",
        lambda ns, x: ns.flatten(x) if ns is tg else x.flatten(),
        (real,),
        [(2, 3)],
        peers=False,
    ),
    Row("transpose", lambda ns, x: ns.transpose(x), (real,), [(2, 3), (2, 3, 4)]),
    Row("swapaxes", lambda ns, x: ns.swapaxes(x, 0, -1), (real,), [(2, 3), (2, 3, 4)]),
    Row("moveaxis", lambda ns, x: ns.moveaxis(x, 0, -1), (real,), [(2, 3, 4)]),
    Row("rollaxis", lambda ns, x: ns.rollaxis(x, 2), (real,), [(2, 3, 4)]),
    Row("expand_dims", lambda ns, x: ns.expand_dims(x, 1), (real,), [(3,), (2, 3)]),
    Row("squeeze", lambda ns, x: ns.squeeze(x), (real,), [(1, 3, 1), (3,)]),
    Row("atleast_1d", lambda ns, x: ns.atleast_1d(x), (real,), [(), (3,)]),
    Row("atleast_2d", lambda ns, x: ns.atleast_2d(x), (real,), [(), (3,)]),
    Row("atleast_3d", lambda ns, x: ns.atleast_3d(x), (real,), [(3,), (2, 3)]),
    Row(
        "take_along_axis",
        lambda ns, x: ns.take_along_axis(x, np.array([[0, 2, 2], [1, 0, 1]]), axis=1),
        (real,),
        [(2, 3)],
    ),
    Row("flip", lambda ns, x: ns.flip(x), (real,), [(3,), (2, 3)]),
    Row("fliplr", lambda ns, x: ns.fliplr(x), (real,), [(2, 3)]),
    Row("flipud", lambda ns, x: ns.flipud(x), (real,), [(2, 3)]),
    Row("roll", lambda ns, x: ns.roll(x, 2), (real,), [(3,), (2, 3)]),
    Row("roll", lambda ns, x: ns.roll(x, -1, axis=1), (real,), [(2, 3)], id="roll-axis"),
    Row("rot90", lambda ns, x: ns.rot90(x), (real,), [(2, 3), (2, 3, 2)]),
    Row("rot90", lambda ns, x: ns.rot90(x, k=3, axes=(1, 2)), (real,), [(2, 3, 2)], id="rot90-3"),
    Row("repeat", lambda ns, x: ns.repeat(x, 2), (real,), [(3,), (2, 3)]),
    Row("repeat", lambda ns, x: ns.repeat(x, [1, 3], axis=0), (real,), [(2, 3)], id="repeat-axis"),
    Row("tile", lambda ns, x: ns.tile(x, (2, 1, 2)), (real,), [(3,), (2, 3)]),
    Row("pad", lambda ns, x: ns.pad(x, 1), (real,), [(3,), (2, 3)]),
    Row(
        "pad",
        lambda ns, x: ns.pad(x, ((0, 1), (2, 0)), constant_values=3.0),
        (real,),
        [(2, 3)],
        id="pad-widths",
    ),
    Row(
        "concatenate",
        lambda ns, a, b: ns.concatenate([a, b], axis=-1),
        (real, real),
        [((3,), (2,)), ((2, 3), (2, 1))],
    ),
    Row("stack", lambda ns, a, b: ns.stack([a, b], axis=1), (real, real), [((3,), (3,))]),
    Row(
        "vstack", lambda ns, a, b: ns.vstack([a, b]), (real, real), [((3,), (3,)), ((2, 3), (1, 3))]
    ),
    Row(
        "hstack", lambda ns, a, b: ns.hstack([a, b]), (real, real), [((3,), (2,)), ((2, 3), (2, 1))]
    ),
    Row(
        "column_stack",
        lambda ns, a, b: ns.column_stack([a, b]),
        (real, real),
        [((3,), (3,)), ((3, 2), (3,))],
    ),
    Row("append", lambda ns, a, b: ns.append(a, b), (real, real), [((2, 3), (2,))]),
    Row("split", lambda ns, x: ns.split(x, 2)[1], (real,), [(4,), (4, 3)]),
    Row("array_split", lambda ns, x: ns.array_split(x, 2, axis=-1)[0], (real,), [(5,), (2, 3)]),
    Row("hsplit", lambda ns, x: ns.hsplit(x, [1])[1], (real,), [(3,), (2, 3)]),
    Row("vsplit", lambda ns, x: ns.vsplit(x, 2)[0], (real,), [(4, 2)]),
]
for _row in ROWS:
    _row.id = _row.id or _row.name

# Public functions with integer results: no derivative to check.
NOT_DIFFERENTIABLE = {"argmax", "argmin", "argsort"}


def inputs(row, shapes, dtype, seed=0):
    rng = np.random.default_rng(seed)
    shapes = [shapes] if len(row.domains) == 1 else list(shapes)
    return [
        np.asarray(domain(rng, shape)).astype(dtype)
        for domain, shape in zip(row.domains, shapes, strict=False)
    ]


CASES = [
    pytest.param(row, shapes, id=f"{row.id}-{shapes}") for row in ROWS for shapes in row.shapes
]
TIMES = {}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("row, shapes", CASES)
def test_forward_equals_numpy_and_gradient_matches_finite_differences(row, shapes, dtype):
    start = time.perf_counter()
    xs = inputs(row, shapes, dtype)
    out = row.fn(tg, *[tg.Tensor(x) for x in xs])
    expected = row.reference(*xs) if row.reference else row.fn(np, *xs)
    assert isinstance(out, tg.Tensor)
    if row.exact:
        assert out.dtype == np.asarray(expected).dtype, (out.dtype, np.asarray(expected).dtype)
        np.testing.assert_array_equal(out.value, expected)
    else:
        np.testing.assert_allclose(
            out.value,
            expected,
            rtol=1e-5 if dtype == np.float32 else 1e-12,
            atol=1e-6 if dtype == np.float32 else 1e-13,
        )
    tg.check_grads(lambda *xs: row.fn(tg, *xs), *xs, order=row.order)
    TIMES[row.id] = TIMES.get(row.id, 0.0) + time.perf_counter() - start


@pytest.mark.parametrize("row, shapes", CASES)
def test_forward_mode_agrees_with_reverse_mode(row, shapes):
    """jvp and jacobian(mode="forward") against reverse mode, every row and shape (float64):
    J v from jvp equals the reverse-mode Jacobian applied to v, and the two Jacobians agree."""
    xs = inputs(row, shapes, np.float64)
    argnums = tuple(range(len(xs)))
    f = lambda *xs: row.fn(tg, *xs)  # noqa: E731
    reverse = tg.jacobian(f, argnums=argnums)(*xs)
    forward = tg.jacobian(f, argnums=argnums, mode="forward")(*xs)
    rng = np.random.default_rng(1)
    vs = tuple(rng.standard_normal(np.shape(x)) for x in xs)
    jv = tg.jvp(f, argnums=argnums)(*xs, vs)
    out_shape = np.shape(row.fn(np, *xs)) if row.reference is None else np.shape(row.reference(*xs))
    expected = np.zeros(out_shape)
    tolerance = (
        dict(rtol=1e-12, atol=1e-13)
        if np.asarray(jv).dtype == np.float64
        else dict(rtol=1e-6, atol=1e-7)
    )  # a float32 result (astype)
    for rev, fwd, x, v in zip(reverse, forward, xs, vs, strict=True):
        np.testing.assert_allclose(fwd, rev, **tolerance)
        expected = expected + rev.reshape(out_shape + (x.size,)) @ v.reshape(-1)
    np.testing.assert_allclose(jv, expected, **tolerance)


def test_every_differentiable_function_has_a_row():
    exported = {
        name
        for name, value in vars(tg).items()
        if not name.startswith("_")  # (no lazy
        and getattr(value, "__module__", None) == "tinygrad_nca.ops"
    }  # imports)
    missing = exported - NOT_DIFFERENTIABLE - {row.name for row in ROWS}
    assert not missing, f"functions without a row in the table: {sorted(missing)}"
    assert {"sin", "einsum", "prod", "var", "pad"} <= exported  # the check can see them


def test_the_table_fails_a_wrong_derivative():
    """The same check, on a function whose VJP is wrong by a factor, fails."""
    wrong = tg.primitive(np.sin, name="wrong_sin").defvjp(lambda g, ans, x: 2 * g * tg.cos(x))
    row = Row("wrong", lambda ns, x: wrong(x) if ns is tg else np.sin(x), (real,), [(3,)])
    with pytest.raises(tg.GradientCheckError):
        test_forward_equals_numpy_and_gradient_matches_finite_differences(row, (3,), np.float64)


# ---------------------------------------------------------------- edge cases of issue 10
def test_power_at_zero_base_has_no_nan_at_any_order():
    assert tg.grad(lambda x: x**0.0)(0.0) == 0.0
    assert tg.grad(tg.grad(lambda x: x**0.0))(0.0) == 0.0
    assert tg.grad(tg.grad(lambda x: x**2))(0.0) == 2.0  # d²(x²)/dx² = 2
    assert tg.grad(lambda x: x**1)(0.0) == 1.0 and tg.grad(tg.grad(lambda x: x**1))(0.0) == 0.0
    gx, gy = tg.grad(lambda x, y: tg.sum(x**y), argnums=(0, 1))(np.zeros(2), np.array([0.0, 2.0]))
    np.testing.assert_array_equal(gx, [0.0, 0.0])  # y·x^(y−1): 0 (convention) and 2·0
    np.testing.assert_array_equal(gy, [0.0, 0.0])  # x^y·log x taken as 0 at x = 0


def test_lists_of_tensors_are_stacked_and_differentiated():
    g = tg.grad(lambda x: tg.sum([x, x + 2]))(1.0)
    assert g == 2.0
    g = tg.grad(
        lambda x: tg.sum(tg.stack([[x, 1.0], (2.0, x * x)]) * np.arange(4.0).reshape(2, 2))
    )(3.0)
    assert g == 0 * 1 + 3 * 2 * 3.0  # d/dx of 0·x + 3·x²
    np.testing.assert_array_equal(tg.exp([tg.Tensor(0.0), 0.0]).value, [1.0, 1.0])
    assert tg.grad(lambda x: tg.dot([x, 1.0], [2.0, x]))(3.0) == 3.0  # d(2x + x)/dx
    with pytest.raises(tg.ShapeError):
        tg.sum([tg.Tensor([1.0, 2.0]), [1.0]])


@pytest.mark.parametrize(
    "fn",
    [
        tg.sum,
        tg.mean,
        tg.max,
        tg.min,
        tg.prod,
        tg.var,
        tg.std,
        tg.logsumexp,
        tg.cumsum,
        tg.cumprod,
        tg.average,
    ],
)
def test_reductions_take_python_scalars_and_lists(fn):
    name = fn.__name__
    np_fn = (
        getattr(np, name, None) if name != "logsumexp" else (lambda x: _logsumexp(np.asarray(x)))
    )
    for x in (3.5, [1.0, 2.0, 4.0], [[1.0, 2.0], [3.0, 5.0]]):
        np.testing.assert_allclose(fn(x).value, np_fn(x), rtol=1e-15)


def test_prod_gradient_with_zeros_is_the_product_of_the_others():
    """Against the independent formula Π_{j≠i} x_j, by explicit loops."""
    for x in ([2.0, 0.0, 5.0, 3.0], [0.0, 4.0, 0.0, 2.0], [1.5, -2.0, 0.5, 3.0]):
        x = np.array(x)
        expected = [np.prod(np.delete(x, i)) for i in range(x.size)]
        np.testing.assert_array_equal(tg.grad(tg.prod)(x), expected)


def test_where_with_the_condition_alone_returns_indices():
    x = tg.Tensor([[0.0, 2.0], [3.0, -1.0]])
    for got, expected in zip(tg.where(x > 1), np.nonzero(x.value > 1), strict=False):
        np.testing.assert_array_equal(got, expected)
    with pytest.raises(ValueError, match="both x and y"):
        tg.where(x > 1, x)


def test_argmax_argmin_are_integer_arrays():
    x = tg.Tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    np.testing.assert_array_equal(tg.argmax(x, axis=1), [1, 0])
    np.testing.assert_array_equal(x.argmin(axis=0), [0, 1, 0])
    assert tg.argmax(x).dtype.kind == "i"


def test_ndarray_style_methods():
    x = tg.Tensor(np.arange(6.0).reshape(2, 3) - 2.5)
    for name, args in [
        ("ravel", ()),
        ("flatten", ()),
        ("var", (1,)),
        ("std", ()),
        ("prod", (0,)),
        ("cumsum", (1,)),
        ("clip", (-1.0, 1.0)),
        ("round", ()),
        ("squeeze", ()),
        ("cumprod", ()),
        ("trace", ()),
        ("diagonal", ()),
    ]:
        np.testing.assert_array_equal(getattr(x, name)(*args).value, getattr(x.value, name)(*args))
    np.testing.assert_array_equal((x % 2.0).value, x.value % 2.0)
    np.testing.assert_array_equal((7.0 % (x + 3)).value, 7.0 % (x.value + 3))


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda: tg.einsum("ij,jk", np.ones((2, 3)), np.ones((4, 2))), tg.ShapeError),
        (lambda: tg.einsum("ij", np.ones(3)), tg.ShapeError),
        (lambda: tg.einsum("i,i->j", np.ones(3), np.ones(3)), ValueError),
        (lambda: tg.tensordot(np.ones((2, 3)), np.ones((2, 3)), axes=1), tg.ShapeError),
        (lambda: tg.dot(np.ones(3), np.ones(2)), tg.ShapeError),
        (lambda: tg.cross(np.ones(2), np.ones(2)), tg.ShapeError),
        (lambda: tg.split(np.ones(5), 2), ValueError),
        (lambda: tg.pad(np.ones(3), 1, mode="reflect"), ValueError),
        (lambda: tg.moveaxis(np.ones((2, 3)), 2, 0), tg.ShapeError),
        (lambda: tg.diagonal(np.ones(3)), tg.ShapeError),
    ],
)
def test_bad_input_is_a_clear_error(call, error):
    with pytest.raises(error):
        call()
