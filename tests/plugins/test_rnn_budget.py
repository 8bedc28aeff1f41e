"""RNNCellsCallback's byte budget: the estimate bounds what is written, and a callback whose layers would write
more writes their first cells, says so, stays within the budget, and the cells it writes are the layer's own."""
import json
import logging

import keras
import numpy as np
import pytest

from tb_nnvis.keras import RNNCellsCallback
from tb_nnvis.plugins._budget import size_text
from tb_nnvis.plugins.rnn import budget, encoding, summary
from tests.plugins.test_rnn_summary import read_events

CHARS = list("abc ()\"=\n")
TEXTS = ['a = "b (c)"\nb = a\n', 'c = (a)\n"ab" = b c\n']


def test_estimate_bounds_what_is_written_for_noise():
    rng = np.random.default_rng(0)
    tokens = [list("x" * 50)] * 3
    traces = {k: rng.standard_normal((3, 50, 64)) for k in ("hidden", "cell", "input_gate", "forget_gate",
                                                                "output_gate", "candidate")}
    probs = rng.dirichlet(np.ones(len(CHARS)), (3, 50))
    written = sum(len(b) for pb in (summary.rnn_traces_pb("lstm", tokens, traces),
                                    summary.rnn_predictions_pb(tokens, probs, CHARS))
                  for b in pb.value[0].tensor.string_val)
    estimate = budget.step_bytes({"lstm": budget.Layer(6, 64)}, 3, 50, len(json.dumps(tokens)),
                                 predictions=budget.predictions_bytes(3, 50, 5, CHARS))
    assert written <= estimate <= 1.3 * written


def model_and_ids():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((None,), dtype="int32"), keras.layers.Embedding(len(CHARS), 8),
                              keras.layers.LSTM(32, return_sequences=True, name="lstm"),
                              keras.layers.Dense(len(CHARS), name="next")], name="sequential")
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ids = np.random.default_rng(0).integers(0, len(CHARS), (16, 12))
    return model, ids


def step_bytes(series, step):
    return sum(len(b) for entries in series.values() for s, blobs, _ in entries if s == step for b in blobs)


def test_over_budget_writes_the_first_cells_and_says_so(tmp_path, caplog):
    from tb_nnvis.rnn import traces

    model, ids = model_and_ids()
    steps, header = max(len(t) for t in TEXTS), len(json.dumps([list(t) for t in TEXTS]))
    layers = {"lstm": budget.Layer(6, 32)}
    predictions = budget.predictions_bytes(2, steps, 5, CHARS)
    limit = budget.step_bytes(layers, 2, steps, header, cells=10, predictions=predictions) + 5
    cb = RNNCellsCallback(str(tmp_path), TEXTS, vocabulary=CHARS, max_bytes_per_step=limit)
    with caplog.at_level(logging.WARNING, logger="tb_nnvis"):
        model.fit(ids, np.roll(ids, -1, axis=1), epochs=1, batch_size=8, verbose=0, callbacks=[cb])
    everything = budget.step_bytes(layers, 2, steps, header, predictions=predictions)
    assert cb.cells == 10
    assert (f"tb_nnvis: the recurrent layers of model 'sequential' would write about {size_text(everything)} per "
            f"step (1 layer, 2 probe texts of up to {steps} tokens), over max_bytes_per_step={limit}"
            in caplog.text)
    assert "writing the first 10 cells of lstm" in caplog.text and "shorter probe texts" in caplog.text
    series = read_events(tmp_path)
    assert [s for s, _, _ in series["lstm"]] == [0, 2]
    stored = encoding.decode_traces(series["lstm"][-1][1])
    assert stored.header["shape"] == [2, steps, 10]
    feed = np.zeros((2, steps), "int32")
    for p, text in enumerate(TEXTS):
        feed[p, :len(text)] = [CHARS.index(c) for c in text]
    expected = traces(model, feed)["lstm"]  # the final weights wrote step 2
    valid = np.arange(steps)[None, :] < np.array([len(t) for t in TEXTS])[:, None]
    for kind in ("hidden", "cell", "forget_gate"):
        ref = np.asarray(expected[kind])[..., :10]
        quantum = (ref[valid].max(axis=0) - ref[valid].min(axis=0)) / 254  # each cell's range over real tokens
        assert np.all(np.abs(stored.values(kind)[valid] - ref[valid]) <= quantum + 1e-6), kind
    assert all(step_bytes(series, s) <= limit for s in (0, 2))


def test_within_budget_or_without_one_every_cell_is_written(tmp_path, caplog):
    model, ids = model_and_ids()
    with caplog.at_level(logging.WARNING, logger="tb_nnvis"):
        cb = RNNCellsCallback(str(tmp_path / "none"), TEXTS, vocabulary=CHARS, max_bytes_per_step=None)
        default = RNNCellsCallback(str(tmp_path / "default"), TEXTS, vocabulary=CHARS)
        model.fit(ids, np.roll(ids, -1, axis=1), epochs=1, batch_size=8, verbose=0, callbacks=[cb, default])
    assert cb.cells is None and default.cells is None and "max_bytes_per_step" not in caplog.text
    for run in ("none", "default"):
        assert encoding.decode_traces(read_events(tmp_path / run)["lstm"][-1][1]).header["shape"][2] == 32
    with pytest.raises(ValueError, match="max_bytes_per_step"):
        RNNCellsCallback(str(tmp_path), TEXTS, vocabulary=CHARS, max_bytes_per_step=1.5)
