import keras
import numpy as np
import pytest

from tb_nnvis.core import taps


def _reference(model, layer, x):
    """The layer's output computed independently: a keras.Model from the model's inputs to it."""
    return keras.Model(model.inputs, layer.output)(x).numpy()


def test_functional_taps_match_submodels():
    i = keras.Input((6, 6, 2))
    h = keras.layers.Conv2D(3, 3, activation="relu", name="conv")(i)
    f = keras.layers.Flatten(name="flat")(h)
    o = keras.layers.Dense(4, name="out")(keras.layers.Dropout(0.5, name="drop")(f))
    model = keras.Model(i, o)
    assert [t.path for t in taps.list_taps(model)] == ["conv", "out"]  # input, flatten, dropout skipped
    x = np.random.default_rng(0).random((2, 6, 6, 2)).astype("float32")
    got = taps.tap_model(model)(x)
    np.testing.assert_allclose(got["conv"], _reference(model, model.get_layer("conv"), x), rtol=1e-6)
    np.testing.assert_allclose(got["out"], model(x).numpy(), rtol=1e-6)


def test_shared_layer_gets_one_tap_per_call():
    shared = keras.layers.Dense(3, name="shared")
    a, b = keras.Input((4,)), keras.Input((4,))
    model = keras.Model([a, b], keras.layers.Concatenate(name="cat")([shared(a), shared(b)]))
    assert taps.resolve(model, ["shared"]) == ["shared", "shared:1"]
    xa, xb = np.ones((2, 4), "float32"), np.full((2, 4), 2.0, "float32")
    got = taps.tap_model(model, ["shared"])([xa, xb])
    np.testing.assert_allclose(got["shared"], shared(xa).numpy(), rtol=1e-6)
    np.testing.assert_allclose(got["shared:1"], shared(xb).numpy(), rtol=1e-6)


def test_nested_mobilenet_inside_sequential():
    keras.utils.set_random_seed(0)
    net = keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), alpha=0.35, classes=5)
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Rescaling(1 / 255.0, name="scale"), net])
    paths = [t.path for t in taps.list_taps(model)]
    assert paths[0] == "scale" and f"{net.name}/block_1_expand" in paths and f"{net.name}/predictions" in paths
    x = np.random.default_rng(0).integers(0, 255, (2, 32, 32, 3)).astype("float32")
    got = taps.tap_model(model, ["block_1_expand", f"{net.name}/Conv1"])(x)
    inner = keras.Model(net.inputs, [net.get_layer("block_1_expand").output, net.get_layer("Conv1").output])
    ref = inner(x / 255.0)
    np.testing.assert_allclose(got[f"{net.name}/block_1_expand"], ref[0].numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got[f"{net.name}/Conv1"], ref[1].numpy(), rtol=1e-4, atol=1e-5)


def test_unknown_layer_names_what_exists():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
    with pytest.raises(ValueError, match=r"no layer 'nope'.*layers are: .*d"):
        taps.resolve(model, ["nope"])


def test_unbuilt_sequential_says_how_to_fix():
    model = keras.Sequential([keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="keras.Input"):
        taps.list_taps(model)
