# %% [markdown]
# # 9. Derivatives of derivatives, and forward mode
#
# A gradient is a function too, so it can be differentiated again: a Hessian for a Newton step,
# the derivative of a trained model with respect to its learning rate (meta-learning), the
# sensitivity of an inner optimum to an outer parameter. In this tutorial we
#
# 1. nest `grad` inside `grad`, where the inner function uses the outer variable — the case that
#    goes silently wrong in a naive engine, and how this one decides what to record;
# 2. differentiate *through* a gradient-descent step, and check the result against its closed form;
# 3. build a Hessian three ways (`jacobian(grad)`, `hvp`, forward over reverse) and take a Newton step;
# 4. compute Jacobians in forward and in reverse mode, and measure the rule that says which is
#    cheaper: one JVP per input column, one VJP per output row.

# %%
import time

import numpy as np
from _tutorial import save, setup

import tinygrad_nca as tg

SMALL, OUT = setup("09_nested_and_forward_mode")
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. An inner derivative that uses an outer variable
#
# Take $g(x) = x \cdot \frac{\partial}{\partial y}(x y)$. The inner derivative is $x$ (at any
# $y$), so $g(x) = x^2$ and $g'(x) = 2x$. The inner `grad` is taken with respect to `y`, but its
# function *closes over* `x`, which the outer `grad` is differentiating.

# %%
g = lambda x: x * tg.grad(lambda y: x * y)(2.0)  # noqa: E731
print("g'(1) =", tg.grad(g)(1.0), "  (closed form 2x = 2)")
assert tg.grad(g)(1.0) == 2.0

# %% [markdown]
# An engine that decides whether to record the inner sweep by looking only at the inner
# function's *arguments* sees a plain number `y = 2.0`, runs a plain sweep, and hands back the
# inner derivative as a constant: $g'$ would come out as $1$ — wrong, and silently so.
#
# This engine asks a different question. Every tensor gets a serial number when it is made; a
# transform notes the number at its start. After running its function it walks the graph back
# from the output: if it meets a differentiable tensor made *before* it started, the function
# used something from outside (here `x`), and the derivative it returns depends on that outside
# value. Then, and only then, it records its own reverse sweep — VJPs are tensor operations, so
# the sweep is a graph like any other — and returns a tensor connected to the outer graph.
#
# The same mechanism rules out *perturbation confusion* (Siskind and Pearlmutter's example):
# $\frac{d}{dx}\left[x \cdot \frac{d}{dy}(x + y)\right] = \frac{d}{dx}[x \cdot 1] = 1$. Each
# sweep stops at its own leaves and visits only the nodes that lead to them, so the inner
# derivative never mistakes `x` for its own variable.

# %%
confusion = tg.grad(lambda x: x * tg.grad(lambda y: x + y)(1.0))(3.0)
print("d/dx [x · d/dy (x + y)] =", confusion, "  (closed form 1)")
assert confusion == 1.0

# %% [markdown]
# Third and fourth derivatives are the same thing, nested deeper. For $f(x) = e^{2x}$,
# $f^{(n)}(x) = 2^n e^{2x}$:

# %%
f = lambda x: tg.exp(2 * x)  # noqa: E731
d4 = tg.grad(tg.grad(tg.grad(tg.grad(f))))(0.3)
print(f"f''''(0.3) = {float(d4):.12f}   closed form 16 e^0.6 = {16 * np.exp(0.6):.12f}")
assert np.isclose(d4, 16 * np.exp(0.6), rtol=1e-14)

# %% [markdown]
# ## 2. Differentiating through a gradient step
#
# Meta-learning asks how the loss *after* a training step depends on the step size $\eta$. For a
# quadratic loss $L(w) = \tfrac12 w^\top Q w$ one step of gradient descent gives
# $w' = w - \eta Q w = (I - \eta Q) w$, so
#
# $$ L(w') = \tfrac12 w^\top (I - \eta Q) Q (I - \eta Q) w, \qquad
#    \frac{dL(w')}{d\eta} = -\,w^\top Q (I - \eta Q) Q\, w. $$
#
# The engine gets this by differentiating a function that itself calls `grad`:

