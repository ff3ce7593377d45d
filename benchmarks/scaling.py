"""Strong scaling of the NCA loss + gradient over row-block threads (``nca_loss(n_jobs=k)``).

    python benchmarks/scaling.py                  # N = 4000, D = 784, d = 32; n_jobs = 1 … cores
    python benchmarks/scaling.py --n 1500         # a smaller problem (seconds)
    python benchmarks/scaling.py --big            # also N = 50,000 full batch on 2 jobs: peak
                                                  # memory and time, in a child process (minutes)

Every BLAS / OpenMP pool gets one thread (set before NumPy is imported, printed), so that k jobs
use k cores and no more. One warm-up call per job count, then ``--repeats`` rounds in which every
job count runs once, in a new (seeded) random order each round; the table gives the median wall
time, the median of the per-round ratios t(1 job) / t(k jobs) (the two runs of a ratio are moments
apart, so a burst of load from elsewhere mostly cancels), the CPU time per call (all threads: on
an idle machine about k × wall for k jobs; much less means other processes took the cores), and
whether value and gradient are bit-identical to those of one job (they must be: the blocks are
added in block order whatever the number of threads).

``--big`` runs one loss + gradient at ``--big-n`` (default 50,000) points on ``--big-jobs``
(default 2) threads in a fresh process and reports its time and its peak resident set (VmHWM, the
whole process: Python, NumPy, X itself (N × D float64) and the loss), against a 4 GB target.
"""

from __future__ import annotations

import os

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
for _var in THREAD_VARS:  # before NumPy: one BLAS thread per job
    os.environ.setdefault(_var, "1")

import argparse
import json
import platform
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # peers.py (the benchmarks' data)
sys.path.insert(0, os.path.dirname(HERE))  # this checkout's tinygrad_nca, not an installed one

from peers import make_data, status_kb  # noqa: E402

import tinygrad_nca as tg  # noqa: E402
from tinygrad_nca.blockwise import available_cores  # noqa: E402

TARGET_SPEEDUP = 1.6  # two jobs on two cores, N = 4000
TARGET_BYTES = 4e9  # N = 50,000 full batch


def parse_args(argv):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--n", type=int, default=4000, help="points (default 4000)")
    p.add_argument("--D", type=int, default=784, help="features (default 784)")
    p.add_argument("--d", type=int, default=32, help="projected dimension (default 32)")
    p.add_argument("--jobs", help="comma-separated n_jobs values (default 1, 2, … cores)")
    p.add_argument("--repeats", type=int, default=5, help="timed rounds (default 5)")
    p.add_argument(
        "--block-size",
        type=int,
        default=None,
        help="rows per block (default: nca_loss's automatic choice)",
    )
    p.add_argument("--big", action="store_true", help="also the big full-batch run (slow)")
    p.add_argument("--big-n", type=int, default=50000, help="points of the big run")
    p.add_argument("--big-jobs", type=int, default=2, help="n_jobs of the big run")
    p.add_argument("--big-child", action="store_true", help=argparse.SUPPRESS)  # internal
    args = p.parse_args(argv)
    cores = available_cores()
    args.jobs = [int(j) for j in args.jobs.split(",")] if args.jobs else list(range(1, cores + 1))
    if 1 not in args.jobs:
        args.jobs.insert(0, 1)  # the reference of the speed-ups
    return args


def loss_and_gradient(A, X, y, n_jobs, block_size):
    value, gradient = tg.value_and_grad(tg.nca_loss)(A, X, y, n_jobs=n_jobs, block_size=block_size)
    return float(value), gradient


