"""The byte budget of a written step: the estimate holds for incompressible maps, and a callback whose
layers would write more cuts them to their first units, says so, and writes within the budget."""
import logging

import keras
import numpy as np
import pytest

from tb_nnvis.keras import ActivationsCallback
from tb_nnvis.plugins.activations import budget, encoding, metadata
from tests.plugins.test_activations_summary import assert_within_one_step, decode_maps, read_events


@pytest.mark.parametrize("shape", [(8, 24, 24, 32), (8, 3, 3, 320), (8, 1000), (2, 7, 64)])
def test_estimate_is_an_upper_bound_even_for_noise(shape):
    noise = np.random.default_rng(0).standard_normal(shape).astype("float32")  # the worst case for PNG
    enc = encoding.encode_activations(noise)
    written = sum(len(b) for b in enc.blobs) + enc.stats.nbytes  # the maps and the statistics tensor
    assert written <= budget.layer_bytes(shape) <= 1.6 * written


def test_units_within_is_the_largest_cut_that_fits():
    shapes = {"a": (4, 16, 16, 64), "b": (4, 8, 8, 128), "c": (4, 10)}
    cap = budget.units_within(shapes, 100_000)
    assert budget.step_bytes(shapes, cap) <= 100_000 < budget.step_bytes(shapes, cap + 1)
    assert budget.units_within(shapes, 10 ** 9) is None and budget.units_within(shapes, 1) == 1


def test_callback_over_budget_writes_the_first_units_and_says_so(tmp_path, caplog):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(32, 3, name="conv"),
                              keras.layers.GlobalAveragePooling2D(name="gap"), keras.layers.Dense(4, name="out")],
                             name="sequential")  # Keras numbers auto-named models per process
    model.compile("sgd", "mse")
    x = np.random.default_rng(0).random((8, 16, 16, 3)).astype("float32")
    cb = ActivationsCallback(str(tmp_path), probes=x[:4], max_bytes_per_step=25_000)
    with caplog.at_level(logging.WARNING, logger="tb_nnvis"):
        model.fit(x, np.zeros((8, 4)), epochs=1, batch_size=4, verbose=0, callbacks=[cb])
    shapes = {"conv": (4, 14, 14, 32), "gap": (4, 32), "out": (4, 4)}
    assert cb.units == budget.units_within(shapes, 25_000) and 0 < cb.units < 32
    message = " ".join(r.getMessage() for r in caplog.records)
    assert "the default layers of model 'sequential' would write about 40 kB per step" in message
    assert "over max_bytes_per_step=25000 (25 kB)" in message
    assert f"writing the first {cb.units} units of conv, gap" in message and "max_bytes_per_step=None" in message
    series, _ = read_events(tmp_path)
    stored, _, header = decode_maps(series["conv"][-1][1])
    assert header["shape"] == [4, 14, 14, cb.units]
    reference = keras.Model(model.inputs, model.get_layer("conv").output)(x[:4]).numpy()[..., :cb.units]
    assert_within_one_step(stored, reference)
    written = sum(len(b) for tag in series if not tag.startswith("_") and "/_" not in tag
                  for b in series[tag][-1][1]) + sum(series[t][-1][1].nbytes for t in series
                                                     if t.endswith(metadata.STATS_SUFFIX))
    assert written <= 25_000


def test_explicit_choice_within_budget_or_without_one_is_written_whole(tmp_path, caplog):
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(64, 3, name="conv")])
    model.compile("sgd", "mse")
    x = np.zeros((2, 8, 8, 1), "float32")
    with caplog.at_level(logging.WARNING, logger="tb_nnvis"):
        cb = ActivationsCallback(str(tmp_path / "a"), probes=x, layers=["conv"], max_bytes_per_step=None)
        model.fit(x, np.zeros((2, 6, 6, 64)), epochs=1, verbose=0, callbacks=[cb])
        small = ActivationsCallback(str(tmp_path / "b"), probes=x, layers=["conv"], max_bytes_per_step=2_000)
        model.fit(x, np.zeros((2, 6, 6, 64)), epochs=1, verbose=0, callbacks=[small])
    assert cb.units is None and small.units < 64
    assert "the chosen layers of model" in caplog.text
    with pytest.raises(ValueError, match="max_bytes_per_step"):
        ActivationsCallback(str(tmp_path), probes=x, max_bytes_per_step=-1)
