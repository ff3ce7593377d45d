"""Trace once, replay: :func:`jit`.

Every operation of the engine goes through one place, ``Primitive.__call__``,
which unwraps its Tensor arguments, calls the primitive's NumPy function
``fun`` on the raw arrays and wraps the result. For a small problem most of
the time goes into everything around ``fun``: making Tensor objects, checking
arguments, recording the graph, and the reverse sweep's bookkeeping. None of
that changes from one call to the next when the shapes stay the same.

``jit(f)`` therefore runs ``f`` once while a *recorder* watches every
primitive call, and writes down the NumPy calls it saw as a flat program::

    s5 = matmul(s1, s4)
    s6 = softmax(s5, axis=1, where=c0)
    ...

Later calls with arguments of the same shapes and dtypes run that program
directly: no Tensor, no graph, no reverse sweep — just the NumPy calls, in
order. ``jit(value_and_grad(loss))`` records the forward pass *and* the
reverse sweep (whose VJPs are primitives too), so the replay computes the
value and the gradient.

What is traced, what is static
------------------------------
The program's inputs (*slots*) are the function's array arguments; every
primitive's output is a new slot. Arrays are told apart by identity while
tracing (the recorder holds on to them so that no id is reused). Anything else
a primitive receives — a Python number, a mask built with NumPy, a closed-over
array — is a *constant* of the program, the same object on every replay.

Arguments that are not arrays (numbers, strings, tuples) are *static*: part of
the key under which a program is stored, so a new value traces a new program.
Arrays can be made static too, with ``static_argnums`` (labels ``y``, whose
values decide the masks of the NCA loss): they are keyed by their bytes.
Values that steer Python control flow must be static — as in JAX's jit. A
traced value turned into a Python number (``float(x)``, ``bool(x)``,
``x.item()``) while tracing raises :class:`ConcretizationError`.

Why the probe
-------------
A constant that was *computed from the inputs* outside a primitive would be
frozen into the program: ``np.sign(x.value)`` written in Python inside a VJP,
or ``if x.value > 0:`` choosing which operations run. Replayed on other inputs,
that program would silently compute the wrong thing. The recorder cannot see
such a computation, so the first call of every key traces ``f`` twice: on the
real arguments and on a *probe* — arguments of the same shapes and dtypes with
other values (floats negated and rescaled with noise, so that every sign
flips; integers and booleans permuted). The two programs must be identical:
the same functions with the same keyword arguments, wired to the same slots,
and every constant equal. A difference names the op whose constant depends on
the inputs (:class:`NotTraceableError`). Finally the program is replayed on the
real arguments and must reproduce the first trace's results bit for bit (this
catches an array changed in place outside a primitive).

Making the program smaller
--------------------------
* *Constant folding*: a step whose inputs are all constants (masks and label
  codes are constants of a fit) is computed once, at trace time — unless its
  result is larger than ``FOLD_BYTES`` (1 MiB): the program would hold it for
  good, so it is recomputed on every replay instead.
* *Common subexpressions*: a step calling the same function with the same
  arguments as an earlier step is dropped; its readers read the earlier result.
* *Dead code*: a step whose result nobody reads (a forward value the gradient
  does not need, a cotangent of a constant) is dropped.
* *Memory plan*: every slot is freed (its name deleted) right after its last
  use. A step whose function is a NumPy ufunc (or a wrapper that declares one
  as its ``__wrapped__``, as :func:`~tinygrad_nca.kernels.plain_row_loops`
  does) writes into a buffer that dies at that very step (``out=``), when the
  shape and dtype fit — an in-place update instead of a new array. The softmax
  VJP overwrites its dead cotangent the same way. A buffer is reused only if it
  was made by an engine step (never an argument, a constant or a result of the
  program), owns its memory, and every view of it is dead too.

Print ``jitted.program(*args)`` to see a program, its counts before and after
folding and dead-code removal, and the buffers it reuses.

Primitives are assumed to be pure functions of their arguments (NumPy's are).
``f``'s Python side effects (appending to a list, printing) happen while
tracing only, as in JAX.
"""

from __future__ import annotations

import collections
import functools
import itertools
import keyword
import os
import re
import sys
import threading
import weakref
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, cast

import numpy as np

from . import kernels
from .tensor import (
    Op,
    Tensor,
    current_recorder,
    is_detecting_anomalies,
    is_grad_enabled,
    make_node,
    observed,
    recording,
    value_of,
)

if TYPE_CHECKING:
    from .transforms import Argnums

__all__ = [
    "jit",
    "Jitted",
    "Program",
    "NotTraceableError",
    "ConcretizationError",
    "replayed_objective",
    "is_traced",
]


class NotTraceableError(RuntimeError):
    """The function cannot be replayed as a fixed program of NumPy calls.

    Raised on the first call of a new key, when the trace on the real arguments
    and the trace on probe arguments differ: a value was computed from the
    inputs outside the engine's operations, or Python control flow on a traced
    value chose the operations.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> def f(x):                      # np.sign outside the engine: frozen at trace time
    ...     return tg.sum(x * np.sign(tg.value_of(x)))
    >>> tg.jit(f)(np.array([1.0, -2.0]))
    Traceback (most recent call last):
    ...
    tinygrad_nca.jit.NotTraceableError: not traceable: ...
    """


class ConcretizationError(TypeError):
    """A traced value was turned into a Python number or bool while tracing.

    Python control flow on a traced value (``if float(x) > 0``) cannot be
    recorded: the program would take the same branch for every input. Make
    the argument static (``static_argnums``) or write the choice with
    engine operations (``tg.where``).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> def f(x):
    ...     return x * 2 if float(tg.sum(x)) > 0 else x
    >>> tg.jit(f)(np.ones(2))
    Traceback (most recent call last):
    ...
    tinygrad_nca.jit.ConcretizationError: ...
    """


# ------------------------------------------------------------------ what a trace records
class _S:
    """A reference to slot ``index`` in a step's arguments."""

    __slots__ = ("index",)

    def __init__(self, index):
        self.index = index


