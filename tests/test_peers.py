"""The same nested derivatives computed by tinygrad_nca and by peer engines (JAX, PyTorch,
HIPS autograd), compared in float64 to ~1e-10 relative.

Each case is written once, against a small "namespace" adapter (exp, log, tanh, sum,
grad, jacobian, jvp, hvp, vjp, ...); adding an engine is one adapter. Engines that are not
installed are skipped (they are not part of the test extra).
"""

import types

import numpy as np
import pytest

import tinygrad_nca as tg

RTOL, ATOL = 1e-10, 1e-12


# ============================================================================ adapters
def _tinygrad():
    return types.SimpleNamespace(
        name="tinygrad_nca",
        const=np.asarray,
        to_numpy=lambda r: np.asarray(tg.value_of(r), dtype=np.float64),
        exp=tg.exp,
        log=tg.log,
        tanh=tg.tanh,
        sum=tg.sum,
        grad=lambda f, argnums=0: tg.grad(f, argnums),
        jacobian=lambda f: tg.jacobian(f),
        jacobian_fwd=lambda f: tg.jacobian(f, mode="forward"),
        jvp=lambda f, x, v: tg.jvp(f)(x, v),
        hvp=lambda f, x, v: tg.hvp(f)(x, v),
        vjp=lambda f, x, u: tg.vjp(f, x)[1](u)[0],
    )


def _jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy

    def tangent(v, x):
        return jnp.asarray(v, dtype=jnp.float64) * jnp.ones_like(jnp.asarray(x, dtype=jnp.float64))

    return types.SimpleNamespace(
        name="jax",
        const=lambda a: jnp.asarray(a, dtype=jnp.float64),
        to_numpy=lambda r: np.asarray(r, dtype=np.float64),
        exp=jnp.exp,
        log=jnp.log,
        tanh=jnp.tanh,
        sum=jnp.sum,
        grad=lambda f, argnums=0: jax.grad(f, argnums),
        jacobian=jax.jacrev,
        jacobian_fwd=jax.jacfwd,
        jvp=lambda f, x, v: jax.jvp(f, (jnp.asarray(x, dtype=jnp.float64),), (tangent(v, x),))[1],
        hvp=lambda f, x, v: jax.jvp(
            jax.grad(f), (jnp.asarray(x, dtype=jnp.float64),), (tangent(v, x),)
        )[1],
        vjp=lambda f, x, u: jax.vjp(f, jnp.asarray(x, dtype=jnp.float64))[1](
            jnp.asarray(u, dtype=jnp.float64)
        )[0],
    )


def _torch():
    torch = pytest.importorskip("torch")
    from torch import func

    def t(x):
        return x if isinstance(x, torch.Tensor) else torch.tensor(x, dtype=torch.float64)

    def on_tensors(transform):
        return lambda f, *a, **k: lambda *args: transform(f, *a, **k)(*[t(x) for x in args])

    return types.SimpleNamespace(
        name="torch",
        const=t,
        to_numpy=lambda r: r.detach().numpy().astype(np.float64),
        exp=torch.exp,
        log=torch.log,
        tanh=torch.tanh,
        sum=torch.sum,
        grad=on_tensors(func.grad),
        jacobian=on_tensors(func.jacrev),
        jacobian_fwd=on_tensors(func.jacfwd),
        jvp=lambda f, x, v: func.jvp(f, (t(x),), (t(v) * torch.ones_like(t(x)),))[1],
        hvp=lambda f, x, v: func.jvp(func.grad(f), (t(x),), (t(v) * torch.ones_like(t(x)),))[1],
        vjp=lambda f, x, u: func.vjp(f, t(x))[1](t(u))[0],
    )


