# %% [markdown]
# # 1. Reverse mode from scratch
#
# A loss function is a composition of simple operations: a matrix product, an addition, an
# exponential, a sum. Reverse-mode automatic differentiation computes the gradient of a scalar loss
# with respect to *every* input in one backward sweep through that composition, at a cost of a
# small constant times the cost of computing the loss itself.
#
# In this tutorial we
#
# 1. write down a small function and the expression graph that computes it;
# 2. derive the backward rule — the *vector-Jacobian product* — of each of its three operations:
#    exp, broadcasting and the matrix product;
# 3. run the reverse sweep by hand in NumPy and compare it with the engine;
# 4. look at the graph the engine recorded (`to_dot`);
# 5. check the gradient against finite differences, and see the check catch a wrong rule.
#
# The function is a small cousin of what NCA computes (project the data, then exponentiate):
#
# $$ L(A, b) = \sum_{i,j} \exp(S_{ij}), \qquad S = XA^\top + \mathbf{1} b^\top, $$
#
# with data X (N × D), a projection A (d × D) and an offset b (d entries) added to every row.

# %%
import numpy as np
from _tutorial import draw_graph, save, setup

import tinygrad_nca as tg

SMALL, OUT = setup("01_reverse_mode_from_scratch")
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The function as a sequence of operations
#
# Written one operation per line, the forward pass is
#
# | step | operation | shape |
# |---|---|---|
# | Z = XAᵀ | matrix product (with a transpose) | N × d |
# | S = Z + 1bᵀ | broadcast b to every row, add | N × d |
# | E = exp(S) | elementwise exponential | N × d |
# | L = Σ E | sum of all entries | scalar |
#
# Each line is an operation whose inputs are earlier lines. That chain (in general, a directed
# acyclic graph) is the *expression graph*. The engine records it as it computes: every `Tensor`
# produced from a tensor that requires a gradient remembers the operation and the arguments that
# made it.

# %%
N, D, d = 4, 3, 2
X = rng.normal(size=(N, D)).round(1)
A0 = rng.normal(size=(d, D)).round(1)
b0 = np.array([0.5, -0.5])


def L(A, b):
    Z = tg.Tensor(X) @ A.T  # X as a constant Tensor: it shows up in the graph
    S = Z + b
    E = tg.exp(S)
    return tg.sum(E)


A = tg.Tensor(A0, requires_grad=True)
b = tg.Tensor(b0, requires_grad=True)
loss = L(A, b)
print(loss)  # the value, and the operation that made it

# %% [markdown]
# ## 2. Cotangents and vector-Jacobian products
#
# For a scalar loss L and any intermediate value v, write **v̄ = ∂L/∂v** — the *cotangent* of v.
# It has the shape of v: Ē is N × d, Ā is d × D, L̄ = 1.
#
# If an operation computes y = f(x), the chain rule gives the cotangent of its input from the
# cotangent of its output:
#
# $$ \bar x_k = \sum_m \bar y_m \frac{\partial y_m}{\partial x_k}, \qquad\text{that is}\qquad
#    \bar x = \bar y^\top J_f . $$
#
# This is a **vector-Jacobian product** (VJP). Reverse mode never builds the Jacobian J_f (for
# the matrix product below it would have N·d·d·D entries); each operation comes with a small rule
# that computes x̄ from ȳ directly, at about the cost of the operation itself. The reverse sweep
# starts from L̄ = 1 and applies the rules in reverse order of the forward pass.
#
# We derive the four rules our function needs, from the last operation to the first.
#
# ### The sum: Ē = 1
#
# L = Σᵢⱼ Eᵢⱼ, so ∂L/∂Eᵢⱼ = 1: the cotangent of E is a matrix of ones (in general, the sum's VJP
# *broadcasts* L̄ back to the input's shape).
#
# ### exp reuses its output: S̄ = Ē ∘ E
#
# E = exp(S) elementwise, and exp′ = exp, so ∂Eᵢⱼ/∂Sᵢⱼ = Eᵢⱼ and S̄ = Ē ∘ E (∘: elementwise
# product). The derivative is **the forward output itself**: the backward pass needs no new
# exponential, one multiplication per entry. The engine's rule is `exp.defvjp(lambda g, ans, x: g * ans)`
# — `ans` is the output the forward pass already computed.
#
# Let us check that claim by counting. Below, `counted_exp` is a primitive of our own that counts
# how often NumPy's `exp` runs. With the rule that reuses `ans`, a gradient costs one exponential
# (the forward one); with a rule that recomputes exp(x) it costs two.

