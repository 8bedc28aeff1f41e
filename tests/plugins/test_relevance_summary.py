"""Relevance summaries and RelevanceCallback: what is stored equals what the LRP engine computes."""
import glob
import logging

import keras
import numpy as np
import pytest
import tensorflow as tf

from tb_nnvis import summary
from tb_nnvis.keras import RelevanceCallback
from tb_nnvis.lrp import attribute, attribute_layers, unit_heatmaps
from tb_nnvis.plugins.relevance import encoding, metadata
from tests.plugins import relevance_logs


@pytest.fixture(scope="module")
def logs():
    return relevance_logs.relevance_logdir()


def read_run(run_dir):
    """``{tag: {step: value}}`` of a run's event files (blob sequences as lists of bytes)."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.util import tensor_util

    out = {}
    for path in sorted(glob.glob(str(run_dir / "events.out.tfevents.*"))):
        for event in EventFileLoader(path).Load():
            for v in event.summary.value:
                if v.metadata.plugin_data.plugin_name in ("", metadata.PLUGIN_NAME) and v.HasField("tensor"):
                    out.setdefault(v.tag, {})[event.step] = tensor_util.make_ndarray(v.tensor)
    return out


def decoded(blobs):
    header = encoding.decode_header(blobs[0])
    p, t = header["shape"][:2]
    return (header, encoding.decode_array(blobs[1], (p, header["classes"])),
            encoding.decode_array(blobs[2], (p, t)), encoding.decode_array(blobs[3], header["shape"]))


def test_image_pb_round_trip_sums_channels_and_keeps_nan():
    rng = np.random.default_rng(0)
    x = rng.random((2, 6, 5, 3)).astype("float32")
    rel = rng.standard_normal((2, 2, 6, 5, 3)).astype("float32")
    rel[1, 0, 0, 0, 0] = np.nan
    scores = rng.standard_normal((2, 4))
    pb = summary.relevance_image_pb("p", x, rel, scores, [[3, 1], [0, 2]], labels=[1, 2], composite="epsilon")
    header, s, sums, r = decoded(list(pb.value[0].tensor.string_val))
    assert pb.value[0].tag == "p/epsilon" and header["targets"] == [[3, 1], [0, 2]] and header["labels"] == [1, 2]
    np.testing.assert_allclose(s, scores, rtol=1e-6)
    np.testing.assert_allclose(r[0], rel[0].sum(-1), rtol=1e-5, atol=1e-6)
    assert np.isnan(r[1, 0, 0, 0]) and np.isfinite(r[1, 0, 1:]).all()
    np.testing.assert_allclose(sums[0], rel[0].reshape(2, -1).sum(-1), rtol=1e-5)
    assert sums[1, 0] == pytest.approx(np.nansum(rel[1, 0]), rel=1e-5)  # NaN does not poison the sum


def test_text_pb_pads_with_nan_and_escapes_nothing():
    pb = summary.relevance_text_pb("docs", [["<b>a</b>", "b", "c"], ["d"]], np.arange(6.0).reshape(2, 3),
                                   [[1.0, 0.0], [0.0, 1.0]], [0, 1], class_names=["neg", "pos"])
    header, _, sums, r = decoded(list(pb.value[0].tensor.string_val))
    assert header["tokens"] == [["<b>a</b>", "b", "c"], ["d"]] and header["class_names"] == ["neg", "pos"]
    np.testing.assert_array_equal(r[0, 0], [0, 1, 2])
    assert r[1, 0, 0] == 3 and np.isnan(r[1, 0, 1:]).all()
    np.testing.assert_allclose(sums[:, 0], [3, 3])


@pytest.mark.parametrize("call, message", [
    (lambda: summary.relevance_image_pb("p", np.ones((2, 4, 4)), np.ones((2, 5, 4)), np.ones((2, 3)), [0, 1]),
     "relevance must be"),
    (lambda: summary.relevance_image_pb("p", np.ones((2, 4, 4)), np.ones((2, 4, 4)), np.ones((2, 3)), [0, 3]),
     "target classes must be in 0..2"),
    (lambda: summary.relevance_image_pb("p", np.ones((2, 4, 4)), np.ones((2, 4, 4)), np.ones((2, 3)), [0, 1],
                                        class_names=["a"]), "class_names has 1 names for 3 classes"),
    (lambda: summary.relevance_image_pb("p", np.ones((2, 4, 4)), np.ones((2, 4, 4)), np.ones(3), [0, 1]),
     "scores must be"),
    (lambda: summary.relevance_text_pb("t", "a b", np.ones((1, 2)), np.ones((1, 2)), [0]), "one list of strings"),
    (lambda: summary.relevance_text_pb("t", [["a", "b", "c"]], np.ones((1, 2)), np.ones((1, 2)), [0]),
     "has 3 tokens but relevance has only 2"),
    (lambda: summary.relevance_units_pb("p", "conv", np.ones((2, 3, 4)), [[0, 1], [1, 0]]), "does not match"),
])
def test_bad_input_gets_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_units_encoding_sums_positions_and_keeps_targets():
    rel = np.random.default_rng(1).standard_normal((2, 3, 4, 4, 5))
    values = encoding.encode_units(rel, [[0, 2, 1], [1, 0, 2]])
    assert values.shape == (2, 3, 6)
    np.testing.assert_array_equal(values[..., 0], [[0, 2, 1], [1, 0, 2]])
    np.testing.assert_allclose(values[..., 1:], rel.sum(axis=(2, 3)), rtol=1e-5)
    np.testing.assert_allclose(values[..., 1:].sum(-1), rel.reshape(2, 3, -1).sum(-1), rtol=1e-5)


def test_stored_image_relevance_equals_attribute_with_the_final_weights(logs):
    model, probes, labels, cb = logs["cnn"]
    data = read_run(logs["logdir"] / "cnn")
    last = cb.written_steps[-1]
    assert sorted(data["probes/epsilon_plus"]) == cb.written_steps
    for comp in ("epsilon_plus", "epsilon"):
        header, scores, sums, rel = decoded(list(data[f"probes/{comp}"][last]))
        targets = np.asarray(header["targets"])
        assert targets.shape == (4, 4) and header["labels"] == labels.tolist()  # 3 top classes + the true one
        logits = model(probes).numpy()
        np.testing.assert_array_equal(targets[:, 0], logits.argmax(1))
        for i in range(4):  # the true class is always among the targets; the rest are the top classes
            assert labels[i] in targets[i] and len(set(targets[i])) == 4
        np.testing.assert_allclose(scores, logits, rtol=1e-4, atol=1e-5)
        for j in range(4):
            expected = attribute(model, probes, target=targets[:, j], composite=comp).sum(-1)
            np.testing.assert_allclose(rel[:, j], expected, rtol=1e-4, atol=1e-6)
            np.testing.assert_allclose(sums[:, j], expected.reshape(4, -1).sum(-1), rtol=1e-4, atol=1e-5)


def test_stored_unit_relevance_sums_to_the_layer_total(logs):
    model, probes, _, cb = logs["cnn"]
    data = read_run(logs["logdir"] / "cnn")
    last = cb.written_steps[-1]
    header = decoded(list(data["probes/epsilon_plus"][last]))[0]
    targets = np.asarray(header["targets"])
    units = data["probes/epsilon_plus/_units/conv2"][last]
    assert units.shape == (4, 4, 1 + 8)
    np.testing.assert_array_equal(units[..., 0], targets)
    for j in range(4):
        _, at, _, _ = attribute_layers(model, probes, ["conv2"], target=targets[:, j], composite="epsilon_plus")
        np.testing.assert_allclose(units[:, j, 1:], at["conv2"].sum(axis=(1, 2)), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(units[:, j, 1:].sum(-1), at["conv2"].reshape(4, -1).sum(-1), rtol=1e-4, atol=1e-5)


def test_stored_unit_heatmaps_equal_unit_heatmaps(logs):
    model, probes, _, cb = logs["cnn"]
    blobs = read_run(logs["logdir"] / "cnn")["probes/epsilon_plus/_unit_heatmaps/conv2"][cb.written_steps[-1]]
    header = encoding.decode_header(blobs[0])
    assert header["units"] == [0, 1, 2] and header["shape"] == [4, 3, 12, 12]
    scales = encoding.decode_array(blobs[1], (4, 3))
    values = encoding.decode_array(blobs[2], header["shape"], dtype="<f2").astype(np.float32) * scales[..., None, None]
    expected = unit_heatmaps(model, probes, "conv2", [0, 1, 2], composite="epsilon_plus").sum(-1)
    np.testing.assert_allclose(values, expected, rtol=2e-3, atol=1e-3 * np.abs(expected).max())


def test_stored_gradient_heatmaps_equal_a_tape_on_the_layer_output(logs):
    model, probes, _, cb = logs["cnn"]
    blobs = read_run(logs["logdir"] / "cnn")["probes/gradient_x_input/_unit_heatmaps/conv2"][cb.written_steps[-1]]
    header = encoding.decode_header(blobs[0])
    scales = encoding.decode_array(blobs[1], (4, 3))
    values = encoding.decode_array(blobs[2], header["shape"], dtype="<f2").astype(np.float32) * scales[..., None, None]
    head = keras.Model(model.inputs, model.get_layer("conv2").output)
    x = tf.constant(probes)
    for j in range(3):
        with tf.GradientTape() as tape:
            tape.watch(x)
            total = tf.reduce_sum(head(x)[..., j])
        expected = (tape.gradient(total, x) * x).numpy().sum(-1)
        np.testing.assert_allclose(values[:, j], expected, rtol=2e-3, atol=1e-3 * np.abs(expected).max() + 1e-12)


def test_planted_word_is_the_most_relevant_token(logs):
    model, probes, labels, cb = logs["text"]
    data = read_run(logs["logdir"] / "text")
    header, _, _, rel = decoded(list(data["documents/epsilon_plus"][cb.written_steps[-1]]))
    hits = 0
    for i, tokens in enumerate(header["tokens"]):
        assert len(tokens) == int((probes[i] != 0).sum())  # trailing padding cut off
        best = tokens[int(np.nanargmax(rel[i, 0, :len(tokens)]))]
        hits += best == relevance_logs.PLANTED[header["targets"][i][0]]
    assert hits >= 0.95 * len(header["tokens"]), hits
    assert any(t in relevance_logs.HTML_TOKENS for doc in header["tokens"] for t in doc)


def test_callback_warns_once_and_training_goes_on_for_a_layer_without_a_rule(caplog, tmp_path):
    class Odd(keras.layers.Layer):
        def call(self, x):
            return x * 2.0

    model = keras.Sequential([keras.Input((4,)), Odd(name="odd"), keras.layers.Dense(2)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = np.ones((8, 4), "float32"), np.zeros(8, "int32")
    cb = RelevanceCallback(str(tmp_path), probes=x[:2], every_n_batches=1)
    with caplog.at_level(logging.WARNING, logger="tb_nnvis"):
        history = model.fit(x, y, epochs=2, batch_size=4, verbose=0, callbacks=[cb])
    assert len(history.history["loss"]) == 2
    warnings = [r.getMessage() for r in caplog.records if "tb_nnvis" in r.getMessage()]
    assert len(warnings) == 1 and "odd" in warnings[0] and "layer_map" in warnings[0], warnings


@pytest.mark.parametrize("kwargs, message", [
    (dict(probes=None), "probes must be"),
    (dict(probes=np.ones((2, 4)), targets="true"), "needs labels"),
    (dict(probes=np.ones((2, 4)), targets="best"), "targets must be one of"),
    (dict(probes=np.ones((2, 4)), top_classes=0), "top_classes must be"),
    (dict(probes=np.ones((2, 4)), labels=[1]), "one class per probe"),
    (dict(probes=np.ones((2, 4)), unit_heatmaps=["conv"]), "unit_heatmaps must be a dict"),
    (dict(probes=np.ones((2, 4)), every_n_epochs=-1), "every_n_epochs"),
    (dict(probes=np.ones((2, 4)), unit_heatmap_methods="deconv"), "unit_heatmap_methods must be among"),
])
def test_callback_arguments_are_checked(kwargs, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        RelevanceCallback(str(tmp_path), **kwargs)


def test_callback_explains_a_model_with_textvectorization_from_its_token_ids(tmp_path):
    texts = np.array(["the cat sat", "a dog ran far", "the dog sat", "a cat ran <b>now</b>"])
    vectorizer = keras.layers.TextVectorization(max_tokens=30, output_sequence_length=6)
    vectorizer.adapt(texts)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((), dtype="string"), vectorizer, keras.layers.Embedding(30, 4, name="emb"),
                              keras.layers.Conv1D(3, 2, activation="relu", name="conv"),
                              keras.layers.GlobalMaxPooling1D(), keras.layers.Dense(2)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    cb = RelevanceCallback(str(tmp_path), probes=texts[:3], labels=[0, 1, 0], unit_layers=["conv"])
    model.fit(tf.constant(texts), np.array([0, 1, 0, 1]), epochs=1, verbose=0, callbacks=[cb])
    data = read_run(tmp_path)
    header, _, _, rel = decoded(list(data["probes/epsilon_plus"][cb.written_steps[-1]]))
    assert header["tokens"] == [["the", "cat", "sat"], ["a", "dog", "ran", "far"], ["the", "dog", "sat"]]
    ids = vectorizer(tf.constant(texts[:3])).numpy()
    sub = keras.Model(vectorizer.output, model.outputs[0])
    targets = np.asarray(header["targets"])
    expected = attribute(sub, ids, target=targets[:, 0], composite="epsilon_plus")
    for i, doc in enumerate(header["tokens"]):
        np.testing.assert_allclose(rel[i, 0, :len(doc)], expected[i, :len(doc)], rtol=1e-4, atol=1e-6)
    assert "probes/epsilon_plus/_units/conv" in data
