"""A/B: NCA loss + gradient of two git revisions of the engine, interleaved in time.

    python benchmarks/ab_revisions.py REV_A REV_B [--n 4000] [--D 784] [--d 32] [--rounds 7]

Each revision is checked out into a temporary git worktree; every round times one
call of ``value_and_grad(nca_loss)`` in a fresh subprocess for A and for B, in a
random order, so both see the same background load. Prints each round, the
median of each, and the median of the per-round ratios B / A (what the closing
note of an engine refactor quotes: "no slower than noise" means a ratio near 1
with the spread of the rounds around it). One BLAS thread.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile

import numpy as np

TIMER = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np, tinygrad_nca as tg
n, D, d, repeats = (int(a) for a in sys.argv[2:6])
rng = np.random.default_rng(0)
X = rng.normal(size=(n, D)); y = rng.integers(0, 10, n); A = rng.normal(size=(d, D)) * 0.01
f = tg.value_and_grad(tg.nca_loss)
f(A, X, y)                                   # warm-up
times = []
for _ in range(repeats):
    t = time.perf_counter(); f(A, X, y); times.append(time.perf_counter() - t)
print(min(times))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev_a")
    parser.add_argument("rev_b")
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--D", type=int, default=784)
    parser.add_argument("--d", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=3, help="calls per subprocess (min kept)")
    args = parser.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    top = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=True
    ).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        trees = {}
        for label, rev in (("A", args.rev_a), ("B", args.rev_b)):
            trees[label] = os.path.join(tmp, label)
            subprocess.run(
                ["git", "-C", top, "worktree", "add", "--detach", "-q", trees[label], rev],
                check=True,
            )
        try:
            times = {"A": [], "B": []}
            rng = random.Random(0)
            for r in range(args.rounds):
                order = ["A", "B"]
                rng.shuffle(order)
                for label in order:
                    out = subprocess.run(
                        [
                            sys.executable,
                            "-c",
                            TIMER,
                            trees[label],
                            str(args.n),
                            str(args.D),
                            str(args.d),
                            str(args.repeats),
                        ],
                        capture_output=True,
                        text=True,
                        env=env,
                        check=True,
                    )
                    times[label].append(float(out.stdout.split()[-1]))
                print(
                    f"round {r + 1}: A {times['A'][-1] * 1e3:8.1f} ms   B {times['B'][-1] * 1e3:8.1f} ms"
                    f"   B/A {times['B'][-1] / times['A'][-1]:.3f}",
                    flush=True,
                )
        finally:
            for tree in trees.values():
                subprocess.run(
                    ["git", "-C", top, "worktree", "remove", "--force", tree], check=False
                )
    ratios = np.array(times["B"]) / np.array(times["A"])
    print(
        f"N = {args.n}, D = {args.D}, d = {args.d}: A ({args.rev_a}) median "
        f"{np.median(times['A']) * 1e3:.1f} ms, B ({args.rev_b}) median {np.median(times['B']) * 1e3:.1f} ms"
    )
    print(
        f"B / A: median of per-round ratios {np.median(ratios):.3f} "
        f"(range {ratios.min():.3f}–{ratios.max():.3f}, {args.rounds} rounds)"
    )


if __name__ == "__main__":
    main()
