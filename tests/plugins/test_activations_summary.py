"""What the summaries and the callback write decodes to the layers' true outputs."""
import glob
import json
import logging
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_file_loader
from tensorboard.util import tensor_util

from tb_nnvis import summary
from tb_nnvis.core import images
from tb_nnvis.keras import ActivationsCallback
from tb_nnvis.plugins.activations import encoding, metadata


def read_events(logdir):
    """``{tag: [(step, value ndarray)]}`` and ``{tag: plugin content}`` of every event file in logdir."""
    series, contents = {}, {}
    for path in sorted(glob.glob(os.path.join(str(logdir), "events.out.tfevents.*"))):
        for event in event_file_loader.EventFileLoader(path).Load():
            for v in event.summary.value:
                if v.metadata.plugin_data.plugin_name:
                    contents[v.tag] = json.loads(v.metadata.plugin_data.content)
                series.setdefault(v.tag, []).append((event.step, tensor_util.make_ndarray(v.tensor)))
    return series, contents


def decode_maps(blobs):
    """The float maps ``[P, H, W, C]`` a ``maps`` blob sequence stores, decoded the way the browser does."""
    header, ranges, pixels = encoding.decode_step(list(blobs))
    p, h, w, c = header["shape"]
    return images.dequantize_atlas(pixels, ranges[..., :2], h, w, c), ranges, header


def assert_within_one_step(stored, expected):
    expected = np.asarray(expected, np.float32)
    canon, _ = encoding.canonicalize(expected)
    span = canon.max(axis=(1, 2)) - canon.min(axis=(1, 2))  # per probe and unit
    step = span[:, None, None, :] / 255
    assert stored.shape == canon.shape
    assert np.all(np.abs(stored - canon) <= step + 1e-6), np.abs(stored - canon).max()


def _model():
    i = keras.Input((12, 12, 3))
    h = keras.layers.Conv2D(6, 3, activation="relu", name="conv")(i)
    s = keras.layers.Reshape((10 * 10, 6), name="to_seq")(h)
    s = keras.layers.Conv1D(5, 3, activation="tanh", name="conv1d")(s)
    g = keras.layers.GlobalAveragePooling1D(name="gap")(s)
    o = keras.layers.Dense(3, name="dense")(g)
    return keras.Model(i, o)


def test_callback_maps_match_layer_outputs_for_each_kind(tmp_path):
    keras.utils.set_random_seed(1)
    model = _model()
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x, y = rng.random((40, 12, 12, 3)).astype("float32"), rng.integers(0, 3, 40)
    probes = x[:5]
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    cb = ActivationsCallback(str(tmp_path), probes=probes)
    model.fit(ds, epochs=2, verbose=0, callbacks=[cb])
    assert cb.layer_paths == ["conv", "conv1d", "gap", "dense"]
    assert cb.written_steps == [0, 5, 10]
    series, contents = read_events(tmp_path)
    for name, layout in [("conv", "spatial"), ("conv1d", "sequence"), ("dense", "dense")]:
        step, blobs = series[name][-1]
        assert step == 10 and contents[name]["kind"] == "maps" and contents[name]["layout"] == layout
        stored, ranges, header = decode_maps(blobs)
        reference = keras.Model(model.inputs, model.get_layer(name).output)(probes).numpy()
        assert header["original_shape"] == list(reference.shape)
        assert_within_one_step(stored, reference)
        # Statistics against an independent numpy computation on the true outputs.
        stats_step, stats = series[name + metadata.STATS_SUFFIX][-1]
        flat = reference.reshape(-1, reference.shape[-1])
        np.testing.assert_allclose(stats[:, 0], flat.mean(0), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(stats[:, 3], flat.max(0), rtol=1e-5)
        np.testing.assert_allclose(stats[:, 4], (flat > 0).mean(0), rtol=1e-6)
    # Probe inputs were written once, as displayable images.
    assert len(series[metadata.PROBE_TAG]) == 1
    assert images.decode_png(series[metadata.PROBE_TAG][0][1][1]).shape == (12, 12, 3)


def test_every_n_batches(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu", name="h"),
                              keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    cb = ActivationsCallback(str(tmp_path), probes=np.ones((2, 4)), every_n_batches=2, every_n_epochs=0)
    model.fit(np.ones((16, 4)), np.ones((16, 1)), batch_size=4, epochs=2, verbose=0, callbacks=[cb])
    assert cb.written_steps == [0, 2, 4, 6, 8]


def test_a_failing_summary_warns_and_training_goes_on(tmp_path, monkeypatch, caplog):
    from tb_nnvis.plugins.activations import callback as callback_module

    real = callback_module.summary.activations_pb

    def flaky(name, data, description=None):
        if name == "h":
            raise RuntimeError("disk full")
        return real(name, data, description=description)

    monkeypatch.setattr(callback_module.summary, "activations_pb", flaky)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="h"), keras.layers.Dense(2, name="o")])
    model.compile("sgd", "mse")
    cb = ActivationsCallback(str(tmp_path), probes=np.ones((2, 4)))
    with caplog.at_level(logging.WARNING, logger="tb_nnvis"):
        history = model.fit(np.ones((8, 4)), np.ones((8, 2)), epochs=3, verbose=0, callbacks=[cb])
    assert len(history.history["loss"]) == 3
    warnings = [r for r in caplog.records if "could not write activations of h" in r.getMessage()]
    assert len(warnings) == 1 and "disk full" in warnings[0].getMessage()
    series, _ = read_events(tmp_path)  # the file is still readable and has the other layer
    assert "h" not in series and [s for s, _ in series["o"]] == [0, 1, 2, 3]