# %%
calls = {"exp": 0}


def numpy_exp(x):
    calls["exp"] += 1
    return np.exp(x)


@tg.primitive
def counted_exp(x):
    return numpy_exp(x)


counted_exp.defvjp(lambda g, ans, x: g * ans)  # reuse the output


@tg.primitive
def recomputing_exp(x):
    return numpy_exp(x)


recomputing_exp.defvjp(lambda g, ans, x: g * counted_exp(x))  # exp(x) again


s = np.array([0.0, 1.0, 2.0])
for name, op in [("reuses ans", counted_exp), ("recomputes", recomputing_exp)]:
    calls["exp"] = 0
    gradient = tg.grad(lambda x: tg.sum(op(x)))(s)
    print(f"rule that {name}: gradient {gradient.round(4)}, exponentials computed: {calls['exp']}")
    assert np.allclose(gradient, np.exp(s))

calls["exp"] = 0
tg.grad(lambda x: tg.sum(counted_exp(x)))(s)
assert calls["exp"] == 1, "reusing the output: only the forward exponential"

# %% [markdown]
# ### Broadcasting's VJP is a sum: b̄ = Σᵢ S̄ᵢ
#
# S = Z + 1bᵀ means Sᵢⱼ = Zᵢⱼ + bⱼ for every row i: the single number bⱼ is *used N times*. When a
# value fans out to several uses, its cotangent is the **sum** of the cotangents of the uses
# (chain rule: ∂L/∂bⱼ = Σᵢ ∂L/∂Sᵢⱼ · ∂Sᵢⱼ/∂bⱼ = Σᵢ S̄ᵢⱼ). So
#
# $$ \bar Z = \bar S, \qquad \bar b = \sum_i \bar S_{i\cdot} \;(\text{column sums}). $$
#
# The engine makes broadcasting an operation of its own, `broadcast_to`, whose VJP sums the
# cotangent back to the input's shape: over the new leading axes, and over every axis where the
# input had size 1. Then `add` itself only ever sees operands of equal shape, and its VJP is the
# identity. With small integers, so that the sums are easy to check by eye:

# %%
row = np.array([10.0, 20.0])  # shape (2,): broadcast to every row of a (3, 2)
col = np.array([[1.0], [2.0], [3.0]])  # shape (3, 1): broadcast along axis 1
S_bar = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])

out, vjp_fn = tg.vjp(lambda r, c: r + c, row, col)
row_bar, col_bar = vjp_fn(S_bar)
print("r + c =\n", out)
print("r̄ =", row_bar, "  (column sums of S̄)")
print("c̄ =", col_bar.ravel(), "  (row sums of S̄, kept as shape", col_bar.shape, ")")
assert np.array_equal(row_bar, S_bar.sum(axis=0))
assert np.array_equal(col_bar, S_bar.sum(axis=1, keepdims=True))

# %% [markdown]
# ### The matrix product: C = ABᵀ ⇒ Ā = C̄B, B̄ = C̄ᵀA
#
# Our forward pass has Z = XAᵀ. Take the general form C = ABᵀ with A (m × k), B (n × k) and
# C (m × n):
#
# $$ C_{ij} = \sum_k A_{ik} B_{jk}, \qquad \frac{\partial C_{ij}}{\partial A_{ik}} = B_{jk},
#    \qquad \frac{\partial C_{ij}}{\partial B_{jk}} = A_{ik}. $$
#
# Summing over every use (every entry of C that Aᵢₖ touches):
#
# $$ \bar A_{ik} = \sum_j \bar C_{ij} B_{jk} \;\Rightarrow\; \bar A = \bar C B,
#    \qquad \bar B_{jk} = \sum_i \bar C_{ij} A_{ik} \;\Rightarrow\; \bar B = \bar C^\top A. $$
#
# The shapes confirm it: C̄B is (m × n)(n × k) = m × k, the shape of A. Each VJP is one matrix
# product of the same size as the forward one, so the backward pass of a matrix product costs
# twice its forward pass, however large the Jacobian (m·n·m·k entries) would be.
#
# With small integers (so that the comparison is exact):

# %%
A_small = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, -1.0]])  # m × k = 2 × 3
B_small = np.array(
    [[1.0, 0.0, 1.0], [2.0, 1.0, 0.0], [0.0, 0.0, 3.0], [1.0, 1.0, 1.0]]
)  # n × k = 4 × 3
C_bar = np.array([[1.0, -1.0, 0.0, 2.0], [0.0, 1.0, 1.0, -1.0]])  # m × n = 2 × 4

