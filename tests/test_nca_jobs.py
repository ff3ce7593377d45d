"""Row blocks on several threads, processes or a Dask cluster: the same numbers as one."""

import concurrent.futures
import multiprocessing
import sys
import threading

import numpy as np
import pytest

import tinygrad_nca as tg


def _in_thread(fn):
    """Run ``fn`` in a new thread and return its result (or raise its exception)."""
    out = {}

    def target():
        try:
            out["value"] = fn()
        except BaseException as err:  # re-raised in the caller
            out["error"] = err

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(10)
    if "error" in out:
        raise out["error"]
    return out["value"]


def test_no_grad_in_one_thread_does_not_stop_recording_in_another():
    """The engine's switches are per thread: a reverse sweep (which runs under
    no_grad) on one thread must not turn another thread's forward pass into constants."""
    inside, release = threading.Event(), threading.Event()

    def hold_no_grad():
        with tg.no_grad():
            inside.set()
            release.wait(10)

    holder = threading.Thread(target=hold_no_grad)
    holder.start()
    try:
        assert inside.wait(10)
        x = tg.Tensor([1.0, 2.0], requires_grad=True)
        assert tg.is_grad_enabled()
        assert (x * 2).requires_grad
    finally:
        release.set()
        holder.join(10)
    assert tg.is_grad_enabled()  # and the switch was left as it was


def test_a_new_thread_starts_with_recording_on_and_no_listeners():
    from tinygrad_nca.tensor import listening, observed

    with tg.no_grad(), listening(on_op=lambda name, flops: None):
        assert observed()
        seen = _in_thread(lambda: (tg.is_grad_enabled(), observed()))
    assert seen == (True, False)


def test_threads_differentiating_at_once_get_their_own_gradients():
    """Eight threads each differentiate their own function many times; with a shared
    recording switch some of them would see it off and get no graph (an error or zeros)."""
    results = [None] * 8
    barrier = threading.Barrier(8)

    def work(k):
        barrier.wait(10)
        f = tg.grad(lambda x: tg.sum(tg.softmax(x * (k + 1), axis=0) * np.arange(50.0)))
        results[k] = [f(np.linspace(0, 1, 50)) for _ in range(40)]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, so that any race shows
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        sys.setswitchinterval(interval)
    for k in range(8):
        expected = tg.grad(lambda x: tg.sum(tg.softmax(x * (k + 1), axis=0) * np.arange(50.0)))(
            np.linspace(0, 1, 50)
        )
        for gradient in results[k]:
            np.testing.assert_array_equal(gradient, expected)


# ---------------------------------------------------------------- the NCA loss on threads
def _data(n, dim=6, classes=4, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, dim)).astype(dtype)
    y = rng.integers(0, classes, n)
    A = (rng.standard_normal((3, dim)) * 0.5).astype(dtype)
    return A, X, y


def _value_and_grad(A, X, y, **options):
    value, gradient = tg.value_and_grad(tg.nca_loss)(A, X, y, **options)
    return np.asarray(value.value if hasattr(value, "value") else value), gradient


@pytest.mark.parametrize("n, block_size", [(40, 7), (257, 64), (600, 33)])
@pytest.mark.parametrize("objective", ["expected", "log"])
@pytest.mark.parametrize("distance", ["gram", "broadcast"])
def test_every_n_jobs_gives_bit_identical_value_and_gradient(n, block_size, objective, distance):
    A, X, y = _data(n, seed=n)
    value, gradient = _value_and_grad(
        A, X, y, objective=objective, distance=distance, block_size=block_size
    )
    for n_jobs in (2, 3, 8, -1):
        other_value, other_gradient = _value_and_grad(
            A, X, y, objective=objective, distance=distance, block_size=block_size, n_jobs=n_jobs
        )
        assert np.array_equal(other_value, value), n_jobs
        assert np.array_equal(other_gradient, gradient), n_jobs


