"""Tests of tinygrad_nca.optim: SciPy-driven minimize, SGD with momentum, Adam."""

import subprocess
import sys

import numpy as np
import pytest

import tinygrad_nca as tg
from tinygrad_nca import optim


def rosenbrock(params, a=1.0, b=100.0):
    """Rosenbrock's function with x and y in two separate parameter arrays."""
    x, y = params
    return tg.sum((a - x) ** 2 + b * (y - x**2) ** 2)


def test_import_optim_imports_numpy_only():
    code = (
        "import sys, tinygrad_nca.optim; "
        "print(any(m.split('.')[0] in ('scipy', 'sklearn', 'matplotlib') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_rosenbrock_in_two_arrays():
    x0 = (np.array([-1.2, 0.5]), np.array([1.0, -0.3]))
    res = optim.minimize(rosenbrock, x0, max_iter=500, tol=1e-10)
    assert res.success, res.message
    assert isinstance(res.x, tuple) and [p.shape for p in res.x] == [(2,), (2,)]
    np.testing.assert_allclose(res.x[0], 1.0, atol=1e-5)
    np.testing.assert_allclose(res.x[1], 1.0, atol=1e-5)
    assert res.fun < 1e-10
    # loss_curve: the value at x0, then one per iteration, ending at the optimum.
    assert len(res.loss_curve) == res.nit + 1
    assert res.loss_curve[0] == pytest.approx(float(rosenbrock(x0)))
    assert res.loss_curve[-1] == pytest.approx(res.fun, abs=1e-12)


def test_quadratic_matches_linear_solve():
    rng = np.random.default_rng(0)
    M = rng.normal(size=(5, 5))
    H = M @ M.T + 5 * np.eye(5)  # symmetric positive definite
    b = rng.normal(size=(5, 1))
    res = optim.minimize(
        lambda w, H, b: 0.5 * tg.sum(w * (H @ w)) - tg.sum(b * w),
        np.zeros((5, 1)),
        args=(H, b),
        tol=1e-10,
    )
    np.testing.assert_allclose(res.x, np.linalg.solve(H, b), rtol=1e-6, atol=1e-8)
    assert res.x.shape == (5, 1)


def test_keeps_float32_for_evaluation():
    seen = []

    def f(w):
        seen.append(w.dtype)
        return tg.sum((w - 1.5) ** 2)

    res = optim.minimize(f, np.zeros(3, dtype=np.float32))
    assert set(seen) == {np.dtype(np.float32)}
    assert res.x.dtype == np.float32
    np.testing.assert_allclose(res.x, 1.5, atol=1e-4)


def test_callback_each_iteration_and_early_stop():
    calls = []

    def callback(params, n_iter):
        calls.append(n_iter)
        assert isinstance(params, tuple)
        return n_iter == 3

    res = optim.minimize(rosenbrock, (np.array([-1.2]), np.array([1.0])), callback=callback)
    assert calls == [1, 2, 3]
    assert res.nit == 3 and not res.success and "callback" in res.message
    assert len(res.loss_curve) == 4


def test_verbose_prints_table(capsys):
    optim.minimize(lambda w: tg.sum(w**2), np.ones(2), verbose=1)
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["iter", "objective", "seconds"]
    assert len(out) >= 3


def test_other_scipy_method():
    res = optim.minimize(lambda w: tg.sum((w - 2.0) ** 2), np.zeros(4), method="BFGS")
    np.testing.assert_allclose(res.x, 2.0, atol=1e-5)


def test_bad_inputs_have_clear_errors():
    with pytest.raises(ValueError, match="NaN"):
        optim.minimize(lambda w: tg.sum(w**2), np.array([np.nan, 1.0]))
    with pytest.raises(ValueError, match="not finite"), np.errstate(invalid="ignore"):
        optim.minimize(lambda w: tg.sum(tg.log(w)), np.array([-1.0, 1.0]))
    with pytest.raises(ValueError, match="scalar"):
        optim.minimize(lambda w: w * 2, np.ones(3))
    with pytest.raises(TypeError, match="dtype"):
        optim.minimize(lambda w: tg.sum(w), np.array(["a"]))


@pytest.mark.parametrize(
    "run",
    [
        lambda f, x0, **kw: optim.sgd(f, x0, lr=0.01, momentum=0.9, **kw),
        lambda f, x0, **kw: optim.adam(f, x0, lr=0.05, **kw),
    ],
)
def test_first_order_methods_on_a_quadratic(run):
    rng = np.random.default_rng(1)
    M = rng.normal(size=(4, 4))
    H = M @ M.T + np.eye(4)
    b = rng.normal(size=4)
    f = lambda w: 0.5 * tg.sum(w * (H @ w)) - tg.sum(b * w)
    res = run(f, np.zeros(4), n_steps=500)
    np.testing.assert_allclose(res.x, np.linalg.solve(H, b), atol=1e-3)
    assert res.nit == 500 and len(res.loss_curve) == 500
    assert res.loss_curve[-1] < res.loss_curve[0]


def test_sgd_without_momentum_is_plain_gradient_descent():
    # One step from w0 on f = ½|w|²: w1 = w0 − η w0.
    res = optim.sgd(
        lambda w: 0.5 * tg.sum(w**2), np.array([2.0, -4.0]), lr=0.25, momentum=0.0, n_steps=1
    )
    np.testing.assert_allclose(res.x, [1.5, -3.0])


def test_adam_first_step_has_size_lr():
    # After bias correction the first Adam step is η · sign(g) (up to ε).
    res = optim.adam(lambda w: tg.sum(w * np.array([3.0, -0.01])), np.zeros(2), lr=0.1, n_steps=1)
    np.testing.assert_allclose(res.x, [-0.1, 0.1], rtol=1e-5)


def test_mini_batches_callback_and_progress():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 3))
    w_true = np.array([1.0, -2.0, 0.5])
    y = X @ w_true
    batches = [(X[i : i + 20], y[i : i + 20]) for i in range(0, 60, 20)]
    seen, logged = [], []

    def loss(params, Xb, yb):
        w, c = params
        seen.append(len(Xb))
        return tg.mean((Xb @ w + c - yb) ** 2)

    res = optim.adam(
        loss,
        (np.zeros(3), np.zeros(1)),
        lr=0.05,
        n_steps=800,
        batches=batches,
        progress=lambda step, n, value: logged.append((step, n)),
        callback=lambda params, step: step >= 600,
    )
    assert res.nit == 600 and res.message == "stopped by callback"
    assert logged[0] == (1, 800) and logged[-1] == (600, 800)
    assert set(seen) == {20}
    np.testing.assert_allclose(res.x[0], w_true, atol=1e-3)
    np.testing.assert_allclose(res.x[1], 0.0, atol=1e-3)