C, vjp_fn = tg.vjp(lambda a, b: a @ b.T, A_small, B_small)
A_bar, B_bar = vjp_fn(C_bar)
print("C = ABᵀ =\n", C)
print("Ā =\n", A_bar, "\nC̄B =\n", C_bar @ B_small)
print("B̄ =\n", B_bar, "\nC̄ᵀA =\n", C_bar.T @ A_small)
assert np.array_equal(A_bar, C_bar @ B_small)
assert np.array_equal(B_bar, C_bar.T @ A_small)

# %% [markdown]
# The engine's table of rules does not store this formula. It stores the rule of the plain
# product C = AB (Ā = C̄Bᵀ, B̄ = AᵀC̄) and the rule of the transpose (the cotangent of Bᵀ,
# transposed back). Chaining those two gives C̄B and C̄ᵀA above: rules compose.
#
# A VJP is ȳᵀJ, the cotangent times the Jacobian. For this small product we *can* afford the full
# Jacobian (`tg.jacobian`, built one row at a time from VJPs), and contracting it with C̄ gives the
# same Ā:

# %%
J = tg.jacobian(lambda a: a @ B_small.T)(A_small)
print("Jacobian shape:", J.shape, "=", J.size, "numbers; the VJP needed only Ā's", A_small.size)
assert np.array_equal(np.einsum("ij,ijkl->kl", C_bar, J), A_bar)

# %% [markdown]
# ## 3. The reverse sweep by hand
#
# Now the whole function. The forward pass keeps its intermediate values Z, S and E; the reverse
# sweep visits the operations in reverse order and applies the four rules:
#
# | forward | backward |
# |---|---|
# | Z = XAᵀ | Ā = Z̄ᵀX (the rule B̄ = C̄ᵀA with X in the role of A) |
# | S = Z + 1bᵀ | Z̄ = S̄, b̄ = Σᵢ S̄ᵢ |
# | E = exp(S) | S̄ = Ē ∘ E |
# | L = Σ E | Ē = 1 |

# %%
# forward pass, keeping the intermediates
Z = X @ A0.T
S = Z + b0
E = np.exp(S)
L_value = E.sum()

# reverse sweep
E_bar = np.ones_like(E)
S_bar = E_bar * E
b_bar = S_bar.sum(axis=0)
Z_bar = S_bar
A_bar = Z_bar.T @ X

engine_A_bar, engine_b_bar = tg.grad(L, argnums=(0, 1))(A0, b0)
print("by hand: Ā =\n", A_bar.round(4), "\n b̄ =", b_bar.round(4))
print("engine:  Ā =\n", engine_A_bar.round(4), "\n b̄ =", engine_b_bar.round(4))
assert np.isclose(L_value, loss.value)
assert np.allclose(A_bar, engine_A_bar, rtol=1e-13) and np.allclose(b_bar, engine_b_bar, rtol=1e-13)

# %% [markdown]
# The engine does exactly this, with the rules looked up in its table (`tinygrad_nca/ops.py`) and
# the order found by a topological sort of the recorded graph. `loss.backward()` runs the sweep
# and leaves the cotangents of the leaves in `.grad`:

# %%
loss.backward()
print("A.grad =\n", A.grad.round(4))
assert np.allclose(A.grad, A_bar) and np.allclose(b.grad, b_bar)

# %% [markdown]
# ## 4. The graph the engine recorded
#
# `tg.to_dot(loss)` writes the recorded graph as Graphviz DOT text (paste it into any Graphviz
# viewer, or run `dot -Tsvg`): one node per tensor with its operation, shape and dtype, an arrow
# from every input to the operation that used it. At the bottom are the leaves: the constant X
# (4 × 3) and the two inputs that require a gradient, A (2 × 3) and b (2,). Two things are worth a
# look: the
# transpose of A is a node of its own (the matmul rule composes with the transpose rule), and the
# offset b reaches `add` through a broadcast node (`broadcast_to`) — the node whose VJP is the
# column sum.

# %%
dot = tg.to_dot(loss)
print(dot)
draw_graph(dot, OUT, "graph.png")
assert "broadcast_to" in dot and "transpose" in dot and "exp" in dot