def test_float32_and_unsorted_rows_are_bit_identical_too():
    """float32 data, and a class of one point, so that the rows are not contiguous
    (the blocks are index arrays, not slices)."""
    A, X, y = _data(300, dtype=np.float32, seed=3)
    y[17] = 99  # a lone point: never a row, still a neighbour
    value, gradient = _value_and_grad(A, X, y, block_size=40)
    assert gradient.dtype == np.float32
    other_value, other_gradient = _value_and_grad(A, X, y, block_size=40, n_jobs=4)
    assert np.array_equal(other_value, value) and np.array_equal(other_gradient, gradient)


def test_automatic_blocks_on_threads_match_the_full_matrices(monkeypatch):
    """With the automatic block size forced small, several threads still give the
    value and gradient of the full N × N computation (up to rounding)."""
    from tinygrad_nca.nca import loss

    A, X, y = _data(200, seed=5)
    full_value, full_gradient = _value_and_grad(A, X, y, block_size=200)
    monkeypatch.setattr(loss, "AUTO_BLOCK_PAIRS", 200 * 16)  # blocks of 16 rows
    value, gradient = _value_and_grad(A, X, y, n_jobs=2)
    np.testing.assert_allclose(value, full_value, rtol=1e-12)
    np.testing.assert_allclose(gradient, full_gradient, rtol=1e-10, atol=1e-12)


def test_value_only_evaluation_on_threads():
    A, X, y = _data(300, seed=6)
    with tg.no_grad():
        one = float(tg.nca_loss(A, X, y, block_size=50).value)
        two = float(tg.nca_loss(A, X, y, block_size=50, n_jobs=2).value)
    assert one == two


# ---------------------------------------------------------------- sum_of_blocks itself
def _term(Z, W, rows):
    logits = (Z[rows] @ W) @ Z.T
    return tg.sum(tg.log_softmax(logits, axis=1) * np.linspace(0, 1, Z.shape[0]))


def test_sum_of_blocks_on_threads_is_the_serial_sum_bit_for_bit():
    rng = np.random.default_rng(7)
    Z, W = rng.standard_normal((90, 3)), rng.standard_normal((3, 3))
    blocks = [rng.permutation(90)[:k] for k in (5, 30, 1, 44)] + [slice(10, 80)]

    def total(n_jobs):
        return tg.value_and_grad(
            lambda Z, W: tg.sum_of_blocks(_term, Z, W, blocks=blocks, n_jobs=n_jobs), (0, 1)
        )(Z, W)

    value, (gZ, gW) = total(None)
    for n_jobs in (2, 5, -1):
        other, (oZ, oW) = total(n_jobs)
        assert float(other) == float(value)
        assert np.array_equal(oZ, gZ) and np.array_equal(oW, gW)


def test_an_error_in_a_block_reaches_the_caller_and_the_pool_stops():
    Z = np.ones((20, 2))
    blocks = [slice(i, i + 2) for i in range(0, 20, 2)]

    def term(Z, b):
        return Z[b] if b.start == 8 else tg.sum(Z[b])  # block 4 is not a scalar

    with pytest.raises(ValueError, match="must return a scalar"):
        tg.grad(lambda Z: tg.sum_of_blocks(term, Z, blocks=blocks, n_jobs=3))(Z)
    assert not [t for t in threading.enumerate() if t.name.startswith("sum_of_blocks")]


def test_detect_anomaly_reaches_the_worker_threads():
    Z = np.array([1.0, -1.0, 2.0, 3.0])
    halves = [slice(0, 2), slice(2, 4)]
    with tg.detect_anomaly(), pytest.raises(tg.AnomalyError, match="log"):
        tg.grad(
            lambda Z: tg.sum_of_blocks(
                lambda Z, b: tg.sum(tg.log(Z[b])), Z, blocks=halves, n_jobs=2
            )
        )(Z)


