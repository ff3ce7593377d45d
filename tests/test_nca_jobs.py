"""Row blocks on several threads, processes or a Dask cluster: the same numbers as one."""
import sys
import threading

import numpy as np

import tinygrad_nca as tg


def _in_thread(fn):
    """Run ``fn`` in a new thread and return its result (or raise its exception)."""
    out = {}

    def target():
        try:
            out["value"] = fn()
        except BaseException as err:       # re-raised in the caller
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
    assert tg.is_grad_enabled()          # and the switch was left as it was


def test_a_new_thread_starts_with_recording_on_and_no_listeners():
    from tinygrad_nca.tensor import _State
    with tg.no_grad():
        _State.listeners.append(lambda name, flops: None)
        try:
            seen = _in_thread(lambda: (tg.is_grad_enabled(), list(_State.listeners)))
        finally:
            _State.listeners.pop()
    assert seen == (True, [])


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
    sys.setswitchinterval(1e-6)        # switch threads often, so that any race shows
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        sys.setswitchinterval(interval)
    for k in range(8):
        expected = tg.grad(lambda x: tg.sum(tg.softmax(x * (k + 1), axis=0)
                                            * np.arange(50.0)))(np.linspace(0, 1, 50))
        for gradient in results[k]:
            np.testing.assert_array_equal(gradient, expected)
