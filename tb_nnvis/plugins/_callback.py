"""What every tb_nnvis Keras callback shares: when to write, who writes, and writing that never stops training.

A tab's callback subclasses :class:`SummaryCallback` and implements two methods:

- ``setup()``: once, on the training thread at the start of ``fit`` (chief only, the writer exists);
- ``write(step, epoch_end)``: on the training thread, with the weights of that step: compute what to log
  (compiled, on a few probes), then hand the encoding to :meth:`SummaryCallback.submit` as a function
  that returns ``Summary`` protos (the numpy ``*_pb`` writers of each slice).

The base class gives each callback:

- a schedule (``every_n_epochs``, ``every_n_batches``) on the optimizer's iteration count, the state before
  training included, each step written once; ``every_n_epochs="auto"`` spaces the epoch-end writes so that
  they stay within a tenth of the training time, for writes that cost seconds (feature visualization);
- a worker thread that encodes and writes in the background, so training does not wait for PNG
  compression or the disk (the queue is bounded: a slow disk slows training a little instead of
  filling memory), into the run's shared :class:`tb_nnvis.plugins._eventlog.EventLog`;
- nothing lost: queued writes are drained and flushed at the end of ``fit``, when the interpreter exits
  after an exception escaped ``fit`` (Keras does not call ``on_train_end`` then), and on SIGTERM; a full
  disk or a deleted log directory is a warning, and writing resumes when it can (see ``_eventlog``);
- failures as warnings, once per item: a summary that cannot be written never ends training;
- under a multi-worker strategy, only the chief writes (TensorBoard expects one writer per run).
"""
import atexit
import functools
import logging
import math
import queue
import signal
import statistics
import threading
import time
import weakref

import keras
import numpy as np

from tb_nnvis.core.compiled import yield_to_training
from tb_nnvis.core.distributed import is_chief
from tb_nnvis.plugins._eventlog import open_log, release

logger = logging.getLogger("tb_nnvis")

_STOP = object()
_DRAIN_TIMEOUT_S = 60.0
# At the first epoch end, a callback whose writes would add more than this share to training time says so
# (when a write takes at least _COST_MIN_S: a tiny model's writes next to its tiny epochs are noise).
_COST_SHARE = 0.25
_COST_MIN_S = 1.0
AUTO = "auto"
# every_n_epochs="auto": the epoch-end writes after the start take at most this share of the training time.
_AUTO_SHARE = 0.1


