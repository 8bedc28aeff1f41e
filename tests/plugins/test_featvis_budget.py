"""FeatureVisCallback's byte budget: the estimate bounds what is written, and a callback whose layers would
write more renders their first units only, says so, stays within the budget, and the images it writes are
what a render of those units gives."""
import logging

import keras
import numpy as np
import pytest

from tb_nnvis.keras import FeatureVisCallback
from tb_nnvis.plugins._budget import size_text
from tb_nnvis.plugins.featvis import budget, encoding, metadata, summary


def read_images(logdir):
    """``{tag: [(step, blobs)]}`` of the Feature visualization series under ``logdir``, in file order."""
    import glob
    import os

    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.util import tensor_util

    out = {}
    for path in sorted(glob.glob(os.path.join(str(logdir), "events.out.tfevents.*"))):
        for event in EventFileLoader(path).Load():
            for v in event.summary.value:
                if v.metadata.plugin_data.plugin_name == metadata.PLUGIN_NAME:
                    out.setdefault(v.tag, []).append((event.step, list(tensor_util.make_ndarray(v.tensor))))
    return out


def decoded_images(blobs):
    """``(header, uint8 images [B, H, W, 3])`` of one written step."""
    from tb_nnvis.core.images import decode_png

    header = encoding.decode_header(blobs[metadata.HEADER])
    b, h, w, _ = header["shape"]
    rows, cols = header["grid"]
    atlas = decode_png(blobs[metadata.ATLAS])
    tiles = atlas.reshape(rows, h, cols, w, 3).swapaxes(1, 2).reshape(rows * cols, h, w, 3)
    return header, tiles[:b]


def expected_images(model, layer, units, steps, value_range=(0.0, 1.0)):
    """What the callback should have written: a render of ``units`` with the model's current weights."""
    from tb_nnvis.core.featvis import render as render_lib

    result = render_lib.Renderer(model, layer, units=units).run(steps, seed=0, verbose=0)
    return np.clip(np.rint((result.images - value_range[0]) / (value_range[1] - value_range[0]) * 255), 0, 255)


def test_estimate_bounds_what_is_written_for_noise():
    rng = np.random.default_rng(0)
    images, alpha = rng.random((10, 20, 20, 3)), rng.random((10, 20, 20))
    pb = summary.feature_images_pb("conv", images, range(10), rng.random(10), transparency=alpha)
    written = sum(len(b) for b in pb.value[0].tensor.string_val)
    assert written <= budget.step_bytes({"conv": 10}, (20, 20), transparency=True) <= 1.3 * written


def small_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((12, 12, 3)), keras.layers.Conv2D(16, 3, activation="relu", name="conv"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)], name="sequential")
    model.compile("adam", "mse")
    return model


def test_over_budget_renders_the_first_units_and_says_so(tmp_path, caplog):
    model = small_model()
    limit = budget.step_bytes({"conv": 5}, (12, 12), transparency=True) + 10
    cb = FeatureVisCallback(str(tmp_path), layers=["conv"], steps=8, max_bytes_per_step=limit)
    x = np.random.default_rng(0).random((8, 12, 12, 3)).astype("float32")
    with caplog.at_level(logging.WARNING, logger="tb_nnvis"):
        model.fit(x, np.zeros((8, 2)), epochs=1, batch_size=4, verbose=0, callbacks=[cb])
    everything = budget.step_bytes({"conv": 16}, (12, 12), transparency=True)
    assert (f"tb_nnvis: the chosen layers of model 'sequential' would write about {size_text(everything)} per step "
            f"(16 units of 1 layer at 12x12), over max_bytes_per_step={limit}" in caplog.text)
    assert "rendering the first 5 units of conv" in caplog.text and "units=[...]" in caplog.text
    series = read_images(tmp_path)["conv" + metadata.IMAGES_SUFFIX]
    assert [s for s, _ in series] == [0, 2] and all(sum(len(b) for b in blobs) <= limit for _, blobs in series)
    header, images = decoded_images(series[-1][1])
    assert header["units"] == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(images, expected_images(model, "conv", range(5), 8))  # the final weights


def test_within_budget_or_without_one_every_unit_is_rendered(tmp_path, caplog):
    model = small_model()
    with caplog.at_level(logging.WARNING, logger="tb_nnvis"):
        cb = FeatureVisCallback(str(tmp_path), layers=["conv"], steps=2, max_bytes_per_step=None)
        cb.set_model(model)
        cb.on_train_begin()
        cb.on_train_end()
    assert "max_bytes_per_step" not in caplog.text
    header, _ = decoded_images(read_images(tmp_path)["conv" + metadata.IMAGES_SUFFIX][0][1])
    assert header["units"] == list(range(16))
    with pytest.raises(ValueError, match="max_bytes_per_step"):
        FeatureVisCallback(str(tmp_path), layers=["conv"], max_bytes_per_step=-1)