class _C:
    """A constant in a step's arguments."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


class _Seq:
    """A tuple or list that holds slots (an index tuple with a traced array in it)."""

    __slots__ = ("kind", "items")

    def __init__(self, kind, items):
        self.kind, self.items = kind, items


_Node: TypeAlias = _S | _C | _Seq  # an argument of a step, as a trace records it


class _Step:
    """One primitive call: ``out = fun(*args, **kwargs)`` (``wrap``: fun returned a
    NumPy scalar that the engine turned into an array; ``saved``: the slots of the
    arrays a ``saves=True`` primitive kept for its VJP, or None)."""

    __slots__ = ("fun", "name", "args", "kwargs", "out", "wrap", "where", "saved")

    def __init__(self, fun, name, args, kwargs, out, wrap, where, saved=None):
        self.fun, self.name, self.args, self.kwargs = fun, name, args, kwargs
        self.out, self.wrap, self.where, self.saved = out, wrap, where, saved

    def outputs(self):
        """The slots this step makes: its result, then what it saved."""
        return (self.out, *(self.saved or ()))

    def nodes(self):
        yield from self.args
        yield from self.kwargs.values()


def _signature(node):
    """What identifies an argument of a call, for finding repeated calls: its slot, or
    its constant (a Python scalar by type and value, anything else by identity)."""
    if isinstance(node, _S):
        return ("slot", node.index)
    if isinstance(node, _Seq):
        return ("seq", node.kind, tuple(_signature(i) for i in node.items))
    value = node.value
    if value is None or type(value) in (bool, int, float, str):
        return ("value", type(value), value)
    return ("object", id(value))


def _map_output(out, sub):
    """The template of f's result (see _Recorder.output) with ``sub`` applied to each node."""
    if out[0] in (tuple, list):
        return (out[0], [_map_output(o, sub) for o in out[1]])
    if out[0] is dict:
        return (dict, {k: _map_output(v, sub) for k, v in out[1].items()})
    return (out[0], sub(out[1]))


def _slots_in(node):
    if isinstance(node, _S):
        yield node.index
    elif isinstance(node, _Seq):
        for item in node.items:
            yield from _slots_in(item)


class _Recorder:
    """Sees every primitive call of one trace (installed by ``tensor.recording``)."""

    def __init__(self, inputs):
        self.slot_of = {}  # id(array) -> slot, while that array is alive
        self.meta = []  # slot -> _Meta of its array in this trace
        self.small = {}  # slot -> its array, if small enough to fold (held)
        self.results = {}  # slot -> array, for f's results (held)
        self._watch = []  # weak references that unmap dead arrays
        self.constant_ids = set()  # ids of the constants seen (held in self.held)
        self.held = []  # everything seen: ids must not be reused meanwhile
        self.steps = []
        self.out: tuple[Any, Any] | None = None  # the template of f's result (set by _trace)
        for a in inputs:
            self._new_slot(a)
        self.n_inputs = len(inputs)

    def _new_slot(self, array: np.ndarray) -> int:
        # Only what the program needs is kept of an array (its shape, dtype, how its memory
        # is owned), not the array: a trace holds no more memory than an eager call. Its id
        # is unmapped when it dies, so that an array made later with the same id is not
        # mistaken for it.
        slot = len(self.meta)
        key = id(array)
        self.slot_of[key] = slot
        self.meta.append(_Meta(array))
        if array.nbytes <= FOLD_BYTES:
            self.small[slot] = array

        def unmap(_: weakref.ref[np.ndarray]) -> None:
            self._unmap(key, slot)

        self._watch.append(weakref.ref(array, unmap))
        return slot

    def _unmap(self, key: int, slot: int) -> None:
        if self.slot_of.get(key) == slot:
            del self.slot_of[key]

    def _node(self, x):
        if isinstance(x, np.ndarray):
            slot = self.slot_of.get(id(x))
            if slot is not None:
                return _S(slot)
            self.constant_ids.add(id(x))
        elif x.__class__ in (tuple, list):
            items = [self._node(e) for e in x]
            if any(not isinstance(e, _C) for e in items):
                return _Seq(x.__class__, items)
        self.held.append(x)
        return _C(x)

    def record(self, prim, raw, kwargs, value, wrapped, saved=None):
        """Called by ``Primitive.__call__`` after ``prim.fun(*raw, **kwargs)`` gave ``value``
        (and, for a ``saves=True`` primitive, the arrays ``saved`` for its VJP)."""
        args = tuple(self._node(a) for a in raw)
        kw = {k: self._node(v) for k, v in kwargs.items()} if kwargs else {}
        if saved is None and (id(value) in self.slot_of or id(value) in self.constant_ids):
            return  # fun handed back an array it was given: nothing new to compute
        out = self._new_slot(value)
        kept = None if saved is None else tuple(self._new_slot(a) for a in saved)
        self.steps.append(_Step(prim.fun, prim.name, args, kw, out, wrapped, _call_site(), kept))

    def traces(self, x: Any) -> bool:
        """Whether ``x`` (an array or Tensor) holds a traced value (a slot)."""
        return id(value_of(x)) in self.slot_of

    def concretize(self, value, what):
        """Called when a Tensor holding ``value`` is turned into a Python value."""
        if id(value) in self.slot_of:
            raise ConcretizationError(
                f"{what} of a traced value while tracing for tg.jit: the program would take "
                "the same path for every input. Values that steer Python control flow are "
                "static: mark the argument static (static_argnums), or write the choice with "
                "tinygrad_nca operations (tg.where, tg.maximum, ...)"
            )

    def output(self, out):
        """The template of f's result: (kind, content) trees of slots and constants."""
        if isinstance(out, Tensor):
            return ("tensor", self._result(out.value))
        if isinstance(out, np.ndarray):
            return ("array", self._result(out))
        if out.__class__ in (tuple, list):
            return (out.__class__, [self.output(o) for o in out])
        if isinstance(out, dict):
            return (dict, {k: self.output(v) for k, v in out.items()})
        return ("value", _C(out))

    def _result(self, array):
        node = self._node(array)
        if isinstance(node, _S):
            self.results[node.index] = array
        return node


