"""Benchmark tinygrad_nca's NCA loss + gradient against its peers, in one process run.

    python benchmarks/run.py            # full run (≈ 10 minutes on 2 cores), the README's table
    python benchmarks/run.py --quick    # smaller sizes, ≈ 1–2 minutes
    python benchmarks/run.py --smoke    # a few seconds: what CI runs

Every method computes the same objective, f(A) = Σ_i Σ_{j∈C_i} p_ij, and its gradient on the same
synthetic data (peers.make_data), with the thread count pinned before NumPy is imported (and
printed). Before anything is timed, every method is checked against the paper's formula at a
small size, and at every timed size against scikit-learn (1e-8 relative in float64): a method that
disagrees stops the run with exit status 1.

Then, for each size of a sweep over N (D, d fixed) and one over D (N, d fixed): one warm-up call
per method, then ``--repeats`` rounds in which every method runs once (in a new random order
each round, so a burst of load on a shared machine, or a peer that leaves the caches cold, hits
every method alike); the median, min and max are reported.
The paper's closed form (eq. 5, evaluated at its cheapest, O(dDN²)) is run where that takes less
than ``--eq5-seconds`` and projected from the measured constant elsewhere (marked ≈ and *).
Peak extra memory of one loss + gradient is measured per method in a fresh process (VmHWM), the
engine overhead on a tiny problem (N = 32, D = 8, d = 2) against HIPS autograd, and, in the full
run, the headline size once more under glibc's tuned MALLOC_* settings (see the anchors).

Outputs (``--out-dir``, default benchmarks/results): results.csv, results.png (time vs N and vs
D, log-log), results.md (the tables, the machine, the command), and the same tables on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
HEADLINE = (4000, 784, 32)
PROFILES = {  # sizes and repeats of each mode; the options override them
    "full": dict(
        sizes_n=[1000, 2000, 3000, 4000, 6000, 8000],
        D=784,
        d=32,
        sizes_D=[64, 256, 784, 2048, 4096],
        d_sweep_n=4000,
        repeats=5,
        memory_size=HEADLINE,
        check_size=(200, 16, 4),
        tiny_repeats=300,
        compare=True,
        scale_size=(20000, 784, 32),
    ),
    "quick": dict(
        sizes_n=[500, 1000, 2000],
        D=784,
        d=32,
        sizes_D=[64, 256, 1024, 4096],
        d_sweep_n=1000,
        repeats=3,
        memory_size=(2000, 784, 32),
        check_size=(200, 16, 4),
        tiny_repeats=100,
        compare=False,
        scale_size=(8000, 784, 32),
    ),
    "smoke": dict(
        sizes_n=[60, 120],
        D=16,
        d=4,
        sizes_D=[8, 32],
        d_sweep_n=60,
        repeats=2,
        memory_size=(120, 16, 4),
        check_size=(40, 6, 2),
        tiny_repeats=5,
        compare=False,
        # the slow-to-import peers (JAX, PyTorch) only on request; one memory child
        methods="tg,tg_full,tg_f32,tg_forward,tg_forward_full,tg_forward_f32,sklearn,"
        "handtuned,autograd,eq5",
        memory_methods="tg",
        scale_size=(400, 16, 4),
        no_fit=True,
    ),
}


def parse_args(argv):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    mode.add_argument("--smoke", action="store_true", help="tiny sizes: checks the machinery (CI)")
    ints = lambda s: [int(v) for v in s.split(",") if v.strip()]  # noqa: E731
    p.add_argument("--sizes-n", type=ints, help="N of the N sweep, e.g. 1000,2000,4000")
    p.add_argument("--D", type=int, help="D of the N sweep")
    p.add_argument("--d", type=int, help="d (the projected dimension) of both sweeps")
    p.add_argument("--sizes-D", type=ints, help="D of the D sweep ('' for none)")
    p.add_argument("--d-sweep-n", type=int, help="N of the D sweep")
    p.add_argument("--repeats", type=int, help="timed rounds per size (median reported)")
    p.add_argument("--methods", help="comma-separated subset of: " + ", ".join(METHOD_NAMES))
    p.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP/XLA threads (default 1)")
    p.add_argument(
        "--block-size",
        type=int,
        default=None,
        help="rows per block of the default tinygrad_nca methods (default: "
        "nca_loss's automatic choice); the *_full methods use the N × N matrices",
    )
    p.add_argument(
        "--eq5-seconds",
        type=float,
        default=4.0,
        help="run the paper's formula where one call is predicted to take less than "
        "this; project it elsewhere (default 4)",
    )
    p.add_argument(
        "--max-seconds",
        type=float,
        default=30.0,
        help="skip a method at a size where one call is predicted to take longer",
    )
    p.add_argument("--memory-size", type=ints, help="N,D,d of the peak-memory measurement")
    p.add_argument("--memory-methods", help="measure peak memory of these methods only")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    p.add_argument("--no-tiny", action="store_true", help="skip the tiny-problem overhead")
    p.add_argument(
        "--scale-size",
        type=ints,
        help="N,D,d of the scale run (one blockwise loss + gradient, peak RSS)",
    )
    p.add_argument("--no-scale", action="store_true", help="skip the scale run")
    p.add_argument(
        "--no-fit",
        action="store_true",
        default=None,
        help="skip the fits on digits (float64 vs float32 vs scikit-learn accuracy)",
    )
    p.add_argument("--no-plot", action="store_true")
    p.add_argument(
        "--allocator-compare",
        dest="compare",
        action="store_true",
        default=None,
        help="re-measure the headline size under tuned MALLOC_* settings (full run)",
    )
    p.add_argument("--no-allocator-compare", dest="compare", action="store_false")
    p.add_argument("--out-dir", default=os.path.join(HERE, "results"))
    p.add_argument("--json", help=argparse.SUPPRESS)  # used by the allocator child
    p.add_argument(
        "--corrupt",
        metavar="METHOD",
        help="self-test of the agreement check: perturb METHOD's gradient by 1e-6 "
        "relative; the run must then fail",
    )
    p.add_argument(
        "--memory-child", nargs=4, metavar=("METHOD", "N", "D", "d"), help=argparse.SUPPRESS
    )  # internal: one peak-memory child
    p.add_argument(
        "--scale-child", nargs=4, metavar=("METHOD", "N", "D", "d"), help=argparse.SUPPRESS
    )  # internal: the scale run
    args = p.parse_args(argv)
    profile = PROFILES["smoke" if args.smoke else "quick" if args.quick else "full"]
    for key, value in profile.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    args.memory_size = tuple(args.memory_size)
    args.scale_size = tuple(args.scale_size)
    args.check_size = tuple(args.check_size)
    return args


METHOD_NAMES = (
    "tg",
    "tg_full",
    "tg_jit",
    "tg_jit_full",
    "tg_f32",
    "tg_f32_full",
    "tg_forward",
    "tg_forward_full",
    "tg_forward_f32",
    "tg_forward_f32_full",
    "sklearn",
    "handtuned",
    "jax",
    "autograd",
    "torch",
    "eq5",
)


def pin_threads(n):
    """Fix the thread count of every pool before NumPy (or JAX, PyTorch) is imported."""
    for var in THREAD_VARS:
        os.environ[var] = str(n)
    os.environ["XLA_FLAGS"] = (
        f"--xla_cpu_multi_thread_eigen={'true' if n > 1 else 'false'} "
        f"intra_op_parallelism_threads={n}"
    )
    for path in (ROOT, HERE):  # measure this working tree's tinygrad_nca
        if path not in sys.path:
            sys.path.insert(0, path)


# ---------------------------------------------------------------------------------- measuring
def _row(section, m, size, **extra):
    N, D, d = size
    row = dict(
        section=section,
        method=m.name,
        label=m.label,
        dtype=m.dtype.__name__,
        N=N,
        D=D,
        d=d,
        status="measured",
        repeats=0,
        median_s=None,
        min_s=None,
        max_s=None,
        rel_err_f=None,
        rel_err_grad=None,
        note="",
        forward=m.forward,
    )
    row.update(extra)
    return row


def _relative_errors(out, ref):
    import numpy as np

    err_f = abs(out[0] - ref[0]) / abs(ref[0])
    err_g = None
    if out[1] is not None:
        g, r = np.asarray(out[1], dtype=np.float64), np.asarray(ref[1], dtype=np.float64)
        err_g = float(np.max(np.abs(g - r)) / np.max(np.abs(r)))
    return float(err_f), err_g


class AgreementError(RuntimeError):
    pass


def check_agreement(outputs, reference, where, tolerance):
    """Relative errors of every method's (f, ∂f/∂A) against ``reference``'s; raise
    AgreementError naming each method beyond its dtype's tolerance."""
    ref = outputs[reference]
    errors, bad = {}, []
    for name, out in outputs.items():
        errors[name] = _relative_errors(out[1], ref[1])
        tol = tolerance[out[0].dtype.__name__]
        if max(e for e in errors[name] if e is not None) > tol or not all(
            e == e for e in errors[name] if e is not None
        ):  # NaN fails too
            bad.append(
                f"{out[0].label}: loss rel. error {errors[name][0]:.1e}, gradient "
                f"{'—' if errors[name][1] is None else f'{errors[name][1]:.1e}'} "
                f"(tolerance {tol:g}) against {ref[0].label}"
            )
    if bad:
        raise AgreementError(f"methods disagree at {where}:\n  " + "\n  ".join(bad))
    return errors