def _autograd():
    autograd = pytest.importorskip("autograd")
    anp = pytest.importorskip("autograd.numpy")
    return types.SimpleNamespace(
        name="autograd",
        const=np.asarray,
        to_numpy=lambda r: np.asarray(r, dtype=np.float64),
        exp=anp.exp,
        log=anp.log,
        tanh=anp.tanh,
        sum=anp.sum,
        grad=lambda f, argnums=0: autograd.grad(f, argnums),
        jacobian=autograd.jacobian,
        jacobian_fwd=autograd.jacobian,
        jvp=lambda f, x, v: autograd.make_jvp(f)(x)(np.asarray(v, float))[1],
        hvp=lambda f, x, v: autograd.hessian_vector_product(f)(x, np.asarray(v, float)),
        vjp=lambda f, x, u: autograd.make_vjp(f)(x)[0](u),
    )


PEERS = {"jax": _jax, "torch": _torch, "autograd": _autograd}


# ============================================================================ the cases
_r = np.random.default_rng(11)
A = _r.normal(size=(4, 4)) * 0.5
B = _r.normal(size=(3, 4)) * 0.5
X = np.array([0.3, -0.6, 0.9, 0.1])
V = np.array([1.0, -0.5, 0.25, 2.0])
U = np.array([0.5, 1.5, -1.0])
Y = np.array([0.7, -0.2, 0.4, 1.1])


def _scalar(ns, x):
    return ns.tanh(x) * ns.exp(x) + ns.log(1 + x * x)


def _field(ns, x):
    """R⁴ → R: non-separable, every op of the cases."""
    a = ns.const(A)
    return ns.sum(ns.tanh(a @ x)) + ns.sum(ns.exp(x) * x) + ns.sum(x) ** 3


def _vector(ns, x):
    """R⁴ → R³."""
    return ns.tanh(ns.const(B) @ x) * ns.sum(x * x)


def _loss(ns, w):
    """A logistic-type loss with a ridge term (not quadratic: its meta-gradient is not trivial)."""
    return ns.sum(ns.log(1 + ns.exp(ns.const(A) @ w))) + 0.5 * ns.sum(w * w)


def _unrolled(ns, eta, steps):
    w = ns.const(X)
    for _ in range(steps):
        w = w - eta * ns.grad(lambda w: _loss(ns, w))(w)
    return _loss(ns, w)