class _Meta:
    """What the memory plan needs to know of a slot's array."""

    __slots__ = ("shape", "dtype", "owner", "fresh", "base_none")

    def __init__(self, array):
        self.shape, self.dtype = array.shape, array.dtype
        # The memory it views: the id of the array owning it. (Should that owner die and its
        # id be reused, two groups merge: a buffer then lives longer, never shorter.)
        self.owner = id(_owner(array))
        self.base_none = array.base is None
        flags = array.flags
        self.fresh = self.base_none and flags.c_contiguous and flags.writeable and flags.owndata


def _call_site() -> tuple[tuple[str, int, str], ...]:
    """Where the primitive was called from: the first frames above Primitive.__call__,
    as (file, line, function) (made text by _site only for an error message: every
    recorded step notes one)."""
    frame: FrameType | None = sys._getframe(3)
    places: list[tuple[str, int, str]] = []
    while frame is not None and len(places) < 3:
        places.append((frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name))
        frame = frame.f_back
    return tuple(places)


def _site(step: _Step) -> str:
    """A step's call site as text: ``loss.py:12 in f < …``."""
    return " < ".join(f"{os.path.basename(f)}:{line} in {name}" for f, line, name in step.where)


def _trace(f, args, traced, kwargs):
    """Run ``f`` on ``args`` with the arrays at ``traced`` as the program's inputs."""
    inputs = [args[i].value if isinstance(args[i], Tensor) else args[i] for i in traced]
    recorder = _Recorder(inputs)
    call = list(args)
    for i, array in zip(traced, inputs, strict=True):  # a Tensor argument: a fresh constant Tensor
        if isinstance(args[i], Tensor):
            call[i] = make_node(array, None, ())
    with recording(recorder):
        out = f(*call, **kwargs)
    recorder.out = recorder.output(out)
    return recorder


# ------------------------------------------------------------------ comparing two traces
def _same(a: Any, b: Any) -> bool:
    """Whether two constants are equal (arrays: same dtype, shape and values, NaN = NaN)."""
    if a is b:
        return True
    if isinstance(a, (np.ndarray, np.generic)) or isinstance(b, (np.ndarray, np.generic)):
        if type(a) is not type(b):
            return False
        a, b = np.asarray(a), np.asarray(b)
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if a.__class__ in (tuple, list) or b.__class__ in (tuple, list):
        return a.__class__ is b.__class__ and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    try:
        equal = a == b
    except Exception:
        return False
    return equal if isinstance(equal, bool) else False


def _same_node(a: _Node, b: _Node) -> bool:
    if isinstance(a, _S):
        return isinstance(b, _S) and a.index == b.index
    if isinstance(a, _Seq):
        return (
            isinstance(b, _Seq)
            and a.kind is b.kind
            and len(a.items) == len(b.items)
            and all(map(_same_node, a.items, b.items))
        )
    return isinstance(b, _C) and _same(a.value, b.value)


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array {value.dtype}{list(value.shape)}"
    text = repr(value)
    return text if len(text) < 60 else text[:57] + "..."


_ADVICE = (
    "computed outside the engine's operations, or Python control flow on a traced "
    "value; mark the argument static (static_argnums) or write the computation with "
    "tinygrad_nca operations"
)


def _check_same(real, probe, name):
    """Raise NotTraceableError unless the two traces recorded the same program."""
    # strict=False: the probe may have run more or fewer steps (reported after the loop)
    for k, (a, b) in enumerate(zip(real.steps, probe.steps, strict=False)):
        if (
            a.fun is not b.fun
            or a.wrap != b.wrap
            or a.kwargs.keys() != b.kwargs.keys()
            or len(a.args) != len(b.args)
            or a.outputs() != b.outputs()
        ):
            raise NotTraceableError(
                f"not traceable: {name} ran different operations on other values of the "
                f"same shapes: step {k} is {a.name} (at {_site(a)}) on your arguments but "
                f"{b.name} (at {_site(b)}) on the probe: the choice was {_ADVICE}"
            )
        labelled = [
            (f"argument {i}", x, y) for i, (x, y) in enumerate(zip(a.args, b.args, strict=True))
        ]
        labelled += [(f"keyword {key}=", a.kwargs[key], b.kwargs[key]) for key in a.kwargs]
        for label, x, y in labelled:
            if not _same_node(x, y):
                shown = _describe(x.value) if isinstance(x, _C) else "a traced value"
                raise NotTraceableError(
                    f"not traceable: {name}: the op {a.name} (at {_site(a)}) received, as its "
                    f"{label}, {shown} that depends on the input values (it differs on probe "
                    f"arguments of the same shapes): it was {_ADVICE}"
                )
    if len(real.steps) != len(probe.steps):
        k = min(len(real.steps), len(probe.steps))
        extra = (real.steps if len(real.steps) > k else probe.steps)[k]
        raise NotTraceableError(
            f"not traceable: {name} ran a different number of operations on other values of "
            f"the same shapes ({len(real.steps)} and {len(probe.steps)}; the first extra one is "
            f"{extra.name} at {_site(extra)}): the choice was {_ADVICE}"
        )
    if not _same_output(real.out, probe.out):
        raise NotTraceableError(
            f"not traceable: {name} returned a result that is not made by the engine's "
            f"operations from its inputs (it differs on probe arguments): it was {_ADVICE}"
        )


def _same_output(a: tuple[Any, Any], b: tuple[Any, Any]) -> bool:
    if a[0] != b[0]:
        return False
    if a[0] in (tuple, list):
        return len(a[1]) == len(b[1]) and all(map(_same_output, a[1], b[1]))
    if a[0] is dict:
        return a[1].keys() == b[1].keys() and all(_same_output(a[1][k], b[1][k]) for k in a[1])
    return _same_node(a[1], b[1])


