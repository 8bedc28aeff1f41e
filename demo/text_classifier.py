"""The demo's text classifier: passages of Python's own standard-library sources, labelled by package.

The corpus is made offline from the installed standard library (nothing is downloaded): each passage is
32 consecutive word tokens of a package's source (identifiers split at ``_``, comments and docstrings
included), and its class is the package. An ``Embedding`` + 1-D convolution model learns which words give a
package away, and :class:`tb_nnvis.keras.RelevanceCallback` logs, per passage, which words it used.

>>> x, y, vocab = make_corpus(families=("json", "csv"), passages=20, seed=0)
>>> x.shape[1], vocab[:2], set(y.tolist()) <= {0, 1}
(32, ['', '[UNK]'], True)
"""
import os
import re
from collections import Counter

import numpy as np

FAMILIES = ("asyncio", "email", "unittest", "xml", "http")
LENGTH = 32
_WORD = re.compile(r"[A-Za-z]{2,}")


def _package_words(name):
    """All word tokens of one standard-library package's sources, file by file, lowercased."""
    import importlib

    module = importlib.import_module(name)
    path = getattr(module, "__file__", None)
    if not path or not path.endswith(".py"):
        raise RuntimeError(f"the standard library's source of {name!r} is not installed; the demo needs it")
    root = os.path.dirname(path) if path.endswith("__init__.py") else path
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith(".py")) \
        if os.path.isdir(root) else [root]
    out = []
    for f in files:
        if os.sep + "test" in f[len(root):]:
            continue  # test files would mix the families
        with open(f, encoding="utf-8", errors="replace") as fh:
            words = [w.lower() for w in _WORD.findall(fh.read().replace("_", " "))]
        out.append(words)
    return out


def make_corpus(families=FAMILIES, passages=1200, vocab_size=3000, seed=0):
    """Token ids ``[N, LENGTH]`` (0 = padding, 1 = unknown), labels (index into ``families``), vocabulary."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for label, name in enumerate(families):
        docs = [d for d in _package_words(name) if len(d) >= LENGTH]
        for _ in range(passages):
            doc = docs[rng.integers(len(docs))]
            start = rng.integers(0, len(doc) - LENGTH + 1)
            texts.append(doc[start:start + LENGTH])
            labels.append(label)
    counts = Counter(w for t in texts for w in t)
    vocab = ["", "[UNK]"] + [w for w, _ in counts.most_common(vocab_size - 2)]
    index = {w: i for i, w in enumerate(vocab)}
    ids = np.array([[index.get(w, 1) for w in t] for t in texts], dtype=np.int32)
    order = rng.permutation(len(ids))
    return ids[order], np.array(labels, dtype=np.int32)[order], vocab


def text_cnn(vocab_size, classes, length=LENGTH):
    """Embedding → 1-D convolution → max over positions → logits (uncompiled)."""
    import keras

    return keras.Sequential([
        keras.Input((length,), dtype="int32"),
        keras.layers.Embedding(vocab_size, 32, name="embedding"),
        keras.layers.Conv1D(64, 5, padding="same", activation="relu", name="conv"),
        keras.layers.GlobalMaxPooling1D(name="pool"),
        keras.layers.Dense(classes, name="logits"),
    ], name="text_cnn")


def write_logs(logdir, epochs=6, seed=0):
    """Train the text model with RelevanceCallback (per-word relevance and the conv units that carry it)."""
    import keras

    import tb_nnvis

    keras.utils.set_random_seed(seed)
    x, y, vocab = make_corpus(seed=seed)
    split = len(x) - 500
    (x_train, y_train), (x_val, y_val) = (x[:split], y[:split]), (x[split:], y[split:])
    model = text_cnn(len(vocab), len(FAMILIES))
    model.compile(keras.optimizers.Adam(2e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    run = os.path.join(logdir, "demo_text")
    probes = np.concatenate([x_val[y_val == c][:2] for c in range(len(FAMILIES))])[:8]
    labels = np.concatenate([y_val[y_val == c][:2] for c in range(len(FAMILIES))])[:8]
    model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=epochs, batch_size=64, verbose=2, callbacks=[
        keras.callbacks.TensorBoard(run),
        tb_nnvis.keras.RelevanceCallback(run, probes=probes, labels=labels, class_names=list(FAMILIES),
                                         vocabulary=vocab, unit_layers=["conv"], name="stdlib passages"),
    ])
    return model