# %% [markdown]
# ## 5. Checking against finite differences
#
# A derivative rule written by hand can be wrong, so every rule should be checked against the
# definition of the derivative. Along a direction V, the central difference
#
# $$ \frac{L(A + hV) - L(A - hV)}{2h} = \langle \nabla L, V \rangle + O(h^2) $$
#
# approaches the directional derivative as h shrinks — until rounding takes over: L is only known
# to about ε|L| (ε ≈ 2.2·10⁻¹⁶ in float64), and dividing by 2h amplifies that error to ε|L|/h.
# The total error, about h² + ε/h, is smallest near h ≈ ε^{1/3} ≈ 6·10⁻⁶, the step
# `check_grads` uses. The left panel below shows the tangent line the gradient predicts; the right
# panel the error of the difference quotient against h: slope 2 on the right (truncation), slope
# −1 on the left (rounding).

# %%
import matplotlib.pyplot as plt  # noqa: E402 (a tutorial imports where it first needs it)

V = rng.normal(size=A0.shape)
A_grad = tg.grad(L)(A0, b0)
slope = np.sum(A_grad * V)  # ⟨∇L, V⟩, from one reverse sweep

ts = np.linspace(-0.5, 0.5, 41 if SMALL else 201)
along = [L(A0 + t * V, b0).value for t in ts]
steps = np.logspace(-12, -1, 23 if SMALL else 45)
errors = np.array(
    [abs((L(A0 + h * V, b0).value - L(A0 - h * V, b0).value) / (2 * h) - slope) for h in steps]
) / abs(slope)

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
left.plot(ts, along, label="L(A + tV, b)")
left.plot(ts, L_value + ts * slope, "--", label="tangent: L + t⟨∇L, V⟩")
left.set(xlabel="t", ylabel="loss", title="The gradient predicts the slope")
left.legend()
right.loglog(steps, errors, "o-", markersize=3)
right.axvline(6e-6, color="grey", linestyle=":", label="h ≈ ε^(1/3), check_grads' step")
right.set(
    xlabel="step h",
    ylabel="relative error of the central difference",
    title="Truncation (slope 2) against rounding (slope −1)",
)
right.legend()
save(fig, OUT, "finite_differences.png")

best = steps[np.argmin(errors)]
print(f"smallest error {errors.min():.1e} at h = {best:.0e}")
assert 1e-7 < best < 1e-3 and errors.min() < 1e-9
truncation = steps > 1e-3
assert 1.8 < np.polyfit(np.log(steps[truncation]), np.log(errors[truncation]), 1)[0] < 2.2

# %% [markdown]
# `tg.check_grads(f, *args)` automates this: it compares ⟨ū, J v⟩ from one VJP with the central
# difference along random directions v (input) and u (output) — a handful of evaluations of f,
# however many parameters there are — with tolerances chosen from the dtype. It returns quietly
# when the gradient is right:

# %%
tg.check_grads(L, A0, b0)
tg.check_grads(L, A0, b0, mode="full")  # every Jacobian entry, for small inputs
print("check_grads: the gradient of L agrees with finite differences")

# %% [markdown]
# and raises `GradientCheckError`, naming the worst element, when it is wrong. Here is an exp
# whose rule forgot the output (x̄ = ȳ instead of ȳ ∘ eˣ) — a classic mistake:

# %%
wrong_exp = tg.primitive(np.exp, name="wrong_exp")
wrong_exp.defvjp(lambda g, ans, x: g)  # should be g * ans


def L_wrong(A, b):
    return tg.sum(wrong_exp(X @ A.T + b))


try:
    tg.check_grads(L_wrong, A0, b0)
except tg.GradientCheckError as err:
    caught = err
    print(err)
assert "caught" in globals(), "check_grads must reject the wrong rule"

# %% [markdown]
# ## Summary
#
# | operation | forward | VJP |
# |---|---|---|
# | sum | L = Σ E | Ē = L̄ broadcast to E's shape |
# | exp | E = exp(S) | S̄ = Ē ∘ E (reuses the output) |
# | broadcast | S = Z + 1bᵀ | b̄ = Σᵢ S̄ᵢ (fan-out adds up) |
# | matmul | C = ABᵀ | Ā = C̄B, B̄ = C̄ᵀA |
#
# Each rule costs about as much as its forward operation, so the whole gradient costs a small
# constant times the loss. [Tutorial 2](02_nca_gradient_cost.md) measures that constant on the
# NCA objective, and [tutorial 8](08_property_based_gradient_tests.md) tests rules like these
# with Hypothesis.
