"""A logdir with weights, graph and projector data written by the real ActivationsCallback, built once per test
session, with independent snapshots of the weights to check the update ratios against."""
import functools
import pathlib
import tempfile

import keras
import numpy as np

from tb_nnvis.keras import ActivationsCallback

STEPS_PER_EPOCH = 4


class Snapshots(keras.callbacks.Callback):
    """Independent record: every layer's weights just before and just after the last batch of each epoch."""

    def __init__(self):
        super().__init__()
        self.before, self.after = {}, {}

    def on_train_batch_begin(self, batch, logs=None):
        if batch == STEPS_PER_EPOCH - 1:
            self.before[int(self.model.optimizer.iterations.numpy()) + 1] = self._weights()

    def on_train_batch_end(self, batch, logs=None):
        if batch == STEPS_PER_EPOCH - 1:
            self.after[int(self.model.optimizer.iterations.numpy())] = self._weights()

    def _weights(self):
        return {layer.name: [w.copy() for w in layer.get_weights()] for layer in self.model.layers}


def train(logdir):
    """A small CNN trained two epochs with ActivationsCallback(weights, graph, projector, examples) into
    ``logdir/cnn``, with independent weight snapshots."""
    keras.utils.set_random_seed(4)
    rng = np.random.default_rng(4)
    x = rng.random((64, 12, 12, 3)).astype("float32")
    y = (x[..., 0].mean(axis=(1, 2)) > 0.5).astype("int32")
    model = keras.Sequential([
        keras.Input((12, 12, 3)),
        keras.layers.Conv2D(6, 3, activation="relu", name="conv1"),
        keras.layers.MaxPooling2D(name="pool1"),
        keras.layers.Conv2D(8, 3, activation="relu", name="conv2"),
        keras.layers.GlobalAveragePooling2D(name="gap"),
        keras.layers.Dense(2, name="logits"),
    ], name="cnn")
    model.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    snaps = Snapshots()
    cb = ActivationsCallback(logdir / "cnn", probes=x[:2], examples=x, top_k=3, weights=True, graph=True,
                             projector={"inputs": x, "labels": y})
    model.fit(x, y, epochs=2, batch_size=64 // STEPS_PER_EPOCH, verbose=0, shuffle=False, callbacks=[snaps, cb])
    return {"logdir": logdir, "model": model, "snaps": snaps, "x": x, "cb": cb}


@functools.lru_cache(maxsize=1)
def weights_logdir():
    """``{"logdir", "model", "snaps", "x", "cb"}``; the run is ``cnn``."""
    return train(pathlib.Path(tempfile.mkdtemp(prefix="weights_logs_")))
