"""A Relevance logdir written by the real callback and summary writers, built once per test session.

Runs: ``cnn`` (a small image CNN, two composites, labels, unit relevance and unit heatmaps of ``conv2``,
plus ActivationsCallback on the same probes), ``text`` (a planted-word task: the class is decided by one
word; the vocabulary holds HTML-like tokens), ``odd`` (numpy writers: NaN relevance, HTML class names),
``broken`` (garbage blobs).
"""
import functools
import os
import tempfile

import numpy as np

from tests import helpers

PLANTED = ("alpha", "bravo", "charlie")
HTML_TOKENS = ("<script>alert(1)</script>", "<img src=x onerror=alert(2)>")
FILLERS = tuple(f"w{i}" for i in range(40)) + HTML_TOKENS
VOCAB = ("", "[UNK]") + PLANTED + FILLERS
XSS_CLASS = "<b>bold</b><img src=x onerror=alert(3)>"
DOC_LEN = 12


def planted_docs(n, seed):
    """Token ids ``[n, DOC_LEN]``: fillers with one planted word at a random place (its index is the class);
    some documents end early (padding 0)."""
    rng = np.random.default_rng(seed)
    first_filler = 2 + len(PLANTED)
    ids = rng.integers(first_filler, len(VOCAB), (n, DOC_LEN))
    labels = rng.integers(0, len(PLANTED), n)
    lengths = rng.integers(6, DOC_LEN + 1, n)
    for i in range(n):
        ids[i, rng.integers(0, lengths[i])] = 2 + labels[i]
        ids[i, lengths[i]:] = 0
    return ids.astype("int32"), labels.astype("int32")


def text_model():
    import keras

    return keras.Sequential([
        keras.Input((DOC_LEN,), dtype="int32"),
        keras.layers.Embedding(len(VOCAB), 16, name="embedding"),
        keras.layers.Conv1D(16, 3, padding="same", activation="relu", name="conv"),
        keras.layers.GlobalMaxPooling1D(name="pool"),
        keras.layers.Dense(len(PLANTED), name="logits"),
    ])


def _train_text(logdir):
    import keras

    from tb_nnvis.keras import RelevanceCallback

    keras.utils.set_random_seed(0)
    x, y = planted_docs(1200, seed=0)
    probes, probe_labels = planted_docs(40, seed=1)
    model = text_model()
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    cb = RelevanceCallback(os.path.join(logdir, "text"), probes=probes, labels=probe_labels, vocabulary=list(VOCAB),
                           class_names=list(PLANTED), unit_layers=["conv"], name="documents")
    model.fit(x, y, epochs=4, batch_size=64, verbose=0, callbacks=[cb])
    return model, probes, probe_labels, cb


def _train_cnn(logdir):
    import keras

    from tb_nnvis.keras import ActivationsCallback, RelevanceCallback

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((96, 12, 12, 3)).astype("float32")
    y = (x[:, :6].mean(axis=(1, 2, 3)) > x[:, 6:].mean(axis=(1, 2, 3))).astype("int32")
    y = y + 2 * (x[..., 0].mean(axis=(1, 2)) > 0.5)
    model = keras.Sequential([
        keras.Input((12, 12, 3)),
        keras.layers.Conv2D(6, 3, activation="relu", name="conv1"),
        keras.layers.MaxPooling2D(name="pool1"),
        keras.layers.Conv2D(8, 3, activation="relu", name="conv2"),
        keras.layers.GlobalAveragePooling2D(name="gap"),
        keras.layers.Dense(4, name="logits"),
    ])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    run = os.path.join(logdir, "cnn")
    probes, labels = x[:4], y[:4]
    cb = RelevanceCallback(run, probes=probes, labels=labels, composites=["epsilon_plus", "epsilon"],
                           class_names=["A", "B", "C", XSS_CLASS], unit_layers=["conv2"],
                           unit_heatmaps={"conv2": [0, 1, 2]}, unit_heatmap_methods=["lrp", "gradient_x_input"])
    act = ActivationsCallback(run, probes=probes, layers=["conv1", "conv2"])
    model.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[cb, act])
    return model, probes, labels, cb


def _write_odd(logdir):
    from tb_nnvis import summary

    rng = np.random.default_rng(3)
    rel = rng.standard_normal((2, 2, 5, 5)).astype("float32")
    rel[0, 0, 1, 1] = np.nan
    rel[0, 0, 2, :] = np.nan
    helpers.write_pb(logdir / "odd", {step: [
        summary.relevance_image_pb("nan probes", rng.random((2, 5, 5)), rel, rng.standard_normal((2, 3)),
                                   [[0, 1], [2, 1]], class_names=["x", "y", XSS_CLASS]),
        summary.relevance_text_pb("nan text", [["fine", "<b>x</b>"], ["a"]], np.array([[np.nan, 1.0], [0.5, 0]]),
                                  [[1.0, 2.0], [3.0, 0.0]], [1, 0]),
    ] for step in (0, 5)})
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.util import tensor_util

    from tb_nnvis.plugins.relevance import metadata

    broken = summary_pb2.Summary()
    broken.value.add(tag="garbage/lrp", metadata=metadata.create_summary_metadata(metadata.IMAGE, "garbage", "lrp"),
                     tensor=tensor_util.make_tensor_proto(np.array([b"{not json", b"", b"", b"", b""], dtype=object)))
    helpers.write_pb(logdir / "broken", {0: [broken]})


@functools.lru_cache(maxsize=1)
def relevance_logdir():
    """``{"logdir", "cnn": (model, probes, labels, callback), "text": (...)}``, built once per session."""
    import pathlib

    logdir = pathlib.Path(tempfile.mkdtemp(prefix="relevance_logs_"))
    out = {"logdir": logdir, "cnn": _train_cnn(str(logdir)), "text": _train_text(str(logdir))}
    _write_odd(logdir)
    return out