class SummaryCallback(keras.callbacks.Callback):
    """Base class of tb_nnvis callbacks: a schedule, a background writer, and no lost or fatal writes.

    Args:
      log_dir: where to write; a directory TensorBoard's ``--logdir`` covers (any ``tf.io.gfile`` path).
      every_n_epochs: write at the end of every n-th epoch (0 or None: never at epoch ends); ``"auto"``: at
        the end of an epoch when the writes since training began, this one included (estimated as the median
        write), stay within a tenth of the training time so far, and at the end of training. Writes that cost
        under a tenth of an epoch come every epoch; a write of a minute comes every ten minutes of training.
      every_n_batches: also write every n-th optimizer step (None: off).

    Example (a callback that logs the mean of the first layer's kernel):

    >>> import keras, numpy as np, tempfile
    >>> from tensorboard.compat.proto import summary_pb2
    >>> class KernelMean(SummaryCallback):
    ...     name = "kernel mean"
    ...     def write(self, step, epoch_end):
    ...         value = float(np.mean(self.model.layers[0].get_weights()[0]))
    ...         pb = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="kernel_mean", simple_value=value)])
    ...         self.submit("kernel", lambda: pb, step=step)
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> cb = KernelMean(tempfile.mkdtemp())
    >>> _ = model.fit(np.ones((8, 3)), np.ones((8, 1)), epochs=2, batch_size=4, verbose=0, callbacks=[cb])
    >>> cb.written_steps
    [0, 2, 4]
    """

    name = "summaries"

    def __init__(self, log_dir, every_n_epochs=1, every_n_batches=None):
        super().__init__()
        if not isinstance(log_dir, (str, bytes)) and not hasattr(log_dir, "__fspath__"):
            raise TypeError(f"log_dir must be a path, got {type(log_dir).__name__}")
        if every_n_epochs != AUTO:
            check_count("every_n_epochs", every_n_epochs, also='or "auto"')
        check_count("every_n_batches", every_n_batches)
        self.log_dir = log_dir.decode() if isinstance(log_dir, bytes) else str(log_dir)
        self.every_n_epochs = every_n_epochs or 0
        self.every_n_batches = every_n_batches or 0
        self.written_steps = []
        self.write_seconds = []  # each write's time on the training thread
        self._clock = None  # (time, write seconds) when training started, until the first epoch end
        self._began = None  # (time, writes) when training started, for every_n_epochs="auto"
        self._last_epoch_written = True
        self._log = None
        self._worker = None
        self._jobs = None
        self._failed = set()

    # ---- for subclasses -----------------------------------------------------------------------------

    def setup(self):
        """Called once at the start of training on the chief, after the writer exists."""

    def write(self, step, epoch_end):
        """Compute this step's summaries on the training thread and :meth:`submit` their writing.

        Called once per step. When an epoch ends on a step that a batch write already took, it is called
        again with ``epoch_end=True`` and the step already in ``written_steps``, so that work done only at
        epoch ends (a pass over a dataset, say) still happens; skip the rest in that case.
        """
        raise NotImplementedError

    def submit(self, what, fn, step):
        """Run ``fn()`` on the worker thread and write the ``Summary`` proto(s) it returns (one, a list, or
        None) at ``step``, through the run's event log. A failure is one warning per ``what``."""
        self._jobs.put((what, fn, step))

    def guard(self, what, fn):
        """Run ``fn()`` now; a failure is a warning (once per ``what``), never the end of training."""
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 - training must go on
            if what not in self._failed:
                self._failed.add(what)
                logger.warning("tb_nnvis: could not write %s of %s (%s: %s); training goes on",
                               self.name, what, type(e).__name__, e)
            return None

    def step(self):
        """The optimizer's iteration count (0 before training), so summaries line up with the loss curves."""
        optimizer = getattr(self.model, "optimizer", None)
        return int(optimizer.iterations.numpy()) if optimizer is not None else 0

    # ---- Keras events -------------------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        if not is_chief():
            return
        self._start_worker()
        try:
            self.setup()
        except Exception as e:  # noqa: BLE001 - a callback that cannot start must not stop training
            logger.warning("tb_nnvis: %s are off for this run: %s: %s", self.name, type(e).__name__, e)
            self.close()
            return
        self._maybe_write(self.step(), epoch_end=True)
        self._clock = (time.perf_counter(), sum(self.write_seconds))
        self._began = (self._clock[0], len(self.write_seconds))

    def on_train_batch_end(self, batch, logs=None):
        if self.every_n_batches and self._worker is not None:
            step = self.step()
            if step % self.every_n_batches == 0:
                self._maybe_write(step, epoch_end=False)

    def on_epoch_end(self, epoch, logs=None):
        if self._clock is not None and self._worker is not None:
            self._check_cost()
        if self._worker is None:
            return
        if self.every_n_epochs == AUTO:
            due = self._auto_due()
        else:
            due = self.every_n_epochs and (epoch + 1) % self.every_n_epochs == 0
        if due:
            self._maybe_write(self.step(), epoch_end=True)
        self._last_epoch_written = bool(due)

    def on_train_end(self, logs=None):
        if self.every_n_epochs == AUTO and self._worker is not None and not self._last_epoch_written:
            self._maybe_write(self.step(), epoch_end=True)  # the state training ended in
        self.close()

    def close(self):
        """Write everything still queued and flush; safe to call more than once."""
        worker, self._worker = self._worker, None
        if worker is None:
            return
        _SIGTERM.forget(self)
        _drain(self._jobs, worker)
        log, self._log = self._log, None
        release(log)

    # ---- internals ----------------------------------------------------------------------------------

    def _maybe_write(self, step, epoch_end):
        if step in self.written_steps and not epoch_end:
            return
        start = time.perf_counter()
        self.guard("this step", lambda: self.write(step, epoch_end))
        self.write_seconds.append(time.perf_counter() - start)
        if step not in self.written_steps:
            self.written_steps.append(step)
        self._jobs.put(("flush", _FLUSH, None))

    def _auto_due(self):
        """Whether an ``every_n_epochs="auto"`` write now keeps the writes since training began within
        ``_AUTO_SHARE`` of the training time (the time in ``fit`` outside the writes)."""
        if self._began is None:
            return True
        start, first = self._began
        since = sum(self.write_seconds[first:])
        training = time.perf_counter() - start - since
        estimate = statistics.median(self.write_seconds) if self.write_seconds else 0.0
        return since + estimate <= _AUTO_SHARE * training

    def _check_cost(self):
        """Once, at the first epoch end: warn when the writes of this schedule would slow training a lot, and
        say how often to write instead (a write's cost is fixed, an epoch's depends on the dataset)."""
        (start, spent), self._clock = self._clock, None
        epoch = max(time.perf_counter() - start - (sum(self.write_seconds) - spent), 1e-6)
        per_write = statistics.median(self.write_seconds) if self.write_seconds else 0.0
        steps = (self.params or {}).get("steps") or 0
        per_epoch = 0 if self.every_n_epochs in (0, AUTO) else 1 / self.every_n_epochs  # "auto" keeps to 10%
        writes = per_epoch + (steps / self.every_n_batches if self.every_n_batches else 0)
        share = per_write * writes / epoch
        if per_write >= _COST_MIN_S and share > _COST_SHARE:
            logger.warning(
                "tb_nnvis: writing %s takes %.1f s per step on the training thread, %.1fx a training epoch "
                "(%.1f s): writing %s makes training about %.1fx as long. Write less often (every_n_epochs=%d "
                "adds about 10%%) or less (fewer layers, units or probes).", self.name, per_write,
                per_write / epoch, epoch, "every epoch" if writes == 1 else f"{writes:.2g} times an epoch",
                1 + share, math.ceil(per_write / (0.1 * epoch)))

    def _start_worker(self):
        if self._worker is not None:
            return
        self._jobs = queue.Queue(maxsize=64)
        self._log = open_log(self.log_dir)
        # A daemon thread, so that a crashed run is not kept alive by it; _drain_all (atexit) and the SIGTERM
        # handler write what is still queued before the interpreter goes away.
        self._worker = threading.Thread(target=_work, args=(self._jobs, self._log, weakref.ref(self)),
                                        name=f"tb_nnvis-{self.name}", daemon=True)
        self._worker.start()
        _LIVE.add(self)
        _SIGTERM.watch(self)