def test_op_listeners_see_every_op_of_every_block():
    """While ops are being counted, the blocks run in the calling thread (a worker
    thread's ops would go to that thread's listeners, none)."""
    from tinygrad_nca.tensor import listening

    A, X, y = _data(120, seed=8)
    counts = []
    for n_jobs in (None, 2):
        seen = []
        with listening(on_op=lambda name, flops: seen.append(name)):
            tg.grad(tg.nca_loss)(A, X, y, block_size=30, n_jobs=n_jobs)
        counts.append(len(seen))
    assert counts[0] == counts[1] > 4 * 10


class _CountingExecutor(concurrent.futures.Executor):
    """Runs each task at once, in the caller, and counts the futures whose result
    has not been taken yet (what sum_of_blocks holds in memory)."""

    def __init__(self):
        self.outstanding = self.most = self.submitted = 0

    def submit(self, fn, *args, **kwargs):
        executor, future = self, concurrent.futures.Future()

        class Counted(concurrent.futures.Future):
            def result(self, timeout=None):
                executor.outstanding -= 1
                return future.result(timeout)

        future.set_result(fn(*args, **kwargs))
        self.submitted += 1
        self.outstanding += 1
        self.most = max(self.most, self.outstanding)
        return Counted()


def test_any_executor_is_used_with_a_bounded_number_of_blocks_in_flight():
    from tinygrad_nca import blockwise

    x = np.linspace(-1, 1, 400)
    blocks = [slice(i, i + 4) for i in range(0, 400, 4)]
    executor = _CountingExecutor()
    gradient = tg.grad(
        lambda x: tg.sum_of_blocks(
            lambda x, b: tg.sum(tg.exp(x[b])), x, blocks=blocks, executor=executor
        )
    )(x)
    np.testing.assert_allclose(gradient, np.exp(x), rtol=1e-15)
    assert executor.submitted == 100
    assert executor.most == blockwise._IN_FLIGHT


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("n_jobs", [0, "x", 1.5, True, np.float64(2.0)])
def test_a_bad_n_jobs_is_refused_naming_it(n_jobs):
    A, X, y = _data(30)
    with pytest.raises(ValueError, match="n_jobs must be a nonzero integer"):
        tg.nca_loss(A, X, y, n_jobs=n_jobs)  # one block: refused all the same
    with pytest.raises(ValueError, match="n_jobs must be a nonzero integer"):
        tg.sum_of_blocks(lambda x, b: tg.sum(x[b]), X, blocks=[slice(0, 2)], n_jobs=n_jobs)


def test_n_jobs_counts_cores_from_the_end_as_joblib_does():
    from tinygrad_nca.blockwise import available_cores, resolve_n_jobs

    cores = available_cores()
    assert resolve_n_jobs(None) == 1 and resolve_n_jobs(5) == 5
    assert resolve_n_jobs(-1) == cores
    assert resolve_n_jobs(-2) == max(cores - 1, 1)
    assert resolve_n_jobs(-1000) == 1
    assert resolve_n_jobs(np.int64(3)) == 3


def test_an_executor_that_is_not_one_is_refused_naming_it():
    A, X, y = _data(30)
    with pytest.raises(
        TypeError, match="executor must be a concurrent.futures.Executor.*ThreadPoolExecutor"
    ):
        tg.nca_loss(A, X, y, executor=object())
    with (
        concurrent.futures.ThreadPoolExecutor(1) as pool,
        pytest.raises(ValueError, match="n_jobs or executor, not both"),
    ):
        tg.nca_loss(A, X, y, executor=pool, n_jobs=2)


def test_a_lambda_for_a_process_pool_is_refused_with_a_way_out():
    with (
        concurrent.futures.ProcessPoolExecutor(1) as pool,
        pytest.raises(TypeError, match="cannot be sent to another process.*module-level"),
    ):
        tg.grad(
            lambda x: tg.sum_of_blocks(
                lambda x, b: tg.sum(x[b]), x, blocks=[slice(0, 1)], executor=pool
            )
        )(np.ones(2))


