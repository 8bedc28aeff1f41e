"""One logdir for the RNN cells tests (HTTP and browser), written once per test process.

Runs:
- ``quote``: the hand-built quote LSTM (tests/helpers.py) trained 2 epochs with ``RNNCellsCallback``
  (steps 0, 1, 2; next-character predictions logged).
- ``odd``: numpy writers: a GRU layer named like HTML, word tokens with ``<b>`` and ``<script>``, NaN and
  Inf values, a padded probe; steps 0 and 5.
- ``malformed``: a traces series whose values are not zlib data.
"""
import atexit
import functools
import os
import shutil
import tempfile

import numpy as np

from tests import helpers

XSS_LAYER = "<script>alert(1)</script>"
ODD_TOKENS = [["<b>bold</b>", "and", "<script>alert(2)</script>", "x"], ["short", "one"]]


def odd_traces(step):
    rng = np.random.default_rng(step)
    t = {k: rng.random((2, 4, 5)).astype("float32") for k in ("hidden", "update_gate", "reset_gate", "candidate")}
    t["hidden"] = t["hidden"] * 2 - 1
    t["hidden"][0, 1, 2], t["hidden"][0, 2, 2], t["update_gate"][0, 0, 0] = np.nan, np.inf, np.nan
    return t


@functools.lru_cache(maxsize=None)
def rnn_logdir():
    """``{"logdir", "model", "ids", "vocab"}``; the directory is removed when the process exits."""
    import keras

    from tb_nnvis.keras import RNNCellsCallback
    from tb_nnvis.plugins.rnn import encoding, metadata
    from tb_nnvis.summary import rnn_traces_pb

    logdir = tempfile.mkdtemp(prefix="rnn_logs_")
    atexit.register(shutil.rmtree, logdir, True)
    keras.utils.set_random_seed(0)
    model, vocab = helpers.quote_lstm()
    ids = helpers.quote_ids()
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    cb = RNNCellsCallback(os.path.join(logdir, "quote"), helpers.QUOTE_TEXTS, vocabulary=vocab)
    model.fit(ids[:, :-1], ids[:, 1:], epochs=2, batch_size=2, verbose=0, callbacks=[cb])

    helpers.write_pb(os.path.join(logdir, "odd"), {
        step: [rnn_traces_pb(XSS_LAYER, ODD_TOKENS, odd_traces(step))] for step in (0, 5)})
    blobs = encoding.encode_traces(["ab"], {"hidden": np.zeros((1, 2, 3))})
    blobs[2] = b"not zlib"
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.util import tensor_util

    bad = summary_pb2.Summary()
    bad.value.add(tag="broken", metadata=metadata.create_summary_metadata(
        metadata.TRACES, "broken", cell="simple_rnn", units=3, traces=["hidden"]),
        tensor=tensor_util.make_tensor_proto(np.array(blobs, dtype=object)))
    helpers.write_pb(os.path.join(logdir, "malformed"), {0: [bad]})
    return {"logdir": logdir, "model": model, "ids": ids, "vocab": vocab, "callback": cb}