def _FLUSH():
    """The job that ends a written step: everything before it goes to the file."""


def _work(jobs, log, owner):
    yield_to_training()
    while True:
        job = jobs.get()
        if job is _STOP:
            log.flush()
            return
        what, fn, step = job
        if fn is _FLUSH:
            log.flush()
            continue
        write = functools.partial(_write_protos, log, fn, step)
        callback = owner()
        if callback is None:
            _quiet(write)
        else:
            callback.guard(what, write)
            del callback


def _write_protos(log, fn, step):
    result = fn()
    for summary in result if isinstance(result, (list, tuple)) else [result]:
        if summary is not None:
            log.write(summary, step)


def _quiet(fn):
    try:
        fn()
    except Exception:  # noqa: BLE001 - the callback is gone; nothing to tell
        pass


def _drain(jobs, worker, timeout=_DRAIN_TIMEOUT_S):
    jobs.put(_STOP)
    worker.join(timeout)
    if worker.is_alive():
        logger.warning("tb_nnvis: the writer thread did not finish within %.0f s; some summaries may be missing",
                       timeout)


# Callbacks whose worker is running: drained at interpreter exit, when an exception escaped fit and Keras
# never called on_train_end.
_LIVE = weakref.WeakSet()


@atexit.register
def _drain_all():
    for callback in list(_LIVE):
        callback.close()


class _SigtermDrain:
    """While a callback trains, SIGTERM first drains its writes, then does what it did before."""

    def __init__(self):
        self._watched = weakref.WeakSet()
        self._previous = None

    def watch(self, callback):
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread
        if not self._watched:
            previous = signal.getsignal(signal.SIGTERM)
            if previous is self._handle:
                return
            try:
                signal.signal(signal.SIGTERM, self._handle)
            except (ValueError, OSError):
                return
            self._previous = previous
        self._watched.add(callback)

    def forget(self, callback):
        self._watched.discard(callback)
        if not self._watched and self._previous is not None and \
                threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None

    def _handle(self, signum, frame):
        for callback in list(self._watched):
            callback.close()
        previous, self._previous = self._previous, None
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_IGN:
            return
        else:  # SIG_DFL: die of the signal as the process would have
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.raise_signal(signal.SIGTERM)


_SIGTERM = _SigtermDrain()


def check_count(name, value, also=""):
    """Raise a ValueError unless ``value`` is None or a non-negative integer (``also``: what else is allowed)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0):
        raise ValueError(f"{name} must be a non-negative integer or None{' ' + also if also else ''}, got {value!r}")


def batch_inputs(inputs):
    """A batch of model inputs as numpy: one array, or a list of arrays for a multi-input model.

    >>> batch_inputs([[1, 2], [3, 4]])[1].tolist()
    [3, 4]
    """
    return [np.asarray(x) for x in inputs] if isinstance(inputs, (list, tuple)) else np.asarray(inputs)


def first_input(inputs):
    """The first input of a batch made by :func:`batch_inputs` (the one images and tokens come from)."""
    return inputs[0] if isinstance(inputs, list) else inputs


def slice_inputs(inputs, start, stop):
    """Rows ``start:stop`` of a batch made by :func:`batch_inputs`."""
    return [x[start:stop] for x in inputs] if isinstance(inputs, list) else inputs[start:stop]
