"""A callback whose writes would slow training a lot says so at the first epoch end, with the measured
times and how often to write instead; cheap writes say nothing."""
import logging
import time

import keras
import numpy as np
import pytest

from tb_nnvis.plugins._callback import SummaryCallback


class Slow(SummaryCallback):
    name = "slow summaries"

    def __init__(self, log_dir, seconds, **kwargs):
        super().__init__(log_dir, **kwargs)
        self.seconds = seconds

    def write(self, step, epoch_end):
        time.sleep(self.seconds)


class SlowEpochs(keras.callbacks.Callback):
    """Batches of a known length, so that an epoch lasts about 8 x 0.05 s."""

    def on_train_batch_end(self, batch, logs=None):
        time.sleep(0.05)


def fit(tmp_path, seconds, **kwargs):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    cb = Slow(str(tmp_path), seconds, **kwargs)
    model.fit(np.ones((2, 2)), np.ones((2, 1)), verbose=0)  # traces the train step before the timed epoch
    model.fit(np.ones((16, 2)), np.ones((16, 1)), batch_size=2, epochs=1, verbose=0, callbacks=[SlowEpochs(), cb])
    return cb


@pytest.mark.parametrize("kwargs, schedule", [({}, "every epoch"), ({"every_n_batches": 4}, "3 times an epoch")])
def test_writes_that_cost_more_than_a_quarter_of_training_are_reported(tmp_path, caplog, kwargs, schedule):
    with caplog.at_level(logging.WARNING, logger="tb_nnvis"):
        cb = fit(tmp_path, 1.0, **kwargs)
    messages = [r.getMessage() for r in caplog.records if "training thread" in r.getMessage()]
    assert len(messages) == 1, messages  # once, at the first epoch end
    epoch = float(messages[0].split("a training epoch (")[1].split(" s)")[0])
    assert 0.4 <= epoch < 1.5  # 8 batches of 0.05 s; the writes inside it (2 s with every_n_batches) left out
    assert messages[0].startswith("tb_nnvis: writing slow summaries takes 1.0 s per step on the training thread")
    assert f"writing {schedule} makes training about" in messages[0]
    every = int(messages[0].split("every_n_epochs=")[1].split(" ")[0])
    per_write = float(np.median(cb.write_seconds))  # the epoch is printed to 0.1 s: allow for its rounding
    assert per_write / (0.1 * (epoch + 0.05)) <= every <= per_write / (0.1 * (epoch - 0.05)) + 1  # writes ~10%
    assert all(abs(s - 1.0) < 0.3 for s in cb.write_seconds)


def test_cheap_writes_say_nothing(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="tb_nnvis"):
        fit(tmp_path, 0.01)
        fit(tmp_path / "coarse", 1.0, every_n_epochs=20)  # costly, but written once in 20 epochs: 5% of an epoch
    assert not [r for r in caplog.records if "training thread" in r.getMessage()]


class FakeClock:
    """``time.perf_counter`` for the callback: advanced by hand (an epoch) and by each write."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class TimedWrites(SummaryCallback):
    name = "timed summaries"

    def __init__(self, log_dir, clock, seconds, **kwargs):
        super().__init__(log_dir, **kwargs)
        self.clock, self.seconds = clock, seconds

    def write(self, step, epoch_end):
        self.clock.now += self.seconds


class Epochs(keras.callbacks.Callback):
    def __init__(self, clock, seconds):
        super().__init__()
        self.clock, self.seconds = clock, seconds

    def on_epoch_begin(self, epoch, logs=None):
        self.clock.now += self.seconds


def expected_auto(epochs, epoch_s, write_s):
    """The documented rule, simulated: before training; at an epoch end when the writes since training began,
    the next included, take at most a tenth of the training time; at the end if the last epoch was not."""
    written, since, training, last = [0], 0.0, 0.0, True
    for epoch in range(1, epochs + 1):
        training += epoch_s
        last = since + write_s <= 0.1 * training
        if last:
            written.append(epoch)
            since += write_s
    return written + ([] if last else [epochs])


@pytest.mark.parametrize("epochs, epoch_s, write_s", [(35, 1.0, 1.0), (6, 1.0, 0.05), (4, 1.0, 30.0)])
def test_auto_schedule_keeps_writes_to_a_tenth_of_training(tmp_path, monkeypatch, epochs, epoch_s, write_s):
    from tb_nnvis.plugins import _callback

    clock = FakeClock()
    monkeypatch.setattr(_callback.time, "perf_counter", clock)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    cb = TimedWrites(str(tmp_path), clock, write_s, every_n_epochs="auto")
    # one batch per epoch: the step written is the epoch's number
    model.fit(np.ones((2, 2)), np.ones((2, 1)), batch_size=2, epochs=epochs, verbose=0,
              callbacks=[Epochs(clock, epoch_s), cb])
    assert cb.written_steps == expected_auto(epochs, epoch_s, write_s)
    # cheap writes: every epoch; a write of a tenth of 10 epochs: every 10th; a costly one: the start and the end
    assert cb.written_steps == {35: [0, 10, 20, 30, 35], 6: list(range(7)), 4: [0, 4]}[epochs]


def test_auto_is_the_only_word_every_n_epochs_takes(tmp_path):
    with pytest.raises(ValueError, match='every_n_epochs must be a non-negative integer or None or "auto"'):
        SummaryCallback(str(tmp_path), every_n_epochs="often")


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="per-thread priority is Linux's")
def test_background_threads_yield_the_cpu_to_training(tmp_path):
    """The writer thread and the tracing thread run at the lowest priority, the training thread unchanged."""
    import os
    import threading

    from tb_nnvis.core.compiled import TracedLater

    nice = lambda tid: os.getpriority(os.PRIO_PROCESS, tid)  # noqa: E731
    cb = Slow(str(tmp_path), 0.0)
    cb._start_worker()
    try:
        deadline = time.time() + 10  # the thread lowers itself as it starts
        while nice(cb._worker.native_id) != 19 and time.time() < deadline:
            time.sleep(0.01)
        assert nice(cb._worker.native_id) == 19
    finally:
        cb.close()
    seen = []
    traced = TracedLater(lambda x: x + 1)
    traced._compiled = lambda x: seen.append(nice(threading.get_native_id()))
    assert float(traced(np.float32(1.0))) == 2.0 and traced._ready is None  # a cheap first call: no tracing yet
    assert float(traced(np.float32(2.0))) == 3.0  # the second starts it
    assert traced._ready.wait(10)
    assert seen == [19]
    assert nice(threading.get_native_id()) == os.getpriority(os.PRIO_PROCESS, 0)  # this thread: as before


def test_a_slow_first_call_is_traced_at_once_and_later_calls_run_compiled():
    from tb_nnvis.core.compiled import TracedLater

    traced = TracedLater(lambda x: x * 3, slow=0.0)  # every call counts as slow
    assert float(traced(np.float32(2.0))) == 6.0
    assert traced._ready is not None and traced._ready.wait(30)
    calls = []
    traced._fn = lambda x: calls.append(x)  # the eager path, no longer taken
    assert float(traced(np.float32(5.0))) == 15.0 and calls == []
