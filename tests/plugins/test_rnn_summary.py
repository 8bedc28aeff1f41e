"""RNN trace encoding, the summary writers (TensorFlow and numpy twins) and RNNCellsCallback's tokenisation."""
import logging
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tb_nnvis import summary
from tb_nnvis.core.rnn.traces import traces
from tb_nnvis.keras import RNNCellsCallback
from tb_nnvis.plugins.rnn import encoding, metadata


def read_events(logdir):
    """``{tag: [(step, blobs, plugin content)]}`` from the event files under ``logdir``."""
    from tensorboard.backend.event_processing import event_file_loader
    from tensorboard.util import tensor_util

    out = {}
    for root, _, files in os.walk(logdir):
        for f in sorted(files):
            for event in event_file_loader.EventFileLoader(os.path.join(root, f)).Load():
                for v in event.summary.value:
                    if v.metadata.plugin_data.plugin_name == metadata.PLUGIN_NAME:
                        out.setdefault(v.tag, []).append((event.step, list(tensor_util.make_ndarray(v.tensor)),
                                                          metadata.parse_plugin_metadata(v.metadata.plugin_data.content)))
    return out


def test_quantisation_round_trip_with_padding_nan_and_constant_cells():
    rng = np.random.default_rng(0)
    t = {"hidden": rng.normal(size=(2, 6, 4)).astype("float32"), "cell": rng.normal(size=(2, 6, 4)) * 5}
    t["hidden"][0, 1, 0], t["hidden"][0, 2, 0], t["cell"][:, :, 3] = np.nan, -np.inf, 2.5
    t["hidden"][1, 4:] = 1e6                      # padding after probe 1's 4 tokens: outside every range
    dec = encoding.decode_traces(encoding.encode_traces([list("abcdef"), ["w1", "w2", "w3", "w4"]], t))
    assert dec.header["kinds"] == ["hidden", "cell"] and dec.header["cell"] == "lstm"
    assert dec.header["lengths"] == [6, 4] and dec.header["tokens"][1] == ["w1", "w2", "w3", "w4"]
    for kind in ("hidden", "cell"):
        got, ref = dec.values(kind), t[kind]
        valid = np.isfinite(ref) & (np.arange(6)[None, :, None] < np.array([6, 4])[:, None, None])
        lo = np.where(valid, ref, np.inf).min(axis=(0, 1))
        hi = np.where(valid, ref, -np.inf).max(axis=(0, 1))
        np.testing.assert_allclose(dec.ranges[dec.index(kind)], np.stack([lo, hi], -1), rtol=1e-6)
        assert np.all(np.abs(got - ref)[valid] <= ((hi - lo) / 508 + 1e-6)[None, None].repeat(6, 1).repeat(2, 0)[valid])
    assert np.isnan(dec.values("hidden")[0, 1, 0]) and np.isnan(dec.values("hidden")[0, 2, 0])
    np.testing.assert_allclose(dec.values("cell")[:, :4, 3], 2.5)
    np.testing.assert_allclose(dec.values("state"), np.tanh(dec.values("cell")), rtol=1e-6)


@pytest.mark.parametrize("tokens,traces_,message", [
    (["ab"], {"hidden": np.zeros((1, 2))}, "must be \\[probes, steps, units\\]"),
    (["ab"], {"cell": np.zeros((1, 2, 3))}, "at least 'hidden'"),
    (["ab"], {"hidden": np.zeros((1, 2, 3)), "forget": np.zeros((1, 2, 3))}, "unknown trace kinds"),
    (["ab"], {"hidden": np.zeros((1, 2, 3)), "cell": np.zeros((1, 2, 4))}, "has shape"),
    (["abc"], {"hidden": np.zeros((1, 2, 3))}, "3 tokens but the traces have only 2 steps"),
    (["a", "b"], {"hidden": np.zeros((1, 2, 3))}, "one entry .* per probe"),
    (["ab"], {"hidden": np.array([[["x"]]])}, "must be numeric"),
])
def test_bad_traces_get_clear_errors(tokens, traces_, message):
    with pytest.raises(ValueError, match=message):
        summary.rnn_traces_pb("lstm", tokens, traces_)


def test_tensorflow_and_numpy_writers_write_the_same_blobs(tmp_path):
    t = {"hidden": np.tanh(np.random.default_rng(1).normal(size=(1, 3, 2)))}
    with tf.summary.create_file_writer(str(tmp_path)).as_default():
        assert summary.rnn_traces("gru", ["<b>"], t, step=3)
        assert summary.rnn_predictions(["<b>"], np.full((1, 3, 2), 0.5), ["<", ">"], step=3, k=1)
    events = read_events(tmp_path)
    (step, blobs, content), = events["gru"]
    assert step == 3 and content == {"version": 1, "kind": "traces", "layer": "gru", "cell": "simple_rnn",
                                     "units": 2, "traces": ["hidden"]}
    pb = summary.rnn_traces_pb("gru", ["<b>"], t)
    from tensorboard.util import tensor_util
    assert blobs == list(tensor_util.make_ndarray(pb.value[0].tensor))
    (_, pblobs, pcontent), = events[metadata.PREDICTIONS_TAG]
    assert pcontent["kind"] == "predictions" and encoding.decode_predictions(pblobs)["top"][0][2] == [["<", 0.5]]
    ppb = summary.rnn_predictions_pb(["<b>"], np.full((1, 3, 2), 0.5), ["<", ">"], k=1)
    assert ppb.value[0].tag == metadata.PREDICTIONS_TAG
    assert pblobs == list(tensor_util.make_ndarray(ppb.value[0].tensor))


