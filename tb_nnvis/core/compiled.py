"""A function that runs eagerly until a background thread has traced it, then compiled.

Callbacks compute on the training thread at every write: tracing a big model costs seconds (as much as
several eager passes) that training would wait for, while the eager passes of every later write add up
(an LSTM over a long text: about 2 s eagerly, 0.1 s compiled). Tracing on a background thread gives both.
"""
import logging
import threading

import numpy as np  # noqa: F401  (doctest)

logger = logging.getLogger("tb_nnvis")


class TracedLater:
    """``fn(*args)`` run eagerly until a background thread has traced ``tf.function(fn)`` on the first call's
    arguments, then compiled: a write never waits for tracing (seconds for a big model), and later writes do
    not pay for eager passes (an LSTM over a long text: about 2 s eagerly, 0.1 s compiled). Inputs of other
    shapes retrace as ``tf.function`` does; if tracing fails, calls stay eager.

    >>> double = TracedLater(lambda x: x * 2)
    >>> float(double(np.float32(3.0)))
    6.0
    """

    def __init__(self, fn):
        import tensorflow as tf

        self._fn = fn
        self._compiled = tf.function(fn, reduce_retracing=True)
        self._ready = None

    def __call__(self, *args):
        if self._ready is not None and self._ready.is_set():
            return self._compiled(*args)
        out = self._fn(*args)
        if self._ready is None:
            self._ready = threading.Event()
            threading.Thread(target=self._trace, args=args, name="tb_nnvis-trace", daemon=True).start()
        return out

    def _trace(self, *args):
        try:
            self._compiled(*args)
        except Exception as e:  # noqa: BLE001 - the eager calls give the same values, only slower
            logger.info("tb_nnvis: a pass stays eager (tracing failed: %s: %s)", type(e).__name__, e)
            return
        self._ready.set()