def _probe_args(args, traced, seed, flip=True):
    """Other values of the same shapes and dtypes for the traced arguments: floats
    rescaled at random, negated (``flip``: every sign changes) and moved by noise;
    integers and booleans shuffled (indices stay in range)."""
    rng = np.random.default_rng(seed)
    probe = list(args)
    for i in traced:
        x = args[i].value if isinstance(args[i], Tensor) else args[i]
        if x.dtype.kind == "f":
            finite = np.isfinite(x)
            scale = float(np.mean(np.abs(x[finite]))) if finite.any() else 1.0
            scale = scale if scale > 0 else 1.0
            with np.errstate(all="ignore"):
                other = x * rng.uniform(0.5, 1.5, x.shape)
                if flip:
                    other = -other + 0.25 * scale * rng.standard_normal(x.shape)
                else:  # the same signs (a positive domain stays positive)
                    other = np.where(other == 0, 0.0, other)
            other = np.asarray(other, dtype=x.dtype)
        else:
            other = np.asarray(rng.permutation(x.reshape(-1)).reshape(x.shape), dtype=x.dtype)
        probe[i] = make_node(other, None, ()) if isinstance(args[i], Tensor) else other
    return probe


# ------------------------------------------------------------------ the program
def _ufunc_of(fun):
    """The NumPy ufunc that ``fun`` is, or declares itself to be (``__wrapped__``)."""
    if isinstance(fun, np.ufunc):
        return fun
    inner = getattr(fun, "__wrapped__", None)
    return inner if isinstance(inner, np.ufunc) else None


# Functions that may write their result into an argument, if asked: fun -> (keyword that
# asks, position of the argument overwritten, which output takes over its buffer: None for
# the result, k for the k-th saved array of a saves=True primitive).
_IN_PLACE = {
    kernels.softmax_vjp: ("overwrite", 0, None),
    kernels.softmax_mass: ("overwrite", 0, 0),
    kernels.softmax_mass_vjp: ("overwrite", 2, None),
}


def _engine_made(fun: Callable[..., Any]) -> bool:
    """Whether ``fun`` is NumPy's or the engine's: functions known to hand back a fresh
    array or a view, never an array kept somewhere else (a cache), which must not be
    overwritten."""
    if isinstance(fun, np.ufunc):
        return True
    module = getattr(fun, "__module__", None) or ""
    return module.split(".")[0] in ("numpy", "tinygrad_nca")


# How many programs (keys) a jitted function keeps, the ones used last.
MAX_PROGRAMS = 32

# The largest result of a step folded into a constant: a program keeps its constants for as
# long as it lives, and recomputing a large one (an N × N mask cast to floats) is cheap
# next to the work around it, while keeping it would cost its memory for good.
FOLD_BYTES = 1 << 20


def _owner(array):
    base = array
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    return base


@functools.lru_cache(maxsize=64)
def _compiled(source: str, filename: str) -> Any:
    """Python's bytecode for a program's source. Programs of the same function for keys
    that differ only in their constants' values (a fit on other labels of the same sizes)
    have the same source: compiling it is a large share of a first call's time."""
    return compile(source, filename, "exec")