def test_summary_in_custom_loop_and_tf_function(tmp_path):
    writer = tf.summary.create_file_writer(str(tmp_path))
    data = tf.random.normal((3, 4, 4, 2))

    @tf.function
    def log(step):
        return summary.activations("graph_mode", data * 2.0, step=step)

    with writer.as_default():
        assert bool(summary.activations("eager", data, step=1))
        assert bool(log(tf.constant(2, tf.int64)))
    writer.flush()
    series, _ = read_events(tmp_path)
    assert_within_one_step(decode_maps(series["eager"][0][1])[0], data.numpy())
    assert series["graph_mode"][0][0] == 2
    assert_within_one_step(decode_maps(series["graph_mode"][0][1])[0], data.numpy() * 2)


def test_no_writer_writes_nothing():
    assert summary.activations("x", np.ones((1, 3))) is False


def test_numpy_pb_matches_tensorflow_summary(tmp_path):
    data = np.random.default_rng(3).standard_normal((2, 5, 4)).astype("float32")
    with tf.summary.create_file_writer(str(tmp_path)).as_default():
        summary.activations("seq", data, step=0)
    series, _ = read_events(tmp_path)
    pb = summary.activations_pb("seq", data)
    assert pb.value[0].metadata.data_class == metadata.summary_pb2.DATA_CLASS_BLOB_SEQUENCE
    assert pb.value[1].metadata.data_class == metadata.summary_pb2.DATA_CLASS_TENSOR
    assert list(tensor_util.make_ndarray(pb.value[0].tensor)) == list(series["seq"][0][1])
    np.testing.assert_array_equal(tensor_util.make_ndarray(pb.value[1].tensor), series["seq/_unit_stats"][0][1])


@pytest.mark.parametrize("bad, message", [
    (np.ones(3), "probe axis"),
    (np.ones((0, 3)), "empty"),
    (np.array([["a", "b"]]), "numeric"),
])
def test_bad_shapes_and_types_are_clear_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        summary.activations_pb("x", bad)


def test_callback_validates_its_arguments():
    with pytest.raises(ValueError, match="probes"):
        ActivationsCallback("/tmp/x", probes=None)
    with pytest.raises(ValueError, match="too many"):
        ActivationsCallback("/tmp/x", probes=np.ones((1000, 3)))
    with pytest.raises(ValueError, match="every_n_batches"):
        ActivationsCallback("/tmp/x", probes=np.ones((2, 3)), every_n_batches=-1)


def test_callback_on_mobilenet_nested_in_sequential_under_mirrored_strategy(tmp_path):
    keras.utils.set_random_seed(0)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        net = keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), alpha=0.35, classes=3)
        model = keras.Sequential([keras.Input((32, 32, 3)), net])
        model.compile("adam", "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).random((16, 32, 32, 3)).astype("float32")
    cb = ActivationsCallback(str(tmp_path), probes=x[:2])
    model.fit(x, np.zeros(16, "int32"), batch_size=8, epochs=1, verbose=0, callbacks=[cb])
    # by default the block outputs, not the 155 layers inside the blocks
    assert len(cb.layer_paths) == 21 and all(p.startswith(net.name + "/") for p in cb.layer_paths)
    assert f"{net.name}/block_2_add" in cb.layer_paths and f"{net.name}/block_2_expand_BN" not in cb.layer_paths
    series, _ = read_events(tmp_path)
    name = f"{net.name}/block_3_project_BN"
    stored, _, _ = decode_maps(series[name][-1][1])
    assert_within_one_step(stored, keras.Model(net.inputs, net.get_layer("block_3_project_BN").output)(x[:2]).numpy())
    assert [s for s, _ in series[name]] == [0, 2]


def test_top_examples_are_written_at_epoch_ends_even_when_a_batch_write_took_the_step(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu", name="h"),
                              keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x = np.random.default_rng(0).random((16, 4)).astype("float32")
    cb = ActivationsCallback(str(tmp_path), probes=x[:2], every_n_batches=2, examples=x, top_k=3)
    model.fit(x, np.ones((16, 1)), batch_size=4, epochs=2, verbose=0, callbacks=[cb])
    series, contents = read_events(tmp_path)
    assert [s for s, _ in series["h" + metadata.TOP_SUFFIX]] == [0, 4, 8]
    assert contents["h" + metadata.TOP_SUFFIX]["kind"] == "top_examples"
    top = series["h" + metadata.TOP_SUFFIX][-1][1]  # [units, k, (value, index, position)]
    responses = keras.Model(model.inputs, model.get_layer("h").output)(x).numpy()
    for unit in range(3):
        expected = np.argsort(-responses[:, unit], kind="stable")[:3]
        assert top[unit, :, 1].astype(int).tolist() == expected.tolist()