def agreement_at_check_size(methods, size, tolerance, corrupt):
    """Every method against the paper's eq. 5 written literally (peers.paper_eq5_loss_grad)."""
    import peers
    from methods import Method, inputs

    X, y, A = peers.make_data(*size, seed=3)
    literal = Method(
        "eq5_literal", "paper eq. 5 (literal, D×D outer products)", peers.paper_eq5_loss_grad
    )
    outputs = {"eq5_literal": (literal, literal.fn(A, X, y))}
    for name, m in methods.items():
        Am, Xm = inputs(A, X, m.dtype)
        outputs[name] = (m, _call(m, Am, Xm, y, corrupt))
    errors = check_agreement(outputs, "eq5_literal", f"N, D, d = {size}", tolerance)
    worst = {k: max(e for e in v if e is not None) for k, v in errors.items()}
    print(
        f"agreement at N, D, d = {size} against the paper's eq. 5 (literal): "
        + ", ".join(
            f"{outputs[k][0].label} {v:.0e}" for k, v in worst.items() if k != "eq5_literal"
        )
    )


def _call(m, A, X, y, corrupt):
    out = m.fn(A, X, y)
    if corrupt == m.name and out[1] is not None:
        out = (out[0], out[1] * (1 + 1e-6))
    return out


def measure_size(section, methods, size, args, history, tolerance):
    """Time every method at one size (see the module docstring); returns the result rows."""
    import gc

    import numpy as np
    import peers
    from methods import inputs

    N, D, d = size
    X, y, A = peers.make_data(N, D, d)
    rows, run = [], {}
    for name, m in methods.items():
        predicted = _predict(history.get(name), size, m)
        if m.cost_model == "dDN2":
            first = "eq5_constant" not in history  # measure it once per sweep if at all
            eq5 = history.setdefault("eq5_constant", _eq5_constant(m, size))
            predicted = eq5 * d * D * N * N
            if predicted > args.eq5_seconds * (5 if first else 1):
                rows.append(
                    _row(
                        section,
                        m,
                        size,
                        status="projected",
                        median_s=predicted,
                        note="projected as c·dDN²",
                    )
                )
                continue
        elif predicted is not None and predicted > args.max_seconds:
            rows.append(
                _row(
                    section,
                    m,
                    size,
                    status="skipped",
                    note=f"predicted {predicted:.0f} s > --max-seconds",
                )
            )
            continue
        run[name] = m
    # Warm-up: the first call of each method, whose result is checked before anything is timed.
    outputs, compile_s = {}, {}
    for name, m in run.items():
        Am, Xm = inputs(A, X, m.dtype)
        if name == "jax":
            compile_s[name] = peers.jax_compile_seconds(Am, Xm, y)
        outputs[name] = (m, _call(m, Am, Xm, y, args.corrupt))
    reference = next((k for k in ("sklearn", "handtuned", "tg") if k in outputs), None)
    errors = (
        check_agreement(outputs, reference, f"{section} sweep, N, D, d = {size}", tolerance)
        if reference
        else {}
    )
    data = {name: inputs(A, X, m.dtype) for name, m in run.items()}
    times = {name: [] for name in run}
    slow = {name for name, m in run.items() if m.cost_model}  # eq. 5: few repeats
    gc.collect()
    # A fresh (seeded) order every round: rotating one fixed order would keep each method's
    # predecessor fixed, and the method after a heavy peer (one that leaves the caches cold
    # and returns its memory to the OS) would always pay for it.
    shuffle = np.random.default_rng(N * 7919 + D)
    for _ in range(args.repeats):
        for name in shuffle.permutation(list(run)):
            if name in slow and len(times[name]) >= max(1, min(2, args.repeats)):
                continue
            Am, Xm = data[name]
            start = time.perf_counter()
            run[name].fn(Am, Xm, y)
            times[name].append(time.perf_counter() - start)
    for name, m in run.items():
        t = np.array(times[name])
        note = f"JAX compile {compile_s[name]:.2f} s (not included)" if name in compile_s else ""
        err = errors.get(name, (None, None))
        rows.append(
            _row(
                section,
                m,
                size,
                repeats=len(t),
                times=t.tolist(),
                median_s=float(np.median(t)),
                min_s=float(t.min()),
                max_s=float(t.max()),
                rel_err_f=err[0],
                rel_err_grad=err[1],
                note=note,
            )
        )
        history[name] = (size, float(np.median(t)))
        if m.cost_model == "dDN2":
            history["eq5_constant"] = float(np.median(t)) / (d * D * N * N)
    return rows