class Program:
    """A traced function as a flat program of NumPy calls, for one key.

    Built by :func:`jit` on the first call with a new key; calling it runs the
    program on the traced arguments' arrays. ``repr`` lists every step.

    Attributes
    ----------
    counts : dict
        ``recorded`` (primitive calls seen while tracing), ``folded`` (steps with
        constant inputs, computed at trace time), ``merged`` (repeats of an earlier
        call with the same arguments), ``dead`` (steps whose result
        nobody reads), ``steps`` (what runs), ``out=`` and ``overwrite`` (steps
        writing into a dead buffer instead of allocating one).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> f = tg.jit(tg.value_and_grad(lambda x: tg.sum(tg.exp(x) * 2.0)))
    >>> program = f.program(np.zeros(3))
    >>> program.counts["steps"] < program.counts["recorded"]
    True
    >>> program(np.zeros(3))[1]
    array([2., 2., 2.])
    """

    def __init__(self, trace, name):
        self.name = name
        self.n_inputs = trace.n_inputs
        self.shapes = [m.shape for m in trace.meta]
        self.dtypes = [m.dtype for m in trace.meta]
        steps, out = self._fold(trace)
        steps, out, merged = self._merge(steps, out, trace.meta)
        steps = self._live(steps, out)
        self.counts = {
            "recorded": len(trace.steps),
            "folded": self._folded,
            "merged": merged,
            "dead": len(trace.steps) - self._folded - merged - len(steps),
            "steps": len(steps),
            "out=": 0,
            "overwrite": 0,
        }
        self.steps, self.out = steps, out
        last = self._last_uses(steps, out)
        self._plan_memory(steps, trace, last)
        self._compile(steps, out, last)

    # -- folding and dead code ----------------------------------------------------
    def _fold(self, trace):
        known: dict[int, np.ndarray] = {}  # slot -> array, for slots whose value is a constant

        def sub(node):
            if isinstance(node, _S):
                return _C(known[node.index]) if node.index in known else node
            if isinstance(node, _Seq):
                items = [sub(i) for i in node.items]
                if all(isinstance(i, _C) for i in items):
                    return _C(node.kind(i.value for i in items))
                return _Seq(node.kind, items)
            return node

        steps, self._folded = [], 0
        for step in trace.steps:
            args = tuple(sub(a) for a in step.args)
            kwargs = {k: sub(v) for k, v in step.kwargs.items()}
            if (
                all(isinstance(n, _C) for n in itertools.chain(args, kwargs.values()))
                and step.out in trace.small
                and step.saved is None
            ):
                known[step.out] = trace.small[step.out]  # computed once, while tracing
                self._folded += 1
                continue
            steps.append(
                _Step(
                    step.fun, step.name, args, kwargs, step.out, step.wrap, step.where, step.saved
                )
            )

        return steps, _map_output(trace.out, sub)

    def _merge(self, steps, out, meta):
        """Common subexpressions: a step calling the same function with the same arguments
        as an earlier one computes the same array (primitives are pure functions), so it
        is dropped and its readers read the earlier result (the VJP of x·x, say, forms
        ḡ·x twice). Returns (steps, out, how many were dropped)."""
        first: dict[Any, int] = {}  # signature of a call -> the slot that holds its result
        renamed: dict[int, int] = {}  # dropped slot -> the slot read instead
        kept = []

        def sub(node):
            if isinstance(node, _S):
                return _S(renamed.get(node.index, node.index))
            if isinstance(node, _Seq):
                return _Seq(node.kind, [sub(i) for i in node.items])
            return node

        for step in steps:
            step.args = tuple(sub(a) for a in step.args)
            step.kwargs = {k: sub(v) for k, v in step.kwargs.items()}
            if step.saved is not None:  # (several results: left as they are)
                kept.append(step)
                continue
            key = (
                id(step.fun),
                step.wrap,
                tuple(_signature(a) for a in step.args),
                tuple((k, _signature(v)) for k, v in step.kwargs.items()),
            )
            earlier = first.get(key)
            if earlier is None:
                first[key] = step.out
                kept.append(step)
                continue
            renamed[step.out] = earlier
            # views of the dropped array now view the earlier one: one memory group
            dropped_owner = meta[step.out].owner
            for m in meta:
                if m.owner == dropped_owner:
                    m.owner = meta[earlier].owner

        return kept, _map_output(out, sub), len(steps) - len(kept)

    @staticmethod
    def _output_slots(out):
        if out[0] in (tuple, list):
            return {s for o in out[1] for s in Program._output_slots(o)}
        if out[0] is dict:
            return {s for o in out[1].values() for s in Program._output_slots(o)}
        return set(_slots_in(out[1]))

    def _live(self, steps, out):
        needed, kept = self._output_slots(out), []
        for step in reversed(steps):
            if any(s in needed for s in step.outputs()):
                kept.append(step)
                for node in step.nodes():
                    needed.update(_slots_in(node))
        return kept[::-1]

    def _last_uses(self, steps, out):
        last = {}
        for k, step in enumerate(steps):
            for node in step.nodes():
                for s in _slots_in(node):
                    last[s] = k
            for s in step.outputs():  # made but never read (a VJP's saved array in a
                last.setdefault(s, k)  # forward-only program): freed at once
        for s in self._output_slots(out):
            last[s] = len(steps)  # results live on after the program
        return last

    # -- the memory plan ------------------------------------------------------------
    def _plan_memory(self, steps, trace, last):
        """Give elementwise ufunc steps (and the softmax VJP) a buffer dying at that step."""
        meta, n_in = trace.meta, trace.n_inputs
        produced = {s: step for step in steps for s in step.outputs()}
        made_at = {s: k for k, step in enumerate(steps) for s in step.outputs()}
        group: dict[int, list[int]] = {}  # owner key -> slots viewing its memory
        for s, m in enumerate(meta):
            group.setdefault(m.owner, []).append(s)
        # A group dies with its last member; only groups whose owner is a slot made by
        # an engine step, that owns plain writeable memory, may give up their buffer.
        dies_at: dict[int, list[int]] = {}  # step -> slots whose buffer dies there
        for members in group.values():
            # the slot owning the memory: the group's member that is no view
            owners = [s for s in members if meta[s].base_none]
            if len(owners) != 1:
                continue
            s = owners[0]
            if s < n_in or s not in produced or s not in last:
                continue
            if not (_engine_made(produced[s].fun) and meta[s].fresh):
                continue
            end = max(last.get(m, -1) for m in members)
            # (its own name is still alive then; and a buffer made by this very step, read by
            # nobody, is not there to be reused before the step runs)
            if end == last[s] and made_at[s] < end < len(steps):
                dies_at.setdefault(end, []).append(s)
        self.reused = []
        for k, step in enumerate(steps):
            free = dies_at.get(k, [])
            if not free:
                continue
            target = meta[step.out]
            in_place = _IN_PLACE.get(step.fun)
            if in_place is not None:
                keyword_, position, result = in_place
                if result is not None:  # the buffer becomes a saved array, not the result
                    target = meta[step.saved[result]]
                g = step.args[position] if position < len(step.args) else None
                if (
                    isinstance(g, _S)
                    and g.index in free
                    and keyword_ in step.kwargs
                    and isinstance(step.kwargs[keyword_], _C)
                    and step.kwargs[keyword_].value is False
                    and meta[g.index].shape == target.shape
                    and meta[g.index].dtype == target.dtype
                ):
                    step.kwargs = dict(step.kwargs, **{keyword_: _C(True)})
                    free.remove(g.index)
                    self.reused.append((step.out, g.index, "overwrite"))
                    self.counts["overwrite"] += 1
                continue
            ufunc = _ufunc_of(step.fun)
            if (
                ufunc is None
                or ufunc.nout != 1
                or "out" in step.kwargs
                or "where" in step.kwargs
                or step.wrap
                or not target.base_none
            ):
                continue
            for b in free:
                if meta[b].shape == target.shape and meta[b].dtype == target.dtype:
                    step.kwargs = dict(step.kwargs, out=_S(b))
                    free.remove(b)
                    self.reused.append((step.out, b, "out="))
                    self.counts["out="] += 1
                    break

    # -- code -------------------------------------------------------------------------
    def _compile(self, steps, out, last):
        namespace = {"_asarray": np.asarray}
        names = {}  # id(object) -> name in the namespace
        self._constants: list[tuple[str, Any]] = []  # (name, value), in order

        def constant(value):
            # Python's own scalars are written as literals (their exact type matters:
            # NumPy treats a float and an np.float64 differently)
            if value is None or type(value) in (bool, int, str):
                text = repr(value)
                if len(text) <= 40:
                    return text
            if type(value) is float and np.isfinite(value):
                return repr(value)
            key = id(value)
            if key not in names:
                names[key] = f"c{len(self._constants)}"
                namespace[names[key]] = value
                self._constants.append((names[key], value))
            return names[key]

        funs: dict[int, str] = {}  # id(function) -> name in the namespace

        def size(node):
            if isinstance(node, _S):
                return int(np.prod(self.shapes[node.index]))
            return getattr(node.value, "size", 0) if isinstance(node, _C) else 0

        def function(step):
            fun = step.fun
            # plain_row_loops only resizes NumPy's buffer for large operands; the shapes
            # of a program are fixed, so for small ones call what it wraps directly
            if (
                getattr(fun, "__qualname__", "").startswith("plain_row_loops.")
                and size(step.args[0]) < kernels.LARGE
                and (len(step.args) < 2 or size(step.args[1]) < kernels.LARGE)
            ):
                fun = fun.__wrapped__
            if id(fun) not in funs:
                base = re.sub(r"\W", "_", step.name) or "f"
                if keyword.iskeyword(base) or base[0].isdigit() or base in namespace:
                    base = f"{base}_{len(funs)}"
                funs[id(fun)] = base
                namespace[base] = fun
            return funs[id(fun)]

        def expr(node):
            if isinstance(node, _S):
                return f"s{node.index}"
            if isinstance(node, _Seq):
                inner = ", ".join(expr(i) for i in node.items)
                if node.kind is tuple:
                    return f"({inner}{',' if len(node.items) == 1 else ''})"
                return f"[{inner}]"
            return constant(node.value)

        frees: dict[int, list[int]] = {}  # step -> slots dead after it
        for s, k in last.items():
            if k < len(steps):
                frees.setdefault(k, []).append(s)
        body, listing = [], []
        for k, step in enumerate(steps):
            parts = [expr(a) for a in step.args] + [
                f"{key}={expr(v)}" for key, v in step.kwargs.items()
            ]
            call = f"{function(step)}({', '.join(parts)})"
            if step.saved is None:
                line = f"s{step.out} = _asarray({call})" if step.wrap else f"s{step.out} = {call}"
                body.append(line)
            else:  # fun returns (result, (saved arrays...))
                kept = "".join(f"s{s}, " for s in step.saved)
                line = f"s{step.out}, ({kept}) = {call}"
                body.append(line)
                if step.wrap:
                    body.append(f"s{step.out} = _asarray(s{step.out})")
            listing.append(f"{line:<60} # {self.dtypes[step.out]}{list(self.shapes[step.out])}")
            dead = sorted(frees.get(k, []))
            if dead:
                body.append("del " + ", ".join(f"s{s}" for s in dead))
        results = sorted(self._output_slots(out))
        self._result_index = {s: i for i, s in enumerate(results)}
        body.append(f"return ({''.join(f's{s}, ' for s in results)})")
        params = ", ".join(f"s{i}" for i in range(self.n_inputs))
        source = f"def program({params}):\n" + "".join(f"    {line}\n" for line in body)
        exec(_compiled(source, f"<tg.jit program of {self.name}>"), namespace)
        self.source, self.listing, self._run = source, listing, namespace["program"]

    def __call__(self, *arrays):
        """Run the program on the traced arguments' arrays; returns f's result."""
        return self._build(self.out, self._run(*arrays))

    def _build(self, out, results):
        kind, content = out
        if kind in (tuple, list):
            return kind(self._build(o, results) for o in content)
        if kind is dict:
            return {k: self._build(o, results) for k, o in content.items()}
        value = self._value(content, results)
        if kind == "tensor":
            return make_node(value, None, ())
        return value

    def _value(self, node, results):
        if isinstance(node, _S):
            return results[self._result_index[node.index]]
        if isinstance(node, _Seq):
            return node.kind(self._value(i, results) for i in node.items)
        value = node.value
        return value.copy() if isinstance(value, np.ndarray) else value  # fresh, as eagerly

    def __repr__(self):
        c = self.counts
        lines = [
            f"program of {self.name}: {c['recorded']} primitive calls recorded, "
            f"{c['folded']} folded into constants, {c['merged']} merged, {c['dead']} dead "
            f"-> {c['steps']} steps; "
            f"buffers reused: {c['out=']} by out=, {c['overwrite']} by overwrite",
            "inputs: "
            + ", ".join(
                f"s{i}: {self.dtypes[i]}{list(self.shapes[i])}" for i in range(self.n_inputs)
            ),
        ]
        for name, value in self._constants:
            lines.append(f"{name} = {_describe(value)}")
        lines += self.listing
        lines.append("returns " + ", ".join(f"s{s}" for s in self._result_index))
        return "\n".join(lines)


