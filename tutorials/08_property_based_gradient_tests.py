# %% [markdown]
# # 8. Property-based gradient tests
#
# A gradient check at one hand-picked point proves little. The points we pick by hand are the
# easy ones — zeros, ones, a square matrix — and a wrong derivative rule can be right at exactly
# those points. *Property-based testing* turns the test around: we state a property that must hold
# for **every** input ("the VJP agrees with finite differences"), and the
# [Hypothesis](https://hypothesis.readthedocs.io) library draws the inputs — many shapes, many
# values, float64 and float32. When it finds a failing input it *shrinks* it: it keeps simplifying
# the input while the test still fails, and reports the simplest failing case it can find.
#
# In this tutorial we
#
# 1. write a primitive of our own, softplus, with its VJP;
# 2. test it with the strategies in `tinygrad_nca.testing` and `check_grads`;
# 3. break the VJP on purpose — in a way that a test at zero cannot see — and watch Hypothesis
#    catch it and shrink the failing case;
# 4. test a two-input primitive (pairwise squared distances, the heart of NCA) over drawn shapes.

# %%
import numpy as np
from _tutorial import setup
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

import tinygrad_nca as tg
from tinygrad_nca import testing

SMALL, OUT = setup("08_property_based_gradient_tests")
EXAMPLES = 15 if SMALL else 60
# database=None: write nothing to disk; derandomize=True: the same examples on every run;
# no "explain" phase: its report of covered lines is noise here.
quick = settings(
    max_examples=EXAMPLES,
    database=None,
    derandomize=True,
    deadline=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
)

# %% [markdown]
# ## 1. A primitive of our own: softplus
#
# softplus(x) = log(1 + eˣ) is a smooth version of max(0, x). Its derivative is the logistic
# sigmoid σ(x) = eˣ / (1 + eˣ), and — like exp — it can be written with the function's own
# output y = softplus(x):
#
# $$ e^{-y} = \frac{1}{1 + e^x} \quad\Rightarrow\quad \sigma(x) = 1 - e^{-y},
#    \qquad \bar x = \bar y \circ (1 - e^{-y}). $$
#
# The forward rule is NumPy (`np.logaddexp(0, x)` computes log(e⁰ + eˣ) without overflowing for
# large x). The VJP is written with engine operations on `ans` (a Tensor), so that it can itself
# be differentiated: second derivatives come for free.


# %%
@tg.primitive
def softplus(x):
    return np.logaddexp(0.0, x)


softplus.defvjp(lambda g, ans, x: g * (1 - tg.exp(-ans)))

x = np.array([-2.0, 0.0, 3.0])
print("softplus:", softplus(tg.Tensor(x)).value.round(4))
print(
    "gradient:",
    tg.grad(lambda x: tg.sum(softplus(x)))(x).round(4),
    " σ(x) =",
    (1 / (1 + np.exp(-x))).round(4),
)
assert np.allclose(tg.grad(lambda x: tg.sum(softplus(x)))(x), 1 / (1 + np.exp(-x)))

# %% [markdown]
# ## 2. The property: the gradient agrees with finite differences, for every input
#
# `tinygrad_nca.testing` provides Hypothesis *strategies* — recipes for drawing inputs — made for
# gradient tests. `testing.arrays()` draws well-conditioned float arrays: every shape from a scalar
# `()` to three axes (size-1 axes included), finite elements of moderate size, so that a failure
# means a wrong gradient and not a finite-difference artefact. `dtype=testing.dtypes()` draws
# float64 or float32 (`check_grads` picks its step and tolerance from the dtype).
#
# `@given(strategy)` turns a function into a test that runs once per drawn input. Here is the whole
# property test; in a test file, pytest runs it like any other test.

# %%
drawn = []


@quick
@given(testing.arrays(dtype=testing.dtypes()))
def test_softplus_gradient(x):
    drawn.append((x.shape, x.dtype))
    tg.check_grads(lambda x: tg.sum(softplus(x)), x)