def word_model():
    """TextVectorization inside a string-input model, then Embedding(mask_zero) and a GRU."""
    vec = keras.layers.TextVectorization(max_tokens=20, output_sequence_length=8, name="vec")
    vec.adapt(["if x then y", "while x do z", "x y z"])
    inp = keras.Input((), dtype="string")
    h = keras.layers.GRU(3, return_sequences=True, name="gru")(keras.layers.Embedding(20, 4, mask_zero=True)(vec(inp)))
    model = keras.Model(inp, keras.layers.Dense(len(vec.get_vocabulary()))(h))
    return model, vec


def test_callback_with_the_models_own_text_vectorization(tmp_path):
    model, vec = word_model()
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    texts = ["if x then y", "while unknown do z"]
    cb = RNNCellsCallback(str(tmp_path), texts)  # vocabulary: found in the model
    x = tf.constant(["if x then y", "x y z"] * 4)
    model.fit(x, np.asarray(vec(x)), epochs=2, batch_size=4, verbose=0, callbacks=[cb])
    assert cb.layer_paths == ["gru"] and cb.written_steps == [0, 2, 4]
    assert cb.tokens == [["if", "x", "then", "y"], ["while", "[UNK]", "do", "z"]]
    events = read_events(tmp_path)
    assert [s for s, _, _ in events["gru"]] == [0, 2, 4]
    dec = encoding.decode_traces(events["gru"][-1][1])
    ref = traces(model, tf.constant(texts))["gru"]
    assert dec.header["shape"] == [2, 8, 3] and dec.header["lengths"] == [4, 4]
    step = (dec.ranges[:, :, 1] - dec.ranges[:, :, 0]) / 508
    for k, kind in enumerate(dec.header["kinds"]):
        assert np.all(np.abs(dec.values(kind)[:, :4] - ref[kind][:, :4]) <= step[k] + 1e-6)
    top = encoding.decode_predictions(events[metadata.PREDICTIONS_TAG][-1][1])["top"]
    assert len(top) == 2 and len(top[0]) == 4 and len(top[0][0]) == 5


def test_callback_arguments_and_tokenisation_errors(tmp_path):
    with pytest.raises(ValueError, match="list of a few strings"):
        RNNCellsCallback(str(tmp_path), "just one string")
    with pytest.raises(ValueError, match="non-empty strings"):
        RNNCellsCallback(str(tmp_path), ["ok", ""])
    with pytest.raises(ValueError, match="at most 32"):
        RNNCellsCallback(str(tmp_path), ["a"] * 33)
    with pytest.raises(ValueError, match="top_k"):
        RNNCellsCallback(str(tmp_path), ["a"], top_k=-1)
    from tb_nnvis.plugins.rnn.callback import _tokenize
    model = keras.Sequential([keras.Input((None,), dtype="int32"), keras.layers.Embedding(3, 2),
                              keras.layers.LSTM(2)])
    with pytest.raises(ValueError, match="token 'z' of probe text 0 is not in the vocabulary"):
        _tokenize(model, ["abz"], ["a", "b", "c"], 100)
    with pytest.raises(ValueError, match="no TextVectorization or StringLookup"):
        _tokenize(model, ["ab"], None, 100)
    with pytest.raises(ValueError, match="max_length=2"):
        _tokenize(model, ["abc"], ["a", "b", "c"], 2)
    feed, tokens, _ = _tokenize(model, ["ab", "c"], ["a", "b", "c"], 100)
    assert feed.tolist() == [[0, 1], [2, 0]] and tokens == [["a", "b"], ["c"]]
    lookup = keras.layers.StringLookup(vocabulary=list("abc"))   # "[UNK]" is index 0
    feed, tokens, vocab = _tokenize(model, ["abz", "ca"], lookup, 100)
    assert vocab == ["[UNK]", "a", "b", "c"] and tokens == [list("abz"), list("ca")]
    assert feed[0].tolist() == np.asarray(lookup(list("abz"))).tolist() and feed[1].tolist() == [3, 1, 0]


def test_a_model_without_recurrent_layers_warns_and_trains_on(tmp_path, caplog):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    cb = RNNCellsCallback(str(tmp_path), ["abc"], vocabulary=list("abc"))
    with caplog.at_level(logging.WARNING, logger="tb_nnvis"):
        history = model.fit(np.ones((4, 3)), np.ones((4, 1)), epochs=2, verbose=0, callbacks=[cb])
    assert len(history.history["loss"]) == 2
    assert "has no LSTM, GRU or SimpleRNN layer" in caplog.text