# ------------------------------------------------------------------ the transform
def _static_key(value, position):
    """A hashable stand-in for a static argument (an array: its dtype, shape and bytes)."""
    if isinstance(value, Tensor):
        value = value.value
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, value.tobytes())
    if value.__class__ in (list, tuple):
        return (value.__class__.__name__,) + tuple(_static_key(v, position) for v in value)
    if isinstance(value, dict):
        return ("dict",) + tuple(sorted((k, _static_key(v, position)) for k, v in value.items()))
    try:
        hash(value)
    except TypeError:
        raise TypeError(
            f"tg.jit: static argument {position} ({type(value).__name__}) is not "
            "hashable; pass a hashable value or a NumPy array"
        ) from None
    return (type(value).__name__, value)


_probe_seeds = itertools.count(20240612)


class Jitted:
    """A function transformed by :func:`jit`: calls replay a traced program.

    Attributes
    ----------
    programs : dict
        The programs traced so far, by key (shapes, dtypes and static arguments).
    traces : int
        How many keys have been traced (each costs two traces and one check).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> f = tg.jit(lambda x: tg.sum(tg.square(x)))
    >>> float(f(np.arange(3.0))), float(f(np.ones(3))), f.traces
    (5.0, 3.0, 1)
    """

    def __init__(self, f, static_argnums=()):
        if not callable(f):
            raise TypeError(f"tg.jit needs a function, got {type(f).__name__}")
        nums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in nums):
            raise TypeError(f"static_argnums must be ints, got {static_argnums!r}")
        self.f, self.static_argnums = f, nums
        # the programs by key, the one used last at the end (at most MAX_PROGRAMS kept)
        self.programs: collections.OrderedDict[Any, Program] = collections.OrderedDict()
        self.traces = 0
        self._lock = threading.Lock()
        self.__name__ = getattr(f, "__name__", type(f).__name__)
        self.__doc__ = getattr(f, "__doc__", None)
        self.__wrapped__ = f

    def _split(self, args, kwargs):
        """(key, positions of the traced arguments)."""
        n = len(args)
        static = {i % n for i in self.static_argnums if -n <= i < n}
        key, traced = [], []
        for i, a in enumerate(args):
            if i not in static and isinstance(a, (np.ndarray, Tensor)):
                if isinstance(a, Tensor) and a.requires_grad and is_grad_enabled():
                    raise TypeError(
                        f"tg.jit: argument {i} is a Tensor being differentiated; a replayed "
                        "program keeps no graph. Put the jit outside the transform: "
                        "tg.jit(tg.grad(f)), not tg.grad(tg.jit(f))"
                    )
                value = a.value if isinstance(a, Tensor) else a
                if value.dtype.kind not in "biuf":
                    raise TypeError(
                        f"tg.jit: argument {i} has dtype {value.dtype}; traced "
                        "arrays must hold numbers (or mark it static)"
                    )
                key.append((value.shape, value.dtype.str, isinstance(a, Tensor)))
                traced.append(i)
            else:
                key.append(_static_key(a, i))
        kw = tuple(sorted((k, _static_key(v, k)) for k, v in kwargs.items()))
        return (tuple(key), kw, is_grad_enabled()), traced

    def program(self, *args, **kwargs):
        """The program these arguments replay (traced now if their key is new).

        Returns
        -------
        Program
            Print it to see the steps.

        Examples
        --------
        >>> import numpy as np, tinygrad_nca as tg
        >>> print(tg.jit(lambda x: tg.exp(x) + 1.0).program(np.zeros(2)))  # doctest: +ELLIPSIS
        program of <lambda>: 2 primitive calls recorded, 0 folded into constants, 0 merged, 0 dead -> 2 steps; ...
        inputs: s0: float64[2]
        s1 = exp(s0) ...
        s2 = add(s1, 1.0, out=s1) ...
        returns s2
        """
        return self._find(args, kwargs)[0]

    def _find(self, args, kwargs):
        """(program, positions of the traced arguments, the results of its check replay
        on these arguments if it was traced just now, else None)."""
        key, traced = self._split(args, kwargs)
        program, replayed = self.programs.get(key), None
        if program is None:
            program, replayed = self._make(args, kwargs, traced, key)
        else:
            with self._lock:  # (another thread may have dropped it meanwhile)
                if key in self.programs:
                    self.programs.move_to_end(key)
        return program, traced, replayed

    def _make(self, args, kwargs, traced, key):
        name = self.__name__
        with np.errstate(all="ignore"):
            real = _trace(self.f, args, traced, kwargs)
            probe = self._probe(args, traced, kwargs)
        _check_same(real, probe, name)
        del probe
        program = Program(real, name)
        arrays = [args[i].value if isinstance(args[i], Tensor) else args[i] for i in traced]
        with np.errstate(all="ignore"):
            replayed = program._run(*arrays)
        for s, i in program._result_index.items():
            if s in real.results and not _same(real.results[s], replayed[i]):
                raise NotTraceableError(
                    f"not traceable: replaying the program of {name} on the traced arguments "
                    "does not reproduce the traced result: an array was changed in place "
                    "outside the engine's operations, or an operation is not a pure function "
                    "of its arguments"
                )
        with self._lock:
            self.programs[key] = program
            while len(self.programs) > MAX_PROGRAMS:  # a program holds its constants
                self.programs.popitem(last=False)
            self.traces += 1
        return program, replayed

    def _probe(self, args, traced, kwargs):
        """The trace on probe arguments: first with every sign flipped; if ``f`` refuses
        those (a check that its argument is positive, say), with the signs kept."""
        seed = next(_probe_seeds)
        for flip in (True, False):
            try:
                return _trace(self.f, _probe_args(args, traced, seed, flip), traced, kwargs)
            except (ConcretizationError, NotTraceableError):
                raise
            except Exception as err:
                if not flip:
                    raise NotTraceableError(
                        f"not traceable: {self.__name__} failed on probe arguments (other "
                        "values of the same shapes and dtypes, used to check that the program "
                        f"does not depend on the values): {type(err).__name__}: {err}. If its "
                        "values decide what it computes, mark the argument static "
                        "(static_argnums)"
                    ) from err

    def __call__(self, *args, **kwargs):
        """Replay the program for these arguments' key (tracing it first if new)."""
        if current_recorder() is not None or is_detecting_anomalies() or observed():
            # inside another trace (it records our operations), or someone checks or
            # counts every operation: run the function itself
            return self.f(*args, **kwargs)
        program, traced, replayed = self._find(args, kwargs)
        if replayed is not None:  # traced just now: its check replay ran on these arguments
            return program._build(program.out, replayed)
        return program(*[args[i].value if isinstance(args[i], Tensor) else args[i] for i in traced])

    def __repr__(self):
        return f"<tg.jit of {self.__name__}: {len(self.programs)} program(s)>"


