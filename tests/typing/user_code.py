"""Ordinary user code, type-checked by tests/test_typing.py: mypy must accept all of it.

Not a test module (pytest does not collect it: no test_ prefix) and never run, only
checked. Each line is something a user writes; reveal nothing, assert types with
annotations, so that a wrong declaration in the package makes mypy fail here.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline

import tinygrad_nca as tg
from tinygrad_nca import NeighborhoodComponentsAnalysis, testing

x = tg.Tensor(np.ones(3), requires_grad=True)
m = tg.Tensor(np.ones((2, 3)))

# arithmetic with Python numbers, arrays and tensors on either side
a: tg.Tensor = x * 2.0
b: tg.Tensor = 2.0 * x
c: tg.Tensor = x + np.ones(3)
c2: tg.Tensor = np.ones(3) + x  # NumPy defers to the Tensor; its stubs are told so too
c3: tg.Tensor = np.ones((2, 3)) @ x
d: tg.Tensor = x - 1
e: tg.Tensor = 1 - x
f: tg.Tensor = x / 3
g: tg.Tensor = 3 / x
h: tg.Tensor = x**2 + 2**x
i: tg.Tensor = -x + abs(x) + x % 2.0
j: tg.Tensor = m @ x
k: tg.Tensor = x @ m.T
mask = x > 0.5
masked: tg.Tensor = tg.where(mask, x, 0.0)
row: tg.Tensor = m[0]
mat: tg.Tensor = x.reshape(3, 1) @ x.reshape((1, 3))

# methods as ndarray has them
total: tg.Tensor = (x * x).sum()
means: tg.Tensor = m.mean(axis=0, keepdims=True)
reshaped: tg.Tensor = m.reshape(3, 2).transpose(1, 0).mT
index = m.argmax(axis=1)
shape: tuple[int, ...] = m.shape
as_float: float = float(total)
value: np.ndarray = total.value
total.backward()
gradient = x.grad
if isinstance(gradient, np.ndarray):
    first: float = float(gradient[0])

# the functions
y: tg.Tensor = tg.exp(tg.log1p(x)) + tg.sum(tg.tanh(m), axis=(0, 1))
pieces: list[tg.Tensor] = tg.split(tg.concatenate([x, x]), 2)
stacked: tg.Tensor = tg.stack([x, np.zeros(3)], axis=0)
one: tg.Tensor = tg.atleast_2d(x)
several: list[tg.Tensor] = tg.atleast_2d(x, m)
avg: tg.Tensor = tg.average(m, axis=0)
avg_and_weight: tuple[tg.Tensor, tg.Tensor] = tg.average(m, axis=0, returned=True)
nonzero: tuple[np.ndarray, ...] = tg.where(np.array([0.0, 1.0]))


# transforms
def loss(A: tg.Tensor, X: np.ndarray) -> tg.Tensor:
    return tg.sum(tg.exp(-((X @ A.T) ** 2)))


A0, X0 = np.ones((2, 3)), np.random.default_rng(0).normal(size=(5, 3))
dA = tg.grad(loss)(A0, X0)
value_and_gradient = tg.value_and_grad(loss, argnums=(0,))(A0, X0)
directional = tg.jvp(loss)(A0, X0, np.ones((2, 3)))
hessian = tg.jacobian(tg.grad(loss), mode="forward")(A0, X0)
out, pullback = tg.vjp(lambda v: v * 2.0, np.ones(3))
cotangents = pullback(np.ones(3))
tg.check_grads(loss, A0, X0, order=2)
tg.check_grads(lambda v: tg.sum(tg.sin(v)), np.ones(3), mode="full", argnums=[0])
cheap = tg.checkpoint(lambda v: tg.sum(v * v))(x)
nca_value: tg.Tensor = tg.nca_loss(A0, X0, np.array([0, 0, 1, 1, 1]))
report = tg.cost_report(loss, A0, X0)
ratio: float = report.ratio

with tg.no_grad():
    constant = x * 2

# the estimator, in a scikit-learn pipeline
nca = NeighborhoodComponentsAnalysis(n_components=2, random_state=0, max_memory="1GB")
pipeline = make_pipeline(nca, KNeighborsClassifier(3))
pipeline.fit(X0, np.array([0, 0, 1, 1, 1]))
fitted: NeighborhoodComponentsAnalysis = nca.fit(X0, [0, 0, 1, 1, 1])
embedded: np.ndarray = fitted.transform(X0)
metric: np.ndarray = fitted.get_mahalanobis_matrix()


def save_and_load(path: str) -> NeighborhoodComponentsAnalysis:
    fitted.save(path)
    return NeighborhoodComponentsAnalysis.load(path)


# Hypothesis strategies of tinygrad_nca.testing inside @given
@given(testing.arrays(shape=(3, 4)), testing.arrays_in(domain="positive", shape=(2,)))
def test_my_loss_gradient(v: np.ndarray, w: np.ndarray) -> None:
    tg.check_grads(lambda v: tg.sum(tg.tanh(v) * v), v, order=2)
    tg.check_grads(tg.log, w)
