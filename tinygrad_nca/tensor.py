"""The tensor, the primitive mechanism and the reverse sweep.

A :class:`Tensor` wraps a NumPy array. When an operation is applied to tensors
that require a gradient, the result remembers *how* it was made: the primitive,
its arguments and keyword arguments. That record is the expression graph.
``y.backward()`` walks the graph from ``y`` to the leaves in reverse
topological order and, at every node, asks the primitive for the
vector-Jacobian products (VJPs) of its inputs.

VJPs are written with tensor operations themselves, so when the reverse sweep
is itself recorded (``create_graph=True``) the gradient is an ordinary graph and
can be differentiated again.
"""

from __future__ import annotations

import builtins
import contextlib
import itertools
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias, Union, overload

import numpy as np

from .errors import AnomalyError, ShapeError

__all__ = [
    "Tensor",
    "Op",
    "Primitive",
    "primitive",
    "no_grad",
    "enable_grad",
    "is_grad_enabled",
    "detect_anomaly",
    "as_tensor",
    "value_of",
    "cast",
    "backprop",
    "topological_order",
    "closed_over",
    "Scope",
    "listening",
    "observed",
    "silenced",
    "recording",
    "current_recorder",
    "is_detecting_anomalies",
    "count_flops",
    "overwritable",
    "make_node",
    "ArrayLike",
    "Axis",
    "Shape",
    "DTypeLike",
]

if TYPE_CHECKING:
    from numpy.typing import DTypeLike as DTypeLike
else:
    DTypeLike = Any  # numpy.typing costs an import at run time; only checkers need it

# What every public operation accepts for an array, as NumPy does: a Tensor, an ndarray, a
# NumPy scalar, a Python number, or a (nested) list or tuple of these. (Sequence[Any] also
# admits a str, which the engine rejects at run time: nested sequences cannot be spelled
# more tightly without recursive aliases that checkers treat differently.)
# (Union, not |: "Tensor" is a forward reference, a string, which | cannot join at run time.)
ArrayLike: TypeAlias = Union["Tensor", np.ndarray, np.generic, float, Sequence[Any]]  # noqa: UP007
# An axis argument: one axis, several, or None (all of them).
Axis: TypeAlias = int | Sequence[int] | None
# A shape argument: a length, or one length per axis.
Shape: TypeAlias = int | Sequence[int]


class _State(threading.local):
    """The engine's switches, one set per thread: blocks of a loss evaluated on
    several threads at once (``n_jobs``) must not see each other's ``no_grad``."""

    def __init__(self) -> None:
        self.grad_enabled = True
        self.detect_anomaly = False
        self.op_listeners: list[Callable[[str, int], Any]] = []  # told of every op executed
        self.node_listeners: list[Callable[[Tensor], Any]] = []  # told before each node's VJP
        self.donated: Tensor | None = (
            None  # the cotangent the running VJP may overwrite (overwritable)
        )
        self.capture: Scope | None = None  # the innermost Scope watching for captured tensors
        self.recorder: Any = None  # a jit trace seeing every primitive call (see jit.py), or None