test_softplus_gradient()
print(f"passed on {len(drawn)} drawn inputs, for example:")
for shape, dtype in drawn[:: max(1, len(drawn) // 6)]:
    print(f"  shape {shape}, {dtype}")
assert {dtype for _, dtype in drawn} == {np.dtype(np.float64), np.dtype(np.float32)}

# %% [markdown]
# Because the VJP is made of engine operations, the gradient of the gradient exists too, and
# `check_grads(..., order=2)` checks it — softplus″(x) = σ(x)(1 − σ(x)) — against finite
# differences of the first derivative:


# %%
@quick
@given(testing.arrays())
def test_softplus_second_derivative(x):
    tg.check_grads(lambda x: tg.sum(softplus(x)), x, order=2)


test_softplus_second_derivative()
print("second derivative: passed")

# %% [markdown]
# ## 3. Break the VJP, and watch the test catch it
#
# A tempting slip: σ(x) = 1 − e^{−y}, but we write e^{−y} — which is σ(−x), the derivative
# mirrored. At x = 0 both are ½, so a test at zeros — the most natural hand-picked point —
# passes:


# %%
@tg.primitive
def broken_softplus(x):
    return np.logaddexp(0.0, x)


broken_softplus.defvjp(lambda g, ans, x: g * tg.exp(-ans))  # should be g * (1 - exp(-ans))


def broken_loss(x):
    return tg.sum(broken_softplus(x))


tg.check_grads(broken_loss, np.zeros(4))
print("check at zeros: passed (the bug is invisible there)")

# %% [markdown]
# The property test finds it. We record every input on which the check failed, so that we can see
# what Hypothesis does after the first failure: it tries simpler and simpler inputs — fewer axes,
# fewer elements, simpler numbers — keeping those that still fail. The error it finally raises is
# the `GradientCheckError` for the simplest failing input, with the input itself attached as a
# note ("Falsifying example"). We run the test inside `try`/`except` to print that report.

# %%
failures = []


@quick
@given(testing.arrays(dtype=testing.dtypes()))
def test_broken_softplus_gradient(x):
    try:
        tg.check_grads(broken_loss, x)
    except tg.GradientCheckError:
        failures.append(x)
        raise


try:
    test_broken_softplus_gradient()
except tg.GradientCheckError as err:
    report = err
    print(err)
    print("\n".join(getattr(err, "__notes__", [])))
assert "report" in globals(), "the property test must catch the broken VJP"

first, last = failures[0], failures[-1]
print(f"\nfailing inputs seen: {len(failures)}")
print(
    f"first failure:     shape {first.shape}, {first.dtype}, values {np.round(first.ravel(), 3)[:6]}"
)
print(f"after shrinking:   shape {last.shape}, {last.dtype}, values {last.ravel()}")
assert last.size <= first.size and last.size == 1
# the message names the broken rule's value σ(−1) and the true derivative σ(1)
assert f"{1 / (1 + np.e):.6e}" in str(report) and f"{1 / (1 + np.exp(-1)):.6e}" in str(report)

# %% [markdown]
# The shrunk case is a single number, and a simple one: the smallest input that shows the bug. It
# is also easy to check by hand: for x = 1, the right derivative is σ(1) ≈ 0.731, and the broken
# rule gives σ(−1) ≈ 0.269 — exactly the "numeric" and "analytic" values in the error message.
# (On a small input a failing random-direction check is re-run element by element, so that the
# message can name the worst element.)
#
# ## 4. Two inputs, drawn shapes: pairwise squared distances
#
# NCA's inner loop computes every squared distance between two sets of points, x₁…x_N and
# y₁…y_M in D dimensions: Dᵢⱼ = ‖xᵢ − yⱼ‖² = ‖xᵢ‖² + ‖yⱼ‖² − 2xᵢᵀyⱼ. As one primitive, its
# VJPs follow from ∂Dᵢⱼ/∂xᵢ = 2(xᵢ − yⱼ), summed over every j that xᵢ touches:
#
# $$ \bar x_i = 2\sum_j \bar D_{ij}(x_i - y_j) \;\Rightarrow\; \bar X = 2\big(\operatorname{diag}(\bar D\mathbf 1)\,X - \bar D Y\big),
#    \qquad \bar Y = 2\big(\operatorname{diag}(\bar D^\top\mathbf 1)\,Y - \bar D^\top X\big). $$
#
# The inputs need a *relation* between their shapes (the same D), which a custom strategy
# expresses: `st.composite` lets us draw N, M and D first and then the two arrays.


# %%
@tg.primitive
def sq_distances(X, Y):
    return (X**2).sum(1)[:, None] + (Y**2).sum(1)[None, :] - 2 * X @ Y.T


sq_distances.defvjp(
    lambda g, ans, X, Y: 2 * (tg.sum(g, axis=1, keepdims=True) * X - g @ Y),
    lambda g, ans, X, Y: 2 * (tg.transpose(tg.sum(g, axis=0, keepdims=True)) * Y - g.T @ X),
)


@st.composite
def point_sets(draw, max_points=5, max_dims=3):
    """Two arrays (N, D) and (M, D) with the same number of columns D."""
    n, m = draw(st.integers(1, max_points)), draw(st.integers(1, max_points))
    d = draw(st.integers(1, max_dims))
    return draw(testing.arrays(shape=(n, d))), draw(testing.arrays(shape=(m, d)))


@quick
@given(point_sets())
def test_sq_distances(points):
    X, Y = points
    # property 1: the gradient agrees with finite differences (non-scalar output: check_grads
    # projects it on a random direction)
    tg.check_grads(sq_distances, X, Y)
    # property 2: the value agrees with the plain definition, built from broadcasting
    direct = ((X[:, None, :] - Y[None, :, :]) ** 2).sum(-1)
    assert np.allclose(sq_distances(tg.Tensor(X), tg.Tensor(Y)).value, direct)


test_sq_distances()
print("sq_distances: gradient and value pass on every drawn pair of point sets")

# %% [markdown]
# ## In your own test suite
#
# In a test file the pattern is three lines — a strategy, a property, `check_grads`:
#
# ```python
# from hypothesis import given
# import tinygrad_nca as tg
# from tinygrad_nca import testing
#
# @given(testing.arrays(shape=(3, 4)))
# def test_my_loss_gradient(x):
#     tg.check_grads(my_loss, x)
# ```
#
# The other strategies in `tinygrad_nca.testing` cover the usual hard cases:
# `broadcastable_arrays` (operands whose shapes broadcast, size-1 axes included — the shapes where
# a forgotten "sum back" in a VJP shows up), `matmul_pairs` (optionally batched),
# `positive_arrays` (inputs of log and sqrt), and `distinct_arrays`, `separated_pairs` and
# `arrays(away_from=[0])` for functions with kinks, where no derivative exists and finite
# differences across the kink would disagree with any rule.