def _predict(previous, size, m):
    """A time for ``size`` scaled from the previous measurement (N² in N, linear in D)."""
    if previous is None:
        return None
    (N0, D0, d0), t0 = previous
    N, D, d = size
    return t0 * (N / N0) ** 2 * max(D / D0, 1.0)


def _eq5_constant(m, size):
    """Seconds per d·D·N² of the paper's formula, from one call at a small N."""
    import peers

    N, D, d = size
    n = min(N, 200)
    X, y, A = peers.make_data(n, D, d)
    start = time.perf_counter()
    m.fn(A, X, y)
    return (time.perf_counter() - start) / (d * D * n * n)


def measure_tiny(methods, repeats, rounds=10):
    """The engine's overhead: many calls at N = 32, D = 8, d = 2.

    Each method makes ``repeats / rounds`` consecutive calls per round, as inside an optimiser
    loop, and the rounds rotate through the methods: alternating call by call with JAX or
    PyTorch would evict the caches of Python-heavy code (ours, autograd's) between calls and
    measure that instead (≈ 1.5× slower for both, measured)."""
    import numpy as np
    import peers

    size = (32, 8, 2)
    X, y, A = peers.make_data(*size)
    names = [
        n
        for n in ("tg", "tg_jit", "autograd", "sklearn", "handtuned", "torch", "jax")
        if n in methods
    ]
    for name in names:  # warm-up (JAX compiles here)
        for _ in range(5):
            methods[name].fn(A, X, y)
    times = {n: [] for n in names}
    burst = max(1, repeats // rounds)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            fn = methods[name].fn
            for _ in range(burst):
                start = time.perf_counter()
                fn(A, X, y)
                times[name].append(time.perf_counter() - start)
    return [
        _row(
            "tiny",
            methods[n],
            size,
            repeats=len(t),
            median_s=float(np.median(t)),
            min_s=float(np.min(t)),
            max_s=float(np.max(t)),
        )
        for n, t in times.items()
    ]


# --------------------------------------------------------------------------------- peak memory
def memory_child(name, N, D, d, block_size):
    """Child process: peak extra memory of one loss + gradient, printed as JSON. (JAX is
    compiled, and tg.jit traced, at the real shape first: the call measured is a replay.)

    ``bytes``: the rise of the peak resident set (VmHWM, reset just before the call) over the
    resident set before it — what the machine must have. ``traced``: the peak of NumPy's
    allocations during a second call, by tracemalloc — exact for NumPy-based methods, but blind
    to JAX's and PyTorch's own allocators (None for those), and it counts memory that glibc may
    serve from pages already resident (which VmHWM does not see)."""
    import gc
    import tracemalloc

    import numpy as np
    import peers
    from methods import all_methods, inputs

    m = all_methods(block_size)[name]
    X, y, A = peers.make_data(50, D, d, seed=1)
    m.fn(*inputs(A, X, m.dtype), y)  # imports and first-call costs, at a tiny size
    X, y, A = peers.make_data(N, D, d)
    A, X = inputs(A, X, m.dtype)
    fn = m.fn
    if name == "jax":  # compile at the real shape first, run that
        vg, *args = peers._jax_inputs(A, X, y)
        compiled = vg.lower(*args).compile()
        fn = lambda A, X, y: tuple(map(np.asarray, compiled(*peers._jax_inputs(A, X, y)[1:])))  # noqa: E731
    if name.startswith("tg_jit"):  # likewise, trace at the real shape first: what every
        fn(A, X, y)  # iteration of a fit costs is a replay (the trace peaks as eager does)
    gc.collect()
    with open("/proc/self/clear_refs", "w") as fh:  # reset VmHWM to the current RSS
        fh.write("5")
    base = peers.status_kb("VmRSS")
    fn(A, X, y)
    extra = max(peers.status_kb("VmHWM") - base, 0) * 1024
    traced = None
    if name not in ("jax", "torch"):
        gc.collect()
        tracemalloc.start()
        fn(A, X, y)
        traced = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    print(
        json.dumps(
            {
                "method": name,
                "N": N,
                "D": D,
                "d": d,
                "bytes": extra,
                "peak_nxn": extra / (8.0 * N * N),
                "traced": traced,
                "traced_nxn": None if traced is None else traced / (8.0 * N * N),
            }
        )
    )


def measure_memory(methods, size, block_size, threads):
    N, D, d = size
    results = []
    for name, m in methods.items():
        if m.cost_model:  # the paper's formula holds O(ND) at a time, but takes minutes
            continue
        out = subprocess.run(
            [
                sys.executable,
                os.path.abspath(__file__),
                "--threads",
                str(threads),
                *_block_option(block_size),
                "--memory-child",
                name,
                str(N),
                str(D),
                str(d),
            ],
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            raise RuntimeError(f"memory child for {name} failed:\n{out.stderr}")
        result = json.loads(out.stdout.strip().splitlines()[-1])
        traced = (
            ""
            if result["traced"] is None
            else f"; NumPy allocations (tracemalloc) {result['traced_nxn']:.2f}"
        )
        print(
            f"  {m.label:28s} {result['bytes'] / 2**20:8.0f} MiB = "
            f"{result['peak_nxn']:.2f} N×N float64 (VmHWM){traced}",
            flush=True,
        )
        results.append(result)
    return results


def _auto_block_size(N):
    from tinygrad_nca.nca import loss

    return max(1, loss.AUTO_BLOCK_PAIRS // N)


def measure_fit(n_components=32):
    """Fit NCA on scikit-learn's digits (standardised, stratified 70/30 split) with
    tinygrad_nca in float64 and float32 and with scikit-learn; k-NN test accuracy."""
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neighbors import NeighborhoodComponentsAnalysis as SklearnNCA
    from sklearn.preprocessing import StandardScaler

    import tinygrad_nca as tg

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0
    )
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    estimators = [
        (
            "tinygrad_nca float64",
            tg.NeighborhoodComponentsAnalysis(n_components=n_components, random_state=0),
        ),
        (
            "tinygrad_nca float32",
            tg.NeighborhoodComponentsAnalysis(
                n_components=n_components, random_state=0, dtype=np.float32
            ),
        ),
        ("scikit-learn (float64)", SklearnNCA(n_components=n_components, random_state=0)),
    ]
    results = []
    for label, estimator in estimators:
        start = time.perf_counter()
        estimator.fit(X_train, y_train)
        seconds = time.perf_counter() - start
        Z_train, Z_test = estimator.transform(X_train), estimator.transform(X_test)
        accuracy = {
            k: KNeighborsClassifier(k).fit(Z_train, y_train).score(Z_test, y_test) for k in (1, 3)
        }
        results.append(
            {
                "label": label,
                "seconds": seconds,
                "n_iter": int(estimator.n_iter_),
                "acc1": accuracy[1],
                "acc3": accuracy[3],
                "N": len(X_train),
                "D": X.shape[1],
                "d": n_components,
            }
        )
        print(
            f"  fit {label:24s} {seconds:6.2f} s, {estimator.n_iter_} iterations, 1-NN "
            f"{accuracy[1]:.2%}, 3-NN {accuracy[3]:.2%}",
            flush=True,
        )
    return results


def _block_option(block_size):
    return [] if block_size is None else ["--block-size", str(block_size)]


def scale_child(name, N, D, d, block_size):
    """Child process: the data and two loss + gradient calls at a large N, printed as JSON:
    the time of each call, and the process's peak resident set (VmHWM) from start to end."""
    import peers
    from methods import all_methods, inputs

    m = all_methods(block_size)[name]
    X, y, A = peers.make_data(N, D, d)
    A, X = inputs(A, X, m.dtype)
    seconds = []
    for _ in range(2):
        start = time.perf_counter()
        m.fn(A, X, y)
        seconds.append(time.perf_counter() - start)
    print(
        json.dumps(
            {
                "method": name,
                "N": N,
                "D": D,
                "d": d,
                "seconds": seconds,
                "peak_rss": peers.status_kb("VmHWM") * 1024,
                "block_size": block_size or _auto_block_size(N),
            }
        )
    )


def measure_scale(args, methods, rows):
    """The blockwise loss + gradient at ``--scale-size`` in a fresh process, against the
    full-matrix time there: measured if --scale-full, else extrapolated from the N sweep."""
    import report

    name = "tg"
    if name not in methods:
        return None
    N, D, d = args.scale_size
    out = subprocess.run(
        [
            sys.executable,
            os.path.abspath(__file__),
            "--threads",
            str(args.threads),
            *_block_option(args.block_size),
            "--scale-child",
            name,
            str(N),
            str(D),
            str(d),
        ],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise RuntimeError(f"scale child failed:\n{out.stderr}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    # The full-matrix time at this N, extrapolated along the fitted slope of the N sweep.
    full = [
        r
        for r in rows
        if r["section"] == "N"
        and r["method"] == "tg_full"
        and r["status"] == "measured"
        and (r["D"], r["d"]) == (D, d)
    ]
    if full:
        top = max(full, key=lambda r: r["N"])
        k = report.slope(rows, "N", "tg_full", "N", min(2000, top["N"]))
        result["full_extrapolated"] = top["median_s"] * (N / top["N"]) ** (k or 2.0)
        result["full_from"] = (top["N"], k or 2.0, k is not None)
    return result


def allocator_child(args, size):
    """The headline size again in a child process under glibc's tuned MALLOC_* settings."""
    import report

    path = os.path.join(args.out_dir, "tuned_allocator.json")
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--sizes-n",
        str(size[0]),
        "--D",
        str(size[1]),
        "--d",
        str(size[2]),
        "--sizes-D",
        "",
        "--repeats",
        str(args.repeats),
        "--threads",
        str(args.threads),
        *_block_option(args.block_size),
        "--no-memory",
        "--no-tiny",
        "--no-plot",
        "--no-allocator-compare",
        "--no-scale",
        "--eq5-seconds",
        "0",
        "--out-dir",
        args.out_dir,
        "--json",
        path,
    ]
    chosen = args.methods.split(",") if args.methods else list(METHOD_NAMES)
    cmd += ["--methods", ",".join(m for m in chosen if m != "eq5")]  # minutes, no allocations
    subprocess.run(
        cmd, env=dict(os.environ, **report.TUNED_MALLOC), check=True, stdout=subprocess.DEVNULL
    )
    with open(path) as fh:
        rows = json.load(fh)["rows"]
    os.remove(path)
    for r in rows:
        r["section"], r["allocator"] = "tuned", "tuned"
    return rows


# --------------------------------------------------------------------------------------- main
def main(argv=None):
    args = parse_args(argv)
    pin_threads(args.threads)
    if args.memory_child:
        name, *size = args.memory_child
        return memory_child(name, *map(int, size), args.block_size)
    if args.scale_child:
        name, *size = args.scale_child
        return scale_child(name, *map(int, size), args.block_size)

    import numpy as np
    import report
    from methods import all_methods, available

    wanted = args.methods.split(",") if args.methods else list(METHOD_NAMES)
    unknown = sorted(set(wanted) - set(METHOD_NAMES))
    if unknown:
        sys.exit(f"unknown method(s) {unknown}; choose from {', '.join(METHOD_NAMES)}")
    every = all_methods(args.block_size)
    methods, skipped = available({k: v for k, v in every.items() if k in wanted})
    if "torch" in methods:
        import torch

        torch.set_num_threads(args.threads)
    info = report.machine_description(args.threads)
    os.makedirs(args.out_dir, exist_ok=True)
    print(report.describe_machine(info))
    print("threads: " + ", ".join(f"{v}={os.environ[v]}" for v in THREAD_VARS + ("XLA_FLAGS",)))
    for name, why in skipped.items():
        print(f"not run: {name} ({why.splitlines()[0]})")
    tolerance = {"float64": 1e-8, "float32": 1e-4}

    rows, memory = [], []
    try:
        agreement_at_check_size(methods, args.check_size, tolerance, args.corrupt)
        for section, sizes in (
            ("N", [(n, args.D, args.d) for n in args.sizes_n]),
            ("D", [(args.d_sweep_n, D, args.d) for D in args.sizes_D]),
        ):
            history = {}
            for size in sizes:
                t0 = time.perf_counter()
                new = measure_size(section, methods, size, args, history, tolerance)
                rows += new
                print(
                    f"{section} sweep N, D, d = {size}: "
                    + ", ".join(
                        f"{r['method']} {report.fmt_time(r['median_s'])}"
                        + ("*" if r["status"] == "projected" else "")
                        for r in new
                        if r["median_s"] is not None
                    )
                    + f"  [{time.perf_counter() - t0:.0f} s]",
                    flush=True,
                )
    except AgreementError as err:
        print(f"\nAGREEMENT CHECK FAILED — nothing was timed at this size.\n{err}", file=sys.stderr)
        return 1
    if not args.no_tiny:
        rows += measure_tiny(methods, args.tiny_repeats)
    if not args.no_memory:
        print(
            f"peak extra memory of one loss + gradient at N, D, d = {args.memory_size} "
            "(one fresh process per method):"
        )
        chosen = args.memory_methods.split(",") if args.memory_methods else list(methods)
        memory = measure_memory(
            {k: m for k, m in methods.items() if k in chosen},
            args.memory_size,
            args.block_size,
            args.threads,
        )
    fits = None
    if not args.no_fit:
        print("NCA fits on digits (tinygrad_nca float64, float32; scikit-learn):", flush=True)
        fits = measure_fit()
    scale = None
    if not args.no_scale:
        print(
            f"scale: blockwise loss + gradient at N, D, d = {args.scale_size} in a fresh process…",
            flush=True,
        )
        scale = measure_scale(args, methods, rows)
    if args.compare:
        size = args.memory_size
        print(f"again at N, D, d = {size} with the tuned MALLOC_* allocator settings…", flush=True)
        rows += allocator_child(args, size)
    report.add_ratios(rows)

    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {"rows": rows, "memory": memory, "machine": info, "scale": scale, "fits": fits}, fh
            )
        return 0
    summary = summarise(args, rows, memory, methods, info, scale, fits)
    print("\n" + summary)
    with open(os.path.join(args.out_dir, "results.md"), "w") as fh:
        fh.write(summary + "\n")
    report.write_csv(
        os.path.join(args.out_dir, "results.csv"), rows, memory, args.threads, info["allocator"]
    )
    if not args.no_plot:
        report.plot(
            os.path.join(args.out_dir, "results.png"),
            rows,
            list(methods),
            f"NCA loss + gradient, {args.threads} thread(s), {info['cpu']}",
        )
    print(
        f"\nwrote {args.out_dir}/results.csv, results.md"
        + ("" if args.no_plot else ", results.png")
    )
    del np
    return 0


def summarise(args, rows, memory, methods, info, scale=None, fits=None):
    import report

    names = list(methods)
    head = (
        args.memory_size
        if any((r["N"], r["D"], r["d"]) == args.memory_size for r in rows if r["section"] == "N")
        else max(((r["N"], r["D"], r["d"]) for r in rows if r["section"] == "N"), default=None)
    )
    n_from = 2000 if max(args.sizes_n) > 2000 else min(args.sizes_n)
    parts = [
        f"## Results ({'smoke' if args.smoke else 'quick' if args.quick else 'full'} run, "
        f"git {report.git_commit()})",
        "",
        "Command: `" + report.command_line() + "`",
        "",
        report.describe_machine(info),
    ]
    if head:
        parts += [
            "",
            "### Targets of issue 5",
            "",
            report.targets_table(rows, memory, scale, head, n_from),
        ]
        parts += [
            "",
            "### At the headline size (default allocator)",
            "",
            report.headline_table(rows, memory, "N", head, names),
        ]
    if any(r["section"] == "tuned" for r in rows):
        parts += [
            "",
            "### The same, glibc allocator tuned "
            "(`MALLOC_MMAP_THRESHOLD_`, `MALLOC_TRIM_THRESHOLD_`, `MALLOC_TOP_PAD_`)",
            "",
            report.headline_table(rows, [], "tuned", head, names),
        ]
    parts += ["", "### Time against N", "", report.sweep_table(rows, "N", "N", names)]
    if any(r["section"] == "D" for r in rows):
        parts += ["", "### Time against D", "", report.sweep_table(rows, "D", "D", names)]
    parts += ["", "### Fitted log-log slopes", "", report.slope_table(rows, names, n_from)]
    compile_notes = [
        f"N = {r['N']}: {r['note'].split()[2]} s"
        for r in rows
        if r["method"] == "jax" and r["section"] == "N" and r["note"].startswith("JAX compile")
    ]
    if compile_notes:
        parts += [
            "",
            f"JAX compile time (ahead of time, once per shape, not in its times; "
            f"D = {args.D}): " + "; ".join(compile_notes) + ".",
        ]
    if scale:
        parts += ["", "### Scale", "", report.scale_text(scale)]
    if fits:
        parts += ["", "### Fitted models: float32 against float64", "", report.fit_table(fits)]
    tiny = report.tiny_table(rows)
    if tiny:
        parts += ["", "### Engine overhead on a tiny problem", "", tiny]
    parts += [
        "",
        "Medians of the timed rounds; ≈…* = the paper's formula projected as c·dDN² "
        "from its measured constant (too slow to run there); ratios are to scikit-learn "
        "and to tinygrad_nca's own forward pass (same dtype). Memory: peak RSS increase "
        "(VmHWM) of one loss + gradient in a fresh process, in units of one N×N float64 "
        "matrix.",
    ]
    return "\n".join(parts)


if __name__ == "__main__":
    sys.exit(main())
