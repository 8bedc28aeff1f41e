"""Nothing lost on the way to the disk: a full disk, a deleted log directory, non-local filesystems.

The full-disk cases mount a small tmpfs (we run as root in CI). TensorFlow's own writer, on a disk that
fills up mid-record, leaves the partial record in the file and appends after it once space is back
(readers stop at the broken record): tb_nnvis's event log cuts such a record off and writes it again.
"""
import contextlib
import logging
import os
import shutil
import subprocess

import numpy as np
import pytest

from tb_nnvis.plugins import _eventlog
from tb_nnvis.plugins.activations import summary


def _read(logdir):
    """{tag: [steps]} of the tensors in a run, read with TensorBoard's own loader (any gfile path)."""
    from tensorboard.backend.event_processing import event_accumulator

    acc = event_accumulator.EventAccumulator(str(logdir), size_guidance={event_accumulator.TENSORS: 0})
    acc.Reload()
    return {tag: [e.step for e in acc.Tensors(tag)] for tag in acc.Tags()["tensors"]}


def _records_are_whole(path):
    """Every record of an event file passes its CRC checks (TensorFlow's own reader)."""
    import tensorflow as tf

    return sum(1 for _ in tf.data.TFRecordDataset(str(path)))


@contextlib.contextmanager
def small_disk(path, size="256k"):
    path.mkdir(parents=True, exist_ok=True)
    if subprocess.call(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                       stderr=subprocess.DEVNULL) != 0:
        if os.environ.get("CI"):
            raise RuntimeError("CI runs as root and must be able to mount a tmpfs for the full-disk tests")
        pytest.skip("needs root to mount a small tmpfs")
    try:
        yield path
    finally:
        subprocess.call(["umount", "-l", str(path)])


def _fill(path):
    """Write ``path`` until the disk is full."""
    with open(path, "wb", buffering=0) as f, contextlib.suppress(OSError):
        while True:
            f.write(b"x" * 1024)


def _maps(step, size=48):
    """One step of a layer's maps that takes about 40 KB in the file (noise does not compress)."""
    return summary.activations_pb("conv", np.random.default_rng(step).random((2, size, size, 4)))


def test_a_full_disk_loses_nothing_and_writing_resumes_when_space_is_back(tmp_path, caplog):
    with small_disk(tmp_path / "disk") as disk:
        log = _eventlog.EventLog(str(disk / "run"))
        filler = disk / "filler"
        with caplog.at_level(logging.WARNING, logger="tb_nnvis"):
            assert log.write(_maps(0), step=0) is None and log.flush()
            _fill(filler)                                   # the disk is now full
            results = []
            for step in range(1, 5):
                log.write(_maps(step), step=step)
                results.append(log.flush())
            assert results == [False] * 4
            filler.unlink()                                 # space comes back
            log.write(_maps(5), step=5)
            assert log.flush()
            log.close()
        messages = [r.getMessage() for r in caplog.records]
        assert sum("could not write summaries" in m for m in messages) == 1, messages
        assert any("No space left" in m for m in messages), messages
        assert any("writing summaries to" in m and "again" in m for m in messages), messages
        assert _read(disk / "run")["conv"] == [0, 1, 2, 3, 4, 5]
        for name in os.listdir(disk / "run"):
            assert _records_are_whole(disk / "run" / name) > 0  # no partial record anywhere


def test_a_deleted_log_directory_is_recreated_and_nothing_queued_since_the_last_check_is_lost(tmp_path, caplog):
    run = tmp_path / "run"
    log = _eventlog.EventLog(str(run))
    with caplog.at_level(logging.WARNING, logger="tb_nnvis"):
        log.write(_maps(0, 8), step=0)
        assert log.flush()
        log.write(_maps(1, 8), step=1)
        shutil.rmtree(run)                  # someone deletes the run while training goes on
        assert not log.flush()              # step 1 went into the deleted file: noticed, kept
        log.write(_maps(2, 8), step=2)
        assert log.flush()
        log.close()
    assert _read(run)["conv"] == [1, 2]
    assert any("disappeared" in r.getMessage() for r in caplog.records)


def test_callbacks_sharing_a_run_directory_share_one_event_file(tmp_path):
    """As in the README: Activations and Relevance callbacks on one run (TensorBoard's Python loader reads one
    event file of a run at a time, so two files written at once would lose data)."""
    import keras

    from tb_nnvis.keras import ActivationsCallback, RelevanceCallback

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).random((8, 6, 6, 1)).astype("float32")
    model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(3, 3, activation="relu", name="a"),
                              keras.layers.Flatten(), keras.layers.Dense(2, name="b")])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    cbs = [ActivationsCallback(str(tmp_path), probes=x[:2], layers=["a", "b"]),
           RelevanceCallback(str(tmp_path), probes=x[:2], top_classes=1)]
    model.fit(x, np.zeros(8, "int32"), epochs=2, batch_size=4, verbose=0, callbacks=cbs)
    files = [f for f in os.listdir(tmp_path) if "tfevents" in f]
    assert len(files) == 1, files
    steps = _read(tmp_path)
    relevance = [tag for tag in steps if tag not in ("a", "b", "a/_unit_stats", "b/_unit_stats", "_probe_inputs")]
    assert steps["a"] == steps["b"] == [0, 2, 4] and relevance, steps
    assert all(steps[tag] == [0, 2, 4] for tag in relevance), steps


def test_a_non_local_filesystem_through_gfile_and_tensorboard_s_loader(tmp_path):
    """ram:// is a TensorFlow filesystem that is not a local path: the callback writes there, and the plugin
    serves it through TensorBoard's own loader and data provider."""
    import json

    import keras
    from tensorboard import context as tb_context
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.plugins import base_plugin
    from werkzeug import test as wtest

    from tb_nnvis.keras import ActivationsCallback
    from tb_nnvis.plugins.activations.plugin import ActivationsPlugin

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).random((8, 6, 6, 1)).astype("float32")
    model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(2, 3, name="conv"),
                              keras.layers.Flatten(), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    cb = ActivationsCallback("ram://nnvis_logs/run", probes=x[:2], layers=["conv"], examples=x, top_k=2)
    model.fit(x, np.zeros((8, 2)), epochs=2, batch_size=4, verbose=0, callbacks=[cb])

    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory("ram://nnvis_logs")
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, "ram://nnvis_logs")
    plugin = ActivationsPlugin(base_plugin.TBContext(data_provider=provider, sampling_hints={}))
    client = wtest.Client(plugin.get_plugin_apps()["/maps"])
    response = client.get("/maps?run=run&layer=conv&step=4&probe=1",
                          environ_overrides={"tensorboard.request_context": tb_context.RequestContext()})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = json.loads(response.get_data(as_text=True))
    expected = keras.Model(model.inputs, model.get_layer("conv").output)(x[1:2]).numpy()[0]
    lo_hi = np.array(body["range"], dtype=float)[:, :2]
    np.testing.assert_allclose(lo_hi, np.stack([expected.min(axis=(0, 1)), expected.max(axis=(0, 1))], 1), atol=1e-5)