_state = _State()
# Every tensor gets a serial number when it is made. A transform remembers the number at
# its start, so a tensor numbered before it is one its function closed over (see scope).
_next_serial = itertools.count().__next__


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Context in which operations are computed but not recorded.

    Inside it, results of operations are constants (no graph is kept), which
    saves memory when no gradient is wanted.

    >>> import tinygrad_nca as tg
    >>> x = tg.Tensor([1.0, 2.0], requires_grad=True)
    >>> with tg.no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
    """
    previous, _state.grad_enabled = _state.grad_enabled, False
    try:
        yield
    finally:
        _state.grad_enabled = previous


@contextlib.contextmanager
def enable_grad() -> Iterator[None]:
    """Context in which recording is switched back on (inside ``no_grad``).

    >>> import tinygrad_nca as tg
    >>> x = tg.Tensor([1.0], requires_grad=True)
    >>> with tg.no_grad(), tg.enable_grad():
    ...     (x * 2).requires_grad
    True
    """
    previous, _state.grad_enabled = _state.grad_enabled, True
    try:
        yield
    finally:
        _state.grad_enabled = previous


def is_grad_enabled() -> bool:
    """Whether operations are being recorded (False inside ``no_grad``).

    >>> import tinygrad_nca as tg
    >>> with tg.no_grad():
    ...     tg.is_grad_enabled()
    False
    """
    return _state.grad_enabled


@contextlib.contextmanager
def detect_anomaly() -> Iterator[None]:
    """Raise :class:`AnomalyError` at the first op whose forward output, or
    whose VJP, contains NaN or inf, naming that op.

    >>> import tinygrad_nca as tg
    >>> with tg.detect_anomaly():
    ...     tg.log(tg.Tensor([-1.0]))
    Traceback (most recent call last):
    ...
    tinygrad_nca.errors.AnomalyError: log: forward output contains NaN
    """
    previous, _state.detect_anomaly = _state.detect_anomaly, True
    try:
        with np.errstate(all="ignore"):
            yield
    finally:
        _state.detect_anomaly = previous


def is_detecting_anomalies() -> bool:
    """Whether :func:`detect_anomaly` is on in this thread.

    >>> import tinygrad_nca as tg
    >>> from tinygrad_nca.tensor import is_detecting_anomalies
    >>> with tg.detect_anomaly():
    ...     is_detecting_anomalies()
    True
    """
    return _state.detect_anomaly


def _check_finite(value: np.ndarray, where: str) -> None:
    if value.dtype.kind == "f" and not np.isfinite(value).all():
        kind = "NaN" if np.isnan(value).any() else "inf"
        raise AnomalyError(f"{where} contains {kind}")


def _as_ndarray(data: Any) -> np.ndarray:
    """np.asarray, with a clear message for nested lists of unequal lengths."""
    try:
        return np.asarray(data)
    except ValueError as err:
        raise ShapeError(
            f"cannot make a Tensor from a ragged nested sequence (rows of different lengths): {err}"
        ) from None


def _to_array(data: Any) -> np.ndarray:
    """Validate user data and turn it into a float ndarray."""
    if isinstance(data, Tensor):
        return data.value
    array = _as_ndarray(data)
    if array.dtype.kind in "fc" and array.dtype.kind == "c":
        raise TypeError(
            f"complex input (dtype {array.dtype}) is not supported; "
            "tinygrad_nca works with real float arrays"
        )
    if array.dtype.kind in "biu":
        return array.astype(np.float64)
    if array.dtype.kind != "f":
        raise TypeError(
            f"cannot make a Tensor from {type(data).__name__} with dtype "
            f"{array.dtype}; expected numbers (a float, int or bool array)"
        )
    return array  # every float dtype is kept: float16 stays float16 through the sweep


class Tensor:
    """An n-dimensional array that records the operations applied to it.

    Parameters
    ----------
    data : array_like
        Float data is kept in its dtype (float16 and float32 stay as they
        are); integer and boolean data become float64.
    requires_grad : bool
        Whether ``backward`` should compute ``.grad`` for this tensor. Asking
        for the gradient of integer or boolean data is an error: a derivative
        with respect to a discrete quantity is not defined.

    Examples
    --------
    >>> import tinygrad_nca as tg
    >>> x = tg.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    array([2., 4., 6.])
    """

    # A dict of slots gives each attribute a docstring (help(), the API site); it is
    # otherwise the same as a tuple of the names.
    __slots__ = {
        "value": """The NumPy array holding the data (read it; do not resize it).

        Examples
        --------
        >>> import tinygrad_nca as tg
        >>> tg.Tensor([1.0, 2.0]).value
        array([1., 2.])
        """,
        "requires_grad": """Whether gradients flow to this tensor.

        True for a leaf made with ``requires_grad=True`` and for every result of
        an operation recorded on such a tensor; False for constants and under
        :func:`no_grad`.

        Examples
        --------
        >>> import tinygrad_nca as tg
        >>> x = tg.Tensor([1.0], requires_grad=True)
        >>> x.requires_grad, (x * 2).requires_grad, tg.Tensor([1.0]).requires_grad
        (True, True, False)
        """,
        "grad": """The gradient left by :meth:`backward` (None before it has run).

        An ndarray of this tensor's shape and dtype (a Tensor after
        ``backward(create_graph=True)``). Set only on leaves that require a
        gradient: intermediate results keep None.

        Examples
        --------
        >>> import tinygrad_nca as tg
        >>> x = tg.Tensor([3.0], requires_grad=True)
        >>> x.grad is None
        True
        >>> (x * x).sum().backward()
        >>> x.grad
        array([6.])
        """,
        "_op": "The primitive that made this tensor (None for a leaf).",
        "_args": "The primitive's positional arguments (the node's inputs).",
        "_kwargs": "The primitive's keyword arguments.",
        "_serial": "When the tensor was made: a number that grows with every tensor.",
        "_saved": "Arrays the primitive's forward rule kept for its VJP (``saves=True``), or None.",
        "__weakref__": None,
    }
    # Make NumPy defer to our reflected operators: ``ndarray + Tensor`` -> Tensor.
    __array_ufunc__ = None
    __array_priority__ = 1000

    def __init__(self, data: ArrayLike, requires_grad: bool = False) -> None:
        raw = _as_ndarray(data) if not isinstance(data, Tensor) else data.value
        if requires_grad and raw.dtype.kind in "biu":
            raise TypeError(
                f"requires_grad=True for an integer/bool array (dtype {raw.dtype}): "
                "gradients are defined only for float data; pass floats, "
                "e.g. np.asarray(x, dtype=float)"
            )
        self.value = _to_array(data)
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._op = None
        self._args = ()
        self._kwargs = {}
        self._serial = _next_serial()
        self._saved = None

    @classmethod
    def _from_op(
        cls, value: np.ndarray, op: Op | None, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Tensor:
        out = cls.__new__(cls)
        out.value, out.grad = value, None
        out.requires_grad = op is not None
        out._op, out._args, out._kwargs = op, args, kwargs
        out._serial, out._saved = _next_serial(), None
        return out

    # -- array-like properties ------------------------------------------------
    if TYPE_CHECKING:  # their types, which checkers cannot read from property(lambda ...)

        @property
        def shape(self) -> tuple[int, ...]: ...
        @property
        def dtype(self) -> np.dtype[Any]: ...
        @property
        def ndim(self) -> int: ...
        @property
        def size(self) -> int: ...
        @property
        def is_leaf(self) -> bool: ...
    else:
        shape = property(
            lambda self: self.value.shape,
            doc="""The shape of :attr:`value`.

            Examples
            --------
            >>> import tinygrad_nca as tg
            >>> tg.Tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]).shape
            (2, 3)
            """,
        )
        dtype = property(
            lambda self: self.value.dtype,
            doc="""The dtype of :attr:`value`.

            float32 data stay float32; integer and boolean data become float64.

            Examples
            --------
            >>> import numpy as np, tinygrad_nca as tg
            >>> tg.Tensor(np.ones(2, dtype=np.float32)).dtype, tg.Tensor([1, 2]).dtype
            (dtype('float32'), dtype('float64'))
            """,
        )
        ndim = property(
            lambda self: self.value.ndim,
            doc="""The number of dimensions (axes).

            Examples
            --------
            >>> import tinygrad_nca as tg
            >>> tg.Tensor(2.0).ndim, tg.Tensor([[1.0, 2.0]]).ndim
            (0, 2)
            """,
        )
        size = property(
            lambda self: self.value.size,
            doc="""The number of elements.

            Examples
            --------
            >>> import tinygrad_nca as tg
            >>> tg.Tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]).size
            6
            """,
        )
        is_leaf = property(
            lambda self: self._op is None,
            doc="""Whether no recorded operation made it.

            Leaves are where :meth:`backward` stops and stores ``.grad``: tensors
            made by the user, constants, and results computed under
            :func:`no_grad`.

            Examples
            --------
            >>> import tinygrad_nca as tg
            >>> x = tg.Tensor([1.0], requires_grad=True)
            >>> x.is_leaf, (x * 2).is_leaf
            (True, False)
            """,
        )

    def __len__(self) -> int:
        return len(self.value)

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        op = f", op={self._op.name}" if self._op is not None else ""
        body = np.array2string(self.value, prefix="Tensor(")
        return f"Tensor({body}{grad}{op})"

    if not TYPE_CHECKING:
        # Hidden from type checkers: with it, NumPy's stubs take a Tensor for an array, and
        # type ``ndarray + Tensor`` as ndarray's ``__add__`` (an ndarray), while NumPy defers
        # to the Tensor (``__array_ufunc__ = None``) and the result is a Tensor.
        def __array__(self, dtype: DTypeLike | None = None, copy: bool | None = None) -> np.ndarray:
            return self.value if dtype is None else self.value.astype(dtype)

    def __float__(self) -> float:
        if _state.recorder is not None:  # a traced value must not steer Python (jit.py)
            _state.recorder.concretize(self.value, "float()")
        return float(self.value)

    def __bool__(self) -> bool:
        if _state.recorder is not None:
            _state.recorder.concretize(self.value, "bool()")
        return bool(self.value)

    def item(self) -> Any:
        """The value of a one-element tensor as a Python number.

        Raises
        ------
        ValueError
            If the tensor has more than one element (NumPy's ``item``).

        Examples
        --------
        >>> import tinygrad_nca as tg
        >>> tg.Tensor([[2.5]]).item()
        2.5
        """
        if _state.recorder is not None:
            _state.recorder.concretize(self.value, "item()")
        return self.value.item()

    def numpy(self) -> np.ndarray:
        """The underlying NumPy array, :attr:`value` (not a copy).

        Examples
        --------
        >>> import tinygrad_nca as tg
        >>> x = tg.Tensor([1.0, 2.0], requires_grad=True)
        >>> (x * 3).numpy()
        array([3., 6.])
        """
        return self.value

    def detach(self) -> Tensor:
        """The same value, cut from the graph.

        The result shares :attr:`value` with this tensor but is a constant:
        no gradient flows back through it.

        Examples
        --------
        >>> import tinygrad_nca as tg
        >>> x = tg.Tensor([2.0], requires_grad=True)
        >>> y = x * x.detach()        # the second factor counts as a constant
        >>> y.sum().backward()
        >>> x.grad                    # d(x·c)/dx = c = 2, not 2x = 4
        array([2.])
        """
        return Tensor._from_op(self.value, None, (), {})

    def __hash__(self) -> int:
        return id(self)

    # -- the reverse sweep ---------------------------------------------------------
    def backward(
        self, g: ArrayLike | None = None, *, accumulate: bool = False, create_graph: bool = False
    ) -> None:
        """Backpropagate from this tensor into ``.grad`` of the leaves.

        Parameters
        ----------
        g : array_like, optional
            The cotangent ȳ of this tensor. May be omitted only for a scalar,
            where it is 1.
        accumulate : bool
            Add to existing ``.grad`` instead of replacing it (replacing is the
            default so that calling ``backward`` twice never silently doubles).
        create_graph : bool
            Record the reverse sweep, so that ``.grad`` can be differentiated.

        Raises
        ------
        ValueError
            If ``g`` is omitted for a tensor with more than one element, or has
            a different shape from this tensor.

        Examples
        --------
        f(x) = Σ x², so ∇f = 2x:

        >>> import tinygrad_nca as tg
        >>> x = tg.Tensor([1.0, -2.0], requires_grad=True)
        >>> (x * x).sum().backward()
        >>> x.grad
        array([ 2., -4.])

        A non-scalar output needs its cotangent ȳ; the result is the
        vector-Jacobian product ȳᵀ J, here ȳ ⊙ 2x:

        >>> (x * x).backward([1.0, 0.5])
        >>> x.grad
        array([ 2., -2.])
        """
        if g is None:
            if self.size != 1:
                raise ValueError(
                    f"backward() of a non-scalar tensor of shape {self.shape} "
                    "needs the cotangent g (an array of the same shape)"
                )
            g = np.ones_like(self.value)
        elif not np.all(np.isfinite(value_of(g))):  # it would make every gradient NaN
            raise ValueError("backward(): the cotangent g contains NaN or inf")
        order = topological_order(self)  # leaves have no inputs: the same order stops there
        leaves = [t for t in order if t._op is None and t.requires_grad]
        grads = backprop(self, g, leaves, create_graph=create_graph, order=order)
        del order  # holds every node of the graph
        for leaf, grad in zip(leaves, grads, strict=True):
            value = grad if create_graph else grad.value
            leaf.grad = leaf.grad + value if (accumulate and leaf.grad is not None) else value

    # -- operators: defined in ops.py and attached there ---------------------------
    # Declared here for type checkers only, which do not see what ops.py attaches at
    # import time; tests/test_typing.py checks that the declarations and the attached
    # names are the same, with the same parameters.
    if TYPE_CHECKING:
        value: np.ndarray
        requires_grad: bool
        grad: np.ndarray | Tensor | None
        _op: Op | None
        _args: tuple[Any, ...]
        _kwargs: dict[str, Any]
        _serial: int

        def __add__(self, other: ArrayLike) -> Tensor: ...
        def __radd__(self, other: ArrayLike) -> Tensor: ...
        def __sub__(self, other: ArrayLike) -> Tensor: ...
        def __rsub__(self, other: ArrayLike) -> Tensor: ...
        def __mul__(self, other: ArrayLike) -> Tensor: ...
        def __rmul__(self, other: ArrayLike) -> Tensor: ...
        def __truediv__(self, other: ArrayLike) -> Tensor: ...
        def __rtruediv__(self, other: ArrayLike) -> Tensor: ...
        def __pow__(self, other: ArrayLike) -> Tensor: ...
        def __rpow__(self, other: ArrayLike) -> Tensor: ...
        def __mod__(self, other: ArrayLike) -> Tensor: ...
        def __rmod__(self, other: ArrayLike) -> Tensor: ...
        def __matmul__(self, other: ArrayLike) -> Tensor: ...
        def __rmatmul__(self, other: ArrayLike) -> Tensor: ...
        def __neg__(self) -> Tensor: ...
        def __abs__(self) -> Tensor: ...
        # Comparisons compare the values: a boolean array (np.bool_ for 0-d tensors), not
        # recorded, as a mask for where() or indexing.
        def __lt__(self, other: ArrayLike) -> np.ndarray | np.bool_: ...
        def __le__(self, other: ArrayLike) -> np.ndarray | np.bool_: ...
        def __gt__(self, other: ArrayLike) -> np.ndarray | np.bool_: ...
        def __ge__(self, other: ArrayLike) -> np.ndarray | np.bool_: ...
        # object's == returns bool; an elementwise == returns an array, as ndarray's does.
        def __eq__(self, other: object) -> np.ndarray | np.bool_: ...  # type: ignore[override]
        def __ne__(self, other: object) -> np.ndarray | np.bool_: ...  # type: ignore[override]
        def __getitem__(self, index: Any) -> Tensor: ...
        @property
        def T(self) -> Tensor: ...
        @property
        def mT(self) -> Tensor: ...

        # Methods as NumPy's ndarray has them: x.sum(axis=0) is tg.sum(x, axis=0).
        def exp(self) -> Tensor: ...
        def log(self) -> Tensor: ...
        def sqrt(self) -> Tensor: ...
        def tanh(self) -> Tensor: ...
        def sum(
            self,
            axis: Axis = None,
            keepdims: bool = False,
            where: ArrayLike | None = None,
            dtype: DTypeLike | None = None,
        ) -> Tensor: ...
        def mean(
            self,
            axis: Axis = None,
            keepdims: bool = False,
            where: ArrayLike | None = None,
            dtype: DTypeLike | None = None,
        ) -> Tensor: ...
        def max(self, axis: Axis = None, keepdims: bool = False) -> Tensor: ...
        def min(self, axis: Axis = None, keepdims: bool = False) -> Tensor: ...
        def prod(
            self, axis: Axis = None, dtype: DTypeLike | None = None, keepdims: bool = False
        ) -> Tensor: ...
        def var(
            self,
            axis: Axis = None,
            dtype: DTypeLike | None = None,
            ddof: float = 0,
            keepdims: bool = False,
        ) -> Tensor: ...
        def std(
            self,
            axis: Axis = None,
            dtype: DTypeLike | None = None,
            ddof: float = 0,
            keepdims: bool = False,
        ) -> Tensor: ...
        def cumsum(self, axis: int | None = None, dtype: DTypeLike | None = None) -> Tensor: ...
        def cumprod(self, axis: int | None = None, dtype: DTypeLike | None = None) -> Tensor: ...
        def clip(
            self, a_min: ArrayLike | None = None, a_max: ArrayLike | None = None
        ) -> Tensor: ...
        def round(self, decimals: int = 0) -> Tensor: ...
        def ravel(self) -> Tensor: ...
        def flatten(self) -> Tensor: ...
        def squeeze(self, axis: Axis = None) -> Tensor: ...
        def swapaxes(self, axis1: int, axis2: int) -> Tensor: ...
        def repeat(self, repeats: int | Sequence[int], axis: int | None = None) -> Tensor: ...
        def diagonal(self, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor: ...
        def trace(self, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor: ...
        def dot(self, b: ArrayLike) -> Tensor: ...
        def argmax(
            self, axis: int | None = None, keepdims: bool = False
        ) -> np.ndarray | np.intp: ...
        def argmin(
            self, axis: int | None = None, keepdims: bool = False
        ) -> np.ndarray | np.intp: ...
        def argsort(self, axis: int | None = -1, kind: str | None = None) -> np.ndarray: ...
        def logsumexp(
            self,
            axis: Axis = None,
            keepdims: bool = False,
            where: ArrayLike | None = None,
            b: ArrayLike | None = None,
        ) -> Tensor: ...
        def softmax(self, axis: int = -1, where: ArrayLike | None = None) -> Tensor: ...
        def log_softmax(self, axis: int = -1, where: ArrayLike | None = None) -> Tensor: ...
        def astype(self, dtype: DTypeLike) -> Tensor: ...
        @overload
        def reshape(self, shape: Shape, /) -> Tensor: ...
        @overload
        def reshape(self, *shape: int) -> Tensor: ...
        def reshape(self, *shape: Any) -> Tensor: ...
        @overload
        def transpose(self, axes: Sequence[int] | None, /) -> Tensor: ...
        @overload
        def transpose(self, *axes: int) -> Tensor: ...
        def transpose(self, *axes: Any) -> Tensor: ...


def make_node(
    value: np.ndarray, op: Op | None, inputs: Iterable[Any], kwargs: dict[str, Any] | None = None
) -> Tensor:
    """A tensor made by ``op`` from ``inputs`` (a node of the graph), holding ``value``;
    with ``op=None``, a constant holding ``value`` as it is (no copy, no checks).
    How the ops that are not primitives (checkpoint, sum_of_blocks) record themselves."""
    if op is None:
        return Tensor._from_op(value, None, (), {})
    return Tensor._from_op(value, op, tuple(inputs), kwargs or {})


def as_tensor(x: ArrayLike) -> Tensor:
    """``x`` if it is a Tensor, else a constant Tensor of it.

    >>> import tinygrad_nca as tg
    >>> tg.as_tensor([1, 2])
    Tensor([1. 2.])
    """
    return x if isinstance(x, Tensor) else Tensor(x)


def value_of(x: Any) -> Any:
    """The raw array behind a Tensor (anything else passes through).

    >>> import tinygrad_nca as tg
    >>> tg.value_of(tg.Tensor([1.0, 2.0])), tg.value_of(3.0)
    (array([1., 2.]), 3.0)
    """
    return x.value if isinstance(x, Tensor) else x


def topological_order(
    root: Tensor,
    stop: frozenset[int] = frozenset(),
    before: int | None = None,
    constants: bool = False,
) -> list[Tensor]:
    """Nodes reachable from ``root`` through differentiable inputs (``constants``:
    through every input), each after all of its inputs and, among the inputs of
    one op, left to right: the order of the forward pass.

    Iterative depth-first search: a chain of 100,000 ops must not hit Python's
    recursion limit. Nodes whose id is in ``stop``, and nodes made before serial
    number ``before`` (see :func:`closed_over`), are included but not expanded:
    the walk treats them as leaves.
    """
    order: list[Tensor] = []
    visited: set[int] = set()
    stack = [(root, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)
            continue
        # Mark on expansion, not on push: a node pushed earlier may still be
        # waiting below, and must be emitted before every node that uses it.
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        if id(node) in stop or (before is not None and node._serial < before):
            continue
        for arg in reversed(node._args):
            if (
                isinstance(arg, Tensor)
                and (arg.requires_grad or constants)
                and id(arg) not in visited
            ):
                stack.append((arg, False))
    return order


def closed_over(order: Iterable[Tensor], before: int) -> list[Tensor]:
    """The differentiable tensors in ``order`` made before serial ``before``: what a
    function traced from that moment on took from outside (its closure, or an outer
    transform's values)."""
    return [t for t in order if t._serial < before and t.requires_grad]


def backprop(
    y: Tensor,
    g: ArrayLike,
    inputs: Sequence[Tensor],
    create_graph: bool = False,
    order: list[Tensor] | None = None,
) -> list[Tensor]:
    """Cotangents of ``inputs`` given the cotangent ``g`` of ``y``.

    Each node's cotangent is the sum of what its consumers sent it (fan-out and
    parameter tying accumulate here). Only nodes on a path from an input to ``y``
    are visited: a sweep inside a nested transform never wanders into the outer
    graph. A cotangent is dropped as soon as its node has passed it on, so the
    sweep holds only the current "frontier". With ``create_graph`` the sweep is
    itself recorded (its VJPs are tensor operations), so its results can be
    differentiated again.
    """
    g = as_tensor(g)
    if g.shape != y.shape:
        raise ValueError(
            f"backward: cotangent of shape {g.shape} given for an output of shape {y.shape}"
        )
    g = _cast_like(g, y)  # a float64 ȳ must not turn a float32 sweep into float64
    wanted = {id(t) for t in inputs}
    if order is None:  # (the caller's topological order of y's graph, if it has one)
        order = topological_order(y, frozenset(wanted))
    reach = _reaching(order, wanted)
    results: dict[int, Tensor] = {}
    cotangents = {id(y): g}
    recording = no_grad() if not create_graph else enable_grad()
    with recording:
        for node in reversed(order):
            ct = cotangents.pop(id(node), None)
            if ct is None:
                continue
            if id(node) in wanted:
                results[id(node)] = ct
                continue
            if node._op is None or id(node) not in reach:
                continue
            for listener in _state.node_listeners:  # cost_report: whose VJP runs next
                listener(node)
            # A cotangent that nothing but this sweep can see may be overwritten by
            # the VJP of a one-input node (see overwritable): an N × N softmax VJP
            # then needs no new N × N array.
            owned = (
                not create_graph
                and _EXCLUSIVE is not None
                and _owns_memory(ct.value)
                and _holders(ct) == _EXCLUSIVE
                and _one_input(node, reach)
            )
            _state.donated = ct if owned else None
            try:
                _send(cotangents, _vjps(node, ct, reach))
            finally:
                _state.donated = None
    return [results[id(t)] if id(t) in results else Tensor(np.zeros_like(t.value)) for t in inputs]


def _reaching(order: list[Tensor], wanted: set[int]) -> set[int]:
    """Ids of the nodes in ``order`` from which some wanted input can be reached."""
    reach: set[int] = set()
    for node in order:  # inputs come before the nodes using them
        if id(node) in wanted or any(id(a) in reach for a in node._args if isinstance(a, Tensor)):
            reach.add(id(node))
    return reach


def _send(cotangents: dict[int, Tensor], pairs: Iterable[tuple[Tensor, Tensor]]) -> None:
    """Add each input's cotangent to what it has received so far. (A function of its
    own so that no loop variable keeps a cotangent alive in backprop's frame.)"""
    for arg, arg_ct in pairs:
        arg_ct = _cast_like(arg_ct, arg)
        previous = cotangents.get(id(arg))
        cotangents[id(arg)] = arg_ct if previous is None else previous + arg_ct


def overwritable(g: Tensor) -> bool:
    """Whether the VJP now running may write its result into ``g.value``.

    True only during a plain (unrecorded) reverse sweep, for the VJP of a node with
    one input that needs a cotangent, when the sweep holds the only reference to
    the cotangent ``g`` and to its array, and that array owns its memory (is no
    view). Nothing else can then observe the overwrite: not the user (who would
    hold a reference), not the graph, not another cotangent entry (the same tensor
    sent to two inputs is referenced twice), not a view (it references its base).
    Never on an interpreter without reference counts (``sys.getrefcount``).
    """
    return _state.donated is g and _state.recorder is None  # (a jit plans its own reuse)


def _holders(t: Tensor) -> tuple[int, int]:
    """(references to ``t``, references to its array) as CPython counts them, seen
    from a caller that holds ``t`` in one local variable."""
    return sys.getrefcount(t), sys.getrefcount(t.value)


def _owns_memory(array: np.ndarray) -> bool:
    return array.base is None and array.flags.writeable


def _one_input(node: Tensor, reach: set[int]) -> bool:
    return sum(isinstance(a, Tensor) and id(a) in reach for a in node._args) == 1


def _exclusive_holders() -> tuple[int, int] | None:
    """The counts of :func:`_holders` for a tensor held by one local variable and
    its array by the tensor alone: measured here, not assumed, because reference
    counting details differ between CPython versions. None where the interpreter
    has no reference counts to ask: then nothing is ever overwritten."""
    if not hasattr(sys, "getrefcount"):
        return None
    ct = Tensor._from_op(np.empty(1), None, (), {})
    return _holders(ct)


_EXCLUSIVE = _exclusive_holders()


def _vjps(node: Tensor, ct: Tensor, reach: set[int]) -> Iterable[tuple[Tensor, Tensor]]:
    """The (input, cotangent) pairs of one node. Under ``detect_anomaly`` a NaN or
    inf made inside the VJP is reported as this op's VJP, not as the helper op
    (a divide, say) that happened to produce it."""
    assert node._op is not None  # the sweep runs VJPs of recorded nodes only
    if not _state.detect_anomaly:
        return node._op.backward(ct, node, reach)
    try:
        pairs = list(node._op.backward(ct, node, reach))
    except AnomalyError as err:
        raise AnomalyError(f"{node._op.name}: VJP: {err}") from None
    for _, arg_ct in pairs:
        _check_finite(arg_ct.value, f"{node._op.name}: VJP output")
    return pairs


def _cast_like(ct: Tensor, arg: Tensor) -> Tensor:
    """A cotangent has the dtype of its input. NumPy promotes a float32 input
    times a float64 constant to float64, but the float32 input's gradient stays
    float32."""
    if ct.dtype == arg.dtype:
        return ct
    return cast(ct, arg.dtype)


# ------------------------------------------------------------------ what transforms share
class Scope:
    """One transform's view of the graph: which tensors are its own.

    Every tensor carries a serial number, and a scope remembers the number at its
    start. A tensor numbered earlier, which the traced function nevertheless used,
    came from outside: from the function's closure, or as an argument that an outer
    transform is tracing. If any such tensor is differentiable, the derivatives this
    transform computes depend on it, so they must be recorded for the outer
    transform to differentiate (the derivative of a derivative). Nothing else is
    needed to nest transforms: each one's sweep stops at its own leaves
    (``backprop`` visits only nodes that lead to them), so the sweeps of different
    levels never mix (no "perturbation confusion").

    ``watch()`` also collects, while a function runs under ``no_grad`` (a
    checkpoint's forward pass, which keeps no graph to walk), the outside tensors
    that its operations touch.
    """

    def __init__(self) -> None:
        self.start = _next_serial()
        self.outer_grad = _state.grad_enabled  # no derivative is recorded under no_grad
        self.captured: dict[int, Tensor] = {}

    def leaf(self, x: ArrayLike) -> Tensor:
        """A fresh differentiable stand-in for argument ``x``: an identity node on
        ``x`` when ``x`` is itself being differentiated (it stays connected to the
        outer graph), else a new leaf holding ``x``'s value."""
        if isinstance(x, Tensor) and x.requires_grad and self.outer_grad:
            with enable_grad():
                return _identity(x)
        value = x.value if isinstance(x, Tensor) else x
        dtype = np.asarray(value).dtype
        if dtype.kind in "biu":
            raise TypeError(
                f"cannot differentiate with respect to an integer/bool array "
                f"(dtype {dtype}); pass floats"
            )
        return Tensor(value, requires_grad=True)

    def outside(self, out: Tensor, leaves: Sequence[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        """(topological order of ``out`` down to ``leaves``, the differentiable outside
        tensors it uses). Derivatives must be recorded when the second is not empty."""
        order = topological_order(out, frozenset(id(t) for t in leaves), before=self.start)
        found = closed_over(order, self.start) if self.outer_grad else []
        seen = {id(t) for t in found}
        found += [t for t in self.captured.values() if id(t) not in seen]
        for leaf in leaves:  # an identity leaf on a traced argument comes from outside too
            if leaf._op is not None and self.outer_grad:
                found.extend(a for a in leaf._args if isinstance(a, Tensor))
        return order, found

    @contextlib.contextmanager
    def watch(self) -> Iterator[Scope]:
        """Collect the differentiable outside tensors that operations touch meanwhile."""
        parent, _state.capture = _state.capture, self
        try:
            yield self
        finally:
            _state.capture = parent
            if parent is not None:  # what came from outside us came from outside it too
                for t in self.captured.values():
                    if t._serial < parent.start:
                        parent.captured.setdefault(id(t), t)

    def _see(self, args: Iterable[Any]) -> None:
        for a in args:
            if isinstance(a, Tensor) and a.requires_grad and a._serial < self.start:
                self.captured.setdefault(id(a), a)


@contextlib.contextmanager
def listening(
    on_op: Callable[[str, int], Any] | None = None, on_node: Callable[[Tensor], Any] | None = None
) -> Iterator[None]:
    """Tell ``on_op(name, flops)`` of every op executed and ``on_node(node)`` before
    each node's VJP runs, inside the block (the graph tools count costs with it).

    >>> import numpy as np, tinygrad_nca as tg
    >>> from tinygrad_nca.tensor import listening
    >>> seen = []
    >>> with listening(on_op=lambda name, flops: seen.append((name, flops))):
    ...     _ = tg.exp(np.zeros(3))
    >>> seen
    [('exp', 3)]
    """
    pairs: list[tuple[list[Any], Callable[..., Any] | None]] = [
        (_state.op_listeners, on_op),
        (_state.node_listeners, on_node),
    ]
    for listeners, listener in pairs:
        if listener is not None:
            listeners.append(listener)
    try:
        yield
    finally:
        for listeners, listener in pairs:
            if listener is not None:
                listeners.remove(listener)


@contextlib.contextmanager
def recording(recorder: Any) -> Iterator[Any]:
    """Show every primitive call in this thread to ``recorder`` inside the block: its
    ``record(primitive, raw_args, kwargs, value, wrapped)`` is called for each, and its
    ``concretize(value, how)`` when a tensor is turned into a Python number (tg.jit's trace)."""
    previous, _state.recorder = _state.recorder, recorder
    try:
        yield recorder
    finally:
        _state.recorder = previous


def current_recorder() -> Any:
    """The recorder of :func:`recording` active in this thread, or None."""
    return _state.recorder


def observed() -> bool:
    """Whether someone is listening to the ops executed or to the reverse sweep's nodes
    (cost_report is), in this thread."""
    return bool(_state.op_listeners or _state.node_listeners)


@contextlib.contextmanager
def silenced() -> Iterator[None]:
    """Ops executed inside the block are not reported to ``on_op`` listeners."""
    previous, _state.op_listeners = _state.op_listeners, []
    try:
        yield
    finally:
        _state.op_listeners = previous


def count_flops(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
    """The flops of the ops that ``fn(*args, **kwargs)`` executes, run without recording."""
    counted: list[int] = []
    with listening(on_op=lambda name, flops: counted.append(flops)), no_grad():
        fn(*args, **kwargs)
    return int(builtins.sum(counted))


class Op:
    """What every node's operation offers the reverse sweep and the graph tools.

    A primitive, a checkpoint and a sum of blocks are all ``Op``\\ s: they have a
    ``name``, a ``backward(g, node, needed)`` that yields ``(input, cotangent)``
    for the inputs of ``node`` whose id is in ``needed``, and a
    ``forward_flops(node)``, the estimated cost of computing ``node``.
    """

    name = "op"

    def backward(
        self, g: Tensor, node: Tensor, needed: set[int]
    ) -> Iterable[tuple[Tensor, Tensor]]:
        raise NotImplementedError

    def forward_flops(self, node: Tensor) -> int:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class Primitive(Op):
    """An operation whose forward rule is a NumPy function and whose reverse
    rule is one VJP per positional input.

    A VJP has the signature ``vjp(g, ans, *args, **kwargs) -> x̄``: given the
    cotangent ``g`` of the output ``ans``, return the cotangent of one input.
    ``g`` and ``ans`` are Tensors, and so are the inputs that are Tensors, so a
    VJP written with tensor operations can itself be differentiated.

    Create one with :func:`primitive`.

    With ``saves=True`` the forward rule returns ``(value, saved)``: ``saved`` is a
    tuple of arrays it computed on the way that its VJP can reuse, found as
    ``ans._saved`` (as JAX's ``custom_vjp`` keeps residuals). They are plain arrays,
    constants to the engine: a VJP may use them only when its own sweep is not
    being recorded (``not is_grad_enabled()``); a recorded sweep, whose result will
    be differentiated again, must write the VJP with tensor operations on the
    inputs, or the second derivative would miss how the saved arrays depend on them.

    >>> import numpy as np, tinygrad_nca as tg
    >>> square = tg.Primitive(np.square, name="square")
    >>> _ = square.defvjp(lambda g, ans, x: 2 * g * x)
    >>> tg.grad(lambda x: tg.sum(square(x)))(np.array([1.0, -2.0]))
    array([ 2., -4.])
    """

    def __init__(
        self,
        fun: Callable[..., Any],
        name: str | None = None,
        flops: Callable[..., int] | None = None,
        saves: bool = False,
    ) -> None:
        self.fun = fun
        self.saves = saves
        self.name = name or fun.__name__
        self.vjps: dict[int, Callable[..., Any]] = {}
        # one rule for every position: vjp(argnum, g, ans, *args)
        self.vjp_argnum: Callable[..., Any] | None = None
        self.flops = flops or (lambda ans, *args, **kwargs: ans.size)
        self.__doc__ = fun.__doc__
        self.__name__ = self.name

    def defvjp(
        self, *vjps: Callable[..., Any] | None, argnums: Sequence[int] | None = None
    ) -> Primitive:
        """Declare one VJP per positional input (``None``: not differentiable).

        Parameters
        ----------
        *vjps : callable or None
            ``vjp(g, ans, *args, **kwargs)`` returning the cotangent of input
            0, 1, … in order (or of the inputs listed in ``argnums``).
        argnums : sequence of int, optional
            The positions the VJPs are for, when not 0, 1, ….

        Returns
        -------
        Primitive
            This primitive, so that the call can follow its definition.

        Examples
        --------
        f(x, y) = x·y: x̄ = g·y, ȳ = g·x.

        >>> import numpy as np, tinygrad_nca as tg
        >>> mul = tg.Primitive(np.multiply, name="mul")
        >>> _ = mul.defvjp(lambda g, ans, x, y: g * y, lambda g, ans, x, y: g * x)
        >>> tg.grad(lambda x, y: tg.sum(mul(x, y)), argnums=(0, 1))(np.array([2.0]),
        ...                                                        np.array([5.0]))
        (array([5.]), array([2.]))
        """
        for i, vjp in zip(argnums or range(len(vjps)), vjps, strict=False):
            if vjp is not None:
                self.vjps[i] = vjp
        return self

    def defvjp_argnum(self, vjp: Callable[..., Any]) -> Callable[..., Any]:
        """Declare one VJP for every position: ``vjp(argnum, g, ans, *args, **kwargs)``.

        For operations with any number of inputs (a sum of n arrays, a
        concatenation), where one rule covers every position.

        Parameters
        ----------
        vjp : callable
            Returns the cotangent of input ``argnum``.

        Returns
        -------
        callable
            ``vjp`` itself, so that this can be used as a decorator.

        Examples
        --------
        f(x₁, …, xₙ) = x₁ + … + xₙ: every input's cotangent is g.

        >>> import numpy as np, tinygrad_nca as tg
        >>> add_all = tg.Primitive(lambda *xs: sum(xs), name="add_all")
        >>> _ = add_all.defvjp_argnum(lambda argnum, g, ans, *xs: g)
        >>> tg.grad(lambda a, b, c: tg.sum(add_all(a, b, c)), argnums=(0, 2))(
        ...     np.ones(2), np.ones(2), np.ones(2))
        (array([1., 1.]), array([1., 1.]))
        """
        self.vjp_argnum = vjp
        return vjp

    def __call__(self, *args: Any, **kwargs: Any) -> Tensor:
        """Apply the operation: NumPy computes the value, and the result records
        this primitive and its arguments if any argument requires a gradient.

        Examples
        --------
        >>> import numpy as np, tinygrad_nca as tg
        >>> square = tg.Primitive(np.square, name="square")
        >>> square(tg.Tensor([3.0], requires_grad=True))
        Tensor([9.], requires_grad=True, op=square)
        >>> square(np.array([3.0]))      # nothing to differentiate: a constant
        Tensor([9.])
        """
        # Every operation of every model passes through here: kept lean on purpose
        # (a plain loop instead of any(...), no work for switches that are off).
        raw = []
        for a in args:
            if isinstance(a, Tensor):
                a = a.value
            elif a.__class__ in (list, tuple) and _holds_tensor(a):
                raise TypeError(
                    f"{self.name}: an argument is a {type(a).__name__} holding "
                    "Tensors; stack them first (tg.stack) so that the gradient "
                    "reaches each of them"
                )
            raw.append(a)
        out = self.fun(*raw, **kwargs)
        saved = None
        if self.saves:
            out, saved = out
        value = out if isinstance(out, np.ndarray) else np.asarray(out)
        if _state.recorder is not None:  # a jit is tracing: it sees the raw call (jit.py)
            _state.recorder.record(self, raw, kwargs, value, out is not value, saved)
        if _state.op_listeners:
            for listener in _state.op_listeners:
                listener(self.name, self.flops(value, *raw, **kwargs))
        if _state.detect_anomaly:
            _check_finite(value, f"{self.name}: forward output")
        if _state.capture is not None:
            _state.capture._see(args)
        if _state.grad_enabled:
            for a in args:
                if isinstance(a, Tensor) and a.requires_grad:
                    node = Tensor._from_op(value, self, args, kwargs)
                    node._saved = saved
                    return node
        return Tensor._from_op(value, None, (), {})

    def backward(
        self, g: Tensor, node: Tensor, needed: set[int]
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """Yield ``(input, cotangent)`` for every input of ``node`` whose id is in
        ``needed`` (the inputs from which the sweep's targets can be reached).

        Called by the reverse sweep for a ``node`` this primitive made, with
        the node's cotangent ``g``; constants and inputs that lead nowhere the
        sweep is going get nothing.

        Raises
        ------
        NotImplementedError
            If an input that needs a cotangent has no VJP.

        Examples
        --------
        >>> import numpy as np, tinygrad_nca as tg
        >>> square = tg.Primitive(np.square, name="square")
        >>> _ = square.defvjp(lambda g, ans, x: 2 * g * x)
        >>> x = tg.Tensor([3.0], requires_grad=True)
        >>> [(arg is x, ct.value) for arg, ct in square.backward(tg.Tensor([1.0]), square(x), {id(x)})]
        [(True, array([6.]))]
        """
        for i, arg in enumerate(node._args):
            if isinstance(arg, Tensor) and id(arg) in needed:
                vjp = self.vjps.get(i)
                if vjp is not None:
                    ct = vjp(g, node, *node._args, **node._kwargs)
                elif self.vjp_argnum is not None:
                    ct = self.vjp_argnum(i, g, node, *node._args, **node._kwargs)
                else:
                    raise NotImplementedError(f"{self.name}: no VJP defined for argument {i}")
                yield arg, as_tensor(ct)

    def forward_flops(self, node: Tensor) -> int:
        """The primitive's own estimate of the cost of computing ``node``."""
        raw = [a.value if isinstance(a, Tensor) else a for a in node._args]
        return int(self.flops(node.value, *raw, **node._kwargs))

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"


@overload
def primitive(
    fun: Callable[..., Any],
    *,
    name: str | None = None,
    flops: Callable[..., int] | None = None,
    saves: bool = False,
) -> Primitive: ...
@overload
def primitive(
    fun: None = None,
    *,
    name: str | None = None,
    flops: Callable[..., int] | None = None,
    saves: bool = False,
) -> Callable[[Callable[..., Any]], Primitive]: ...
def primitive(
    fun: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    flops: Callable[..., int] | None = None,
    saves: bool = False,
) -> Primitive | Callable[[Callable[..., Any]], Primitive]:
    """Declare a primitive: ``fun`` takes and returns NumPy arrays.

    >>> import tinygrad_nca as tg
    >>> @tg.primitive
    ... def cube(x):
    ...     return x ** 3
    >>> _ = cube.defvjp(lambda g, ans, x: g * 3 * x ** 2)
    >>> tg.grad(lambda x: cube(x).sum())(np.array([1.0, 2.0]))
    array([ 3., 12.])
    """
    if fun is None:
        return lambda f: Primitive(f, name=name, flops=flops, saves=saves)
    return Primitive(fun, name=name, flops=flops, saves=saves)


# The one operation the sweep itself needs (_cast_like), so it lives with the sweep;
# ops.astype is its public wrapper.
@primitive(name="astype", flops=lambda *a, **k: 0)
def cast(x, dtype):
    """``x`` as ``dtype`` (a primitive); the cotangent is cast back to the input's dtype.

    ``tg.astype`` is the public function; this is its rule.

    >>> import numpy as np, tinygrad_nca as tg
    >>> from tinygrad_nca.tensor import cast
    >>> cast(tg.Tensor([1.5], requires_grad=True), np.float32).dtype
    dtype('float32')
    """
    return x.astype(dtype)


cast.defvjp(lambda g, ans, x, dtype: cast(g, x.dtype))

# The stand-in a transform puts in place of an argument that an outer transform is
# differentiating (Scope.leaf): the same value, a node of the outer graph.
_identity = primitive(lambda x: x, name="identity", flops=lambda *a, **k: 0)
_identity.defvjp(lambda g, ans, x: g)


def _holds_tensor(seq: Iterable[Any]) -> bool:
    return builtins.any(
        isinstance(e, Tensor) or (e.__class__ in (list, tuple) and _holds_tensor(e)) for e in seq
    )
