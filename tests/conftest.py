"""Shared fixtures: a small demo-style logdir written by the real callback and summary writers."""
import os

import numpy as np
import pytest

from tests import helpers

XSS_LAYER = "<img src=x onerror=alert(1)>"


def _train_cnn(logdir):
    """A tiny CNN trained two epochs with ActivationsCallback (top-4 examples of 64): the data the
    dashboard usually sees."""
    import keras

    from tb_nnvis.keras import ActivationsCallback

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((64, 16, 16, 3)).astype("float32")
    y = (x[:, :8].mean(axis=(1, 2, 3)) > x[:, 8:].mean(axis=(1, 2, 3))).astype("int32")
    model = keras.Sequential([
        keras.Input((16, 16, 3)),
        keras.layers.Conv2D(8, 3, activation="relu", name="conv1"),
        keras.layers.MaxPooling2D(name="pool1"),
        keras.layers.Conv2D(16, 3, activation="relu", name="conv2"),
        keras.layers.GlobalAveragePooling2D(name="gap"),
        keras.layers.Dense(2, name="logits"),
    ])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    cb = ActivationsCallback(os.path.join(logdir, "cnn"), probes=x[:4], examples=x, top_k=4)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[cb])
    return model, x, cb


def _malformed_maps(tag, header):
    """A maps series whose blobs are not what they claim: a broken header, or ranges of the wrong size."""
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.util import tensor_util

    import json

    from tb_nnvis.plugins.activations import encoding, metadata

    blobs = encoding.encode_activations(np.ones((2, 3, 3, 4))).blobs
    if header is not None:
        blobs[0] = header
    else:  # probe 0's frame with 7 bytes where 4 units' ranges belong
        frame = encoding.decode_frame(blobs[0])
        text = json.dumps(frame.header).encode()
        blobs[0] = encoding.MAGIC + len(text).to_bytes(4, "little") + text + b"\x00" * 7 + frame.png
    summary = summary_pb2.Summary()
    summary.value.add(tag=tag, metadata=metadata.create_summary_metadata(metadata.MAPS, tag, shape=[2, 3, 3, 4]),
                      tensor=tensor_util.make_tensor_proto(np.array(blobs, dtype=object)))
    return summary


@pytest.fixture(scope="session")
def activations_logdir(tmp_path_factory):
    """Runs: ``cnn`` (callback on a trained CNN), ``odd`` (numpy writer: a layer named like HTML,
    NaN/Inf values, a 512-unit dense layer, a sequence layer), ``broken`` (a corrupt event file)."""
    from tb_nnvis import summary

    logdir = tmp_path_factory.mktemp("logs")
    model, examples, cb = _train_cnn(str(logdir))
    rng = np.random.default_rng(1)
    helpers.write_pb(logdir / "odd", {
        step: [summary.activations_pb(XSS_LAYER, rng.random((3, 5, 5, 4)) * (step + 1)),
               summary.activations_pb("nonfinite", helpers.nonfinite_maps()),
               summary.activations_pb("wide", rng.standard_normal((2, 512))),
               summary.activations_pb("sequence", rng.standard_normal((2, 7, 6)))]
        for step in (0, 10, 20)
    })
    helpers.write_pb(logdir / "malformed", {0: [_malformed_maps("garbage_header", b"{not json"),
                                                _malformed_maps("short_ranges", None)]})
    (logdir / "broken").mkdir()
    (logdir / "broken" / "events.out.tfevents.0.corrupt").write_bytes(b"\x00\x01garbage" * 100)
    return {"logdir": logdir, "model": model, "probes": examples[:4], "examples": examples, "callback": cb}