def jit(f=None, *, static_argnums=()):
    """Trace ``f`` once per key and replay the recorded NumPy calls afterwards.

    Parameters
    ----------
    f : callable
        A function of arrays written with tinygrad_nca operations, e.g.
        ``tg.value_and_grad(loss)``: the forward pass and the reverse sweep are
        recorded together.
    static_argnums : int or tuple of int
        Positions of array arguments to treat as static: part of the key (by
        their dtype, shape and bytes) instead of inputs of the program. Use
        it for arrays whose *values* decide what is computed, such as class
        labels. Arguments that are not arrays or Tensors are always static,
        and so are keyword arguments.

    Returns
    -------
    Jitted
        Call it like ``f``. A new key — other shapes or dtypes of the traced
        arrays, other static values — traces a new program automatically;
        ``.program(*args)`` shows the program for some arguments. The
        ``MAX_PROGRAMS`` (32) programs used last are kept, each with its
        constants; an older key is traced again when it comes back.

    Raises
    ------
    NotTraceableError
        On the first call of a key, if the program would depend on the values
        of traced arguments through a computation the engine cannot see (see
        the module's docstring: the probe).
    ConcretizationError
        If ``f`` turns a traced value into a Python number or bool.

    Notes
    -----
    ``f`` receives the arrays as they were passed: NumPy's own operators on
    them (``x * 2`` for an ndarray ``x``) run outside the engine, and the
    check refuses the program; use tinygrad_nca functions (``tg.multiply(x,
    2)``), or Tensors (``tg.value_and_grad`` hands ``f`` Tensors).

    Results equal ``f``'s bit for bit: the program runs the same NumPy calls on
    the same arrays (writing into dead buffers changes where a result goes,
    not its value). Replayed results are arrays (or constant Tensors where
    ``f`` returned Tensors): there is no graph to differentiate, so take
    derivatives inside: ``jit(grad(f))``, not ``grad(jit(f))``. Arrays that
    ``f`` closes over are constants of the program, read when it was traced.
    Under :func:`~tinygrad_nca.detect_anomaly` or while operations are being
    counted, ``f`` runs as it is.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> loss = lambda w, X: tg.sum((X @ w) ** 2)
    >>> step = tg.jit(tg.value_and_grad(loss))
    >>> X = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> value, gradient = step(np.array([1.0, -1.0]), X)
    >>> float(value), gradient
    (2.0, array([ -8., -12.]))

    Labels decide masks with NumPy: make them static.

    >>> def same_class_sum(x, y):
    ...     return tg.sum(x, where=y == 1)
    >>> f = tg.jit(same_class_sum, static_argnums=1)
    >>> float(f(np.arange(3.0), np.array([1, 0, 1])))
    2.0
    """
    if f is None:
        return functools.partial(jit, static_argnums=static_argnums)
    return Jitted(f, static_argnums)


