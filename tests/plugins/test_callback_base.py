"""Nothing lost: what a callback queued reaches the event file when ``fit`` raises or the process gets SIGTERM.

Each case trains in a child process whose summary writes are slowed down (so that writes are still queued
when training dies), then reads the event file back with TensorBoard's own loader.
"""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

# The child: a small CNN with ActivationsCallback; every write sleeps first, so the queue is full when
# training dies. It prints each step the callback took, so the parent knows what was queued.
CHILD = textwrap.dedent("""
    import os, sys, time
    import numpy as np, keras
    from tb_nnvis.plugins.activations import summary
    import tb_nnvis.plugins.activations.callback as cb_module

    real = summary.activations_pb
    def slow(*args, **kwargs):
        time.sleep(0.15)
        return real(*args, **kwargs)
    cb_module.summary.activations_pb = slow

    mode, logdir = sys.argv[1], sys.argv[2]
    keras.utils.set_random_seed(0)
    x = np.random.rand(16, 8, 8, 1).astype("float32")
    y = np.random.randint(0, 2, 16)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, activation="relu", name="c1"),
                              keras.layers.Conv2D(4, 3, activation="relu", name="c2"),
                              keras.layers.Flatten(), keras.layers.Dense(2, name="out")])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    acts = cb_module.ActivationsCallback(logdir, probes=x[:2])

    class Report(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            print("queued", acts.written_steps, flush=True)
            if mode == "sigterm" and epoch == 2:
                print("waiting", flush=True)
                time.sleep(120)   # the parent kills us here, with writes still queued
        def on_epoch_begin(self, epoch, logs=None):
            if mode == "raise" and epoch == 2:
                raise RuntimeError("a layer failed in the third epoch")

    model.fit(x, y, epochs=5, batch_size=4, verbose=0, callbacks=[acts, Report()])
""")


def _run_child(tmp_path, mode):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    logdir = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen([sys.executable, str(script), mode, str(logdir)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    if mode == "sigterm":
        deadline = time.time() + 240
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("waiting") or time.time() > deadline:
                break
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
        out = "".join(lines) + out
    else:
        out, err = proc.communicate(timeout=240)
    return proc.returncode, out, err, logdir


def _written_steps(logdir):
    """Steps of each layer's maps in the event file, read with TensorBoard's own loader."""
    from tensorboard.backend.event_processing import event_accumulator

    acc = event_accumulator.EventAccumulator(str(logdir), size_guidance={event_accumulator.TENSORS: 0})
    acc.Reload()
    return {tag: [e.step for e in acc.Tensors(tag)] for tag in acc.Tags()["tensors"] if tag in ("c1", "c2", "out")}


def _last_queued(out):
    lines = [ln for ln in out.splitlines() if ln.startswith("queued")]
    assert lines, out
    return eval(lines[-1].split(" ", 1)[1])  # a printed list of ints


@pytest.mark.parametrize("mode", ["raise", "sigterm"])
def test_every_queued_step_reaches_the_event_file(tmp_path, mode):
    code, out, err, logdir = _run_child(tmp_path, mode)
    if mode == "raise":
        assert code != 0 and "a layer failed in the third epoch" in err, err[-2000:]
    else:
        assert code == -signal.SIGTERM, (code, err[-2000:])  # it still dies of the signal
    queued = _last_queued(out)
    assert queued == [0, 4, 8] if mode == "raise" else [0, 4, 8, 12], queued
    steps = _written_steps(logdir)
    assert set(steps) == {"c1", "c2", "out"}, steps
    for tag, got in steps.items():
        assert got == queued, (tag, got, queued)


def test_a_failing_setup_turns_the_callback_off_and_training_goes_on(tmp_path, caplog):
    import keras
    import numpy as np

    from tb_nnvis.keras import ActivationsCallback

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="d")])
    model.compile("sgd", "mse")
    cb = ActivationsCallback(str(tmp_path), probes=np.ones((2, 4)), layers=["no_such_layer"])
    history = model.fit(np.ones((8, 4)), np.ones((8, 2)), epochs=2, verbose=0, callbacks=[cb])
    assert len(history.history["loss"]) == 2
    assert cb.written_steps == []
    assert not [f for f in os.listdir(tmp_path) if "tfevents" in f]  # and no empty event file is left behind
    assert any("activations are off for this run" in r.getMessage() and "no_such_layer" in r.getMessage()
               for r in caplog.records), [r.getMessage() for r in caplog.records]