def test_divergence_is_reported():
    with np.errstate(over="ignore", invalid="ignore"):
        res = optim.sgd(lambda w: tg.sum(w**4), np.array([10.0]), lr=1.0, momentum=0.0, n_steps=50)
    assert not res.success and "learning rate" in res.message


# ------------------------------------------------------------------ bad arguments, reuse, stops
def quadratic(w):
    return tg.sum((w - 1.0) ** 2)


def test_empty_batches_is_a_clear_error():
    with pytest.raises(ValueError, match="batches is empty"):
        optim.descend(lambda w, X: tg.sum(w**2), np.ones(2), optim.SGD(), n_steps=3, batches=[])
    with pytest.raises(ValueError, match="batches must be a sequence"):
        optim.descend(
            lambda w, X: tg.sum(w**2),
            np.ones(2),
            optim.SGD(),
            n_steps=3,
            batches=((np.ones(1),) for _ in range(3)),
        )


@pytest.mark.parametrize("n_steps", [2.7, 3.0, True, "3", None])
def test_non_integer_n_steps_is_an_error(n_steps):
    with pytest.raises(ValueError, match="n_steps must be an integer"):
        optim.descend(quadratic, np.zeros(2), optim.SGD(), n_steps=n_steps)


def test_numpy_integer_n_steps_is_accepted():
    res = optim.descend(quadratic, np.zeros(2), optim.SGD(), n_steps=np.int64(3))
    assert res.nit == 3