# %%
n = 4
M = rng.normal(size=(n, n))
Q = M @ M.T + n * np.eye(n)  # symmetric positive definite
w0 = rng.normal(size=n)
loss = lambda w: 0.5 * tg.sum(w * (tg.Tensor(Q) @ w))  # noqa: E731


def loss_after_step(eta):
    w1 = w0 - eta * tg.grad(loss)(w0)  # the inner gradient does not involve eta...
    return loss(w1)  # ...but the step does


eta = 0.05
meta = tg.grad(loss_after_step)(eta)
closed = -w0 @ Q @ (np.eye(n) - eta * Q) @ Q @ w0
print(f"dL(w')/dη = {float(meta):.10f}   closed form {closed:.10f}")
assert np.isclose(meta, closed, rtol=1e-12)

# %% [markdown]
# A harder variant lets the inner gradient depend on the outer variable: differentiate the loss
# after one step *with respect to the starting point*, $\frac{d}{dw} L(w - \eta \nabla L(w))$.
# The inner `grad` is now taken at a traced argument; its sweep is recorded, and the chain rule
# gives $(I - \eta Q)\, Q\, (I - \eta Q)\, w$:

# %%
through = tg.grad(lambda w: loss(w - eta * tg.grad(loss)(w)))(w0)
expected = (np.eye(n) - eta * Q) @ Q @ (np.eye(n) - eta * Q) @ w0
print("d/dw L(w − η∇L(w)) matches its closed form:", np.allclose(through, expected, rtol=1e-12))
assert np.allclose(through, expected, rtol=1e-12)

# %% [markdown]
# ## 3. Hessians three ways, and a Newton step
#
# For $h(x) = \sum_i \log(1 + e^{x_i}) + \tfrac14 \|x\|^4$ the Hessian is
# $\operatorname{diag}(\sigma(x)(1 - \sigma(x))) + \|x\|^2 I + 2 x x^\top$, with $\sigma$ the
# logistic function. Three routes to it:
#
# - `jacobian(grad(h))`: reverse over reverse, one row per VJP;
# - `hvp(h)(x, v)`: one Hessian-vector product, reverse over reverse, never forming the matrix;
# - `jvp(grad(h))(x, v)`: the same product, forward over reverse.


# %%
def h(x):
    return tg.sum(tg.log(1 + tg.exp(x))) + 0.25 * tg.sum(x * x) ** 2


x0 = rng.normal(size=3)
s = 1 / (1 + np.exp(-x0))
H_closed = np.diag(s * (1 - s)) + (x0 @ x0) * np.eye(3) + 2 * np.outer(x0, x0)
H = tg.jacobian(tg.grad(h))(x0)
v = np.array([1.0, -2.0, 0.5])
print("jacobian(grad(h)) = closed form:", np.allclose(H, H_closed, rtol=1e-12))
print("hvp(h)(x, v)      = H v:        ", np.allclose(tg.hvp(h)(x0, v), H_closed @ v, rtol=1e-12))
print(
    "jvp(grad(h))(x, v) = H v:       ",
    np.allclose(tg.jvp(tg.grad(h))(x0, v), H_closed @ v, rtol=1e-12),
)
assert np.allclose(H, H_closed, rtol=1e-12)
assert np.allclose(tg.hvp(h)(x0, v), H_closed @ v, rtol=1e-12)
assert np.allclose(tg.jvp(tg.grad(h))(x0, v), H_closed @ v, rtol=1e-12)

# %% [markdown]
# Newton's method solves $H \Delta = -\nabla h$ at each step and converges quadratically near the
# minimum: the gradient's norm roughly squares from one step to the next.

