# %% [markdown]
# # 10. What a jit does: trace once, replay
#
# For a small problem the engine spends most of its time *around* the arithmetic: every
# operation makes a Tensor, checks its arguments and records a node, and the reverse sweep walks
# the graph, looks up VJPs and sums cotangents. None of that changes from one call to the next
# when the shapes stay the same. `tg.jit` runs a function once while a recorder watches every
# primitive call, writes the NumPy calls it saw down as a flat program, and afterwards runs only
# that program. In this tutorial we
#
# 1. trace `value_and_grad(nca_loss)` and print the program: the forward pass and the reverse
#    sweep as one list of NumPy calls;
# 2. see what makes it smaller: constants folded at trace time, dead code dropped, and a memory
#    plan that frees every array after its last use and writes into dying buffers;
# 3. see why the first call traces *twice* — and what the jit refuses;
# 4. see what a replay cannot remove — NumPy's passes over memory — and what fusing two
#    operations into one primitive does about it;
# 5. time the replay against the eager engine at several N;
# 6. and, briefly, the other way to go faster at large N: threads (`nca_loss(..., n_jobs=...)`).

# %%
import time

import numpy as np
from _tutorial import save, setup

import tinygrad_nca as tg
from tinygrad_nca.jit import ConcretizationError, NotTraceableError

SMALL, OUT = setup("10_what_a_jit_does")
rng = np.random.default_rng(0)


def problem(n, D=8, d=2, classes=3, seed=0):
    r = np.random.default_rng(seed)
    y = r.integers(0, classes, n)
    X = r.standard_normal((n, D)) + y[:, None]
    return 0.3 * r.standard_normal((d, D)), X, y


# %% [markdown]
# ## 1. The trace
#
# `tg.jit(f, static_argnums=...)` returns a function that looks like `f`. The labels `y` are
# *static*: their values decide which entries of the N × N matrices are masked, and masks are
# computed with NumPy from them, so they are part of the key under which a program is stored
# (by their bytes). `A` and `X` are *traced*: inputs of the program.

# %%
A, X, y = problem(16)
eager = tg.value_and_grad(tg.nca_loss)
step = tg.jit(eager, static_argnums=2)
value, gradient = step(A, X, y)
value_eager, gradient_eager = eager(A, X, y)
print(
    "value:",
    float(value),
    " equal to the eager value bit for bit:",
    float(value) == float(value_eager),
    np.array_equal(gradient, gradient_eager),
)
assert np.array_equal(gradient, gradient_eager) and float(value) == float(value_eager)

# %% [markdown]
# The program for this key: one line per NumPy call, `slot = function(slots, constants)`. Slots
# `s0` and `s1` are `A` and `X`; every other slot is the output of a call. The forward pass
# (projection, the points sorted by class, logits, `softmax_mass`) comes first, then the reverse
# sweep (`softmax_mass_vjp` and the matrix products that carry the cotangent back to `A`).

# %%
program = step.program(A, X, y)
print(program)

# %% [markdown]
# ## 2. What makes the program smaller
#
# **Constant folding.** A call whose inputs are all constants gives the same result on every
# replay, so it is computed once, while tracing. Here the cotangent of the final sum is
# folded: the output cotangent is the constant 1, and so is its broadcast to every row.
#
# **Common subexpressions.** A call with the same function and the same arguments as an
# earlier one computes the same array (primitives are pure), so it is dropped and its readers
# read the earlier result: the VJP of Z·Z forms ḡ·Z twice, once per factor.
#
# **Dead code.** A call whose result nobody reads is dropped. `grad` alone does not need the
# forward *value*, so the final sum disappears:

# %%
counts = program.counts
print("value_and_grad:", counts)
assert counts["merged"] >= 1
only_grad = tg.jit(tg.grad(tg.nca_loss), static_argnums=2).program(A, X, y)
print("grad alone:    ", only_grad.counts)
assert counts["folded"] > 0
assert only_grad.counts["dead"] >= 1 and only_grad.counts["steps"] < counts["steps"]

# %% [markdown]
# **The memory plan.** Each slot is deleted right after its last use (the generated code says
# `del s12`), so the program holds no more arrays than the eager engine does. And an
# elementwise NumPy ufunc whose input dies at that very step writes into it (`out=`) instead of
# allocating a new array; `softmax_mass` writes its exponentials into the dying logits, and its
# VJP writes the gradient into those exponentials, the same way (`overwrite=True`). A buffer
# is reused only if an engine step made it — never an argument, a constant or a result — and no
# live view of it remains. The lines with `out=` above are those; here they are on the second
# derivative of a small function, where there are more:

