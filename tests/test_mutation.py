"""The sensitivity of check_grads: a VJP scaled by 1.0001 must be caught.

Uses the mutation of tools/mutation_check.py (a VJP's result times 1.0001) on a few primitives,
found by name among every Primitive of the package, and asserts that the public checker
reports it: at order 1 when every sweep is mutated, and at order 2 when only recorded sweeps
are (the first derivative is then exact, the derivative of the gradient is off by 1e-4).
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import tinygrad_nca as tg

_TOOL = Path(__file__).resolve().parents[1] / "tools" / "mutation_check.py"
_spec = importlib.util.spec_from_file_location("mutation_check", _TOOL)
mutation_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mutation_check)

_r = np.random.default_rng(3)
CASES = {
    # primitive name: (function, arguments) exercising that primitive's VJPs
    "multiply": (lambda x, y: tg.tanh(x * y), (_r.normal(size=3), _r.normal(size=3))),
    "exp": (lambda x: tg.exp(x) * x, (_r.normal(size=4),)),
    "softmax": (lambda x: tg.softmax(x, axis=-1) * x, (_r.normal(size=(2, 3)),)),
    "matmul": (lambda a, b: tg.tanh(a @ b), (_r.normal(size=(2, 3)), _r.normal(size=(3, 2)))),
    "tanh": (lambda x: tg.tanh(x) * x, (_r.normal(size=4),)),
    "log": (lambda x: tg.log(x) * x * x, (np.array([0.5, 1.5, 2.5]),)),
}


def _primitive(name):
    found = [p for p in mutation_check.discover().values() if p.name == name]
    assert len(found) == 1, f"{len(found)} primitives named {name}"
    return found[0]


def _positions(prim):
    return sorted(prim.vjps) + (["argnum"] if prim.vjp_argnum is not None else [])


def test_discovery_finds_the_primitives_of_the_engine():
    names = {p.name for p in mutation_check.discover().values()}
    assert set(CASES) | {"add", "sum", "reshape", "identity"} <= names
    assert len(names) >= 25


@pytest.mark.parametrize("name", list(CASES))
def test_unmutated_primitive_passes_the_check(name):
    f, args = CASES[name]
    tg.check_grads(f, *args, order=2)


@pytest.mark.parametrize("name", list(CASES))
def test_check_grads_order_1_catches_a_vjp_scaled_by_1_0001(name):
    f, args = CASES[name]
    prim = _primitive(name)
    for position in _positions(prim):
        with mutation_check.mutation(prim, position):
            with pytest.raises(tg.GradientCheckError):
                tg.check_grads(f, *args, order=1)
            with pytest.raises(tg.GradientCheckError):
                tg.check_grads(f, *args, order=1, mode="full")
    tg.check_grads(f, *args, order=1)  # restored


@pytest.mark.parametrize("mode", ["random", "full"])
@pytest.mark.parametrize("name", list(CASES))
def test_check_grads_order_2_catches_a_scaled_vjp_of_a_recorded_sweep(name, mode):
    """Mutated only in recorded sweeps: order 1 passes, order 2 must fail."""
    f, args = CASES[name]
    prim = _primitive(name)
    for position in _positions(prim):
        with mutation_check.mutation(prim, position, recorded_only=True):
            tg.check_grads(f, *args, order=1, mode=mode)
            with pytest.raises(tg.GradientCheckError):
                tg.check_grads(f, *args, order=2, mode=mode)


def test_mutation_changes_the_gradient_by_exactly_the_factor():
    """The mutation itself: d/dx eˣ becomes 1.0001 eˣ, and is restored on exit."""
    prim = _primitive("exp")
    x = np.array([0.3, -1.2])
    with mutation_check.mutation(prim, 0):
        np.testing.assert_allclose(
            tg.grad(lambda x: tg.sum(tg.exp(x)))(x), 1.0001 * np.exp(x), rtol=1e-14
        )
    np.testing.assert_allclose(tg.grad(lambda x: tg.sum(tg.exp(x)))(x), np.exp(x), rtol=1e-14)


def test_check_grads_order_2_compares_the_recorded_gradient_with_the_plain_one():
    """f = x log x: in the recorded sweep, log's VJP gets ḡ = x (from the product) and returns
    x/x = 1 (times 1.0001 mutated), a constant, so the derivative of the gradient is exact
    and only the gradient's value, u (log x + 1.0001), is wrong. Order 2 evaluates the
    gradient by plain sweeps only (finite differences) and differentiates the recorded one,
    so it does not see this unless it also compares the recorded gradient's value with the
    plain one. Recorded and plain sweeps do run different code (overwritten cotangents,
    sum_of_blocks' stored gradient), so a bug of this kind is not hypothetical."""
    prim = _primitive("log")
    x = np.array([0.5, 1.5, 2.5])
    with mutation_check.mutation(prim, 0, recorded_only=True):
        tg.check_grads(lambda x: tg.log(x) * x, x, order=1)
        with pytest.raises(tg.GradientCheckError):
            tg.check_grads(lambda x: tg.log(x) * x, x, order=2)