# %%
x = x0.copy()
norms = []
for _ in range(9):
    gradient = tg.grad(h)(x)
    norms.append(float(np.linalg.norm(gradient)))
    x = x - np.linalg.solve(tg.jacobian(tg.grad(h))(x), gradient)
print("‖∇h‖ per Newton step:", " ".join(f"{v:.1e}" for v in norms))
assert norms[-1] < 1e-12 and norms[-1] < norms[0]

# %% [markdown]
# ## 4. Forward mode, reverse mode, and which is cheaper
#
# The Jacobian of $f: \mathbb{R}^n \to \mathbb{R}^m$ has $m$ rows and $n$ columns.
#
# - **Reverse mode** gets one *row* per sweep: the VJP $\bar y^\top J$ with $\bar y$ a unit
#   vector. A full Jacobian costs $m$ VJPs — one for a scalar loss, which is why gradients are
#   cheap.
# - **Forward mode** gets one *column* per sweep: the JVP $J v$ with $v$ a unit vector. A full
#   Jacobian costs $n$ JVPs.
#
# This engine builds the JVP from reverse mode: $u \mapsto u^\top J$ is linear in $u$, and the VJP
# of that linear map with cotangent $v$ is $J v$. It needs no second table of derivative rules
# (so forward and reverse can never disagree), at the price of about three sweeps per JVP. The
# rule is therefore: forward mode pays once the output has more than about three times as many
# entries as the input.
#
# A curve $f(t) = \tanh(t \cdot c)$ for $t \in \mathbb{R}^n$ with $n = 2$ and $m$ outputs shows it:


# %%
def curve(m):
    c = np.linspace(-1.0, 1.0, m)
    return lambda t: tg.tanh(tg.sum(t) * tg.Tensor(c) + t[0] * t[1])


t0 = np.array([0.3, -0.2])
sizes = [4, 16, 64] if SMALL else [4, 16, 64, 256]
times = {"reverse": [], "forward": []}
for m in sizes:
    f_m = curve(m)
    J_rev = tg.jacobian(f_m, mode="reverse")(t0)
    J_fwd = tg.jacobian(f_m, mode="forward")(t0)
    assert J_rev.shape == (m, 2) and np.allclose(J_rev, J_fwd, rtol=1e-13, atol=1e-15)
    for mode in times:
        started = time.perf_counter()
        tg.jacobian(f_m, mode=mode)(t0)
        times[mode].append(time.perf_counter() - started)
print(" m   reverse (m VJPs)   forward (2 JVPs)")
for m, r, fw in zip(sizes, times["reverse"], times["forward"], strict=False):
    print(f"{m:3d}   {r * 1e3:10.2f} ms      {fw * 1e3:10.2f} ms")

# %% [markdown]
# Reverse mode's time grows with $m$ (one sweep per output); forward mode's stays flat (two
# sweeps of three passes each, whatever $m$). Both give the same Jacobian to rounding.

# %%
import matplotlib.pyplot as plt  # noqa: E402

fig, ax = plt.subplots(figsize=(5, 3.2))
ax.loglog(sizes, np.array(times["reverse"]) * 1e3, "o-", label="reverse: one VJP per output row")
ax.loglog(sizes, np.array(times["forward"]) * 1e3, "s-", label="forward: one JVP per input column")
ax.set_xticks(sizes, [str(m) for m in sizes])
ax.xaxis.set_minor_formatter(plt.NullFormatter())
ax.yaxis.set_minor_formatter(plt.NullFormatter())
ax.set_xlabel("outputs m (inputs n = 2)")
ax.set_ylabel("time for the full Jacobian (ms)")
ax.legend(fontsize=8)
save(fig, OUT, "forward_vs_reverse.png")
assert times["forward"][-1] < times["reverse"][-1]

# %% [markdown]
# For a scalar loss the picture flips: $m = 1$, so reverse mode needs one sweep however many
# parameters there are — the principle the rest of these tutorials rest on.