# %%
h = tg.jit(tg.grad(lambda x: tg.sum(tg.grad(lambda x: tg.sum(tg.exp(x) * tg.tanh(x)))(x))))
print(h.program(np.linspace(-1, 1, 4)))
reused = h.program(np.linspace(-1, 1, 4)).counts["out="]
assert reused > 0
first = h(np.linspace(-1, 1, 4))
for _ in range(5):  # replays do not disturb earlier results
    h(rng.standard_normal(4))
assert np.array_equal(first, h(np.linspace(-1, 1, 4)))

# %% [markdown]
# ## 3. Why the first call traces twice
#
# The recorder sees primitive calls only. A value computed from the inputs *outside* them — a
# VJP that calls `np.sign(x.value)` in Python, or an `if` on a traced value — would be frozen
# into the program as a constant, and replayed on other inputs it would silently give a wrong
# answer. So the first call of every key traces `f` again on a *probe*: arguments of the same
# shapes and dtypes with other values (floats negated and rescaled, so every sign flips). The
# two programs must be the same calls, wired the same way, with equal constants. Here is a
# primitive whose VJP reads the sign of its input with NumPy:

# %%
bad_abs = tg.Primitive(np.abs, name="bad_abs")
bad_abs.defvjp(lambda g, ans, x: g * np.sign(x.value))  # outside the engine
f = tg.grad(lambda x: tg.sum(bad_abs(x)))
print("eager, correct:", f(np.array([1.0, -2.0])))
try:
    tg.jit(f)(np.array([1.0, -2.0]))
except NotTraceableError as err:
    print("jit:", str(err)[:230], "...")
else:
    raise AssertionError("the probe should have refused this program")

# %% [markdown]
# The engine's own VJPs that need such masks (abs, clip, maximum's tie weights, max, sort, …)
# compute them with primitives on the raw arrays, so the recorder sees them. Python control flow
# on a traced value is caught where it can be: turning a traced value into a Python number or
# bool raises at once. **Values that steer Python control flow must be static.**


# %%
def relu_or_not(x):
    return tg.sum(x) if float(tg.sum(x)) > 0 else tg.sum(-x)


try:
    tg.jit(relu_or_not)(np.ones(3))
except ConcretizationError as err:
    print("jit:", str(err)[:120], "...")
else:
    raise AssertionError("float() of a traced value should have been refused")

# %% [markdown]
# ## 4. What a replay cannot remove: passes over memory
#
# A replay removes the engine's Python, not NumPy's work. At large N that work is passes over
# the N × N matrices, and their number depends on how the loss is written. NCA's
# p_i = Σ_{j ∈ C_i} p_ij written as a softmax followed by a masked sum takes about twelve: the
# softmax (mask the diagonal, row max, shift, exp, row sum, divide), the masked sum (read the
# class mask), and in the reverse sweep the sum's VJP (spread ḡ over the mask), the softmax
# VJP (Σ_j ḡ_ij p_ij, subtract, multiply). A gradient derived by hand needs five, because it
# knows that Σ_j ḡ_ij p_ij is ḡ_i p_i — a number the forward pass already has — and that with
# the points sorted by class, the classmates of a point are one range of columns, not a mask.
#
# `tg.softmax_mass(x, start, stop, exclude)` is that pair as one primitive, as PyTorch fuses
# `log_softmax` with the NLL loss: its forward pass keeps exp(x − max) and the row sums
# (`Primitive(saves=True)`), and its VJP x̄_ij = ḡ_i p_ij([start_i ≤ j < stop_i] − p_i) is one
# scaling of those exponentials. Both forms give the same numbers; the fused one does less.

# %%
n = 400 if SMALL else 2000
codes = np.sort(rng.integers(0, 10, n))  # class labels, sorted
start, stop = np.searchsorted(codes, codes, "left"), np.searchsorted(codes, codes, "right")
rows = np.arange(n)
others = ~np.eye(n, dtype=bool)  # j ≠ i
same = (codes[:, None] == codes[None, :]) & others  # j ∈ C_i
logits = rng.standard_normal((n, n))


def composed(x):
    return tg.sum(tg.softmax(x, axis=1, where=others), where=same)


def fused(x):
    return tg.sum(tg.softmax_mass(x, start, stop, exclude=rows))


