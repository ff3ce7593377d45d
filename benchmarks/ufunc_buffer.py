"""NumPy's ufunc buffer size against the row length, for x − m and x·m with m one number
per row (the softmax family's broadcast passes): why kernels.row_buffer picks a quarter row.

    OMP_NUM_THREADS=1 python benchmarks/ufunc_buffer.py

Prints ns per element (median of 5 rounds, each the best of 10 calls) for rows of each
length with each buffer size, and the size kernels.row_buffer chooses.
"""

import time

import numpy as np

from tinygrad_nca import kernels

ROWS = (128, 250, 500, 1000, 2000, 8000)
BUFFERS = (8192, 1024, 512, 256, 128)


def main(rounds=5):
    rng = np.random.default_rng(0)
    results = {}
    for _ in range(rounds):
        for n in ROWS:
            x, m = (
                rng.random((max(16, 1_000_000 // n), n)),
                rng.random((max(16, 1_000_000 // n), 1)),
            )
            for size in BUFFERS:
                previous = np.setbufsize(size)
                try:
                    best = np.inf
                    for _ in range(10):
                        t = time.perf_counter()
                        np.subtract(x, m, out=x)
                        np.multiply(x, m, out=x)
                        best = min(best, time.perf_counter() - t)
                finally:
                    np.setbufsize(previous)
                results.setdefault((n, size), []).append(best / x.size * 1e9)
    print("row length | " + " | ".join(f"buffer {b}" for b in BUFFERS) + " | row_buffer")
    print("---|" + "---|" * len(BUFFERS) + "---")
    for n in ROWS:
        cells = " | ".join(f"{np.median(results[(n, b)]):.2f}" for b in BUFFERS)
        print(f"{n} | {cells} | {kernels.row_buffer(np.zeros((1, n)))}")


if __name__ == "__main__":
    main()