def is_traced(x: Any) -> bool:
    """Whether ``x`` holds a value that a :func:`jit` trace in this thread treats as an
    input of its program (an argument, or a result of the engine's operations on one).

    Code that must choose its operations from such a value's *contents* can take
    a path that does not (:func:`~tinygrad_nca.nca_loss` does so for labels).

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> from tinygrad_nca.jit import is_traced
    >>> seen = []
    >>> f = tg.jit(lambda x, y: seen.append((is_traced(x), is_traced(y))) or tg.exp(x),
    ...            static_argnums=1)
    >>> _ = f(np.zeros(2), np.ones(2))
    >>> seen[0]
    (True, False)
    """
    recorder = current_recorder()
    return recorder is not None and recorder.traces(x)


class _Replayed(Op):
    """The node of a :func:`replayed_objective`: its gradient came with its value."""

    name = "replayed_objective"

    def __init__(self, gradients):
        self.gradients = gradients

    def backward(self, g, node, needed):
        if is_grad_enabled():
            raise NotImplementedError(
                "replayed_objective: the replayed program gives first derivatives only; "
                "differentiate the objective itself for a second derivative"
            )
        for arg, gradient in zip(node._args, self.gradients, strict=True):
            if id(arg) in needed:
                yield arg, g * gradient

    def forward_flops(self, node: Tensor) -> int:
        return 0


class ReplayedObjective(Protocol):
    """What :func:`replayed_objective` returns: a function with ``f``'s signature, and the
    jitted value-and-gradient function it replays as its attribute ``step``."""

    step: Jitted
    __name__: str

    def __call__(self, *args: Any) -> Any: ...


def replayed_objective(
    f: Callable[..., Any],
    argnums: Argnums = 0,
    static_argnums: Argnums = (),
    fallback: bool = False,
) -> ReplayedObjective:
    """A stand-in for the scalar function ``f`` whose value and gradient come from one
    replay of ``jit(value_and_grad(f, argnums), static_argnums)``.

    The result is a function with ``f``'s signature returning a scalar Tensor that
    :func:`~tinygrad_nca.value_and_grad` (and so every optimiser of
    :mod:`tinygrad_nca.optim`) differentiates with respect to ``argnums`` in one
    step: its gradient was computed with its value. Python around it — logging,
    callbacks — runs eagerly on every call; only ``f`` is traced. First
    derivatives only.

    Parameters
    ----------
    f : callable
        A scalar objective written with tinygrad_nca operations.
    argnums : int or tuple of int
        The arguments to differentiate.
    static_argnums : int or tuple of int
        As for :func:`jit`.
    fallback : bool
        If ``f`` cannot be traced (:class:`NotTraceableError`,
        :class:`ConcretizationError`), warn once and evaluate ``f`` eagerly from
        then on, instead of raising (for objectives written by a user).

    Returns
    -------
    callable
        ``objective(*args) -> Tensor``; ``objective.step`` is the jitted
        value-and-gradient function.

    Examples
    --------
    >>> import numpy as np, tinygrad_nca as tg
    >>> from tinygrad_nca.jit import replayed_objective
    >>> objective = replayed_objective(lambda w, X: tg.sum(tg.exp(X @ w)))
    >>> X = np.eye(2)
    >>> tg.value_and_grad(objective)(np.zeros(2), X)
    (array(2.), array([1., 1.]))
    """
    from .transforms import value_and_grad

    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    step = jit(value_and_grad(f, argnums=nums), static_argnums=static_argnums)
    state = {"eager": False}

    def objective(*args: Any) -> Any:
        if state["eager"] or current_recorder() is not None:
            return f(*args)
        arrays = [value_of(a) for a in args]
        try:
            value, gradients = step(*arrays)
        except (NotTraceableError, ConcretizationError) as err:
            if not fallback:
                raise
            import warnings

            warnings.warn(
                f"the objective cannot be jitted, so it is evaluated eagerly "
                f"(pass jit=False to say so): {err}",
                RuntimeWarning,
                stacklevel=2,
            )
            state["eager"] = True
            return f(*args)
        inputs = [args[i] for i in nums]
        differentiated = [
            (t, gr)
            for t, gr in zip(inputs, gradients, strict=True)
            if isinstance(t, Tensor) and t.requires_grad
        ]
        if not differentiated or not is_grad_enabled():
            return make_node(value, None, ())
        return make_node(
            value, _Replayed([gr for _, gr in differentiated]), [t for t, _ in differentiated]
        )

    objective.__name__ = getattr(f, "__name__", "objective")
    # a function object takes attributes; declared to type checkers by ReplayedObjective
    replayed = cast(ReplayedObjective, objective)
    replayed.step = step
    return replayed
