"""A SpRAy logdir written by the real callback and summary writers, built once per test session.

Runs: ``shortcut`` (RelevanceCallback with ``spray=`` on a copy of the shortcut CNN, trained on for two epochs:
SpRAy of the ring class and of class 0 at steps 0, after epoch 1 and after epoch 2), ``pb`` (the numpy writer:
an HTML class name, two steps), ``broken`` (a SpRAy series whose blobs are garbage).
"""
import functools
import os
import tempfile

import numpy as np

from tests import helpers

XSS_CLASS = "<img src=x onerror=alert(7)>"


def _train(logdir):
    import keras

    from demo import shortcut
    from tb_nnvis.keras import RelevanceCallback

    base = helpers.shortcut_model()
    model = keras.models.clone_model(base)
    model.set_weights(base.get_weights())
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y, _ = shortcut.make_images(300, size=helpers.SHORTCUT_SIZE, seed=5, faint=0.1)
    examples, labels, marked = shortcut.make_images(900, size=helpers.SHORTCUT_SIZE, seed=1, faint=0.1)
    cb = RelevanceCallback(os.path.join(logdir, "shortcut"), probes=examples[:4], labels=labels[:4],
                           class_names=list(shortcut.CLASSES),
                           spray={"examples": examples, "labels": labels, "classes": [shortcut.RING, 0],
                                  "every_n_epochs": 1, "size": (8, 16), "name": "validation",
                                  "composite": "epsilon_alpha2_beta1"})
    model.fit(x, y, epochs=2, batch_size=50, verbose=0, callbacks=[cb])
    return {"model": model, "examples": examples, "labels": labels, "marked": marked, "callback": cb}


def _write_pb(logdir):
    from tb_nnvis import summary
    from tb_nnvis.core.lrp.spray import analyze

    rng = np.random.default_rng(0)
    maps = rng.normal(0, 0.05, (30, 4, 4))
    maps[:20, 3, 3] += 1
    maps[20:, 0, 0] += 1
    images = rng.random((30, 6, 6))
    helpers.write_pb(logdir / "pb", {step: [summary.spray_pb("numpy", analyze(maps * (step + 1), n_neighbors=4), images,
                                                             target=2, class_name=XSS_CLASS)]
                                     for step in (0, 10)})
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.util import tensor_util

    from tb_nnvis.plugins.relevance import spray_summary

    broken = summary_pb2.Summary()
    blobs = np.array([b'{"kind": "spray", "n": 5, "size": [2, 2], "n_clusters": 1}'] + [b"x"] * 7, dtype=object)
    broken.value.add(tag="garbage/_spray/lrp/1", metadata=spray_summary._metadata_for("garbage", "lrp", 1),
                     tensor=tensor_util.make_tensor_proto(blobs))
    helpers.write_pb(logdir / "broken", {0: [broken]})


@functools.lru_cache(maxsize=1)
def spray_logdir():
    """``{"logdir", "shortcut": {model, examples, labels, marked, callback}}``, built once per session."""
    import pathlib

    logdir = pathlib.Path(tempfile.mkdtemp(prefix="spray_logs_"))
    out = {"logdir": logdir, "shortcut": _train(str(logdir))}
    _write_pb(logdir)
    return out
