"""The Activations, RNN cells, Relevance and Feature visualization callbacks in ``fit`` under
``MirroredStrategy`` on two logical CPU devices: nothing written twice, and what is written equals a
single-device computation with the same (final) weights (and, for feature images, the same seed).

TensorFlow's logical devices must be set before it starts, so training runs in a child process; the parent
checks the event files against its own single-device computation.
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tests.plugins.test_activations_summary import assert_within_one_step, decode_maps, read_events

CHILD = textwrap.dedent("""
    import sys
    import numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    import tb_nnvis
    from tests.plugins.test_mirrored import build, callbacks_for, data

    kind, logdir = sys.argv[1], sys.argv[2]
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    x, y = data(kind)
    with strategy.scope():
        model = build(kind)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=callbacks_for(kind, logdir, x, y))
    model.save_weights(logdir + "/final.weights.h5")
""")


CHARS = list("abc\" ")
TEXTS = ['ab "ca" b', 'c "a b" a']


def data(kind="activations"):
    rng = np.random.default_rng(0)
    if kind == "rnn":  # next-character prediction over a 5-character vocabulary
        ids = rng.integers(0, len(CHARS), (32, 10))
        return ids, np.roll(ids, -1, axis=1)
    x = rng.random((32, 12, 12, 3)).astype("float32")
    return x, (x[:, :6].mean(axis=(1, 2, 3)) > x[:, 6:].mean(axis=(1, 2, 3))).astype("int32")


def build(kind):
    import keras

    keras.utils.set_random_seed(0)
    if kind == "rnn":
        model = keras.Sequential([keras.Input((None,), dtype="int32"), keras.layers.Embedding(len(CHARS), 4),
                                  keras.layers.LSTM(6, return_sequences=True, name="lstm"),
                                  keras.layers.Dense(len(CHARS), name="next")])
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return model
    model = keras.Sequential([keras.Input((12, 12, 3)), keras.layers.Conv2D(6, 3, activation="relu", name="conv"),
                              keras.layers.MaxPooling2D(name="pool"), keras.layers.Flatten(name="flat"),
                              keras.layers.Dense(2, name="logits")])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def callbacks_for(kind, logdir, x, y):
    import tb_nnvis

    if kind == "activations":
        return [tb_nnvis.keras.ActivationsCallback(logdir, probes=x[:3], examples=x, top_k=4)]
    if kind == "rnn":
        return [tb_nnvis.keras.RNNCellsCallback(logdir, probe_texts=TEXTS, vocabulary=CHARS)]
    if kind == "relevance":
        return [tb_nnvis.keras.RelevanceCallback(logdir, probes=x[:3], top_classes=2, unit_layers=["conv"])]
    if kind == "featvis":
        return [tb_nnvis.keras.FeatureVisCallback(logdir, layers=["conv"], steps=8, every_n_epochs=1)]
    raise ValueError(kind)


def _train(tmp_path, kind):
    logdir = tmp_path / kind
    logdir.mkdir()
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, *sys.path]), TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, "-c", CHILD, kind, str(logdir)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    model = build(kind)
    model.load_weights(logdir / "final.weights.h5")
    return logdir, model


def test_rnn_cells_under_mirrored_strategy_write_once_and_match_one_device(tmp_path):
    from tb_nnvis.core.rnn.traces import traces
    from tb_nnvis.plugins.rnn import encoding
    from tests.plugins.test_rnn_summary import read_events as read_rnn_events

    logdir, model = _train(tmp_path, "rnn")
    series = read_rnn_events(logdir)
    assert [step for step, _, _ in series["lstm"]] == [0, 4, 8]
    stored = encoding.decode_traces(series["lstm"][-1][1])
    ids = np.array([[CHARS.index(c) for c in text] for text in TEXTS])
    expected = traces(model, ids)["lstm"]
    for kind in ("hidden", "cell", "forget_gate"):
        ref = np.asarray(expected[kind])
        step = (ref.max(axis=(0, 1)) - ref.min(axis=(0, 1))) / 254
        assert np.all(np.abs(stored.values(kind) - ref) <= step[None, None] + 1e-6), kind


def test_relevance_under_mirrored_strategy_writes_once_and_matches_one_device(tmp_path):
    from tb_nnvis.lrp import attribute
    from tests.plugins.test_relevance_summary import decoded, read_run

    logdir, model = _train(tmp_path, "relevance")
    x, _ = data()
    series = read_run(logdir)
    name = next(tag for tag in series if tag.endswith("/epsilon_plus"))
    assert sorted(series[name]) == [0, 4, 8]
    header, scores, _, rel = decoded(list(series[name][8]))
    targets = np.asarray(header["targets"])
    np.testing.assert_allclose(scores, model(x[:3]).numpy(), rtol=1e-4, atol=1e-5)
    for j in range(targets.shape[1]):
        expected = attribute(model, x[:3], target=targets[:, j], composite="epsilon_plus").sum(-1)
        np.testing.assert_allclose(rel[:, j], expected, rtol=1e-4, atol=1e-6)


def test_activations_under_mirrored_strategy_write_once_and_match_one_device(tmp_path, kind="activations"):
    import keras

    logdir, model = _train(tmp_path, kind)
    x, _ = data()
    series, _ = read_events(logdir)
    # 32 examples in batches of 8: steps 0 (before training), 4 and 8, each once per series
    for tag in ("conv", "pool", "logits", "conv/_top_examples"):
        assert [s for s, _ in series[tag]] == [0, 4, 8], (tag, [s for s, _ in series[tag]])
    for name in ("conv", "logits"):
        stored, _, _ = decode_maps(series[name][-1][1])
        assert_within_one_step(stored, keras.Model(model.inputs, model.get_layer(name).output)(x[:3]).numpy())
    top = series["conv/_top_examples"][-1][1]
    responses = keras.Model(model.inputs, model.get_layer("conv").output)(x).numpy().reshape(32, -1, 6).max(axis=1)
    for unit in range(6):
        assert top[unit, :, 1].astype(int).tolist() == np.argsort(-responses[:, unit], kind="stable")[:4].tolist()


def test_feature_visualization_under_mirrored_strategy_writes_once_and_matches_one_device(tmp_path):
    from tb_nnvis.plugins.featvis import metadata
    from tests.plugins.test_featvis_budget import decoded_images, expected_images, read_images

    logdir, model = _train(tmp_path, "featvis")
    series = read_images(logdir)["conv" + metadata.IMAGES_SUFFIX]
    assert [step for step, _ in series] == [0, 4, 8]
    header, images = decoded_images(series[-1][1])
    assert header["units"] == list(range(6))
    # the same seed and the final weights, rendered here on one device
    np.testing.assert_array_equal(images, expected_images(model, "conv", range(6), 8))