forms = {
    name: tg.jit(tg.value_and_grad(f)) for name, f in (("composed", composed), ("fused", fused))
}
results = {name: step(logits) for name, step in forms.items()}
np.testing.assert_allclose(results["fused"][0], results["composed"][0], rtol=1e-13)
np.testing.assert_allclose(results["fused"][1], results["composed"][1], rtol=1e-10, atol=1e-15)
seconds = {name: [] for name in forms}
for _ in range(5):
    for name, step in forms.items():
        start_time = time.perf_counter()
        step(logits)
        seconds[name].append(time.perf_counter() - start_time)
for name, step in forms.items():
    calls = [
        line.split(" = ")[1].removeprefix("_asarray(") for line in step.program(logits).listing
    ]
    listed = [call.split("(")[0] for call in calls]
    print(f"{name:8s} {np.median(seconds[name]) * 1e3:6.1f} ms  steps: {', '.join(listed)}")

# %% [markdown]
# ## 5. Replay against the eager engine
#
# The replay runs the same NumPy calls; what it saves is the engine's Python around them, a
# fixed cost per operation. So the gain is largest for small N, and it fades as the O(N²)
# arithmetic takes over. (Timings on a shared machine are noisy: each point is the median of
# interleaved rounds.)

# %%
sizes = [16, 32, 64, 128, 256] if SMALL else [16, 32, 64, 128, 256, 512, 1024, 2048]
calls = 10 if SMALL else 40
eager_ms, jit_ms = [], []
for n in sizes:
    A, X, y = problem(n, D=16, d=4)
    step = tg.jit(eager, static_argnums=2)
    step(A, X, y)  # the trace, not timed
    runs = {"eager": [], "jit": []}
    for _ in range(5):
        for name, fn in (("eager", eager), ("jit", step)):
            start = time.perf_counter()
            for _ in range(calls):
                fn(A, X, y)
            runs[name].append((time.perf_counter() - start) / calls * 1e3)
    eager_ms.append(np.median(runs["eager"]))
    jit_ms.append(np.median(runs["jit"]))
    print(
        f"N = {n:5d}: eager {eager_ms[-1]:8.3f} ms   jit {jit_ms[-1]:8.3f} ms   "
        f"speed-up {eager_ms[-1] / jit_ms[-1]:5.2f}×"
    )
assert jit_ms[0] < eager_ms[0]  # at the smallest N the replay wins clearly

# %%
import matplotlib.pyplot as plt  # noqa: E402

fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
ax.loglog(sizes, eager_ms, "o-", label="eager: value_and_grad(nca_loss)")
ax.loglog(sizes, jit_ms, "s-", label="tg.jit(value_and_grad(nca_loss))")
ax.set_xlabel("N (D = 16, d = 4)")
ax.set_ylabel("ms per loss + gradient")
ax.legend()
ax2.semilogx(sizes, np.array(eager_ms) / np.array(jit_ms), "o-")
ax2.axhline(1.0, color="gray", lw=0.8)
ax2.set_xlabel("N")
ax2.set_ylabel("speed-up of the replay")
fig.tight_layout()
save(fig, OUT, "jit_against_eager.png")

# %% [markdown]
# ## 6. Large N: threads
#
# Where the arithmetic dominates, the jit has little left to save; the other lever is more
# cores. `nca_loss(..., n_jobs=k)` computes row blocks of the N × N matrices on k threads (NumPy
# releases the GIL inside its loops), adding their sums in block order, so the result is the
# same bits for every k. (A replayed program runs on one thread: a trace sees only the thread
# that made it, so under `tg.jit` the blocks run in turn.)

# %%
n = 600 if SMALL else 3000
A, X, y = problem(n, D=32, d=4)
block = n // 4
times = {}
for jobs in (1, 2):
    f = tg.value_and_grad(lambda A, X: tg.nca_loss(A, X, y, block_size=block, n_jobs=jobs))
    results = f(A, X)
    start = time.perf_counter()
    for _ in range(3):
        f(A, X)
    times[jobs] = (time.perf_counter() - start) / 3
    print(
        f"n_jobs = {jobs}: {times[jobs] * 1e3:7.1f} ms",
        ""
        if jobs == 1
        else f"(speed-up {times[1] / times[jobs]:.2f}× on a machine with "
        f"{tg.blockwise.available_cores()} cores)",
    )
    if jobs == 1:
        reference = results
assert np.array_equal(results[1], reference[1])  # the same bits for every n_jobs