# ---------------------------------------------------------------- other processes
def test_a_process_pool_gives_the_local_result():
    """Tasks pickled to other processes: Z, the rows and the picklable block function."""
    A, X, y = _data(240, seed=9)
    value, gradient = _value_and_grad(A, X, y, block_size=50, objective="log")
    context = multiprocessing.get_context("spawn")  # no fork of a process with threads
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=context) as pool:
        other_value, other_gradient = _value_and_grad(
            A, X, y, block_size=50, objective="log", executor=pool
        )
    np.testing.assert_allclose(other_value, value, rtol=1e-12)
    np.testing.assert_allclose(other_gradient, gradient, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
def test_a_dask_cluster_gives_the_local_result(processes):
    """A local Dask cluster of two one-thread workers, loopback only, no dashboard:
    in-process workers (fast), and worker processes (tasks pickled and sent over TCP)."""
    distributed = pytest.importorskip("distributed")
    A, X, y = _data(300, seed=10)
    value, gradient = _value_and_grad(A, X, y, block_size=40)
    options = dict(host="127.0.0.1") if processes else {}
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=processes,
            dashboard_address=None,
            **options,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        other_value, other_gradient = _value_and_grad(
            A, X, y, block_size=40, executor=client.get_executor()
        )
    np.testing.assert_allclose(other_value, value, rtol=1e-12)
    np.testing.assert_allclose(other_gradient, gradient, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- the estimator
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_the_estimator_fit_is_bit_identical_for_every_n_jobs():
    from tinygrad_nca import NeighborhoodComponentsAnalysis

    _, X, y = _data(160, dim=5, seed=11)
    fits = [
        NeighborhoodComponentsAnalysis(
            n_components=2, max_iter=8, random_state=0, max_memory="600KB", n_jobs=n_jobs
        ).fit(X, y)
        for n_jobs in (None, 2)
    ]
    assert fits[0]._block_size(160, 2, 8) is not None  # the loss is in blocks
    assert np.array_equal(fits[0].components_, fits[1].components_)
    assert np.array_equal(fits[0].loss_curve_, fits[1].loss_curve_)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_the_estimator_runs_on_an_executor_and_clones_share_it():
    from sklearn.base import clone

    from tinygrad_nca import NeighborhoodComponentsAnalysis

    _, X, y = _data(160, dim=5, seed=12)
    local = NeighborhoodComponentsAnalysis(
        n_components=2, max_iter=5, random_state=0, max_memory="600KB"
    ).fit(X, y)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        nca = NeighborhoodComponentsAnalysis(
            n_components=2, max_iter=5, random_state=0, max_memory="600KB", executor=pool
        )
        copy = clone(nca)
        assert copy.executor is pool
        copy.fit(X, y)
    np.testing.assert_array_equal(copy.components_, local.components_)


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(n_jobs=0), "'n_jobs' parameter"),
        (dict(n_jobs="x"), "'n_jobs' parameter"),
        (dict(executor="pool"), "'executor' parameter"),
    ],
)
def test_the_estimator_refuses_bad_n_jobs_and_executor(params, message):
    from tinygrad_nca import NeighborhoodComponentsAnalysis

    _, X, y = _data(40, seed=13)
    with pytest.raises(ValueError, match=message):
        NeighborhoodComponentsAnalysis(**params).fit(X, y)


# ---------------------------------------------------------------- the benchmark script
def test_the_scaling_benchmark_runs_and_checks_bit_identity(tmp_path):
    """benchmarks/scaling.py end to end at a tiny size (its timings are not tested)."""
    import os
    import subprocess

    script = os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks", "scaling.py"
    )
    out = subprocess.run(
        [
            sys.executable,
            script,
            "--n",
            "300",
            "--D",
            "16",
            "--d",
            "4",
            "--block-size",
            "40",
            "--jobs",
            "1,2,3",
            "--repeats",
            "1",
            "--big",
            "--big-n",
            "400",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "OMP_NUM_THREADS=1" in out.stdout
    table = [line for line in out.stdout.splitlines() if line.startswith("| 3 |")]
    assert table and table[0].endswith("| yes |")
    assert "full batch, N = 400" in out.stdout and "peak RSS" in out.stdout