@pytest.mark.parametrize("make", [lambda: optim.SGD(lr=0.1), lambda: optim.Adam(lr=0.1)])
def test_a_rule_reused_by_descend_starts_afresh(make):
    """A second run with the same object gives exactly what a new object gives, even after
    a run on parameters of another shape (which used to fail with a broadcast error)."""
    used = make()
    optim.descend(lambda w: tg.sum((w - 5.0) ** 2), np.zeros(3), used, n_steps=7)
    optim.descend(quadratic, np.zeros(2), used, n_steps=4)
    again = optim.descend(quadratic, np.zeros(2), used, n_steps=4)
    fresh = optim.descend(quadratic, np.zeros(2), make(), n_steps=4)
    np.testing.assert_array_equal(again.x, fresh.x)
    np.testing.assert_array_equal(again.loss_curve, fresh.loss_curve)


@pytest.mark.parametrize("rule", [optim.SGD(lr=0.1), optim.Adam(lr=0.1)])
def test_step_by_hand_on_new_shapes_names_the_problem(rule):
    rule.step([np.zeros(2)], [np.ones(2)])
    with pytest.raises(ValueError, match=r"shapes \[\(3,\)\].*reset\(\)"):
        rule.step([np.zeros(3)], [np.ones(3)])
    rule.reset()
    rule.step([np.zeros(3)], [np.ones(3)])  # fine after reset
    with pytest.raises(ValueError, match="gradients have shapes"):
        rule.step([np.zeros(3)], [np.ones((3, 1))])  # would broadcast to (3, 3) silently


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: optim.SGD(lr=np.nan), "lr must be a finite"),
        (lambda: optim.SGD(lr=-0.1), r"lr must be in \(0"),
        (lambda: optim.SGD(lr="0.1"), "lr must be a finite"),
        (lambda: optim.SGD(momentum=1.0), r"momentum must be in \[0"),
        (lambda: optim.Adam(beta1=1.0), r"beta1 must be in \[0"),
        (lambda: optim.Adam(beta2=-0.5), r"beta2 must be in \[0"),
        (lambda: optim.Adam(eps=0.0), r"eps must be in \(0"),
    ],
)
def test_rule_hyperparameters_are_checked(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_zero_gradient_with_adam_stays_finite():
    # The reason eps must be > 0: a zero gradient gives m̂ = ŝ = 0, and 0 / (0 + eps) = 0.
    new = optim.Adam(lr=0.1).step([np.ones(2)], [np.zeros(2)])
    np.testing.assert_array_equal(new[0], np.ones(2))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(max_iter=2.5), "max_iter must be an integer"),
        (dict(max_iter=0), "max_iter must be an integer >= 1"),
        (dict(max_iter=True), "max_iter must be an integer"),
        (dict(tol=-1.0), r"tol must be in \[0"),
        (dict(tol=np.nan), "tol must be a finite"),
        (dict(tol="a"), "tol must be a finite"),
        (dict(callback=3), "callback must be a callable"),
        (dict(args=np.ones((3, 2))), r"args must be a tuple.*args=\(X,\)"),
    ],
)
def test_minimize_arguments_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        optim.minimize(quadratic, np.zeros(2), **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(args=np.ones(2)), "args must be a tuple"),
        (dict(callback="stop"), "callback must be a callable"),
        (dict(progress=1), "progress must be a callable"),
        (dict(batches="ab"), "batches must be a sequence"),
    ],
)
def test_descend_arguments_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        optim.descend(quadratic, np.zeros(2), optim.SGD(), n_steps=2, **kwargs)


def test_results_say_whether_the_callback_stopped_them():
    stop_at_2 = lambda params, n: n == 2
    res = optim.minimize(quadratic, np.zeros(2), callback=stop_at_2)
    assert res.stopped_by_callback and not res.success and res.nit == 2
    res = optim.minimize(quadratic, np.zeros(2))
    assert not res.stopped_by_callback and res.success
    res = optim.sgd(quadratic, np.zeros(2), n_steps=5, callback=stop_at_2)
    assert res.stopped_by_callback and res.nit == 2
    assert not optim.sgd(quadratic, np.zeros(2), n_steps=5).stopped_by_callback