def scaling_table(args):
    X, y, A = make_data(args.n, args.D, args.d)
    reference = loss_and_gradient(A, X, y, 1, args.block_size)
    identical, wall, cpu = {}, {k: [] for k in args.jobs}, {k: [] for k in args.jobs}
    for k in args.jobs:  # warm-up, and the bit-identity check
        value, gradient = loss_and_gradient(A, X, y, k, args.block_size)
        identical[k] = value == reference[0] and np.array_equal(gradient, reference[1])
    rng = np.random.default_rng(0)
    ratios = {k: [] for k in args.jobs}
    for _ in range(args.repeats):
        times = {}
        for k in rng.permutation(args.jobs):
            k = int(k)
            started, cpu_started = time.perf_counter(), time.process_time()
            loss_and_gradient(A, X, y, k, args.block_size)
            times[k] = time.perf_counter() - started
            wall[k].append(times[k])
            cpu[k].append(time.process_time() - cpu_started)
        for k in args.jobs:
            ratios[k].append(times[1] / times[k])
    n_blocks = len(_blocks_of(args))
    print(
        f"\nN = {args.n}, D = {args.D}, d = {args.d}: {n_blocks} row block{'s' * (n_blocks != 1)}, "
        f"{args.repeats} rounds\n"
    )
    print(
        "| n_jobs | time (s), median [min – max] | speed-up vs 1 job | CPU s / call "
        "| bit-identical to 1 job |"
    )
    print("|---:|---|---:|---:|:---:|")
    for k in args.jobs:
        w = wall[k]
        print(
            f"| {k} | {np.median(w):.3f} [{min(w):.3f} – {max(w):.3f}] "
            f"| {np.median(ratios[k]):.2f}× | {np.median(cpu[k]):.3f} "
            f"| {'yes' if identical[k] else 'NO'} |"
        )
    if 2 in ratios:
        verdict = "met" if np.median(ratios[2]) >= TARGET_SPEEDUP else "NOT met"
        print(
            f"\ntarget: 2 jobs ≥ {TARGET_SPEEDUP}× faster than 1 (on 2 idle cores, "
            f"N = 4000): {verdict} here"
        )
    return all(identical.values())


def _blocks_of(args):
    """The row blocks nca_loss uses at this size (for the table's caption)."""
    from tinygrad_nca.nca import loss

    size = args.block_size or max(1, loss.AUTO_BLOCK_PAIRS // args.n)
    return range(0, args.n, size) if size < args.n else [0]


def big_child(args):
    """In a fresh process: one loss + gradient at --big-n, its time and peak memory (JSON)."""
    X, y, A = make_data(args.big_n, args.D, args.d)
    data = status_kb("VmRSS") * 1024
    started = time.perf_counter()
    value, gradient = loss_and_gradient(A, X, y, args.big_jobs, args.block_size)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_rss": status_kb("VmHWM") * 1024,
                "rss_before": data,
                "x_bytes": X.nbytes,
                "value": value,
                "finite": bool(np.isfinite(gradient).all()),
            }
        )
    )


def big_run(args):
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--big-child",
        "--big-n",
        str(args.big_n),
        "--big-jobs",
        str(args.big_jobs),
        "--D",
        str(args.D),
        "--d",
        str(args.d),
    ]
    if args.block_size:
        cmd += ["--block-size", str(args.block_size)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    gb = 1e9
    print(
        f"\nfull batch, N = {args.big_n}, D = {args.D}, d = {args.d}, n_jobs = {args.big_jobs} "
        f"(fresh process)\n"
    )
    print("| time (s) | peak RSS, whole process | of which before the call (X: N × D) | target |")
    print("|---:|---:|---:|---|")
    verdict = "met" if r["peak_rss"] < TARGET_BYTES else "NOT met"
    print(
        f"| {r['seconds']:.1f} | {r['peak_rss'] / gb:.2f} GB | {r['rss_before'] / gb:.2f} GB "
        f"({r['x_bytes'] / gb:.2f} GB) | < {TARGET_BYTES / gb:.0f} GB: {verdict} |"
    )
    return r["finite"]


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.big_child:
        big_child(args)
        return 0
    threads = ", ".join(f"{v}={os.environ.get(v)}" for v in THREAD_VARS)
    print(
        f"# NCA loss + gradient over row-block threads\n\n{platform.processor() or platform.machine()}, "
        f"{available_cores()} cores available, {threads}, NumPy {np.__version__}, "
        f"command: python benchmarks/scaling.py {' '.join(sys.argv[1:] if argv is None else argv)}"
    )
    ok = scaling_table(args)
    if args.big:
        ok = big_run(args) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