CASES = {
    "second-derivative": lambda ns: ns.grad(ns.grad(lambda x: _scalar(ns, x)))(0.7),
    "third-derivative": lambda ns: ns.grad(ns.grad(ns.grad(lambda x: _scalar(ns, x))))(0.7),
    "fourth-derivative": lambda ns: ns.grad(
        ns.grad(ns.grad(ns.grad(lambda x: ns.exp(ns.tanh(x)))))
    )(0.4),
    "hessian-reverse": lambda ns: ns.jacobian(ns.grad(lambda x: _field(ns, x)))(ns.const(X)),
    "hessian-forward": lambda ns: ns.jacobian_fwd(ns.grad(lambda x: _field(ns, x)))(ns.const(X)),
    "jacobian-of-jacobian": lambda ns: ns.jacobian(ns.jacobian(lambda x: _vector(ns, x)))(
        ns.const(X)
    ),
    "jacobian-of-jacobian-forward": lambda ns: ns.jacobian_fwd(
        ns.jacobian_fwd(lambda x: _vector(ns, x))
    )(ns.const(X)),
    "third-order-tensor-of-a-field": lambda ns: ns.jacobian(
        ns.jacobian(ns.grad(lambda x: _field(ns, x)))
    )(ns.const(X)),
    "jvp": lambda ns: ns.jvp(lambda x: _vector(ns, x), ns.const(X), ns.const(V)),
    "hvp": lambda ns: ns.hvp(lambda x: _field(ns, x), ns.const(X), ns.const(V)),
    "grad-of-hvp": lambda ns: ns.grad(
        lambda x: ns.sum(ns.hvp(lambda z: _field(ns, z), x, ns.const(V)))
    )(ns.const(X)),
    "vjp": lambda ns: ns.vjp(lambda x: _vector(ns, x), ns.const(X), ns.const(U)),
    "jacobian-of-vjp": lambda ns: ns.jacobian(
        lambda x: ns.vjp(lambda y: _vector(ns, y * x), ns.const(Y), ns.const(U))
    )(ns.const(X)),
    "meta-gradient-1-step": lambda ns: ns.grad(lambda eta: _unrolled(ns, eta, 1))(0.1),
    "meta-gradient-3-steps": lambda ns: ns.grad(lambda eta: _unrolled(ns, eta, 3))(0.1),
    "meta-hessian": lambda ns: ns.grad(ns.grad(lambda eta: _unrolled(ns, eta, 2)))(0.1),
    "closure-grad-in-grad": lambda ns: ns.grad(
        lambda x: ns.sum(ns.grad(lambda y: ns.sum(ns.tanh(x * y) * ns.exp(y)))(ns.const(Y)))
    )(ns.const(X)),
    "closure-jvp-of-grad": lambda ns: ns.jvp(
        lambda x: ns.grad(lambda y: ns.sum(ns.exp(x * y) * y))(ns.const(Y)),
        ns.const(X),
        ns.const(V),
    ),
    "closure-hvp-in-grad": lambda ns: ns.grad(
        lambda x: ns.sum(
            ns.hvp(lambda y: ns.sum(x * y**3 + ns.tanh(x * y)), ns.const(Y), ns.const(V))
        )
    )(ns.const(X)),
    "closure-three-levels": lambda ns: ns.grad(
        lambda x: ns.grad(lambda y: ns.grad(lambda z: ns.exp(x * y * z) * ns.tanh(x + z))(0.6))(
            -0.8
        )
    )(0.3),
    "perturbation-confusion": lambda ns: ns.grad(lambda x: x * ns.grad(lambda y: x + y)(1.0))(1.0),
    "perturbation-confusion-product": lambda ns: ns.grad(
        lambda x: x * ns.grad(lambda y: x * y * ns.exp(y))(2.0)
    )(1.0),
    "newton-step-derivative": lambda ns: ns.grad(
        lambda x: (
            x
            - ns.grad(lambda t: ns.exp(t) + t**4)(x)
            / ns.grad(ns.grad(lambda t: ns.exp(t) + t**4))(x)
        )
    )(0.5),
    "argnums-tuple": lambda ns: ns.grad(
        lambda x, y: ns.grad(lambda a, b: a * b * x * ns.exp(y), argnums=(0, 1))(0.5, 1.5)[1],
        argnums=(0, 1),
    )(1.2, 0.3),
}


def _run(ns, case):
    result = CASES[case](ns)
    if isinstance(result, tuple):
        return [ns.to_numpy(r) for r in result]
    return ns.to_numpy(result)


@pytest.mark.parametrize("peer", list(PEERS))
@pytest.mark.parametrize("case", list(CASES))
def test_agrees_with_peer(case, peer):
    expected = _run(PEERS[peer](), case)
    result = _run(_tinygrad(), case)
    np.testing.assert_allclose(
        result, expected, rtol=RTOL, atol=ATOL, err_msg=f"tinygrad_nca against {peer} on {case}"
    )


@pytest.mark.parametrize("peer", list(PEERS))
def test_peer_adapter_is_sound(peer):
    """The adapter itself against a closed form (so a disagreement above is tinygrad_nca's):
    d²/dx² (x e^x) = (x + 2) e^x, and the Hessian of ½ xᵀAx is (A + Aᵀ)/2."""
    ns = PEERS[peer]()
    np.testing.assert_allclose(
        ns.to_numpy(ns.grad(ns.grad(lambda x: x * ns.exp(x)))(0.3)), 2.3 * np.exp(0.3), rtol=RTOL
    )
    H = ns.jacobian(ns.grad(lambda x: 0.5 * ns.sum(x * (ns.const(A) @ x))))(ns.const(X))
    np.testing.assert_allclose(ns.to_numpy(H), (A + A.T) / 2, rtol=RTOL, atol=ATOL)