def test_minimize_callback_may_raise_stop_iteration():
    def callback(params, n):
        if n == 3:
            raise StopIteration

    res = optim.minimize(rosenbrock, (np.array([-1.2]), np.array([1.0])), callback=callback)
    assert res.nit == 3 and res.stopped_by_callback and res.message == "stopped by callback"


@pytest.mark.parametrize(
    "batches", [[np.ones((4, 2)), np.ones((4, 2))], lambda step: np.ones((4, 2))]
)
def test_a_batch_that_is_not_a_tuple_is_named(batches):
    # tuple(X) used to hand fun one argument per row of X: a TypeError from inside fun
    with pytest.raises(ValueError, match=r"must be a tuple of arguments of fun.*\(X,\)"):
        optim.descend(
            lambda w, X: tg.sum((X @ w) ** 2), np.ones(2), optim.SGD(), n_steps=2, batches=batches
        )


def test_minimize_method_must_be_a_name():
    with pytest.raises(ValueError, match="method must be the name"):
        optim.minimize(quadratic, np.zeros(2), method=None)


def test_minimize_with_trust_constr():
    # SciPy calls trust-constr's callback with two arguments (it failed with a TypeError)
    res = optim.minimize(quadratic, np.zeros(2), method="trust-constr", tol=1e-8)
    np.testing.assert_allclose(res.x, 1.0, atol=1e-6)
    assert len(res.loss_curve) == res.nit + 1


def test_descend_callback_may_raise_stop_iteration():
    def callback(params, step):
        if step == 3:
            raise StopIteration

    res = optim.sgd(quadratic, np.zeros(2), n_steps=10, callback=callback)
    assert res.nit == 3 and res.stopped_by_callback and res.success


def test_a_non_finite_gradient_stops_with_finite_parameters():
    # |w| written as sqrt(w²): the loss is finite at w = 0, its engine gradient 0 · ∞ = NaN.
    # Gradient descent lands on 0 exactly at step 2 (0.5 − 0.5 · 1); it used to carry on
    # with NaN parameters and blame the learning rate.
    with np.errstate(divide="ignore", invalid="ignore"):
        res = optim.sgd(
            lambda w: tg.sum(tg.sqrt(w**2)), np.array([1.0, 0.5]), lr=0.5, momentum=0.0, n_steps=5
        )
    assert not res.success and "gradient has NaN or inf at step 2" in res.message
    assert np.all(np.isfinite(res.x)) and res.x[1] == 0.0


def test_a_non_finite_loss_at_x0_is_not_blamed_on_the_learning_rate():
    with np.errstate(invalid="ignore"):
        res = optim.sgd(lambda w: tg.sum(tg.log(w)), np.array([-1.0]), n_steps=3)
    assert not res.success and "at x0" in res.message and res.nit == 0


def test_jac_true_takes_the_gradient_fun_returns():
    """fun returning (value, gradient), as SciPy's jac=True: the same minimum as the engine
    differentiating the same function, and the gradient given is the one used."""
    M = np.array([[3.0, 1.0], [1.0, 2.0]])
    b = np.array([1.0, -1.0])

    def value_and_gradient(p):  # ½ pᵀMp − bᵀp, gradient by hand: Mp − b
        return 0.5 * p @ M @ p - b @ p, M @ p - b

    given = optim.minimize(value_and_gradient, np.zeros(2), jac=True, tol=1e-10)
    engine = optim.minimize(lambda p: 0.5 * tg.sum(p * (M @ p)) - tg.sum(b * p), np.zeros(2))
    np.testing.assert_allclose(given.x, np.linalg.solve(M, b), atol=1e-8)
    np.testing.assert_allclose(given.x, engine.x, atol=1e-6)
    # a wrong gradient is followed, not recomputed: the answer moves
    wrong = optim.minimize(lambda p: (value_and_gradient(p)[0], M @ p), np.zeros(2), jac=True)
    assert np.abs(wrong.x - given.x).max() > 0.1
