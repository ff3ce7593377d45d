"""tg.jit: a traced program replays what the engine computes, or refuses to.

Replays are compared with eager calls on *other* arguments than the ones traced
(a program that froze a value of the first call would fail there), bit for bit
wherever the same NumPy calls run.
"""

from __future__ import annotations

import concurrent.futures
import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygrad_nca as tg
from tinygrad_nca.jit import ConcretizationError, NotTraceableError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_ops_systematic import ROWS, inputs  # noqa: E402


def nca_problem(n, D=6, d=2, classes=3, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, D)).astype(dtype)
    y = rng.integers(0, classes, n)
    A = (0.5 * rng.standard_normal((d, D))).astype(dtype)
    return A, X, y


def assert_same(a, b):
    """Equal results: same structure, dtypes, shapes and bits."""
    if isinstance(a, (tuple, list)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, z in zip(a, b, strict=True):
            assert_same(x, z)
        return
    a, b = np.asarray(tg.value_of(a)), np.asarray(tg.value_of(b))
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ NCA
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("objective", ["expected", "log"])
@pytest.mark.parametrize("n, block_size", [(5, None), (32, None), (90, None), (90, 16)])
def test_nca_loss_and_gradient_replay_equals_eager(n, block_size, objective, dtype):
    def loss(A, X, y):
        return tg.nca_loss(A, X, y, objective=objective, block_size=block_size)

    eager = tg.value_and_grad(loss)
    jitted = tg.jit(eager, static_argnums=2)
    A, X, y = nca_problem(n, dtype=dtype)
    assert_same(jitted(A, X, y), eager(A, X, y))
    for seed in (1, 2):  # other A and X, the same labels: replayed, not traced
        A2, X2, _ = nca_problem(n, seed=seed, dtype=dtype)
        assert_same(jitted(A2, X2, y), eager(A2, X2, y))
    assert jitted.traces == 1


def test_nca_program_is_folded_pruned_and_reuses_buffers():
    A, X, y = nca_problem(40)
    program = tg.jit(tg.value_and_grad(tg.nca_loss), static_argnums=2).program(A, X, y)
    counts = program.counts
    assert counts["folded"] > 0  # the cotangent of Σ p·same is a constant
    assert counts["steps"] == (
        counts["recorded"] - counts["folded"] - counts["merged"] - counts["dead"]
    )
    assert counts["out="] > 0
    text = repr(program)
    assert f"{counts['recorded']} primitive calls recorded" in text
    assert "s2 = transpose(s0" in text and "matmul(" in text and "softmax_mass(" in text
    assert (
        len([line for line in text.splitlines() if " = " in line and line.startswith("s")])
        == counts["steps"]
    )


def test_the_gradient_alone_drops_the_dead_forward_value():
    A, X, y = nca_problem(20)
    program = tg.jit(tg.grad(lambda A, X: tg.sum(tg.exp(X @ A.T)) + tg.sum(A * A))).program(A, X)
    assert program.counts["dead"] > 0


def test_sum_of_blocks_with_an_executor_is_refused_under_jit():
    A, X, y = nca_problem(30)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        f = tg.jit(lambda A, X: tg.nca_loss(A, X, y, block_size=10, executor=pool))
        with pytest.raises(ValueError, match="executor"):
            f(A, X)


def test_n_jobs_blocks_are_traced_in_the_calling_thread():
    A, X, y = nca_problem(60)
    eager = tg.value_and_grad(lambda A, X: tg.nca_loss(A, X, y, block_size=16, n_jobs=2))
    jitted = tg.jit(eager)
    assert_same(jitted(A, X), eager(A, X))
    A2 = A + 0.1
    assert_same(jitted(A2, X), eager(A2, X))


# ------------------------------------------------------------------ the op table
SAMPLE = [
    row
    for i, row in enumerate(ROWS)
    if i % 2 == 0 or row.id in ("abs", "clip", "sort", "max", "maximum", "mod", "where", "power")
]


@pytest.mark.parametrize("row", SAMPLE, ids=[r.id for r in SAMPLE])
def test_op_table_rows_replay_their_value_and_gradient(row):
    for shapes in row.shapes[:3]:
        xs = inputs(row, shapes, np.float64)
        out = row.reference(*xs) if row.reference else row.fn(np, *xs)
        weights = np.random.default_rng(1).standard_normal(np.shape(out))
        f = lambda *xs: tg.sum(row.fn(tg, *xs) * weights)  # noqa: E731
        eager = tg.value_and_grad(f, argnums=tuple(range(len(xs))))
        jitted = tg.jit(eager)
        for seed in (0, 3, 4):
            xs = inputs(row, shapes, np.float64, seed)
            if row.name == "cumprod":  # under jit its VJP takes the rule valid with zeros
                got, want = jitted(*xs), eager(*xs)
                np.testing.assert_allclose(got[0], want[0], rtol=1e-13)
                for a, b in zip(got[1], want[1], strict=True):
                    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
            else:
                assert_same(jitted(*xs), eager(*xs))


def test_masks_read_off_values_are_recorded_not_frozen():
    # each of these VJPs reads a mask or a sign off its input's values
    cases = [
        lambda x: tg.sum(tg.abs(x)),
        lambda x: tg.sum(tg.clip(x, -0.5, 0.5)),
        lambda x: tg.sum(tg.maximum(x, 0.0)),
        lambda x: tg.max(x),
        lambda x: tg.sum(tg.sort(x) * np.arange(4.0)),
        lambda x: tg.sum(tg.where(x > 0, x, 2 * x)),
        lambda x: tg.sum(tg.mod(3.0, x)),
    ]
    first, second = np.array([0.3, -1.2, 0.7, 2.0]), np.array([-0.9, 0.4, -0.1, 1.5])
    for f in cases:
        jitted = tg.jit(tg.grad(f))
        jitted(first)
        assert_same(jitted(second), tg.grad(f)(second))


# ------------------------------------------------------------------ nesting
def test_second_derivative_replays():
    f = lambda x: tg.sum(tg.sin(x) * x**3)  # noqa: E731
    eager = tg.grad(lambda x: tg.sum(tg.grad(f)(x) * np.array([1.0, 2.0, 3.0])))
    jitted = tg.jit(eager)
    for x in (np.array([0.1, 0.5, -2.0]), np.array([1.5, -0.3, 0.2])):
        assert_same(jitted(x), eager(x))


def test_grad_of_grad_replays():
    def f(x):
        return tg.sum(tg.exp(x) * tg.tanh(x))

    eager = tg.grad(lambda x: tg.sum(tg.grad(f)(x)))
    jitted = tg.jit(tg.grad(lambda x: tg.sum(tg.grad(f)(x))))
    for x in (np.linspace(-1, 1, 5), np.linspace(0, 3, 5)):
        assert_same(jitted(x), eager(x))


def test_an_inner_grad_closing_over_the_outer_variable():
    eager = tg.grad(lambda x: x * tg.grad(lambda y: x * y * y)(2.0))  # d/dx 4x² = 8x
    jitted = tg.jit(eager)
    for x in (1.0, -3.0):
        assert_same(jitted(np.array(x)), eager(np.array(x)))
    np.testing.assert_allclose(jitted(np.array(-3.0)), -24.0)


def test_jit_inside_jit_is_inlined():
    inner = tg.jit(lambda x: tg.exp(x) * 2.0)
    outer = tg.jit(tg.grad(lambda x: tg.sum(inner(x))))
    x = np.array([0.0, 1.0])
    assert_same(outer(x), 2 * np.exp(x))
    assert_same(outer(x + 1), 2 * np.exp(x + 1))


def test_differentiating_a_jitted_function_is_a_clear_error():
    f = tg.jit(lambda x: tg.sum(x * x))
    with pytest.raises(TypeError, match="outside the transform"):
        tg.grad(f)(np.ones(2))


# ------------------------------------------------------------------ keys
def test_a_new_shape_or_dtype_traces_a_new_program():
    f = tg.jit(tg.value_and_grad(lambda x: tg.sum(tg.exp(x))))
    f(np.ones(3))
    f(np.zeros(3))
    assert f.traces == 1
    value, grad = f(np.ones(4))
    assert f.traces == 2 and grad.shape == (4,)
    value, grad = f(np.ones(4, dtype=np.float32))
    assert f.traces == 3 and grad.dtype == np.float32
    assert_same(f(np.ones(3)), tg.value_and_grad(lambda x: tg.sum(tg.exp(x)))(np.ones(3)))
    assert f.traces == 3


def test_static_arguments_are_part_of_the_key():
    def f(x, power, mask):
        return tg.sum(x**power, where=mask)

    jitted = tg.jit(tg.grad(f), static_argnums=2)
    x = np.array([1.0, 2.0, 3.0])
    mask = np.array([True, False, True])
    assert_same(jitted(x, 2, mask), tg.grad(f)(x, 2, mask))
    assert_same(jitted(x, 3, mask), tg.grad(f)(x, 3, mask))  # a number: static
    other = np.array([False, True, True])
    assert_same(jitted(x, 3, other), tg.grad(f)(x, 3, other))  # other bytes: retraced
    assert jitted.traces == 3
    jitted(x + 1, 3, other.copy())  # same bytes: replayed
    assert jitted.traces == 3


def test_unhashable_static_argument_is_a_clear_error():
    with pytest.raises(TypeError, match="not hashable"):
        tg.jit(lambda x, s: x)(np.ones(1), {1, 2}.__class__ and [set()])


# ------------------------------------------------------------------ safety
_bad_abs = tg.Primitive(np.abs, name="bad_abs")
_bad_abs.defvjp(lambda g, ans, x: g * np.sign(x.value))  # a sign computed outside the engine


def test_the_probe_refuses_a_vjp_computing_outside_the_engine():
    f = tg.grad(lambda x: tg.sum(_bad_abs(x)))
    x = np.array([1.0, -2.0, 3.0])
    assert_same(f(x), np.array([1.0, -1.0, 1.0]))  # eagerly right
    with pytest.raises(NotTraceableError, match=r"bad_abs|multiply.*depends on the input"):
        tg.jit(f)(x)


def test_the_probe_refuses_python_control_flow_on_values():
    def f(x):
        if tg.value_of(x).sum() > 0:  # not interceptable: the probe sees it
            return tg.sum(x * x)
        return tg.sum(tg.exp(x))

    with pytest.raises(NotTraceableError, match="different operations"):
        tg.jit(tg.grad(f))(np.array([1.0, 2.0]))


@pytest.mark.parametrize("convert", [float, bool, lambda t: t.item()])
def test_a_traced_value_turned_into_a_python_value_is_a_concretization_error(convert):
    def f(x):
        return x * 2 if convert(tg.sum(x)) else x

    with pytest.raises(ConcretizationError, match="static"):
        tg.jit(f)(np.ones(2))


def test_python_values_of_constants_are_fine_while_tracing():
    scale = tg.Tensor(3.0)
    f = tg.jit(lambda x: tg.multiply(x, float(scale)))
    assert_same(f(np.ones(2)), np.full(2, 3.0))


def test_an_array_changed_in_place_outside_the_engine_is_refused():
    def f(x):
        y = tg.exp(x)
        y.value[0] = 0.0  # invisible to the recorder
        return tg.sum(y)

    with pytest.raises(NotTraceableError, match="in place"):
        tg.jit(f)(np.ones(3))


def test_integers_given_as_traced_arguments_are_permuted_by_the_probe():
    f = tg.jit(lambda x, i: tg.sum(tg.take_along_axis(x, i, axis=0)))
    x = np.array([1.0, 10.0, 100.0])
    assert float(f(x, np.array([0, 0, 2]))) == 102.0
    assert float(f(x, np.array([1, 2, 2]))) == 210.0
    assert f.traces == 1


# ------------------------------------------------------------------ the memory plan
def test_many_replays_give_the_same_results_and_never_share_buffers():
    A, X, y = nca_problem(50)
    eager = tg.value_and_grad(lambda A, X: tg.nca_loss(A, X, y, block_size=20))
    jitted = tg.jit(eager)
    assert jitted.program(A, X).counts["out="] > 0
    rng = np.random.default_rng(5)
    points = [A + 0.1 * rng.standard_normal(A.shape) for _ in range(20)]
    results = [jitted(a, X) for a in points]
    for a, result in zip(points, results, strict=True):  # earlier results not overwritten later
        assert_same(result, eager(a, X))
    assert len({id(r[1]) for r in results}) == len(results)


def test_the_softmax_vjp_overwrites_its_dead_cotangent():
    f = tg.jit(tg.grad(lambda x, w: tg.sum(tg.softmax(x * 2.0, axis=1) * w)))
    x = np.random.default_rng(0).standard_normal((4, 5))
    w = np.random.default_rng(1).standard_normal((4, 5))
    program = f.program(x, w)
    assert program.counts["overwrite"] == 1, program
    for scale in (1.0, -2.0, 0.5):
        assert_same(
            f(scale * x, w),
            tg.grad(lambda x, w: tg.sum(tg.softmax(x * 2.0, axis=1) * w))(scale * x, w),
        )


def test_inputs_and_outputs_are_never_written_into():
    f = tg.jit(lambda x: (tg.exp(x), tg.exp(x) * 2.0 + 1.0))
    x = np.array([0.0, 1.0])
    kept = x.copy()
    first = f(x)
    second = f(x)
    np.testing.assert_array_equal(x, kept)
    assert first[0] is not second[0]
    assert_same(first, second)


# ------------------------------------------------------------------ the models use it
def labelled_data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.standard_normal((n, 4)) + y[:, None] * np.array([1.5, 0.0, -1.0, 0.0])
    return X, y


@pytest.mark.parametrize("objective", ["expected", "log"])
def test_nca_lbfgs_fit_with_jit_equals_the_eager_fit(objective):
    X, y = labelled_data()
    fits = [
        tg.NCA(2, objective=objective, max_iter=30, random_state=0, jit=jit).fit(X, y)
        for jit in (True, False)
    ]
    np.testing.assert_array_equal(fits[0].components_, fits[1].components_)
    np.testing.assert_array_equal(fits[0].loss_curve_, fits[1].loss_curve_)
    assert fits[0].n_iter_ == fits[1].n_iter_


@pytest.mark.filterwarnings("ignore:.*did not converge")
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_nca_mini_batch_fit_with_jit_equals_the_eager_fit(solver, monkeypatch):
    import tinygrad_nca.nca.estimator as estimator

    made = []

    def spy(*args, **kwargs):
        made.append(estimator_replayed(*args, **kwargs))
        return made[-1]

    estimator_replayed = estimator.replayed_objective
    monkeypatch.setattr(estimator, "replayed_objective", spy)
    X, y = labelled_data(90)
    fits = [
        tg.NCA(2, solver=solver, batch_size=20, max_iter=4, random_state=0, jit=jit, tol=0.0).fit(
            X, y
        )
        for jit in (True, False)
    ]
    np.testing.assert_allclose(fits[0].components_, fits[1].components_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fits[0].loss_curve_, fits[1].loss_curve_, rtol=1e-10)
    sizes = {len(b) for b in tg.stratified_batches(y, 20, 0)}
    assert len(made) == 1 and 1 <= made[0].step.traces <= len(sizes) + 1
    assert made[0].step.traces < 4 * 5  # far fewer traces than steps: labels traced


@pytest.mark.parametrize("tied", [True, False])
def test_autoencoder_fit_with_jit_equals_the_eager_fit(tied):
    X = np.random.default_rng(0).standard_normal((40, 5))
    fits = [
        tg.LinearAutoencoder(2, tied=tied, max_iter=50, random_state=0, jit=jit).fit(X)
        for jit in (True, False)
    ]
    np.testing.assert_array_equal(fits[0].components_, fits[1].components_)
    assert fits[0].loss_curve_ == fits[1].loss_curve_


def test_reduction_layer_fit_with_jit_equals_the_eager_fit():
    from tinygrad_nca.exercises import nca_classifier_loss

    X, y = labelled_data(40)
    fits = [
        tg.LinearReduction(2, nca_classifier_loss, max_iter=20, random_state=0, jit=jit).fit(X, y)
        for jit in (True, False)
    ]
    np.testing.assert_allclose(fits[0].components_, fits[1].components_, rtol=1e-10)


def test_reduction_layer_with_an_untraceable_loss_falls_back_with_a_warning():
    X, y = labelled_data(30)

    def loss(Z, y):  # a sign read off the values with NumPy
        return tg.sum(Z * np.sign(tg.value_of(Z))) + 0.5 * tg.sum(Z * Z)

    with pytest.warns(RuntimeWarning, match="cannot be jitted"):
        fitted = tg.LinearReduction(1, loss, max_iter=10, random_state=0).fit(X, y)
    eager = tg.LinearReduction(1, loss, max_iter=10, random_state=0, jit=False).fit(X, y)
    np.testing.assert_array_equal(fitted.components_, eager.components_)


def test_the_programs_used_last_are_kept_and_older_ones_traced_again(monkeypatch):
    monkeypatch.setattr(importlib.import_module("tinygrad_nca.jit"), "MAX_PROGRAMS", 3)
    f = tg.jit(lambda x: tg.exp(x))
    for n in (1, 2, 3, 1, 4):  # 1 used again before 4 arrives: 2 is the one dropped
        np.testing.assert_allclose(f(np.zeros(n)).value, np.ones(n))
    assert f.traces == 4 and len(f.programs) == 3
    f(np.zeros(1))
    assert f.traces == 4  # kept
    f(np.zeros(2))
    assert f.traces == 5 and len(f.programs) == 3  # dropped, traced again


def test_fits_on_data_met_before_replay_the_program_an_earlier_fit_traced():
    from tinygrad_nca.nca.estimator import _replayed_nca

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), np.repeat([0, 1], 20)
    first = tg.NeighborhoodComponentsAnalysis(n_components=2, random_state=0).fit(X, y)
    step = _replayed_nca("expected", first._block_size(40, 2, 8)).step
    traces = step.traces
    second = tg.NeighborhoodComponentsAnalysis(n_components=2, random_state=0, tol=1e-3)
    second.fit(X, y)
    assert step.traces == traces  # no new trace
    eager = tg.NeighborhoodComponentsAnalysis(n_components=2, random_state=0, jit=False)
    np.testing.assert_allclose(first.components_, eager.fit(X, y).components_, atol=1e-8)
    y_other = np.tile([0, 1], 20)  # other labels: other masks, a new program
    tg.NeighborhoodComponentsAnalysis(n_components=2, random_state=0).fit(X, y_other)
    assert step.traces == traces + 1


def test_repeated_calls_are_merged_and_views_of_them_stay_safe():
    def f(x):
        a, b = tg.exp(x), tg.exp(x)  # the same call twice: one is dropped
        view = b[1:3]  # a view of the dropped result, so now of the kept one
        doubled = a * 2.0  # a ufunc step where a may die: it must not overwrite the view
        return tg.sum(doubled) + tg.sum(view * view)

    x = np.linspace(-1.0, 1.0, 5)
    jitted = tg.jit(f)
    program = jitted.program(x)
    assert program.counts["merged"] == 1
    assert program.source.count("exp(") == 1
    for values in (x, -2 * x, x + 0.5):
        np.testing.assert_array_equal(jitted(values).value, f(values).value)
    g = tg.jit(tg.grad(f))  # and the gradient: the VJP of view * view repeats a product too
    for values in (x, -2 * x):
        np.testing.assert_allclose(g(values), tg.grad(f)(values), rtol=1e-15)
