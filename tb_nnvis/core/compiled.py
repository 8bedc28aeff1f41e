"""A function that runs eagerly until a background thread has traced it, then compiled.

Callbacks compute on the training thread at every write: tracing a big model costs seconds (as much as
several eager passes) that training would wait for, while the eager passes of every later write add up
(an LSTM over a long text: about 2 s eagerly, 0.1 s compiled). Tracing on a background thread gives both.
"""
import atexit
import logging
import threading
import time

import numpy as np  # noqa: F401  (doctest)

logger = logging.getLogger("tb_nnvis")


def yield_to_training():
    """Lower the calling thread's CPU priority (Linux: ``nice`` 19 for this thread only; elsewhere nothing).

    Background work beside training (tracing, encoding summaries) competes with the training step's own
    threads for the cores. On a machine whose cores training fills, a thread of equal priority takes its
    share and, worse, stalls the step's parallel kernels, which wait for their slowest thread; at the lowest
    priority it runs in the gaps instead (the work is the same, it only comes later).

    >>> import threading
    >>> t = threading.Thread(target=yield_to_training); t.start(); t.join()
    """
    import os
    import sys

    if not sys.platform.startswith("linux"):  # elsewhere setpriority takes process ids, not threads'
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except OSError:  # not allowed: the thread keeps its priority
        pass


class TracedLater:
    """``fn(*args)`` run eagerly until a background thread has traced ``tf.function(fn)``, then compiled: a
    write never waits for tracing (seconds for a big model), and later writes do not pay for eager passes (an
    LSTM over a long text: about 2 s eagerly, 0.1 s compiled). Inputs of other shapes retrace as
    ``tf.function`` does; if tracing fails, calls stay eager.

    The tracing starts after the first call when that call took ``slow`` seconds or more, else after the
    second. A callback's first call comes before training, when Keras traces its own training step in the
    first batches: tracing is Python, and two tracers at once take turns at the interpreter's lock, so a
    cheap pass (a CNN's probes: a few tenths of a second) is traced once training runs compiled.

    >>> double = TracedLater(lambda x: x * 2)
    >>> float(double(np.float32(3.0))), float(double(np.float32(4.0)))
    (6.0, 8.0)
    """

    def __init__(self, fn, slow=1.0):
        import tensorflow as tf

        self._fn = fn
        self._compiled = tf.function(fn, reduce_retracing=True)
        self._ready = None
        self._slow = float(slow)
        self._calls = 0

    def __call__(self, *args):
        if self._ready is not None and self._ready.is_set():
            return self._compiled(*args)
        start = time.perf_counter()
        out = self._fn(*args)
        self._calls += 1
        if self._ready is None and (self._calls >= 2 or time.perf_counter() - start >= self._slow):
            self._ready = threading.Event()
            thread = threading.Thread(target=self._trace, args=args, name="tb_nnvis-trace", daemon=True)
            _TRACING.add(thread)
            thread.start()
        return out

    def _trace(self, *args):
        yield_to_training()
        try:
            self._compiled(*args)
        except Exception as e:  # noqa: BLE001 - the eager calls give the same values, only slower
            logger.info("tb_nnvis: a pass stays eager (tracing failed: %s: %s)", type(e).__name__, e)
            return
        finally:
            _TRACING.discard(threading.current_thread())
        self._ready.set()


# Tracing threads still running. A daemon thread inside TensorFlow's C++ when the interpreter shuts down is
# ended under it, which aborts the process ("exception not rethrown") after a script that trained to the end:
# the exit waits for them instead (a trace takes seconds; a thread is daemonic so that a hung one cannot keep
# a finished process alive past the timeout).
_TRACING = set()
_EXIT_WAIT_S = 120.0


@atexit.register
def _finish_tracing():
    deadline = time.monotonic() + _EXIT_WAIT_S
    for thread in list(_TRACING):
        thread.join(max(0.0, deadline - time.monotonic()))
