"""One logdir for the Feature visualization tests (HTTP and browser), written once per test process.

Runs:
- ``cnn``: the demo CNN trained 2 epochs with ``FeatureVisCallback`` (conv1 and conv2, steps 0 and the two
  epoch ends, 2 diversity images for 2 units of conv2) and ``ActivationsCallback`` on conv2 (with top
  dataset examples), so the dashboard can link the two tabs.
- ``odd``: numpy writer: a layer named like HTML, grey images, no transparency, unit 1's image found by
  unit 0's search; steps 0 and 10.
- ``malformed``: a series whose header is not JSON.
"""
import atexit
import functools
import os
import shutil
import tempfile

import numpy as np

from tests import helpers

XSS_LAYER = "<img src=x onerror=alert(1)>"


@functools.lru_cache(maxsize=None)
def featvis_logdir():
    """``{"logdir", "model", "callback", "x"}``; the directory is removed when the process exits."""
    import keras

    from demo.shapes import compiled_demo_cnn, make_images
    from tb_nnvis.keras import ActivationsCallback, FeatureVisCallback
    from tb_nnvis.plugins.featvis import encoding, metadata
    from tb_nnvis.summary import feature_images_pb

    logdir = tempfile.mkdtemp(prefix="featvis_logs_")
    atexit.register(shutil.rmtree, logdir, True)
    keras.utils.set_random_seed(0)
    x, y = make_images(256, seed=0)
    model = compiled_demo_cnn()
    run = os.path.join(logdir, "cnn")
    cb = FeatureVisCallback(run, layers=["conv1", "conv2"], steps=24, every_n_epochs=1, diversity=2, diversity_units=2)
    model.fit(x, y, epochs=2, batch_size=64, verbose=0, callbacks=[
        cb, ActivationsCallback(run, probes=x[:2], layers=["conv2"], examples=x[:48], top_k=3)])

    rng = np.random.default_rng(0)
    helpers.write_pb(os.path.join(logdir, "odd"), {
        step: [feature_images_pb(XSS_LAYER, rng.random((3, 6, 6, 1)), [0, 1, 2], [1.0, np.nan, 3.0],
                                 objective="<b>obj</b>", origin=[0, 0, 2])] for step in (0, 10)})
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.util import tensor_util

    blobs = encoding.encode(np.zeros((2, 4, 4, 3)), [0, 1], [0.0, 0.0])
    blobs[metadata.HEADER] = b"{not json"
    bad = summary_pb2.Summary()
    bad.value.add(tag="broken", metadata=metadata.create_summary_metadata(metadata.IMAGES, "broken"),
                  tensor=tensor_util.make_tensor_proto(np.array(blobs, dtype=object)))
    helpers.write_pb(os.path.join(logdir, "malformed"), {0: [bad]})
    return {"logdir": logdir, "model": model, "callback": cb, "x": x}
